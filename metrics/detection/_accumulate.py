"""Precision / recall accumulation with lvis-api's exact interpolation.

For one segment (a category, or a pool of categories) whose detections are in
ranking order, lvis-api computes, per IoU threshold,

    recall_i    = cumTP_i / n_gt
    precision_i = cumTP_i / (cumFP_i + cumTP_i + eps)        eps = np.spacing(1)
    precision   ← running maximum from the right
    P(r)        = precision[searchsorted(recall, r, "left")]  r ∈ linspace(0, 1, 101)
                  (0 past the end)

and the final recall; pycocotools' ``accumulate`` also keeps the score of the detection
each recall point is read at (``scores``). Here many segments are done at once: cumulative sums run over
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


def _min_tp_for_recall(n_gt: np.ndarray, rec_thrs: np.ndarray = REC_THRS) -> np.ndarray:
    """(S, R): smallest integer m ≥ 0 with fl(m / n_gt) ≥ r, for each recall threshold r."""
    n = np.maximum(n_gt, 1).astype(np.int64)[:, None]
    guess = np.ceil(rec_thrs[None, :] * n).astype(np.int64)
    out = guess + 2
    for delta in (1, 0, -1, -2):  # descending, so the smallest passing value wins
        m = guess + delta
        ok = (m >= 0) & ((m / n) >= rec_thrs[None, :])
        out = np.where(ok, m, out)
    return out


def interpolated_precision(tp: np.ndarray, fp: np.ndarray, seg_start: np.ndarray, seg_len: np.ndarray,
                           n_gt: np.ndarray, score: np.ndarray | None = None,
                           rec_thrs: np.ndarray = REC_THRS) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Interpolated precision (T, R, S), final recall (T, S) and scores (T, R, S); −1 where n_gt = 0.

    ``tp``/``fp`` are (T, n) bool in ranking order, the segments contiguous and in
    order (``seg_start`` ascending, ``seg_start + seg_len`` the next start). ``score``
    (n,) gives the scores array (None when ``score`` is None): the score of the
    detection each recall point is read at, 0 past the end.
    """
    n_thr, n = tp.shape
    n_seg = len(seg_start)
    n_rec = len(rec_thrs)
    precision = -np.ones((n_thr, n_rec, n_seg))
    recall = -np.ones((n_thr, n_seg))
    scores = None if score is None else -np.ones((n_thr, n_rec, n_seg))
    live = n_gt > 0
    if not live.any():
        return precision, recall, scores
    if n == 0:  # categories with GT and no detection score 0
        precision[:, :, live] = 0.0
        recall[:, live] = 0.0
        if scores is not None:
            scores[:, :, live] = 0.0
        return precision, recall, scores
    # Work on the TP positions only: precision only rises at a TP, so the running maximum
    # from the right over positions ≥ i equals the maximum over the TPs at or after i
    # (and the first reading, at the segment start, over all its TPs, else 0).
    need = _min_tp_for_recall(n_gt, rec_thrs)  # (S, R)
    score_ext = None if score is None else np.append(np.asarray(score, dtype=np.float64), 0.0)
    seg_of_pos = np.repeat(np.arange(n_seg), seg_len)
    for t in range(n_thr):
        tp_pos = np.flatnonzero(tp[t])
        fpc = np.cumsum(fp[t], dtype=np.int64)
        tp_seg = seg_of_pos[tp_pos]
        first_tp = np.searchsorted(tp_seg, np.arange(n_seg + 1))  # TP-list bounds of each segment
        n_tp = np.diff(first_tp)
        tp_local = (np.arange(len(tp_pos)) - first_tp[tp_seg] + 1).astype(np.float64)
        base_fp = np.where(seg_start > 0, fpc[np.maximum(seg_start - 1, 0)], 0)
        fp_local = (fpc[tp_pos] - base_fp[tp_seg]).astype(np.float64)
        pr = tp_local / (fp_local + tp_local + _EPS)  # precision at each TP, as the references
        recall[t, live] = n_tp[live] / n_gt[live]
        beyond = (need > n_tp[:, None]) | ((need == 0) & (seg_len[:, None] == 0))
        j = first_tp[:-1, None] + np.maximum(need - 1, 0)  # TP-list index where reading r starts
        j = np.where(beyond, first_tp[1:, None], j)
        bounds = np.concatenate([j, first_tp[1:, None]], axis=1)  # (S, R + 1), non-decreasing rows
        padded = np.append(pr, -np.inf)
        pieces = np.maximum.reduceat(padded, bounds.ravel()).reshape(n_seg, n_rec + 1)[:, :n_rec]
        pieces[bounds[:, 1:] <= bounds[:, :-1]] = -np.inf  # empty piece
        interp = np.maximum.accumulate(pieces[:, ::-1], axis=1)[:, ::-1]
        interp[~np.isfinite(interp)] = 0.0  # no TP at or after the reading: 0
        precision[t][:, live] = interp[live].T
        if scores is not None:
            at_tp = tp_pos[np.minimum(j, len(tp_pos) - 1)] if len(tp_pos) else np.full_like(j, n)
            at = np.where(need == 0, seg_start[:, None], at_tp)
            at = np.where(beyond, n, at)
            scores[t][:, live] = score_ext[at][live].T  # type: ignore[index]
    return precision, recall, scores
