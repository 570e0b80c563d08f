"""Precision / recall accumulation with lvis-api's exact interpolation.

For one segment (a category, or a pool of categories) whose detections are in
ranking order, lvis-api computes, per IoU threshold,

    recall_i    = cumTP_i / n_gt
    precision_i = cumTP_i / (cumFP_i + cumTP_i + eps)        eps = np.spacing(1)
    precision   ← running maximum from the right
    P(r)        = precision[searchsorted(recall, r, "left")]  r ∈ linspace(0, 1, 101)
                  (0 past the end)

and the final recall. Here many segments are done at once: cumulative sums run over
the concatenation; the recall lookup is done on the integer cumTP (the smallest
integer m with fl(m / n_gt) ≥ r is found exactly, then searched), and the running
maximum from the right is taken only at the 101 lookup points with
``np.maximum.reduceat``, which is exact.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
_EPS = np.spacing(1)


def _min_tp_for_recall(n_gt: np.ndarray) -> np.ndarray:
    """(S, R): smallest integer m ≥ 0 with fl(m / n_gt) ≥ r, for each recall threshold r."""
    n = np.maximum(n_gt, 1).astype(np.int64)[:, None]
    guess = np.ceil(REC_THRS[None, :] * n).astype(np.int64)
    out = guess + 2
    for delta in (1, 0, -1, -2):  # descending, so the smallest passing value wins
        m = guess + delta
        ok = (m >= 0) & ((m / n) >= REC_THRS[None, :])
        out = np.where(ok, m, out)
    return out


def interpolated_precision(tp: np.ndarray, fp: np.ndarray, seg_start: np.ndarray, seg_len: np.ndarray,
                           n_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated precision (T, 101, S) and final recall (T, S); −1 where n_gt = 0.

    ``tp``/``fp`` are (T, n) bool in ranking order, the segments contiguous and in
    order (``seg_start`` ascending, ``seg_start + seg_len`` the next start).
    """
    n_thr, n = tp.shape
    n_seg = len(seg_start)
    precision = -np.ones((n_thr, len(REC_THRS), n_seg))
    recall = -np.ones((n_thr, n_seg))
    live = n_gt > 0
    if not live.any():
        return precision, recall
    seg_end = seg_start + seg_len
    if n == 0:  # categories with GT and no detection score 0
        precision[:, :, live] = 0.0
        recall[:, live] = 0.0
        return precision, recall
    tpc = np.cumsum(tp, axis=1, dtype=np.int64)
    fpc = np.cumsum(fp, axis=1, dtype=np.int64)
    before = seg_start - 1
    has_before = before >= 0
    base_tp = np.where(has_before[None, :], tpc[:, np.maximum(before, 0)], 0)
    base_fp = np.where(has_before[None, :], fpc[:, np.maximum(before, 0)], 0)
    tp_local = (tpc - np.repeat(base_tp, seg_len, axis=1)).astype(np.float64)
    fp_local = (fpc - np.repeat(base_fp, seg_len, axis=1)).astype(np.float64)
    pr = tp_local / (fp_local + tp_local + _EPS)
    last = np.maximum(seg_end - 1, 0)
    final_tp = np.where(seg_len[None, :] > 0, tp_local[:, last], 0.0)
    recall[:, live] = final_tp[:, live] / n_gt[live][None, :]
    need = _min_tp_for_recall(n_gt)  # (S, R)
    n_rec = len(REC_THRS)
    for t in range(n_thr):
        idx = np.searchsorted(tpc[t], base_tp[t][:, None] + need, side="left")
        idx = np.where(need == 0, seg_start[:, None], idx)
        idx = np.minimum(idx, seg_end[:, None])
        beyond = idx >= seg_end[:, None]
        bounds = np.concatenate([idx, seg_end[:, None]], axis=1).ravel()
        padded = np.append(pr[t], 0.0)
        pieces = np.maximum.reduceat(padded, bounds).reshape(n_seg, n_rec + 1)[:, :n_rec]
        pieces[beyond] = 0.0
        interp = np.maximum.accumulate(pieces[:, ::-1], axis=1)[:, ::-1]
        interp[beyond] = 0.0
        precision[t][:, live] = interp[live].T
    return precision, recall
