"""Which LVIS detections reach matching: cap, top-K, areas, drops and the federated filter."""

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

AREA_RANGES = np.array([[0.0, 1e5 ** 2], [0.0, 32.0 ** 2], [32.0 ** 2, 96.0 ** 2], [96.0 ** 2, 1e5 ** 2]])
AREA_LABELS = ("all", "small", "medium", "large")


def lvis_warnings(counts: dict[str, int], *, n_short: int, top_k: int, unknown_ids: np.ndarray) -> list[str]:
    """The warnings of one LVIS selection, from its counts (shared with the sharded evaluation)."""
    warns = []
    if n_short:
        warns.append(top_k_short_message(n_short, top_k))
    if counts["zero_area"]:
        warns.append(f"{counts['zero_area']} detections with area ≤ 0 were dropped (as lvis-api does silently)")
    if counts["unknown_category"]:
        warns.append(unknown_category_message(counts["unknown_category"], unknown_ids, "lvis-api"))
    if counts["gt_zero_area"]:
        warns.append(f"{counts['gt_zero_area']} GT annotations with area ≤ 0 were dropped (as lvis-api does)")
    return warns


def lvis_prepare(gt: GroundTruth, res: Results, *, iou_type: str, cap: int, top_k: int, segm_area: str,
                 preselected: np.ndarray | None = None) -> Prepared:
    """Detections of one LVIS mode, in matching order (category, image, −score, file).

    1. the per-image cap (all categories count, even ones dropped later);
    2. the per-category top-K (or ``preselected``, a mask over ``res`` of the detections
       a top-K over a larger data set keeps, with ``top_k`` = −1);
    3. drop area ≤ 0 (warn), unknown categories (warn), and the federated filter
       (categories neither annotated nor negative in the image).
    """
    counts = {"read": len(res)}
    n_img, n_cat = gt.n_images, gt.n_categories
    img_idx = image_index(gt, res)
    srank = res.score_rank
    keep = top_per_group(img_idx, res.score, cap, srank)  # image index: the same groups as the image ids
    counts["capped"] = int((~keep).sum())
    keep &= top_per_group(res.category_id, res.score, top_k, srank) if preselected is None else preselected
    counts["top_k_removed"] = int((~keep).sum()) - counts["capped"]
    n_short = 0
    if top_k > 0 and len(res):
        per_cat = np.unique(res.category_id, return_counts=True)[1]
        n_short = int((per_cat < top_k).sum())
    rows = np.flatnonzero(keep)
    area = det_areas(gt, res, rows, img_idx[rows], iou_type, "mask" if segm_area == "mask" else "first_record")
    positive = area > 0
    counts["zero_area"] = int((~positive).sum())
    rows, area = rows[positive], area[positive]
    cidx, known = category_index(gt, res, rows)
    counts["unknown_category"] = int((~known).sum())
    unknown_ids = np.unique(res.category_id[rows[~known]])
    rows, area, cidx = rows[known], area[known], cidx[known]
    iidx = img_idx[rows]
    pair = iidx * n_cat + cidx
    gt_pairs = np.unique(gt.ann_image * n_cat + gt.ann_category)
    verified = np.isin(pair, gt_pairs) | np.isin(pair, gt.neg_pairs)
    counts["federated_dropped"] = int((~verified).sum())
    rows, area, cidx, iidx, pair = rows[verified], area[verified], cidx[verified], iidx[verified], pair[verified]
    counts["evaluated"] = len(rows)
    counts["gt_zero_area"] = gt.n_zero_area
    warns = lvis_warnings(counts, n_short=n_short, top_k=top_k, unknown_ids=unknown_ids)
    ne = np.isin(pair, gt.not_exhaustive_pairs)
    score = res.score[rows]
    # key (category, image, −score); rows ascend, so ties keep file order
    order = stable_order([(cidx * n_img + iidx, n_img * n_cat), (srank[rows], len(res) + 1)])
    return Prepared(file_index=rows[order], img=iidx[order], cat=cidx[order], score=score[order],
                    area=area[order], not_exhaustive=ne[order], counts=counts, warnings=warns,
                    unknown_category_ids=unknown_ids)
