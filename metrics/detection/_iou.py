"""IoU between detections and ground truth of the same (image, category) pair.

Boxes: a numpy transcription of pycocotools' ``bbIou`` (maskApi.c) with iscrowd = 0,
written by hand so that millions of (detection, GT) pairs are scored in a few array
operations instead of one pycocotools call per pair; the operation order is the C
code's, so the values are bit-identical (tested against ``pycocotools.mask.iou``):

    w = min(x_d + w_d, x_g + w_g) - max(x_d, x_g)      (0 if w <= 0)
    h = min(y_d + h_d, y_g + h_g) - max(y_d, y_g)      (0 if h <= 0)
    IoU = w h / ((w_d h_d + w_g h_g) - w h)

Masks: ``pycocotools.mask.iou`` per (image, category) pair on RLEs.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def bbox_iou_pairs(dt: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Elementwise IoU of boxes ``dt[i]`` and ``gt[i]`` (both (n, 4) xywh float64)."""
    dx, dy, dw, dh = dt[:, 0], dt[:, 1], dt[:, 2], dt[:, 3]
    gx, gy, gw, gh = gt[:, 0], gt[:, 1], gt[:, 2], gt[:, 3]
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = w * h
    union = (dw * dh + gw * gh) - inter
    out = np.zeros(len(dt))
    ok = (w > 0) & (h > 0)
    np.divide(inter, union, out=out, where=ok)
    return out


def to_rle(segmentation, height: float, width: float):
    """Polygon / uncompressed RLE / RLE → compressed RLE (lvis-api's ``ann_to_rle``)."""
    import pycocotools.mask as mask_utils

    h, w = int(height), int(width)
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(segmentation, h, w)
    return segmentation


def mask_iou_block(dt_rles: list, gt_rles: list) -> np.ndarray:
    """(n_dt, n_gt) IoU matrix of RLE masks, iscrowd = 0, via pycocotools."""
    import pycocotools.mask as mask_utils

    out = mask_utils.iou(dt_rles, gt_rles, [0] * len(gt_rles))
    return np.asarray(out, dtype=np.float64).reshape(len(dt_rles), len(gt_rles))


def rle_area(rles: list) -> np.ndarray:
    """Pixel areas of RLEs. pycocotools' ``area`` builds a uint8 array of the list
    length, which overflows on numpy 2 beyond 255 masks, hence the 255-mask calls."""
    import pycocotools.mask as mask_utils

    parts = [np.asarray(mask_utils.area(rles[i:i + 255]), dtype=np.float64).reshape(-1)
             for i in range(0, len(rles), 255)]
    return np.concatenate(parts) if parts else np.zeros(0)
