"""The pair stream: unordered pairs of an embedding set without the N×N matrix.

Rows are sorted by class so that the positive pairs of a row block lie in a narrow
column window next to the diagonal. A row block ``[i0, i1)`` is multiplied with the
rows ``[i0, N)`` (similarities to later rows only); the lower triangle of the leading
square (``a ≥ b``) is discarded. Every pass over the pairs uses the same block
schedule and the same product, so a pair's distance is bit-identical in every pass.

Distances are non-increasing in the similarity s, so a comparison of a distance with
a bound is a comparison of s with :func:`similarity_bound`; the passes
(:mod:`metrics.threshold_consistency._passes`) screen raw similarity blocks that way
and turn only the few selected entries into distances.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import torch

from metrics.core.progress import ProgressReporter
from metrics.threshold_consistency._inputs import normalise

__all__ = ["PairSet", "prepare_pairs", "sim_block", "keys_from_sims", "key_block", "similarity_bound",
           "l2_key_thresholds", "lower_incl_diag", "positive_window", "add_counts", "with_progress",
           "upper_candidates", "BLOCK_ELEMENTS"]

BLOCK_ELEMENTS = 1 << 22  # elements of one block's float64 distance matrix: 32 MB (≤ 128 MB)


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

    @property
    def n_blocks(self) -> int:
        return sum(1 for _ in self.blocks())

    def blocks(self) -> Iterator[tuple[int, int]]:
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


def identity_tolerance(dim: int) -> float:
    """τ = (d + 2)·2⁻⁵²: the rounding bound of a float64 dot product of unit vectors.

    Cosine distances below τ (and squared l2 distances below 2τ) are set to exactly
    0, so that identical vectors, whose computed similarity is 1 ± a few ulps, get
    distance 0 however the matrix product is blocked.
    """
    return (dim + 2) * 2.0 ** -52


def prepare_pairs(x: torch.Tensor, class_index: torch.Tensor, sizes: np.ndarray, *, distance: str,
                  block_size: int | None) -> PairSet:
    """Normalise, sort by class (``class_index`` in [0, K) on x's device, ``sizes`` (K,))
    and return the :class:`PairSet`."""
    order = torch.argsort(class_index, stable=True)
    xs = normalise(x[order])
    return PairSet(x=xs, cls=class_index[order], class_end=np.cumsum(sizes), sizes=sizes.astype(np.int64),
                   distance=distance, tau=identity_tolerance(int(x.shape[1])), block_size=block_size)


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


_TRIL_CACHE: dict[str, torch.Tensor] = {}


def lower_incl_diag(b: int, device: torch.device) -> torch.Tensor:
    """(b, b) bool mask of a ≥ b: the top-left corner of one cached lower-triangular
    mask (a corner of a lower-triangular matrix is lower-triangular), so the blocks of
    every size share one allocation."""
    key = str(device)
    mask = _TRIL_CACHE.get(key)
    if mask is None or mask.shape[0] < b:
        size = max(b, 1024)
        mask = torch.ones(size, size, dtype=torch.bool, device=device).tril_()
        _TRIL_CACHE.clear()
        _TRIL_CACHE[key] = mask
    return mask[:b, :b]


def positive_window(pairs: PairSet, i0: int, i1: int) -> tuple[int, torch.Tensor]:
    """Width W and mask (B, W) of the positive pairs a < b of rows [i0, i1).

    Rows are sorted by class, so every same-class partner of these rows lies in
    columns [i0, i0 + W).
    """
    last = int(pairs.cls[i1 - 1])
    w = int(pairs.class_end[last]) - i0
    rows = pairs.cls[i0:i1]
    eq = rows[:, None] == pairs.cls[i0:i0 + w][None, :]
    b = i1 - i0
    eq[:, :b] &= ~lower_incl_diag(b, eq.device)
    return w, eq


def add_counts(counts: torch.Tensor, index: torch.Tensor) -> None:
    """counts[i] += #{index == i}: ``bincount`` for large inputs, ``index_add_`` for
    small ones (a bincount allocates the full counter array on every call)."""
    index = index.reshape(-1)
    if index.numel() >= counts.numel() // 4:
        counts += torch.bincount(index, minlength=counts.numel())
    elif index.numel():
        counts.index_add_(0, index, torch.ones(1, dtype=counts.dtype, device=counts.device).expand(index.numel()))


def with_progress(pairs: PairSet, reporter: ProgressReporter | None) -> Iterator[tuple[int, int]]:
    """The row blocks, advancing ``reporter`` by one per block."""
    for block in pairs.blocks():
        yield block
        if reporter is not None:
            reporter.update(1)


def upper_candidates(pairs: PairSet, d: torch.Tensor, i0: int, select: torch.Tensor
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


