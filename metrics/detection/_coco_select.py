"""Which COCO detections reach matching, as pycocotools' ``COCOeval`` selects them."""

from __future__ import annotations

import numpy as np

from metrics.detection._gt_io import GroundTruth
from metrics.detection._pipeline import (
    Prepared,
    category_index,
    det_areas,
    image_index,
    top_k_short_message,
    unknown_category_message,
)
from metrics.detection._results_io import Results
from metrics.detection._selection import stable_order, top_per_group

__all__: list[str] = []


def coco_warnings(counts: dict[str, int], *, n_short: int, top_k: int, unknown_ids: np.ndarray) -> list[str]:
    """The warnings of one COCO selection, from its counts (shared with the sharded evaluation)."""
    warns = []
    if counts["unknown_category"]:
        warns.append(unknown_category_message(counts["unknown_category"], unknown_ids, "pycocotools"))
    if n_short:
        warns.append(top_k_short_message(n_short, top_k))
    return warns


def coco_prepare(gt: GroundTruth, res: Results, *, iou_type: str, cap: int, top_k: int, use_cats: bool,
                 img_keep: np.ndarray | None, cat_keep: np.ndarray | None,
                 preselected: np.ndarray | None = None) -> Prepared:
    """Detections of one COCO evaluation, in matching order (pair, rank in pair).

    1. unknown image ids raise; unknown categories are dropped with a warning
       (pycocotools never looks at them); ``img_keep`` / ``cat_keep`` (bool masks over
       the sorted gt ids) restrict like ``params.imgIds`` / ``params.catIds``;
    2. the per-category top-K (AP-Fixed / AP-Pool), ``top_k`` < 0 for none; or
       ``preselected``, a mask over ``res`` of the detections a top-K over a larger
       data set keeps (with ``top_k`` = −1);
    3. per pair — (image, category), or image with ``use_cats=False`` — a stable sort
       by descending score (ties in file order; across categories of one image in
       category-id order, as pycocotools concatenates them) and the first ``cap``
       (the largest maxDets; −1 for none);
    4. areas as ``loadRes`` sets them; nothing is dropped for a zero area.
    """
    counts = {"read": len(res)}
    n_img, n_cat = gt.n_images, gt.n_categories
    img_idx = image_index(gt, res)
    rows = np.arange(len(res))
    cidx, known = category_index(gt, res, rows)
    counts["unknown_category"] = int((~known).sum())
    unknown_ids = np.unique(res.category_id[~known])
    sel = known
    if img_keep is not None:
        sel &= img_keep[img_idx]
    if cat_keep is not None:
        sel &= cat_keep[np.where(known, cidx, 0)]
    counts["not_selected"] = int((known & ~sel).sum())
    rows, cidx, iidx = rows[sel], cidx[sel], img_idx[sel]
    score = res.score[rows]
    srank = res.score_rank[rows]
    keep = top_per_group(cidx, score, top_k, srank) if preselected is None else preselected[rows]
    counts["top_k_removed"] = int((~keep).sum())
    n_short = 0
    if top_k > 0 and len(rows):
        n_short = int((np.bincount(cidx, minlength=n_cat)[np.unique(cidx)] < top_k).sum())
    warns = coco_warnings(counts, n_short=n_short, top_k=top_k, unknown_ids=unknown_ids)
    rows, cidx, iidx, score, srank = rows[keep], cidx[keep], iidx[keep], score[keep], srank[keep]
    pair = cidx * n_img + iidx if use_cats else iidx
    # key (pair, −score[, category without use_cats]); rows ascend, so ties keep file order
    keys = [(pair, n_cat * n_img if use_cats else n_img), (srank, len(res) + 1)]
    order = stable_order(keys if use_cats else [*keys, (cidx, n_cat)])
    p_sorted = pair[order]
    n = len(order)
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]]) if n else np.zeros(0, np.int64)
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    within = rank < cap if cap >= 0 else np.ones(n, bool)
    counts["capped"] = int((~within).sum())
    order, rank = order[within], rank[within]
    rows, cidx, iidx, score = rows[order], cidx[order], iidx[order], score[order]
    area = det_areas(gt, res, rows, iidx, iou_type, "first_record")
    counts["evaluated"] = len(rows)
    return Prepared(file_index=rows, img=iidx, cat=cidx, score=score, area=area,
                    not_exhaustive=np.zeros(len(rows), bool), counts=counts, warnings=warns, rank=rank,
                    unknown_category_ids=unknown_ids)
