"""Selecting detections: the per-image or per-pair cap and the per-category top-K.

Every selection is a stable sort by descending score inside a group (ties keep the
order the records arrive in), done for all groups at once. Scores are replaced once by
their dense rank (:func:`score_rank`: 0 for the highest, equal scores share a rank),
so that "group, then descending score" is one integer key ``group · (n + 1) + rank``
and one stable sort (:func:`stable_order`) instead of a ``lexsort`` over two or more
keys; the order is the same. On large inputs that sort is a least-significant-digit
radix sort of the key's significant bits (a few linear passes, compiled with numba;
equal keys keep their order, so it equals ``np.argsort(kind="stable")``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

__all__: list[str] = []

_KEY_LIMIT = 1 << 62  # composite keys stay below this (int64)
_RADIX_MIN = 1 << 15  # below this many keys numpy's argsort is as fast
_DIGIT_BITS = 11  # 2,048 buckets per pass


@njit(cache=True, nogil=True)
def _radix_argsort(keys, n_bits):  # pragma: no cover  (compiled; tested against np.argsort)
    """Stable argsort of non-negative int64 ``keys`` below ``2 ** n_bits`` (LSD radix, 11-bit digits).

    One pass counts every digit; a pass whose digit is the same for every key is skipped.
    """
    n = keys.shape[0]
    radix = 1 << _DIGIT_BITS
    mask = radix - 1
    n_pass = max((n_bits + _DIGIT_BITS - 1) // _DIGIT_BITS, 1)
    hist = np.zeros((n_pass, radix), np.int64)
    for i in range(n):
        k = keys[i]
        for p in range(n_pass):
            hist[p, (k >> (p * _DIGIT_BITS)) & mask] += 1
    order = np.arange(n)
    cur = keys.copy()
    order_next = np.empty(n, np.int64)
    cur_next = np.empty(n, np.int64)
    pos = np.empty(radix, np.int64)
    for p in range(n_pass):
        shift = p * _DIGIT_BITS
        total = 0
        single = False
        for d in range(radix):
            pos[d] = total
            total += hist[p, d]
            single = single or hist[p, d] == n
        if single:
            continue
        for i in range(n):
            k = cur[i]
            d = (k >> shift) & mask
            j = pos[d]
            pos[d] = j + 1
            order_next[j] = order[i]
            cur_next[j] = k
        order, order_next = order_next, order
        cur, cur_next = cur_next, cur
    return order


def score_rank(score: np.ndarray) -> np.ndarray:
    """Dense rank of each score in descending order (int64): 0 for the highest; equal scores share a rank."""
    n = len(score)
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    order = np.argsort(-score, kind="stable")
    s = score[order]
    out[order] = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1
    return out


def stable_order(keys: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
    """Stable argsort by ``keys``, most significant first; each key holds ints in [0, size).

    One stable sort of the combined int64 key when it fits (a radix sort from
    ``_RADIX_MIN`` keys on), else ``np.lexsort``.
    """
    total = 1
    for _, size in keys:
        total *= max(int(size), 1)
    if total < _KEY_LIMIT:
        combined = np.zeros(len(keys[0][0]), dtype=np.int64)
        for values, size in keys:
            combined *= max(int(size), 1)
            combined += values
        if len(combined) >= _RADIX_MIN:
            return _radix_argsort(combined, (total - 1).bit_length())
        return np.argsort(combined, kind="stable")
    return np.lexsort([values for values, _ in reversed(keys)])


def _codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    """Group values shifted to start at 0, and their span (a key of :func:`stable_order`)."""
    if len(groups) == 0:
        return groups.astype(np.int64), 1
    lo = int(groups.min())
    return groups.astype(np.int64) - lo, int(groups.max()) - lo + 1


def rank_within(groups: np.ndarray, score: np.ndarray, srank: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Stable order by (group, −score, position) and each record's rank in its group.

    ``rank[j]`` is the rank of the record ``order[j]``. ``srank`` is
    :func:`score_rank` of ``score`` when the caller has it.
    """
    n = len(groups)
    if srank is None:
        srank = score_rank(score)
    codes, span = _codes(groups)
    order = stable_order([(codes, span), (srank, n + 1)])
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if n else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, lengths)
    return order, rank


def rank_in_group(groups: np.ndarray, score: np.ndarray, srank: np.ndarray | None = None) -> np.ndarray:
    """Rank of every record (in input order) inside its group by score, ties in input order."""
    order, rank = rank_within(groups, score, srank)
    out = np.empty(len(groups), dtype=np.int64)
    out[order] = rank
    return out


def top_per_group(groups: np.ndarray, score: np.ndarray, k: int, srank: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask: the first ``k`` records of each group by score (ties: input order); all for k < 0."""
    keep = np.ones(len(groups), dtype=bool)
    if k < 0 or len(groups) == 0:
        return keep
    order, rank = rank_within(groups, score, srank)
    keep[order[rank >= k]] = False
    return keep
