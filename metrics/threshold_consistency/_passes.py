"""The passes over the pair stream, each reduced into fixed-size counters.

* :func:`guess_candidates`: the usual single pass: the pairs closer than a sampled guess,
  from which the order statistics and the counts are read when they hold all needed;
* :func:`negative_histogram`: 2**16 bins over [0, key range] of the negative keys;
* :func:`resolve_order_statistics`: exact order statistics of the negative distances
  (collects the few values in the target bins, refining bins that hold too many);
* :func:`collect_candidates`: when they are few (≤ ``CANDIDATE_CAP``), every pair a < b
  close enough to hold an order statistic or a threshold bucket below the last one,
  kept with its raw similarity, so that :func:`order_statistics_from_candidates` and
  :func:`count_buckets` read them instead of making two more passes (one product less);
* :func:`count_buckets`: per-class positive / touching counts per threshold bucket;
* :func:`count_histograms`: per-class histograms in one pass (approximate mode).

Memory is O(N·d + block + T·bins): one block's similarities and its selected entries
exist at a time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch

from metrics.core.progress import ProgressReporter
from metrics.threshold_consistency._pairs import (
    PairSet,
    add_counts,
    key_block,
    keys_from_sims,
    l2_key_thresholds,
    lower_incl_diag,
    positive_window,
    sim_block,
    similarity_bound,
    upper_candidates,
    with_progress,
)

__all__ = ["negative_histogram", "resolve_order_statistics", "collect_candidates", "guess_candidates",
           "order_statistics_from_candidates", "count_buckets", "count_histograms", "LEVEL0_BINS", "COLLECT_CAP",
           "CANDIDATE_CAP"]

LEVEL0_BINS = 1 << 16  # pass-1 histogram bins over [0, key range]
COLLECT_CAP = 1 << 22  # a bin holding more negatives than this is split, not collected
CANDIDATE_CAP = 1 << 23  # pairs kept by collect_candidates (24 bytes each: at most 192 MB)


def _level0_scale(pairs: PairSet) -> float:
    return LEVEL0_BINS / pairs.key_range  # a power of two: exact arithmetic


def _negative_bins(pairs: PairSet, i0: int, i1: int) -> torch.Tensor:
    """Level-0 bin of every pair in the block (int64), ``LEVEL0_BINS + 1`` where not a
    negative a < b, and ``LEVEL0_BINS`` for the keys at the very top (merged into the
    last bin by the caller).

    floor(key·scale) is computed from s in one rounding: key·scale = fl(c − c·s) with
    c = scale (cosine) or 2·scale (l2), because c·s is exact (c is a power of two) and
    scaling by a power of two commutes with rounding. Keys that
    :func:`keys_from_sims` zeroes are below 1/scale, and truncation towards zero
    sends them (and tiny negative values) to bin 0, so this equals
    floor(key·scale) clipped to [0, 2**16 − 1] up to the top-bin merge.
    """
    c = _level0_scale(pairs) * (1.0 if pairs.distance == "cosine" else 2.0)
    # in place: -c·s is exact, so adding c rounds once, as fl(c − c·s); int64 is what
    # numpy's bincount reads without a converting copy
    bins = sim_block(pairs, i0, i1).mul_(-c).add_(c).to(torch.int64)
    b = i1 - i0
    bins[:, :b].masked_fill_(lower_incl_diag(b, bins.device), LEVEL0_BINS + 1)
    w, eq = positive_window(pairs, i0, i1)
    bins[:, :w].masked_fill_(eq, LEVEL0_BINS + 1)
    return bins


def negative_histogram(pairs: PairSet, progress: ProgressReporter | None = None) -> np.ndarray:
    """Pass 1: counts of the negative keys in 2**16 equal bins over [0, key_range]."""
    on_cpu = pairs.x.device.type == "cpu"
    hist = np.zeros(LEVEL0_BINS + 2, dtype=np.int64)
    hist_dev = torch.zeros(LEVEL0_BINS + 2, dtype=torch.int64, device=pairs.x.device)
    for i0, i1 in with_progress(pairs, progress):
        bins = _negative_bins(pairs, i0, i1).view(-1)
        if on_cpu:  # numpy's bincount is about twice as fast as torch's on CPU
            hist += np.bincount(bins.numpy(), minlength=LEVEL0_BINS + 2)
        else:
            hist_dev += torch.bincount(bins, minlength=LEVEL0_BINS + 2)
        del bins
    if not on_cpu:
        hist = hist_dev.cpu().numpy()
    hist[LEVEL0_BINS - 1] += hist[LEVEL0_BINS]  # keys at the top of the range: clip to the last bin
    return hist[:LEVEL0_BINS]


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


def _chain_values(values: torch.Tensor, chain: tuple) -> torch.Tensor:
    for lo, scale, nb, k in chain[1:]:
        values = values[_sub_bins(values, lo, scale, nb) == k]
    return values


def resolve_order_statistics(pairs: PairSet, ranks: list[int], hist: np.ndarray,
                             progress: ProgressReporter | None = None) -> dict[int, float]:
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
        for i0, i1 in with_progress(pairs, progress):
            s = sim_block(pairs, i0, i1)
            for chain, ts in groups.items():
                s_lo, s_hi = ranges[chain]
                select = s >= s_lo
                if s_hi < math.inf:
                    select &= s < s_hi
                rows, cols, sims = upper_candidates(pairs, s, i0, select)
                del select
                values = _chain_values(keys_from_sims(pairs, sims[pairs.cls[rows] != pairs.cls[cols]]), chain)
                if chain not in stats:
                    gathered[chain].append(values)
                    continue
                count, vmin, vmax = stats[chain]
                sub = _sub_bins(values, *ts[0].split, nb)
                add_counts(count, sub)
                vmin.scatter_reduce_(0, sub, values, "amin")
                vmax.scatter_reduce_(0, sub, values, "amax")
            del s
        for chain, ts in groups.items():
            if chain not in stats:
                ordered_np = torch.sort(torch.cat(gathered[chain])).values.cpu().numpy()
                for t in ts:
                    t.value = float(ordered_np[t.rank - t.below])
                continue
            count_np, vmin_np, vmax_np = (st.cpu().numpy() for st in stats[chain])
            sub_cum = np.cumsum(count_np)
            for t in ts:
                j = int(np.searchsorted(sub_cum, t.rank - t.below, side="right"))
                t.chain = t.chain + [(t.split[0], t.split[1], nb, j)]
                t.below += int(sub_cum[j] - count_np[j])
                t.count = int(count_np[j])
                if vmin_np[j] == vmax_np[j]:
                    t.value = float(vmin_np[j])
                else:
                    t.split = (float(vmin_np[j]), nb / float(vmax_np[j] - vmin_np[j]))
    return {t.rank: pairs.key_to_distance(float(t.value)) for t in targets if t.value is not None}


@dataclasses.dataclass
class Candidates:
    """The pairs a < b with similarity ≥ ``s_floor``: per block, global rows, global
    columns and raw similarities (bit-identical to every other pass's)."""

    s_floor: float
    chunks: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def _target_bins(ranks: list[int], hist: np.ndarray) -> list[int]:
    cum = np.cumsum(hist)
    return [int(np.searchsorted(cum, r, side="right")) for r in ranks]


def _collect(pairs: PairSet, s_floor: float, progress: ProgressReporter | None) -> Candidates | None:
    """The pairs a < b with s ≥ ``s_floor`` in one pass; None as soon as they exceed
    ``CANDIDATE_CAP``."""
    dev = pairs.x.device
    chunks = []
    kept = 0
    for i0, i1 in with_progress(pairs, progress):
        s = sim_block(pairs, i0, i1)
        nrows = i1 - i0
        s[:, :nrows].masked_fill_(lower_incl_diag(nrows, dev), math.nan)  # keep a < b only (NaN ≥ s is False)
        ncols = s.shape[1]
        if dev.type == "cpu":  # numpy's flatnonzero and gathers are the fastest here
            s_np = s.numpy().reshape(-1)
            flat = np.flatnonzero(s_np >= s_floor)
            rows, cols = np.divmod(flat, ncols)
            chunks.append((torch.from_numpy(rows + i0), torch.from_numpy(cols + i0), torch.from_numpy(s_np[flat])))
        else:
            flat_t = (s.view(-1) >= s_floor).nonzero().squeeze(1)
            rows_t = torch.div(flat_t, ncols, rounding_mode="floor")
            chunks.append((rows_t + i0, flat_t - rows_t * ncols + i0, s.view(-1)[flat_t]))
        del s
        kept += int(chunks[-1][2].numel())
        if kept > CANDIDATE_CAP:
            return None
    return Candidates(s_floor=s_floor, chunks=chunks)


def collect_candidates(pairs: PairSet, ranks: list[int], hist: np.ndarray,
                       progress: ProgressReporter | None = None) -> Candidates | None:
    """Pass 2 when it is small: keep every pair a < b whose key lies below the level-0
    bin after the last one holding a rank in ``ranks``.

    That set holds every negative up to the highest order statistic and, since the
    thresholds lie between the order statistics, every pair accepted at the last
    threshold (checked by :func:`count_buckets`, which falls back to a pass otherwise).
    Returns None, without a pass, when the set would exceed ``CANDIDATE_CAP`` pairs.
    """
    k_top = max(_target_bins(ranks, hist)) + 1  # one bin of margin above the highest order statistic
    if k_top >= LEVEL0_BINS - 1:
        return None
    n_pos = int((pairs.sizes * (pairs.sizes - 1) // 2).sum())
    if int(hist[:k_top + 1].sum()) + n_pos > CANDIDATE_CAP:
        return None
    return _collect(pairs, _level0_similarity_range(pairs, k_top)[0], progress)  # bins 0..k_top


def guess_candidates(pairs: PairSet, fraction: float, progress: ProgressReporter | None = None,
                     sample_rows: int = 256) -> Candidates | None:
    """Passes 1 to 3 in one, when a guess holds: keep the pairs a < b with s above the
    similarity that about ``fraction`` of the negatives exceed, estimated from the
    negatives of ``sample_rows`` random rows (a fixed seed) with a margin.

    Exactness does not depend on the guess: :func:`order_statistics_from_candidates`
    and :func:`count_buckets` check that the kept pairs hold everything they need, and
    the caller falls back to the histogram passes when they do not. None (without a
    pass) when the kept set would be larger than ``CANDIDATE_CAP``.
    """
    fraction = min(1.0, 1.25 * fraction + 0.02)
    n_pos = int((pairs.sizes * (pairs.sizes - 1) // 2).sum())
    if fraction >= 0.5 or fraction * pairs.n_negative + n_pos > CANDIDATE_CAP:
        return None
    rows = np.sort(np.random.default_rng(0).choice(pairs.n, size=min(pairs.n, sample_rows), replace=False))
    idx = torch.as_tensor(rows, device=pairs.x.device)
    s = pairs.x[idx] @ pairs.x.T
    neg = s[pairs.cls[idx][:, None] != pairs.cls[None, :]].cpu().numpy()
    if neg.size == 0:
        return None
    return _collect(pairs, float(np.quantile(neg, 1.0 - fraction)), progress)


def order_statistics_from_candidates(pairs: PairSet, ranks: list[int],
                                     candidates: Candidates) -> dict[int, float] | None:
    """The order statistics of :func:`resolve_order_statistics`, read from the kept pairs.

    The kept negatives are those with the smallest keys (keys are non-increasing in
    s), so when there are more of them than the largest rank, the r-th smallest kept
    key is the r-th smallest of all (the same value: a pair's key does not depend on
    the pass or the selection it is computed in). None when there are too few.
    """
    cls = pairs.cls.cpu().numpy()
    keys = []
    for rows, cols, sims in candidates.chunks:
        neg = cls[rows.cpu().numpy()] != cls[cols.cpu().numpy()]
        if sims.device.type == "cpu":  # numpy's boolean gather is faster than torch's
            selected = torch.from_numpy(sims.numpy()[neg])
        else:
            selected = sims[torch.from_numpy(neg).to(sims.device)]
        keys.append(keys_from_sims(pairs, selected).cpu().numpy())
    wanted = sorted(set(ranks))
    neg_keys = np.concatenate(keys)
    if neg_keys.size <= wanted[-1]:
        return None
    values = np.partition(neg_keys, wanted)
    return {r: pairs.key_to_distance(float(values[r])) for r in wanted}


def _accumulate(pairs: PairSet, bucket_of, n_values: int, class_slot: torch.Tensor, n_slots: int,
                progress: ProgressReporter | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    for i0, i1 in with_progress(pairs, progress):
        b = bucket_of(key_block(pairs, i0, i1))
        nrows = i1 - i0
        b[:, :nrows].masked_fill_(lower_incl_diag(nrows, dev), discard)
        w, eq = positive_window(pairs, i0, i1)
        row_off = slot_of_row[i0:i1, None]
        add_counts(pos, (b[:, :w] + row_off)[eq])
        b += row_off  # key of the row member's slot
        add_counts(touch, b)
        b -= row_off
        b += slot_of_row[None, i0:]  # key of the column member's slot
        add_counts(touch, b)
        del b
    pos_np = pos.view(n_slots, n_buckets).cpu().numpy()[:, :-1]
    touch_np = touch.view(n_slots, n_buckets).cpu().numpy()[:, :-1]
    return pos_np, touch_np, touch_np.sum(axis=0) // 2


def _accepted_pairs(pairs: PairSet, s_min: float, progress: ProgressReporter | None,
                    candidates: Candidates | None) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(global rows, global columns, keys) of the pairs a < b with s ≥ ``s_min``, per block:
    from ``candidates`` when they hold them all, else from one more pass."""
    if candidates is not None and s_min >= candidates.s_floor:
        if progress is not None:
            progress.update(pairs.n_blocks)  # the pass this replaces
        for rows, cols, sims in candidates.chunks:
            if sims.device.type == "cpu":  # numpy's boolean gathers are faster than torch's
                keep_np = sims.numpy() >= s_min
                rows, cols, sims = (torch.from_numpy(t.numpy()[keep_np]) for t in (rows, cols, sims))
            else:
                keep = sims >= s_min
                rows, cols, sims = rows[keep], cols[keep], sims[keep]
            yield rows, cols, keys_from_sims(pairs, sims)
        return
    dev = pairs.x.device
    for i0, i1 in with_progress(pairs, progress):
        sims = sim_block(pairs, i0, i1)
        nrows = i1 - i0
        sims[:, :nrows].masked_fill_(lower_incl_diag(nrows, dev), math.nan)  # keep a < b only (NaN ≥ s is False)
        where = (sims >= s_min).nonzero()
        flat = where[:, 0] * sims.shape[1] + where[:, 1]
        keys = keys_from_sims(pairs, sims.view(-1)[flat])
        del sims, flat
        yield where[:, 0] + i0, where[:, 1] + i0, keys


def count_buckets(pairs: PairSet, thresholds: torch.Tensor, *, inclusive: bool, class_slot: torch.Tensor,
                  n_slots: int, progress: ProgressReporter | None = None,
                  candidates: Candidates | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 3: per-slot positive / touching pair counts per threshold bucket.

    A pair falls in bucket b = #{θ_j < d} when ``inclusive`` (accepted at θ_j iff
    d ≤ θ_j, that is iff b ≤ j), else b = #{θ_j ≤ d} (accepted iff d < θ_j);
    b ∈ [0, n]. ``class_slot`` (K,) maps each class to its counter row (eligible
    classes 0..T-1, the others share slot T). See :func:`_accumulate` for the output.

    Most pairs lie beyond the last threshold (bucket n: the calibration range ends
    at a low false-accept rate). Only the pairs accepted at θ_{n-1} are selected and
    bucketed; bucket n of every counter is its known total (n_c·(N − 1) touching
    pairs and n_c(n_c − 1)/2 positives per class, N(N − 1)/2 pairs) minus the rest.
    With ``candidates`` that hold every such pair (s_min ≥ their floor), they are
    read instead of making a pass (the same pairs, the same similarities).
    """
    if pairs.distance == "l2":
        bounds = l2_key_thresholds(thresholds.cpu().numpy(), inclusive)
        thresholds = torch.as_tensor(bounds, device=thresholds.device)
    n_values = int(thresholds.numel()) + 1
    s_min = similarity_bound(pairs, float(thresholds[-1]), strict=not inclusive)  # accepted at θ_{n-1}
    dev = pairs.x.device
    size = n_slots * n_values
    slot_of_row = class_slot[pairs.cls] * n_values  # (N,) counter offsets
    # on CPU numpy's gathers, searchsorted and bincount beat torch's (about 1.7×); on an
    # accelerator torch does the same work (bucketize is the same exact binary search)
    pos = np.zeros(size, dtype=np.int64)
    touch = np.zeros(size, dtype=np.int64)
    pos_dev = torch.zeros(size, dtype=torch.int64, device=dev)
    touch_dev = torch.zeros(size, dtype=torch.int64, device=dev)
    slot_np, cls_np, th_np = slot_of_row.cpu().numpy(), pairs.cls.cpu().numpy(), thresholds.cpu().numpy()
    side: Literal["left", "right"] = "left" if inclusive else "right"
    for rows_t, cols_t, keys in _accepted_pairs(pairs, s_min, progress, candidates):
        if dev.type == "cpu":
            rows, cols = rows_t.numpy(), cols_t.numpy()
            b = np.searchsorted(th_np, keys.numpy(), side=side)  # exact comparison with every θ_j
            row_key = slot_np[rows] + b
            pos += np.bincount(row_key[cls_np[rows] == cls_np[cols]], minlength=size)
            touch += np.bincount(row_key, minlength=size)
            touch += np.bincount(slot_np[cols] + b, minlength=size)
        else:
            b_t = torch.bucketize(keys, thresholds, right=not inclusive)
            row_key_t = slot_of_row[rows_t] + b_t
            add_counts(pos_dev, row_key_t[pairs.cls[rows_t] == pairs.cls[cols_t]])
            add_counts(touch_dev, row_key_t)
            add_counts(touch_dev, slot_of_row[cols_t] + b_t)
    if dev.type != "cpu":
        pos, touch = pos_dev.cpu().numpy(), touch_dev.cpu().numpy()
    pos_np = pos.reshape(n_slots, n_values)
    touch_np = touch.reshape(n_slots, n_values)
    class_slot_np = class_slot.cpu().numpy()
    n = pairs.n
    sizes = pairs.sizes.astype(np.int64)
    pos_total = np.zeros(n_slots, dtype=np.int64)
    touch_total = np.zeros(n_slots, dtype=np.int64)
    np.add.at(pos_total, class_slot_np, sizes * (sizes - 1) // 2)
    np.add.at(touch_total, class_slot_np, sizes * (n - 1))
    pos_np[:, -1] = pos_total - pos_np[:, :-1].sum(axis=1)
    touch_np[:, -1] = touch_total - touch_np[:, :-1].sum(axis=1)
    all_pairs = touch_np.sum(axis=0) // 2
    return pos_np, touch_np, all_pairs


def count_histograms(pairs: PairSet, n_bins: int, *, class_slot: torch.Tensor, n_slots: int,
                     progress: ProgressReporter | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass of per-slot histograms of ``n_bins`` equal bins over [0, 2] (``mode="approx"``)."""
    def bucket_of(key: torch.Tensor) -> torch.Tensor:
        d = key.sqrt_() if pairs.distance == "l2" else key  # approximate mode: torch's sqrt is fine
        return (d * (n_bins / 2.0)).clamp_(0.0, n_bins - 1.0).to(torch.int64)

    return _accumulate(pairs, bucket_of, n_bins, class_slot, n_slots, progress)
