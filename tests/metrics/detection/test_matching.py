"""The compiled greedy matcher equals a plain-Python walk of the lvis-api / pycocotools rule.

The rule, per (area range, threshold) row and per (image, category) pair: each
detection in rank order takes, among GT still free in that row with IoU ≥ min(t,
1 − 1e-10), the non-ignored GT with the largest IoU (the later GT on equal IoU), else
the same choice among ignored GT, else nothing; a crowd GT is never used up.
"""

from __future__ import annotations

import numpy as np
import pytest

from metrics.detection._matching import greedy_match


def python_walk(det_key, gt_key, gt_ignore, thresholds, iou, crowd, void):
    """``iou[d, g]``: a dense (N, G) table (only same-key entries are read)."""
    n_area, n_det = gt_ignore.shape[0], len(det_key)
    thr = [min(float(t), 1 - 1e-10) for t in thresholds]
    matched = np.zeros((n_area, len(thr), n_det), bool)
    matched_ign = np.zeros_like(matched)
    matched_void = np.zeros_like(matched)
    max_iou = np.zeros(n_det)
    for d in range(n_det):
        same = [g for g in range(len(gt_key)) if gt_key[g] == det_key[d]]
        max_iou[d] = max((iou[d, g] for g in same), default=0.0)
    for a in range(n_area):
        for ti, t in enumerate(thr):
            taken = set()
            for d in range(n_det):  # detections are in (key, rank) order
                choice = {False: (-1.0, None), True: (-1.0, None)}
                for g in range(len(gt_key)):
                    if gt_key[g] != det_key[d] or g in taken or iou[d, g] < t:
                        continue
                    ign = bool(gt_ignore[a, g])
                    if iou[d, g] >= choice[ign][0]:
                        choice[ign] = (iou[d, g], g)
                g = choice[False][1] if choice[False][1] is not None else choice[True][1]
                if g is None:
                    continue
                if not crowd[g]:
                    taken.add(g)
                matched[a, ti, d] = True
                matched_ign[a, ti, d] = choice[False][1] is None
                matched_void[a, ti, d] = void[g]
    return matched, matched_ign, max_iou, matched_void


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("chunk_entries", [1, 7, 2_000_000])
def test_greedy_match_equals_python_walk(seed, chunk_entries):
    rng = np.random.default_rng(seed)
    n_det, n_gt, n_keys = int(rng.integers(1, 120)), int(rng.integers(1, 60)), int(rng.integers(1, 12))
    det_key = np.sort(rng.integers(0, n_keys, n_det))
    gt_key = np.sort(rng.integers(0, n_keys, n_gt))
    gt_ignore = rng.random((3, n_gt)) < 0.3
    thresholds = np.array([0.5, 0.7, 0.9, 1.0])
    iou = np.round(rng.random((n_det, n_gt)), 1)  # many ties, values equal to thresholds
    iou[rng.random((n_det, n_gt)) < 0.1] = 1.0
    crowd = rng.random(n_gt) < (0.2 if seed % 2 else 0.0)
    void = rng.random(n_gt) < 0.15

    def entries(e_det, e_gt, *_):
        return iou[e_det, e_gt]

    got = greedy_match(det_key, gt_key, gt_ignore, thresholds, entries, gt_crowd=crowd, gt_void=void,
                       chunk_entries=chunk_entries)
    ref = python_walk(det_key, gt_key, gt_ignore, thresholds, iou, crowd, void)
    for x, y in zip(got, ref):
        np.testing.assert_array_equal(x, y)
    assert got[0].any() and (~got[0]).any()


def test_no_void_and_empty_sides():
    thresholds = np.array([0.5])
    ign = np.zeros((1, 2), bool)
    m, mi, mx, mv = greedy_match(np.array([0, 0, 1]), np.array([0, 0]), ign, thresholds,
                                 lambda d, g, *_: np.array([0.6, 0.6, 0.6, 0.6]))
    assert mv is None
    assert m[0, 0].tolist() == [True, True, False] and not mi.any()
    np.testing.assert_array_equal(mx, [0.6, 0.6, 0.0])
    m, mi, mx, mv = greedy_match(np.zeros(0, np.int64), np.array([0, 0]), ign, thresholds, lambda *a: np.zeros(0))
    assert m.shape == (1, 1, 0) and mv is None
