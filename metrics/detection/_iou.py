"""Overlap of detections with ground truth of the same (image, category) pair: IoU and OKS.

Boxes: a numpy transcription of pycocotools' ``bbIou`` (maskApi.c), written by hand so
that millions of (detection, GT) pairs are scored in a few array operations instead of
one pycocotools call per pair; the operation order is the C code's, so the values are
bit-identical (tested against ``pycocotools.mask.iou``):

    w = min(x_d + w_d, x_g + w_g) - max(x_d, x_g)      (0 if w <= 0)
    h = min(y_d + h_d, y_g + h_g) - max(y_d, y_g)      (0 if h <= 0)
    IoU = w h / ((w_d h_d + w_g h_g) - w h),   or  w h / (w_d h_d)  for a crowd GT

Masks: ``pycocotools.mask.iou`` per (image, category) pair on RLEs (crowd likewise
divides by the detection's area).

Keypoints: the object keypoint similarity of ``COCOeval.computeOks``,

    e_k = d_k² / (2 s² (2σ_k)²)      (s² = GT area + eps, d_k the distance of keypoint k)
    OKS = Σ_{k visible} exp(−e_k) / #visible,

and, for a GT without visible keypoints, distances to the GT box enlarged by its size
on every side, averaged over all keypoints.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

#: The 17 COCO person keypoint sigmas of pycocotools' ``Params.setKpParams``.
COCO_KEYPOINT_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87,
                                 .89, .89]) / 10.0


def bbox_iou_pairs(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """Elementwise IoU of boxes ``dt[i]`` and ``gt[i]`` (both (n, 4) xywh float64)."""
    dx, dy, dw, dh = dt[:, 0], dt[:, 1], dt[:, 2], dt[:, 3]
    gx, gy, gw, gh = gt[:, 0], gt[:, 1], gt[:, 2], gt[:, 3]
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = w * h
    d_area = dw * dh
    union = (d_area + gw * gh) - inter
    if crowd is not None and crowd.any():
        union = np.where(crowd, d_area, union)
    out = np.zeros(len(dt))
    ok = (w > 0) & (h > 0)
    np.divide(inter, union, out=out, where=ok)
    return out


def to_rle(segmentation: object, height: float, width: float) -> object:
    """Polygon / uncompressed RLE / RLE → compressed RLE (``COCO.annToRLE``)."""
    import pycocotools.mask as mask_utils

    h, w = int(height), int(width)
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(segmentation, h, w)
    return segmentation


def box_polygon(box: np.ndarray) -> list[list[float]]:
    """The rectangle polygon ``loadRes`` gives a box-only result in segm evaluation."""
    x1, y1 = float(box[0]), float(box[1])
    x2, y2 = float(box[0] + box[2]), float(box[1] + box[3])
    return [[x1, y1, x1, y2, x2, y2, x2, y1]]


def mask_iou_block(dt_rles: list, gt_rles: list, crowd: list[int] | None = None) -> np.ndarray:
    """(n_dt, n_gt) IoU matrix of RLE masks via pycocotools (crowd per GT)."""
    import pycocotools.mask as mask_utils

    flags = [0] * len(gt_rles) if crowd is None else crowd
    out = mask_utils.iou(dt_rles, gt_rles, flags)
    return np.asarray(out, dtype=np.float64).reshape(len(dt_rles), len(gt_rles))


def rle_area(rles: list) -> np.ndarray:
    """Pixel areas of RLEs. pycocotools' ``area`` builds a uint8 array of the list
    length, which overflows on numpy 2 beyond 255 masks, hence the 255-mask calls."""
    import pycocotools.mask as mask_utils

    parts = [np.asarray(mask_utils.area(rles[i:i + 255]), dtype=np.float64).reshape(-1)
             for i in range(0, len(rles), 255)]
    return np.concatenate(parts) if parts else np.zeros(0)


def oks_pairs(dt_kp: np.ndarray, gt_kp: np.ndarray, gt_area: np.ndarray, gt_box: np.ndarray,
              sigmas: np.ndarray) -> np.ndarray:
    """Elementwise OKS of keypoints ``dt_kp[i]`` with GT ``gt_kp[i]`` ((n, 3K) each), as ``computeOks``.

    The sum over visible keypoints runs per count of visible keypoints on a compact
    array, so numpy adds the same numbers in the same order as pycocotools does.
    """
    n = len(dt_kp)
    out = np.zeros(n)
    if n == 0:
        return out
    var = (sigmas * 2) ** 2
    xd, yd = dt_kp[:, 0::3], dt_kp[:, 1::3]
    xg, yg, vg = gt_kp[:, 0::3], gt_kp[:, 1::3], gt_kp[:, 2::3]
    visible = vg > 0
    n_vis = visible.sum(axis=1)
    dx = xd - xg
    dy = yd - yg
    none = n_vis == 0
    if none.any():  # distances to the GT box enlarged by its own size on each side
        bx, by, bw, bh = (gt_box[none, j][:, None] for j in range(4))
        x0, x1 = bx - bw, bx + bw * 2
        y0, y1 = by - bh, by + bh * 2
        z = np.zeros_like(xd[none])
        dx[none] = np.maximum(z, x0 - xd[none]) + np.maximum(z, xd[none] - x1)
        dy[none] = np.maximum(z, y0 - yd[none]) + np.maximum(z, yd[none] - y1)
        visible[none] = True
    e = (dx ** 2 + dy ** 2) / var / (gt_area[:, None] + np.spacing(1)) / 2
    terms = np.exp(-e)
    counts = visible.sum(axis=1)
    for c in np.unique(counts).tolist():  # at most K + 1 groups
        rows = np.flatnonzero(counts == c)
        compact = terms[rows][visible[rows]].reshape(len(rows), c)
        out[rows] = np.sum(compact, axis=1) / c
    return out
