"""Greedy matching of detections to GT (LVIS and COCO rules), one compiled pass over every pair.

lvis-api's ``evaluate_img`` and pycocotools' ``evaluateImg`` walk, for each IoU threshold t and each detection in
score order, over the GT of the same (image, category) and takes among GT still
free at t the non-ignored one with the largest IoU ≥ min(t, 1 − 1e-10) (the later
GT on equal IoU), else the same choice among ignored GT, else nothing. The two rule
sets differ in one point: under COCO rules a crowd GT is never used up (any number of
detections may match it); LVIS has no crowd GT.

Why a compiled kernel: inside a pair the walk is sequential (a detection may take
only the GT its better-scored predecessors left free). The IoU of every
(detection, GT) entry is computed first, vectorised, a few million entries at a time;
the walk itself (``_walk_pairs``, numba) then reads those entries once per area range
and threshold, so it costs a few operations per entry. A plain-Python version of the
same walk lives in the tests and is compared with this one on random inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

__all__: list[str] = []

_CHUNK_ENTRIES = 2_000_000  # (detection, GT) IoU entries scored per chunk


def _ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(s, s + c)`` and the offset inside each range."""
    total = int(counts.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets, offsets


@njit(cache=True, nogil=True)
def _walk_pairs(iou, p_det, p_ndet, p_gt, p_ngt, thr_rows, ignore_rows, reusable, void, taken, matched,
                matched_ignored, matched_void):  # pragma: no cover  (compiled; its Python twin is in the tests)
    """The greedy walk of every pair of a chunk, for every (area range, threshold) row.

    ``iou`` holds, pair after pair, a row-major (detections × GT) block per pair;
    pair p has detections ``p_det[p] …`` (in rank order) and GT ``p_gt[p] …``. The
    row-indexed outputs are filled in place; ``reusable`` (crowd) GT are never used up,
    ``void`` marks GT whose match is reported in ``matched_void``.
    """
    n_rows = thr_rows.shape[0]
    entry = 0
    for p in range(p_det.shape[0]):
        nd, ng, d0, g0 = p_ndet[p], p_ngt[p], p_det[p], p_gt[p]
        for r in range(n_rows):
            t = thr_rows[r]
            for k in range(nd):
                row = entry + k * ng
                best_regular, best_ignored = -1, -1
                iou_regular, iou_ignored = -1.0, -1.0
                for j in range(ng):
                    g = g0 + j
                    v = iou[row + j]
                    if v >= t and not taken[r, g]:
                        if ignore_rows[r, g]:
                            if v >= iou_ignored:
                                iou_ignored, best_ignored = v, g
                        elif v >= iou_regular:
                            iou_regular, best_regular = v, g
                best = best_regular if best_regular >= 0 else best_ignored
                if best >= 0:
                    if not reusable[best]:
                        taken[r, best] = True
                    matched[r, d0 + k] = True
                    matched_ignored[r, d0 + k] = best_regular < 0
                    matched_void[r, d0 + k] = void[best]
        entry += nd * ng


def greedy_match(det_key: np.ndarray, gt_key: np.ndarray, gt_ignore: np.ndarray, thresholds: np.ndarray,
                 iou_entries: Callable[..., np.ndarray], *, gt_crowd: np.ndarray | None = None,
                 gt_void: np.ndarray | None = None, chunk_entries: int = _CHUNK_ENTRIES
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Match detections to GT for every area range and threshold (lvis-api / pycocotools rule).

    Parameters
    ----------
    det_key : (N,) int
        Pair key of each detection; detections must be sorted by (key, −score, file
        order), so that a detection's rank inside its pair is its score rank.
    gt_key : (G,) int
        Pair key of each GT, sorted (GT of a pair keep file order).
    gt_ignore : (A, G) bool
        Whether each GT is ignored in each area range.
    thresholds : (T,) float
        IoU thresholds; min(t, 1 − 1e-10) is applied here.
    iou_entries : callable
        ``iou_entries(e_det, e_gt, pair_det_start, pair_n_det, pair_gt_start, pair_n_gt)``
        → IoU of each entry; entries list, pair by pair and detection by detection,
        every GT of the pair in order (row-major blocks).
    gt_crowd : (G,) bool, optional
        COCO crowd regions: matched any number of times (never used up).
    gt_void : (G,) bool, optional
        GT whose match pycocotools does not count (GT id 0: it stores the GT id as the
        match and tests it for truth); reported in ``matched_void``.

    Returns
    -------
    matched : (A, T, N) bool
        Whether the detection took a GT (ignored or not).
    matched_ignored : (A, T, N) bool
        Whether the GT it took is ignored.
    max_iou : (N,) float
        Largest IoU with any GT of its pair (0 where the pair has no GT).
    matched_void : (A, T, N) bool or None
        Whether the GT it took is void (None when ``gt_void`` is None).
    """
    n_det = len(det_key)
    n_area = gt_ignore.shape[0]
    thr = np.minimum(np.asarray(thresholds, dtype=np.float64), 1 - 1e-10)
    n_thr = len(thr)
    rows = n_area * n_thr
    matched = np.zeros((rows, n_det), dtype=bool)
    matched_ignored = np.zeros((rows, n_det), dtype=bool)
    max_iou = np.zeros(n_det)
    matched_void = None if gt_void is None else np.zeros((rows, n_det), dtype=bool)

    def shaped(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None else x.reshape(n_area, n_thr, n_det)

    n_gt = len(gt_key)
    taken = np.zeros((rows, n_gt), dtype=bool)
    if n_det == 0 or n_gt == 0:
        return shaped(matched), shaped(matched_ignored), max_iou, shaped(matched_void)  # type: ignore[return-value]
    reusable = np.zeros(n_gt, bool) if gt_crowd is None else np.ascontiguousarray(gt_crowd, dtype=bool)
    void = np.zeros(n_gt, bool) if gt_void is None else np.ascontiguousarray(gt_void, dtype=bool)
    void_out = np.zeros((rows, n_det), dtype=bool) if matched_void is None else matched_void
    p_start = np.flatnonzero(np.r_[True, det_key[1:] != det_key[:-1]])  # det_key is sorted: runs are pairs
    p_ndet = np.diff(np.r_[p_start, n_det])
    keys = det_key[p_start]
    g_start = np.searchsorted(gt_key, keys, "left")
    p_ngt = np.searchsorted(gt_key, keys, "right") - g_start
    has_gt = p_ngt > 0
    p_start, p_ndet, g_start, p_ngt = p_start[has_gt], p_ndet[has_gt], g_start[has_gt], p_ngt[has_gt]
    ignore_rows = np.ascontiguousarray(np.repeat(gt_ignore, n_thr, axis=0), dtype=bool)  # (rows, G)
    thr_rows = np.tile(thr, n_area)
    cum = np.cumsum(p_ndet * p_ngt)
    lo = 0
    while lo < len(p_start):
        done = cum[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cum, done + chunk_entries, "right")), lo + 1)
        sl = slice(lo, hi)
        lo = hi
        ps, pn, gs, gn = p_start[sl], p_ndet[sl], g_start[sl], p_ngt[sl]
        det_pos = _ranges(ps, pn)[0]  # detections of the chunk, pair by pair
        per_det_ngt = np.repeat(gn, pn)
        j = _ranges(np.zeros(len(det_pos), dtype=np.int64), per_det_ngt)[1]
        e_det = np.repeat(det_pos, per_det_ngt)
        e_gt = np.repeat(np.repeat(gs, pn), per_det_ngt) + j
        iou = np.ascontiguousarray(iou_entries(e_det, e_gt, ps, pn, gs, gn), dtype=np.float64)
        max_iou[det_pos] = np.maximum.reduceat(iou, np.cumsum(per_det_ngt) - per_det_ngt)
        _walk_pairs(iou, ps.astype(np.int64), pn.astype(np.int64), gs.astype(np.int64), gn.astype(np.int64),
                    thr_rows, ignore_rows, reusable, void, taken, matched, matched_ignored, void_out)
    return shaped(matched), shaped(matched_ignored), max_iou, shaped(matched_void)  # type: ignore[return-value]
