"""Per-detection TP / FP / ignored labels at one IoU threshold (LVIS or COCO rules)."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.detection._coco_select import coco_prepare
from metrics.detection._gt_io import FREQUENCIES, is_lvis, load_coco_gt, load_lvis_gt, read_dataset
from metrics.detection._lvis_select import AREA_RANGES, lvis_prepare
from metrics.detection._options import check_limit
from metrics.detection._pipeline import match
from metrics.detection._results_io import load_results
from metrics.detection.inputs import GroundTruthInput, ResultsInput

__all__ = ["match_detections", "DetectionMatches"]


@dataclasses.dataclass(frozen=True)
class DetectionMatches:
    """Per-detection labels at one IoU threshold (see :func:`match_detections`).

    Arrays are aligned, one entry per detection that reaches matching, in input
    (file) order.
    """

    index: np.ndarray  # position in the input results
    image_id: np.ndarray
    category_id: np.ndarray
    score: np.ndarray
    matched: np.ndarray  # True = TP: matched to a non-ignored GT
    ignored: np.ndarray  # matched to an ignored / crowd GT, or unmatched and not-exhaustive
    frequency: np.ndarray  # 'r' / 'c' / 'f' of the category ('' for COCO)
    max_iou: np.ndarray  # largest IoU with any GT of the same (image, category); 0 if none
    bbox: np.ndarray | None  # (n, 4) xywh, None for segm results without boxes
    image_width: np.ndarray
    image_height: np.ndarray
    counts: dict[str, int]
    warnings: tuple[str, ...]
    dataset: str = "lvis"

    @property
    def false_positive(self) -> np.ndarray:
        """FP = unmatched and not ignored."""
        return ~self.matched & ~self.ignored

    def __len__(self) -> int:
        return len(self.index)


def check_iou_threshold(iou_threshold: object) -> float:
    """A number in (0, 1]."""
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float, np.integer, np.floating)) \
            or not 0 < float(iou_threshold) <= 1:
        raise InputError(f"iou_threshold must be a number in (0, 1]; got {iou_threshold!r}")
    return float(iou_threshold)


@validate_options
def match_detections(gt: GroundTruthInput, results: ResultsInput, *, iou_type: Literal["bbox", "segm"] = "bbox",
                     iou_threshold: float = 0.75, max_dets_per_image: int = -1, dets_per_cat: int = 10000,
                     segm_area: Literal["mask", "lvis_api"] = "mask",
                     dataset: Literal["auto", "lvis", "coco"] = "auto") -> DetectionMatches:
    """Label detections TP / FP / ignored with LVIS or COCO rules at one IoU threshold.

    The selection is that of AP-Fixed (top ``dets_per_cat`` per category, ties in file
    order; for LVIS optionally also a per-image cap ``max_dets_per_image`` applied
    first), then the greedy matching at ``iou_threshold`` with area range "all":
    LVIS — lvis-api's federated filter and ``dt_matches`` / ``dt_ignore``; COCO —
    pycocotools' ``evaluateImg`` (crowd regions ignored, matched any number of times).

    Parameters
    ----------
    gt, results, iou_type, segm_area
        As in :func:`metrics.evaluate_lvis` / :func:`metrics.evaluate_coco`.
    iou_threshold : float
        IoU threshold t in (0, 1]; a detection matches when IoU ≥ min(t, 1 − 1e-10).
    max_dets_per_image : int
        −1 (default, no cap) or the per-image cap of standard LVIS AP (LVIS only).
    dets_per_cat : int
        Per-category budget K (10,000; −1 = no limit).
    dataset : {"auto", "lvis", "coco"}
        Ground-truth format; ``auto`` reads LVIS when every category has a ``frequency``.

    Returns
    -------
    DetectionMatches
        ``index`` (position in ``results``), ``image_id``, ``category_id``, ``score``,
        ``matched`` (TP: took a non-ignored GT), ``ignored``, ``frequency``
        ('r'/'c'/'f', '' for COCO), ``max_iou``, ``bbox``, ``image_width``,
        ``image_height``; the property ``false_positive`` = ~matched & ~ignored.
        Detections dropped by the selection are absent (see ``counts``).
    """
    t = check_iou_threshold(iou_threshold)
    cap = check_limit(max_dets_per_image, "max_dets_per_image")
    top_k = check_limit(dets_per_cat, "dets_per_cat")
    data = read_dataset(gt)
    kind = ("lvis" if is_lvis(data) else "coco") if dataset == "auto" else dataset
    if kind == "lvis":
        g = load_lvis_gt(data, need_segmentation=iou_type == "segm")
        res = load_results(results, iou_type=iou_type)
        prep = lvis_prepare(g, res, iou_type=iou_type, cap=cap, top_k=top_k, segm_area=segm_area)
    else:
        if cap != -1:
            raise InputError("max_dets_per_image applies to LVIS ground truth only")
        g = load_coco_gt(data, iou_type=iou_type)
        res = load_results(results, iou_type=iou_type)
        prep = coco_prepare(g, res, iou_type=iou_type, cap=-1, top_k=top_k, use_cats=True, img_keep=None,
                            cat_keep=None)
    m = match(g, res, prep, iou_type=iou_type, thresholds=np.array([t]), area_ranges=AREA_RANGES[:1])
    is_tp, is_fp = m.tp[0, 0], m.fp[0, 0]
    back = np.argsort(prep.file_index)
    fi = prep.file_index[back]
    freq_names = np.array(list(FREQUENCIES) + [""])
    return DetectionMatches(
        index=fi, image_id=res.image_id[fi], category_id=res.category_id[fi], score=res.score[fi],
        matched=is_tp[back], ignored=(~is_tp & ~is_fp)[back],
        frequency=freq_names[g.category_freq[prep.cat[back]]], max_iou=m.max_iou[back],
        bbox=None if res.bbox is None else res.bbox[fi],
        image_width=g.image_width[prep.img[back]], image_height=g.image_height[prep.img[back]],
        counts=prep.counts, warnings=tuple(prep.warnings), dataset=kind,
    )
