"""The options of the COCO evaluator: pycocotools' ``Params`` defaults, checked once."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import check_bool, check_int
from metrics.detection._accumulate import IOU_THRS, REC_THRS
from metrics.detection._gt_io import GroundTruth
from metrics.detection._iou import COCO_KEYPOINT_SIGMAS
from metrics.detection._options import DEFAULT_DETS_PER_CAT, check_limit

__all__: list[str] = []

BOX_AREAS = {"all": (0.0, 1e5 ** 2), "small": (0.0, 32.0 ** 2), "medium": (32.0 ** 2, 96.0 ** 2),
             "large": (96.0 ** 2, 1e5 ** 2)}
KEYPOINT_AREAS = {"all": BOX_AREAS["all"], "medium": BOX_AREAS["medium"], "large": BOX_AREAS["large"]}
USED_BY = {"max_dets": ("standard", "all"), "dets_per_cat": ("fixed", "pooled", "all")}


@dataclasses.dataclass(frozen=True)
class COCOOptions:
    iou_type: str
    max_dets: tuple[int, ...]
    iou_thresholds: np.ndarray
    rec_thresholds: np.ndarray
    area_labels: tuple[str, ...]
    area_array: np.ndarray  # (A, 2)
    use_cats: bool
    sigmas: np.ndarray | None
    dets_per_cat: int
    img_keep: np.ndarray | None = None  # (n_img,) bool over sorted gt image ids
    cat_keep: np.ndarray | None = None
    gt_keep: np.ndarray | None = None  # (n_ann,) bool

    @property
    def n_keypoints(self) -> int | None:
        return None if self.sigmas is None else 3 * len(self.sigmas)

    def restricted(self, gt: GroundTruth, img_ids: Sequence[int] | None, cat_ids: Sequence[int] | None
                   ) -> COCOOptions:
        """Masks of the evaluated images, categories and GT (``params.imgIds`` / ``params.catIds``)."""
        img_keep = _id_mask(img_ids, gt.image_ids, "img_ids", "gt.images")
        cat_keep = _id_mask(cat_ids, gt.category_ids, "cat_ids", "gt.categories")
        gt_keep = img_keep[gt.ann_image] & cat_keep[gt.ann_category]
        return dataclasses.replace(self, img_keep=img_keep, cat_keep=cat_keep, gt_keep=gt_keep)

    def params(self, mode: str, gt: GroundTruth) -> dict[str, object]:
        out: dict[str, object] = {
            "iou_type": self.iou_type, "mode": mode, "iou_thresholds": self.iou_thresholds.tolist(),
            "recall_thresholds": self.rec_thresholds.tolist(),
            "area_ranges": {lbl: list(r) for lbl, r in zip(self.area_labels, self.area_array.tolist())},
            "max_dets": list(self.max_dets), "use_cats": self.use_cats, "dets_per_cat": self.dets_per_cat,
            "img_ids": gt.image_ids[self.img_keep].tolist() if self.img_keep is not None else None,
            "cat_ids": gt.category_ids[self.cat_keep].tolist() if self.cat_keep is not None else None,
        }
        if self.sigmas is not None:
            out["kpt_oks_sigmas"] = self.sigmas.tolist()
        return out


def _id_mask(ids: Sequence[int] | None, known: np.ndarray, name: str, where: str) -> np.ndarray:
    if ids is None:
        return np.ones(len(known), bool)
    try:
        arr = np.unique(np.asarray(list(ids)))
    except TypeError:
        raise InputError(f"{name} must be a sequence of integer ids; got {ids!r}") from None
    if arr.size == 0:
        raise InputError(f"{name} must not be empty")
    if arr.dtype.kind not in "iu":
        raise InputError(f"{name} must hold integer ids; got dtype {arr.dtype}")
    missing = arr[~np.isin(arr, known)]
    if missing.size:
        raise InputError(f"{name} lists id {missing[0]}, which is not in {where}")
    return np.isin(known, arr)


def _thresholds(values: Sequence[float] | None, default: np.ndarray, name: str, *, sorted_: bool) -> np.ndarray:
    if values is None:
        return default
    try:
        arr = np.array(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a sequence of numbers in [0, 1]; got {values!r}") from None
    if arr.size == 0 or not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise InputError(f"{name} must be a non-empty sequence of numbers in [0, 1]; got {values!r}")
    if sorted_ and (np.diff(arr) < 0).any():
        raise InputError(f"{name} must be in ascending order; got {values!r}")
    return arr


def _areas(area_ranges: Mapping[str, Sequence[float]] | Sequence[Sequence[float]] | None, iou_type: str
           ) -> tuple[tuple[str, ...], np.ndarray]:
    default = KEYPOINT_AREAS if iou_type == "keypoints" else BOX_AREAS
    items: list[tuple[str, Sequence[float]]]
    if area_ranges is None:
        items = list(default.items())
    elif isinstance(area_ranges, Mapping):
        items = [(str(k), v) for k, v in area_ranges.items()]
    else:
        ranges = list(area_ranges)
        labels = list(default)
        if len(ranges) > len(labels):
            raise InputError(f"area_ranges as a sequence takes at most {len(labels)} ranges (labels "
                             f"{', '.join(labels)}); pass a mapping label → (lo, hi) for more")
        items = [(label, r) for label, r in zip(labels, ranges)]
    if not items:
        raise InputError("area_ranges must not be empty")
    try:
        arr = np.array([list(v) for _, v in items], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"area_ranges must hold (lo, hi) pairs of numbers; got {area_ranges!r}") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or np.isnan(arr).any() or (arr[:, 0] > arr[:, 1]).any():
        raise InputError(f"area_ranges must hold (lo, hi) pairs with lo ≤ hi; got {area_ranges!r}")
    return tuple(k for k, _ in items), arr


def resolve_coco_options(data: dict, *, iou_type: str, mode: str, max_dets: Sequence[int] | None,
                         iou_thresholds: Sequence[float] | None, recall_thresholds: Sequence[float] | None,
                         area_ranges: Mapping[str, Sequence[float]] | Sequence[Sequence[float]] | None,
                         use_cats: bool, kpt_oks_sigmas: Sequence[float] | None,
                         dets_per_cat: int | None) -> COCOOptions:
    """Check every option once and fill in ``COCOeval.Params``' defaults."""
    for name, value in (("max_dets", max_dets), ("dets_per_cat", dets_per_cat)):
        if value is not None and mode not in USED_BY[name]:
            raise InputError(f"{name} does not apply to mode {mode!r}")
    use_cats = check_bool(use_cats, "use_cats")
    if not use_cats and mode in ("fixed", "pooled", "all"):
        raise InputError(f"use_cats=False applies to mode 'standard' only; got mode {mode!r}")
    if max_dets is None:
        md: tuple[int, ...] = (20,) if iou_type == "keypoints" else (1, 10, 100)
    else:
        if isinstance(max_dets, (int, np.integer)):
            max_dets = [int(max_dets)]
        md = tuple(sorted({check_int(m, "max_dets", min_value=1) for m in max_dets}))
        if not md:
            raise InputError("max_dets must hold at least one integer ≥ 1")
    sigmas = None
    if iou_type == "keypoints":
        sigmas = COCO_KEYPOINT_SIGMAS if kpt_oks_sigmas is None else _thresholds(
            kpt_oks_sigmas, COCO_KEYPOINT_SIGMAS, "kpt_oks_sigmas", sorted_=False)
        if (sigmas <= 0).any():
            raise InputError("kpt_oks_sigmas must be positive")
    elif kpt_oks_sigmas is not None:
        raise InputError(f"kpt_oks_sigmas applies to iou_type 'keypoints' only; got iou_type {iou_type!r}")
    labels, arr = _areas(area_ranges, iou_type)
    return COCOOptions(
        iou_type=iou_type, max_dets=md,
        iou_thresholds=_thresholds(iou_thresholds, IOU_THRS, "iou_thresholds", sorted_=False),
        rec_thresholds=_thresholds(recall_thresholds, REC_THRS, "recall_thresholds", sorted_=True),
        area_labels=labels, area_array=arr, use_cats=use_cats, sigmas=sigmas,
        dets_per_cat=DEFAULT_DETS_PER_CAT if dets_per_cat is None else check_limit(dets_per_cat, "dets_per_cat"))
