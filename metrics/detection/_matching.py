"""Greedy matching of detections to GT (LVIS and COCO rules), batched over every pair rank by rank.

lvis-api's ``evaluate_img`` and pycocotools' ``evaluateImg`` walk, for each IoU threshold t and each detection in
score order, over the GT of the same (image, category) and takes among GT still
free at t the non-ignored one with the largest IoU ≥ min(t, 1 − 1e-10) (the later
GT on equal IoU), else the same choice among ignored GT, else nothing. The two rule
sets differ in one point: under COCO rules a crowd GT is never used up (any number of
detections may match it); LVIS has no crowd GT. A detection
only competes with the earlier detections of its own pair, so the r-th detections of
all pairs can be matched at once: we loop over ranks r (at most the largest number of
detections in one pair), and each step is a handful of array operations over the
candidate (detection, GT) entries of that rank, for all area ranges × thresholds at
once. Entries with IoU below the lowest threshold can never match and are dropped
before the loop, so the work is proportional to the overlapping pairs only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__: list[str] = []

_CHUNK_ENTRIES = 2_000_000  # (detection, GT) IoU entries scored per chunk


def _ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(s, s + c)`` and the offset inside each range."""
    total = int(counts.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets, offsets


def _pick(cand: np.ndarray, iou: np.ndarray, seg_start: np.ndarray, seg_id: np.ndarray) -> np.ndarray:
    """Per row and segment: the entry with the largest IoU among ``cand``, last on ties; −1 if none."""
    val = np.where(cand, iou[None, :], -1.0)
    best_iou = np.maximum.reduceat(val, seg_start, axis=1)
    is_best = cand & (val == best_iou[:, seg_id])
    pos = np.where(is_best, np.arange(len(iou))[None, :], -1)
    return np.maximum.reduceat(pos, seg_start, axis=1)


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
    reusable = None if gt_crowd is None or not gt_crowd.any() else gt_crowd

    def shaped(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None else x.reshape(n_area, n_thr, n_det)

    taken = np.zeros((rows, len(gt_key)), dtype=bool)
    if n_det == 0 or len(gt_key) == 0:
        return shaped(matched), shaped(matched_ignored), max_iou, shaped(matched_void)  # type: ignore[return-value]
    keys, p_start, p_ndet = np.unique(det_key, return_index=True, return_counts=True)
    g_start = np.searchsorted(gt_key, keys, "left")
    p_ngt = np.searchsorted(gt_key, keys, "right") - g_start
    has_gt = p_ngt > 0
    p_start, p_ndet, g_start, p_ngt = p_start[has_gt], p_ndet[has_gt], g_start[has_gt], p_ngt[has_gt]
    ignore_rows = np.repeat(gt_ignore, n_thr, axis=0)  # (rows, G)
    thr_rows = np.tile(thr, n_area)
    cum = np.cumsum(p_ndet * p_ngt)
    lo = 0
    while lo < len(p_start):
        done = cum[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cum, done + chunk_entries, "right")), lo + 1)
        sl = slice(lo, hi)
        lo = hi
        ps, pn, gs, gn = p_start[sl], p_ndet[sl], g_start[sl], p_ngt[sl]
        det_pos, rank = _ranges(ps, pn)  # detections of the chunk, pair by pair
        per_det_ngt = np.repeat(gn, pn)
        j = _ranges(np.zeros(len(det_pos), dtype=np.int64), per_det_ngt)[1]
        e_det_local = np.repeat(np.arange(len(det_pos)), per_det_ngt)
        e_gt = np.repeat(np.repeat(gs, pn), per_det_ngt) + j
        iou = iou_entries(det_pos[e_det_local], e_gt, ps, pn, gs, gn)
        seg = np.cumsum(per_det_ngt) - per_det_ngt
        max_iou[det_pos] = np.maximum.reduceat(iou, seg)
        keep = iou >= thr.min()
        c_det, c_gt, c_iou = e_det_local[keep], e_gt[keep], iou[keep]
        c_rank = rank[c_det]
        order = np.argsort(c_rank, kind="stable")
        c_det, c_gt, c_iou, c_rank = c_det[order], c_gt[order], c_iou[order], c_rank[order]
        bounds = np.flatnonzero(np.r_[True, c_rank[1:] != c_rank[:-1], True]) if len(c_rank) else [0]
        for a, b in zip(bounds[:-1], bounds[1:]):  # one step per detection rank
            dl, g, v = c_det[a:b], c_gt[a:b], c_iou[a:b]
            starts = np.r_[True, dl[1:] != dl[:-1]]
            seg_start = np.flatnonzero(starts)
            seg_id = np.cumsum(starts) - 1
            valid = (v[None, :] >= thr_rows[:, None]) & ~taken[:, g]
            ig = ignore_rows[:, g]
            best_regular = _pick(valid & ~ig, v, seg_start, seg_id)
            best_ignored = _pick(valid & ig, v, seg_start, seg_id)
            best = np.where(best_regular >= 0, best_regular, best_ignored)
            r_idx, s_idx = np.nonzero(best >= 0)
            e = best[r_idx, s_idx]
            if reusable is None:
                taken[r_idx, g[e]] = True
            else:
                used = ~reusable[g[e]]
                taken[r_idx[used], g[e][used]] = True
            dets = det_pos[dl[seg_start[s_idx]]]
            matched[r_idx, dets] = True
            matched_ignored[r_idx, dets] = best_regular[r_idx, s_idx] < 0
            if matched_void is not None:
                matched_void[r_idx, dets] = gt_void[g[e]]  # type: ignore[index]
    return shaped(matched), shaped(matched_ignored), max_iou, shaped(matched_void)  # type: ignore[return-value]
