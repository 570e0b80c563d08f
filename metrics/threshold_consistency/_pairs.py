"""Streaming over the unordered pairs of an embedding set without the N×N matrix.

Rows are sorted by class so that the positive pairs of a row block lie in a narrow
column window next to the diagonal. A row block ``[i0, i1)`` is multiplied with the
rows ``[i0, N)`` (distances to later rows only); the strictly lower triangle of the
leading square (``a ≥ b``) is discarded. Each pass over the pairs uses the same block
schedule and the same arithmetic, so a pair's distance is bit-identical in every pass.

Distances are non-increasing in the similarity s, so a comparison of a distance with
a bound is a comparison of s with :func:`similarity_bound`; passes 2 and 3 screen the
raw similarity block that way and turn only the few selected entries into distances.

Three kinds of pass, all reduced into fixed-size counters:

* :func:`negative_histogram` — 2**16 bins over [0, 2] of the negative distances;
* :func:`resolve_order_statistics` — exact order statistics of the negative distances
  (collects the few values in the target bins, refining bins that hold too many);
* :func:`count_buckets` — per-class positive / negative counts per threshold bucket.

Memory is O(N·d + block + T·bins): one block's distance matrix (≤ 128 MB by default)
and its integer bucket indices exist at a time.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

__all__ = ["PairSet", "prepare_pairs", "negative_histogram", "resolve_order_statistics",
           "count_buckets", "count_histograms", "BLOCK_ELEMENTS", "LEVEL0_BINS", "COLLECT_CAP"]

BLOCK_ELEMENTS = 1 << 22  # elements of one block's float64 distance matrix: 32 MB (≤ 128 MB)
LEVEL0_BINS = 1 << 16  # pass-1 histogram bins over [0, 2]
COLLECT_CAP = 1 << 22  # a bin holding more negatives than this is split, not collected
NORM_EPS = 1e-12


@dataclasses.dataclass
class PairSet:
    """Normalised embeddings sorted by class, with the class bookkeeping.

    ``x`` (N, d) float64 on ``device``; ``cls`` (N,) class index in [0, K) sorted
    ascending; ``class_end[c]`` one past the last row of class ``c``; ``sizes`` (K,).
    ``tau`` is the distance below which a pair counts as identical (see
    :func:`distance_block`).
    """

    x: torch.Tensor
    cls: torch.Tensor
    class_end: np.ndarray
    sizes: np.ndarray
    distance: str
    tau: float
    block_size: int | None

    @property
    def key_range(self) -> float:
        """Pairs are streamed as keys in [0, key_range]: the cosine distance d, or for
        ``"l2"`` the squared distance q = max(0, 2 − 2s), d = sqrt(q) (monotone)."""
        return 2.0 if self.distance == "cosine" else 4.0

    def key_to_distance(self, key: float) -> float:
        """A key's distance with IEEE (correctly rounded) sqrt for ``"l2"``."""
        return float(key) if self.distance == "cosine" else float(np.sqrt(np.float64(key)))

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_negative(self) -> int:
        n = self.n
        return (n * n - int((self.sizes.astype(object) ** 2).sum())) // 2

    def blocks(self):
        """Yield ``(i0, i1)`` row blocks; the schedule is deterministic."""
        n = self.n
        i0 = 0
        while i0 < n - 1:
            if self.block_size is not None:
                b = self.block_size
            else:
                b = max(1, BLOCK_ELEMENTS // (n - i0))
            i1 = min(n - 1, i0 + b)  # the last row has no later partner
            yield i0, i1
            i0 = i1


def normalise(x: torch.Tensor) -> torch.Tensor:
    """x / max(‖x‖₂, 1e-12) row-wise in float64 (zero rows stay zero)."""
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(NORM_EPS)
    return x / norms


def identity_tolerance(dim: int) -> float:
    """τ = (d + 2)·2⁻⁵²: the rounding bound of a float64 dot product of unit vectors.

    Cosine distances below τ (and squared l2 distances below 2τ) are set to exactly
    0, so that identical vectors, whose computed similarity is 1 ± a few ulps, get
    distance 0 however the matrix product is blocked.
    """
    return (dim + 2) * 2.0 ** -52


def prepare_pairs(x: torch.Tensor, class_index: np.ndarray, n_classes: int, *, distance: str,
                  block_size: int | None) -> tuple[PairSet, np.ndarray]:
    """Normalise, sort by class and return the :class:`PairSet` and the sort order."""
    order = np.argsort(class_index, kind="stable")
    cls_sorted = class_index[order]
    sizes = np.bincount(class_index, minlength=n_classes).astype(np.int64)
    device = x.device
    xs = normalise(x[torch.as_tensor(order, device=device)])
    pairs = PairSet(x=xs, cls=torch.as_tensor(cls_sorted, device=device), class_end=np.cumsum(sizes),
                    sizes=sizes, distance=distance, tau=identity_tolerance(int(x.shape[1])),
                    block_size=block_size)
    return pairs, order


def sim_block(pairs: PairSet, i0: int, i1: int) -> torch.Tensor:
    """Similarities of rows [i0, i1) with rows [i0, N): a fresh (i1-i0, N-i0) float64 tensor.

    Every pass uses the same block schedule and this same product, so a pair's
    similarity (hence its key) is bit-identical in every pass.
    """
    x = pairs.x
    return x[i0:i1] @ x[i0:].T


def keys_from_sims(pairs: PairSet, d: torch.Tensor) -> torch.Tensor:
    """Keys of similarities, in place: cosine d = 1 − s; l2 q = 2 − 2s (squared distance).

    A non-increasing function of s, evaluated elementwise with correctly rounded
    IEEE operations, so its value for one pair does not depend on which tensor (a
    whole block or a selection of it) the pair's similarity sits in.
    """
    if pairs.distance == "cosine":
        d.neg_().add_(1.0)
        d.masked_fill_(d < pairs.tau, 0.0)
    else:
        d.mul_(-2.0).add_(2.0)
        d.masked_fill_(d < 2.0 * pairs.tau, 0.0)  # also max(0, ·)
    return d


def key_block(pairs: PairSet, i0: int, i1: int) -> torch.Tensor:
    """Keys of rows [i0, i1) against rows [i0, N): a fresh (i1-i0, N-i0) float64 tensor.

    Cosine: d = 1 − s. l2: q = 2 − 2s, the squared distance; the square root is never
    taken on the block (torch's CPU float64 sqrt is not always correctly rounded), the
    thresholds are mapped to q instead (:func:`l2_key_thresholds`).
    """
    return keys_from_sims(pairs, sim_block(pairs, i0, i1))


_SIGN = np.int64(-0x8000000000000000)
_MAGNITUDE = np.int64(0x7FFFFFFFFFFFFFFF)


def _float_to_ordinal(v: float) -> int:
    i = int(np.float64(v).view(np.int64))
    return i if i >= 0 else -(i & int(_MAGNITUDE))


def _ordinal_to_float(o: int) -> float:
    bits = np.int64(o) if o >= 0 else np.int64(-o) | _SIGN
    return float(bits.view(np.float64))


def similarity_bound(pairs: PairSet, key_bound: float, *, strict: bool) -> float:
    """The smallest float64 s whose key is ≤ ``key_bound`` (< when ``strict``).

    Keys are non-increasing in s, so ``key(s) ≤ bound ⇔ s ≥ similarity_bound(...)``:
    a block can be screened by comparing its raw similarities, and only the few
    selected entries are turned into keys. Found by bisection over the ordered
    float64 values, evaluating the very :func:`keys_from_sims` on a 1-element tensor.
    """
    def accepted(o: int) -> bool:
        key = float(keys_from_sims(pairs, torch.tensor([_ordinal_to_float(o)], dtype=torch.float64))[0])
        return key < key_bound if strict else key <= key_bound

    lo, hi = _float_to_ordinal(-4.0), _float_to_ordinal(4.0)  # similarities lie in [-1-ε, 1+ε]
    if accepted(lo):
        return -math.inf
    if not accepted(hi):
        return math.inf
    while hi - lo > 1:  # invariant: not accepted(lo), accepted(hi)
        mid = (lo + hi) // 2
        if accepted(mid):
            hi = mid
        else:
            lo = mid
    return _ordinal_to_float(hi)


def l2_key_thresholds(thresholds: np.ndarray, inclusive: bool) -> np.ndarray:
    """Squared-distance boundaries equivalent to comparing sqrt(q) with each θ.

    inclusive: Q(θ) = the largest q with sqrt(q) ≤ θ, so sqrt(q) ≤ θ ⇔ q ≤ Q(θ);
    exclusive: Q(θ) = the smallest q ≥ 0 with sqrt(q) ≥ θ, so sqrt(q) < θ ⇔ q < Q(θ).
    numpy's sqrt is the correctly rounded IEEE one, hence monotone.
    """
    out = np.empty(len(thresholds))
    for j, th in enumerate(np.asarray(thresholds, dtype=np.float64)):
        q = th * th
        if inclusive:
            while q > 0 and np.sqrt(q) > th:
                q = np.nextafter(q, -np.inf)
            while np.sqrt(np.nextafter(q, np.inf)) <= th:
                q = np.nextafter(q, np.inf)
        else:
            while q > 0 and np.sqrt(np.nextafter(q, -np.inf)) >= th:
                q = np.nextafter(q, -np.inf)
            while np.sqrt(q) < th:
                q = np.nextafter(q, np.inf)
        out[j] = q
    return out


_TRIL_CACHE: dict[tuple[int, str], torch.Tensor] = {}


def _lower_incl_diag(b: int, device: torch.device) -> torch.Tensor:
    key = (b, str(device))
    mask = _TRIL_CACHE.get(key)
    if mask is None:
        mask = torch.ones(b, b, dtype=torch.bool, device=device).tril_()
        if len(_TRIL_CACHE) > 8:
            _TRIL_CACHE.clear()
        _TRIL_CACHE[key] = mask
    return mask


def _positive_window(pairs: PairSet, i0: int, i1: int) -> tuple[int, torch.Tensor]:
    """Width W and mask (B, W) of the positive pairs a < b of rows [i0, i1).

    Rows are sorted by class, so every same-class partner of these rows lies in
    columns [i0, i0 + W).
    """
    last = int(pairs.cls[i1 - 1])
    w = int(pairs.class_end[last]) - i0
    rows = pairs.cls[i0:i1]
    eq = rows[:, None] == pairs.cls[i0:i0 + w][None, :]
    b = i1 - i0
    eq[:, :b] &= ~_lower_incl_diag(b, eq.device)
    return w, eq


def _level0_scale(pairs: PairSet) -> float:
    return LEVEL0_BINS / pairs.key_range  # a power of two: exact arithmetic


def _negative_bins(pairs: PairSet, i0: int, i1: int) -> torch.Tensor:
    """Level-0 bin of every pair in the block (int32), ``LEVEL0_BINS + 1`` where not a
    negative a < b, and ``LEVEL0_BINS`` for the keys at the very top (merged into the
    last bin by the caller).

    floor(key·scale) is computed from s in one rounding: key·scale = fl(c − c·s) with
    c = scale (cosine) or 2·scale (l2), because c·s is exact (c is a power of two) and
    scaling by a power of two commutes with rounding. Keys that
    :func:`keys_from_sims` zeroes are below 1/scale, and truncation towards zero
    sends them (and tiny negative values) to bin 0, so this equals
    floor(key·scale) clipped to [0, 2**16 − 1] up to the top-bin merge.
    """
    s = sim_block(pairs, i0, i1)
    c = _level0_scale(pairs) * (1.0 if pairs.distance == "cosine" else 2.0)
    bins = torch.rsub(s, c, alpha=c).to(torch.int32)
    del s
    b = i1 - i0
    bins[:, :b].masked_fill_(_lower_incl_diag(b, bins.device), LEVEL0_BINS + 1)
    w, eq = _positive_window(pairs, i0, i1)
    bins[:, :w].masked_fill_(eq, LEVEL0_BINS + 1)
    return bins


def _add_counts(counts: torch.Tensor, index: torch.Tensor) -> None:
    """counts[i] += #{index == i}: ``bincount`` for large inputs, ``index_add_`` for
    small ones (a bincount allocates the full counter array on every call)."""
    index = index.reshape(-1)
    if index.numel() >= counts.numel() // 4:
        counts += torch.bincount(index, minlength=counts.numel())
    elif index.numel():
        counts.index_add_(0, index, torch.ones(1, dtype=counts.dtype, device=counts.device).expand(index.numel()))


def negative_histogram(pairs: PairSet, progress=None) -> np.ndarray:
    """Pass 1: counts of the negative keys in 2**16 equal bins over [0, key_range]."""
    on_cpu = pairs.x.device.type == "cpu"
    hist = np.zeros(LEVEL0_BINS + 2, dtype=np.int64)
    hist_dev = None if on_cpu else torch.zeros(LEVEL0_BINS + 2, dtype=torch.int64, device=pairs.x.device)
    for i0, i1 in _with_progress(pairs, progress):
        bins = _negative_bins(pairs, i0, i1).view(-1)
        if on_cpu:  # numpy's bincount is about twice as fast as torch's on CPU
            hist += np.bincount(bins.numpy(), minlength=LEVEL0_BINS + 2)
        else:
            hist_dev += torch.bincount(bins, minlength=LEVEL0_BINS + 2)
        del bins
    if hist_dev is not None:
        hist = hist_dev.cpu().numpy()
    hist[LEVEL0_BINS - 1] += hist[LEVEL0_BINS]  # keys at the top of the range: clip to the last bin
    return hist[:LEVEL0_BINS]


def _with_progress(pairs: PairSet, progress):
    blocks = list(pairs.blocks())
    return progress(blocks) if progress is not None else blocks


@dataclasses.dataclass
class _Target:
    """An order statistic being located: its 0-based rank among the sorted negatives,
    the chain of nested bins ``(lo, scale, n_bins, bin)`` that contains it, the
    negatives before that bin, the bin's count, and the range to split it with."""

    rank: int
    chain: list
    below: int
    count: int
    split: tuple[float, float]
    value: float | None = None


def _sub_bins(values: torch.Tensor, lo: float, scale: float, n_bins: int) -> torch.Tensor:
    """floor((v - lo)·scale) clipped to [0, n_bins - 1]: monotone in v."""
    return ((values - lo) * scale).clamp_(0.0, n_bins - 1.0).to(torch.int64)


def _level0_similarity_range(pairs: PairSet, k: int) -> tuple[float, float]:
    """(s_lo, s_hi): a key lies in level-0 bin k ⇔ s_lo ≤ s < s_hi.

    Bin k holds the keys in [k/scale, (k+1)/scale) (bin 0 from 0, the last bin up to
    the top); both bounds are exact because scale is a power of two.
    """
    scale = _level0_scale(pairs)
    s_lo = -math.inf if k == LEVEL0_BINS - 1 else similarity_bound(pairs, (k + 1) / scale, strict=True)
    s_hi = math.inf if k == 0 else similarity_bound(pairs, k / scale, strict=True)
    return s_lo, s_hi


def _negative_candidates(pairs: PairSet, s: torch.Tensor, i0: int, select: torch.Tensor) -> torch.Tensor:
    """Keys of the selected entries of a similarity block that are negative pairs a < b."""
    rows, cols, sims = _upper_candidates(pairs, s, i0, select)
    return keys_from_sims(pairs, sims[pairs.cls[rows] != pairs.cls[cols]])


def _chain_values(values: torch.Tensor, chain: tuple) -> torch.Tensor:
    for lo, scale, nb, k in chain[1:]:
        values = values[_sub_bins(values, lo, scale, nb) == k]
    return values


def resolve_order_statistics(pairs: PairSet, ranks: list[int], hist: np.ndarray,
                             progress=None) -> dict[int, float]:
    """Exact negative-pair distances at the 0-based sorted positions ``ranks``.

    Starting from the pass-1 histogram, the bin holding each rank is either collected
    (≤ 2**22 values, then sorted) or, when it holds more, split into 2**16 sub-bins
    whose counts, minima and maxima one more sweep gathers; a sub-bin whose minimum
    equals its maximum gives the value directly (ties), otherwise it is collected or
    split again between its minimum and maximum. Every bin assignment is a monotone
    function of the distance, so the nested counts locate the rank exactly.
    """
    cum = np.cumsum(hist)
    nb = LEVEL0_BINS
    scale0 = _level0_scale(pairs)
    targets = []
    for r in sorted(set(ranks)):
        k = int(np.searchsorted(cum, r, side="right"))
        targets.append(_Target(rank=r, chain=[(0.0, scale0, nb, k)], below=int(cum[k] - hist[k]),
                               count=int(hist[k]), split=(k / scale0, scale0 * nb)))
    dev = pairs.x.device
    while any(t.value is None for t in targets):
        groups: dict[tuple, list[_Target]] = {}
        for t in targets:
            if t.value is None:
                groups.setdefault(tuple(t.chain), []).append(t)
        gathered: dict[tuple, list[torch.Tensor]] = {c: [] for c in groups}
        stats = {c: (torch.zeros(nb, dtype=torch.int64, device=dev),
                     torch.full((nb,), math.inf, dtype=torch.float64, device=dev),
                     torch.full((nb,), -math.inf, dtype=torch.float64, device=dev))
                 for c, ts in groups.items() if ts[0].count > COLLECT_CAP}
        ranges = {chain: _level0_similarity_range(pairs, chain[0][3]) for chain in groups}
        for i0, i1 in _with_progress(pairs, progress):
            s = sim_block(pairs, i0, i1)
            for chain, ts in groups.items():
                s_lo, s_hi = ranges[chain]
                select = s >= s_lo
                if s_hi < math.inf:
                    select &= s < s_hi
                values = _chain_values(_negative_candidates(pairs, s, i0, select), chain)
                del select
                if chain not in stats:
                    gathered[chain].append(values)
                    continue
                count, vmin, vmax = stats[chain]
                sub = _sub_bins(values, *ts[0].split, nb)
                _add_counts(count, sub)
                vmin.scatter_reduce_(0, sub, values, "amin")
                vmax.scatter_reduce_(0, sub, values, "amax")
            del s
        for chain, ts in groups.items():
            if chain not in stats:
                ordered = torch.sort(torch.cat(gathered[chain])).values.cpu().numpy()
                for t in ts:
                    t.value = float(ordered[t.rank - t.below])
                continue
            count, vmin, vmax = (s.cpu().numpy() for s in stats[chain])
            sub_cum = np.cumsum(count)
            for t in ts:
                j = int(np.searchsorted(sub_cum, t.rank - t.below, side="right"))
                t.chain = t.chain + [(t.split[0], t.split[1], nb, j)]
                t.below += int(sub_cum[j] - count[j])
                t.count = int(count[j])
                if vmin[j] == vmax[j]:
                    t.value = float(vmin[j])
                else:
                    t.split = (float(vmin[j]), nb / float(vmax[j] - vmin[j]))
    return {t.rank: pairs.key_to_distance(t.value) for t in targets}


def _accumulate(pairs: PairSet, bucket_of, n_values: int, class_slot: torch.Tensor, n_slots: int,
                progress) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-slot counts of the pairs a < b in each of ``n_values`` buckets.

    ``bucket_of(d)`` maps a distance block to int64 buckets in [0, n_values). Returns
    ``pos`` (slots, n_values): positive pairs; ``touch`` (slots, n_values): pairs with a
    member in the slot's classes (a positive pair counts twice, once per member, so
    the slot's negatives are ``touch - 2·pos``); ``all_pairs`` (n_values,).
    """
    n_buckets = n_values + 1  # plus a discard bucket for a >= b
    discard = n_values
    dev = pairs.x.device
    size = n_slots * n_buckets
    pos = torch.zeros(size, dtype=torch.int64, device=dev)
    touch = torch.zeros(size, dtype=torch.int64, device=dev)
    slot_of_row = class_slot[pairs.cls] * n_buckets  # (N,) counter offsets
    for i0, i1 in _with_progress(pairs, progress):
        b = bucket_of(key_block(pairs, i0, i1))
        nrows = i1 - i0
        b[:, :nrows].masked_fill_(_lower_incl_diag(nrows, dev), discard)
        w, eq = _positive_window(pairs, i0, i1)
        row_off = slot_of_row[i0:i1, None]
        _add_counts(pos, (b[:, :w] + row_off)[eq])
        b += row_off  # key of the row member's slot
        _add_counts(touch, b)
        b -= row_off
        b += slot_of_row[None, i0:]  # key of the column member's slot
        _add_counts(touch, b)
        del b
    pos_np = pos.view(n_slots, n_buckets).cpu().numpy()[:, :-1]
    touch_np = touch.view(n_slots, n_buckets).cpu().numpy()[:, :-1]
    return pos_np, touch_np, touch_np.sum(axis=0) // 2


def _upper_candidates(pairs: PairSet, d: torch.Tensor, i0: int, select: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Global rows, global columns and keys of the selected entries of a block with a < b.

    ``select`` (B, N - i0) bool marks candidate entries; only a few per cent of a
    block are selected, so working on their flat indices is much cheaper than on the
    whole block.
    """
    ncols = d.shape[1]
    flat = select.view(-1).nonzero().squeeze(1)
    rows = torch.div(flat, ncols, rounding_mode="floor")
    cols = flat - rows * ncols
    upper = cols > rows  # column i0 + cols is a later row than i0 + rows
    flat, rows, cols = flat[upper], rows[upper], cols[upper]
    return rows + i0, cols + i0, d.view(-1)[flat]


def count_buckets(pairs: PairSet, thresholds: torch.Tensor, *, inclusive: bool, class_slot: torch.Tensor,
                  n_slots: int, progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 3: per-slot positive / touching pair counts per threshold bucket.

    A pair falls in bucket b = #{θ_j < d} when ``inclusive`` (accepted at θ_j iff
    d ≤ θ_j, that is iff b ≤ j), else b = #{θ_j ≤ d} (accepted iff d < θ_j);
    b ∈ [0, n]. ``class_slot`` (K,) maps each class to its counter row (eligible
    classes 0..T-1, the others share slot T). See :func:`_accumulate` for the output.

    Most pairs lie beyond the last threshold (bucket n: the calibration range ends
    at a low false-accept rate). Only the pairs accepted at θ_{n-1} are selected and
    bucketed; bucket n of every counter is its known total (n_c·(N − 1) touching
    pairs and n_c(n_c − 1)/2 positives per class, N(N − 1)/2 pairs) minus the rest.
    """
    if pairs.distance == "l2":
        bounds = l2_key_thresholds(thresholds.cpu().numpy(), inclusive)
        thresholds = torch.as_tensor(bounds, device=thresholds.device)
    n_values = int(thresholds.numel()) + 1
    s_min = similarity_bound(pairs, float(thresholds[-1]), strict=not inclusive)  # accepted at θ_{n-1}
    dev = pairs.x.device
    on_cpu = dev.type == "cpu"
    size = n_slots * n_values
    slot_of_row = class_slot[pairs.cls] * n_values  # (N,) counter offsets
    if on_cpu:  # numpy's gathers, searchsorted and bincount beat torch's on CPU (about 1.7×)
        pos = np.zeros(size, dtype=np.int64)
        touch = np.zeros(size, dtype=np.int64)
        slot_of_row, cls, th = slot_of_row.numpy(), pairs.cls.numpy(), thresholds.numpy()
        side = "left" if inclusive else "right"
    else:
        pos = torch.zeros(size, dtype=torch.int64, device=dev)
        touch = torch.zeros(size, dtype=torch.int64, device=dev)
        cls = pairs.cls
    for i0, i1 in _with_progress(pairs, progress):
        sims = sim_block(pairs, i0, i1)
        nrows = i1 - i0
        sims[:, :nrows].masked_fill_(_lower_incl_diag(nrows, dev), math.nan)  # keep a < b only (NaN ≥ s is False)
        where = (sims >= s_min).nonzero()
        flat = where[:, 0] * sims.shape[1] + where[:, 1]
        keys = keys_from_sims(pairs, sims.view(-1)[flat])
        del sims, flat
        if on_cpu:
            rows, cols, keys = where[:, 0].numpy() + i0, where[:, 1].numpy() + i0, keys.numpy()
            b = np.searchsorted(th, keys, side=side)  # exact comparison with every θ_j
            row_key = slot_of_row[rows] + b
            pos += np.bincount(row_key[cls[rows] == cls[cols]], minlength=size)
            touch += np.bincount(row_key, minlength=size)
            touch += np.bincount(slot_of_row[cols] + b, minlength=size)
        else:
            rows, cols = where[:, 0] + i0, where[:, 1] + i0
            # exact comparison with every θ_j (binary search), no grid arithmetic to correct
            b = torch.bucketize(keys, thresholds, right=not inclusive)
            row_key = slot_of_row[rows] + b
            _add_counts(pos, row_key[cls[rows] == cls[cols]])
            _add_counts(touch, row_key)
            _add_counts(touch, slot_of_row[cols] + b)
        del where
    if not on_cpu:
        pos, touch = pos.cpu().numpy(), touch.cpu().numpy()
    pos_np = pos.reshape(n_slots, n_values)
    touch_np = touch.reshape(n_slots, n_values)
    slot_np = class_slot.cpu().numpy()
    n = pairs.n
    sizes = pairs.sizes.astype(np.int64)
    pos_total = np.zeros(n_slots, dtype=np.int64)
    touch_total = np.zeros(n_slots, dtype=np.int64)
    np.add.at(pos_total, slot_np, sizes * (sizes - 1) // 2)
    np.add.at(touch_total, slot_np, sizes * (n - 1))
    pos_np[:, -1] = pos_total - pos_np[:, :-1].sum(axis=1)
    touch_np[:, -1] = touch_total - touch_np[:, :-1].sum(axis=1)
    all_pairs = touch_np.sum(axis=0) // 2
    return pos_np, touch_np, all_pairs


def count_histograms(pairs: PairSet, n_bins: int, *, class_slot: torch.Tensor, n_slots: int,
                     progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass of per-slot histograms of ``n_bins`` equal bins over [0, 2] (``mode="approx"``)."""
    def bucket_of(key: torch.Tensor) -> torch.Tensor:
        d = key.sqrt_() if pairs.distance == "l2" else key  # approximate mode: torch's sqrt is fine
        return (d * (n_bins / 2.0)).clamp_(0.0, n_bins - 1.0).to(torch.int64)

    return _accumulate(pairs, bucket_of, n_bins, class_slot, n_slots, progress)
