"""Reading LVIS and COCO ground truth into one column layout.

Ground truth comes as a path, a dict or an ``lvis.LVIS`` / ``pycocotools.coco.COCO``
object (duck-typed through its ``.dataset``; neither library is imported). Both
formats land in :class:`GroundTruth`, so that one matcher and one accumulator serve
both: LVIS adds the federated lists (negative and not-exhaustive categories per image)
and category frequencies; COCO adds crowd regions and keypoints.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import numpy as np

from metrics.core.errors import InputError
from metrics.detection._columns import bbox_column, field, float_column, int_column, vector_column

__all__ = ["FREQUENCIES"]

#: LVIS category frequency groups: rare, common, frequent.
FREQUENCIES = ("r", "c", "f")


@dataclasses.dataclass
class GroundTruth:
    """Column view of a ground-truth dataset (internal).

    Images and categories are sorted by id (the order lvis-api and pycocotools evaluate
    in); annotations keep file order. ``ann_image`` / ``ann_category`` index the sorted
    arrays. ``category_freq`` is 0/1/2 for r/c/f, −1 for COCO (no frequency).
    """

    image_ids: np.ndarray
    image_width: np.ndarray  # NaN where a COCO image has no size
    image_height: np.ndarray
    category_ids: np.ndarray
    category_freq: np.ndarray
    neg_pairs: np.ndarray  # sorted unique keys img_index * n_cat + cat_index (LVIS)
    not_exhaustive_pairs: np.ndarray
    ann_ids: np.ndarray
    ann_image: np.ndarray
    ann_category: np.ndarray
    ann_area: np.ndarray
    ann_bbox: np.ndarray  # (n_ann, 4)
    ann_ignore: np.ndarray  # bool: LVIS ``ignore``; COCO ``iscrowd`` (and no keypoints, for keypoints)
    ann_crowd: np.ndarray  # bool: COCO crowd regions (matched any number of times); all False for LVIS
    ann_segmentation: list | None = None
    ann_keypoints: np.ndarray | None = None  # (n_ann, 3K)
    federated: bool = True  # LVIS rules (federated filter, not-exhaustive ignore)
    n_zero_area: int = 0  # LVIS annotations dropped for area <= 0 (lvis-api drops them silently)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def n_categories(self) -> int:
        return len(self.category_ids)

    def categories(self) -> dict[int, str | None]:
        """Category id → frequency ('r', 'c', 'f'), or None for COCO."""
        return {int(c): (FREQUENCIES[int(f)] if f >= 0 else None)
                for c, f in zip(self.category_ids, self.category_freq)}


def read_dataset(gt: object) -> dict:
    """The ground-truth JSON object of a path, a dict or an object with ``.dataset``."""
    if isinstance(gt, (str, os.PathLike)):
        from metrics.core.io import read_json

        data = read_json(gt, arg="gt")
    elif isinstance(gt, Mapping):
        data = gt if isinstance(gt, dict) else dict(gt)
    elif isinstance(getattr(gt, "dataset", None), Mapping):
        data = dict(gt.dataset)  # type: ignore[attr-defined]
    else:
        raise InputError(f"gt must be a path, a dict or an lvis.LVIS / pycocotools COCO object; "
                         f"got {type(gt).__name__}")
    if not isinstance(data, dict):
        raise InputError(f"gt must be a JSON object with images, categories and annotations; "
                         f"got a {type(data).__name__}")
    for key in ("images", "categories", "annotations"):
        if not isinstance(data.get(key), list):
            raise InputError(f"gt must have a list {key!r}; found {type(data.get(key)).__name__}")
    if not data["images"]:
        raise InputError("gt.images must not be empty")
    if not data["categories"]:
        raise InputError("gt.categories must not be empty")
    return data


def is_lvis(data: dict) -> bool:
    """LVIS format: every category has a ``frequency``."""
    return all(isinstance(c, dict) and "frequency" in c for c in data["categories"])


def _sorted_unique_ids(ids: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    if len(s) > 1 and np.any(s[1:] == s[:-1]):
        raise InputError(f"{what} ids must be unique; id {s[1:][s[1:] == s[:-1]][0]} appears more than once")
    return s, order


def _sizes(images: list, required: bool) -> tuple[np.ndarray, np.ndarray]:
    """Image widths and heights: positive and finite (NaN where optional and absent)."""
    out = []
    for key in ("width", "height"):
        if required:
            values = field(images, key, "gt.images[{i}]")
        else:
            values = [im.get(key) if isinstance(im, dict) else None for im in images]
            if all(v is None for v in values):
                out.append(np.full(len(images), np.nan))
                continue
            values = [np.nan if v is None else v for v in values]
        arr = float_column(values, "gt.images[{i}]." + key, finite=False)
        bad = ~(arr > 0) | np.isinf(arr)
        if not required:
            bad &= ~np.isnan(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"gt.images[{i}].{key} must be a positive finite number; got {values[i]!r}")
        out.append(arr)
    return out[0], out[1]


def _index(ids: np.ndarray, sorted_ids: np.ndarray, what: str, where: str) -> np.ndarray:
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    idx = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    bad = sorted_ids[idx] != ids
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what.format(i=i)} {ids[i]} is not in {where}")
    return idx.astype(np.int64)


def _annotation_columns(anns: list, img_ids: np.ndarray, cat_ids: np.ndarray) -> dict:
    what = "gt.annotations[{i}]"
    ids = int_column(field(anns, "id", what), what + ".id")
    _sorted_unique_ids(ids, "gt.annotations")
    a_img = int_column(field(anns, "image_id", what), what + ".image_id")
    a_cat = int_column(field(anns, "category_id", what), what + ".category_id")
    area = float_column(field(anns, "area", what), what + ".area")
    return {"ids": ids, "image": _index(a_img, img_ids, what + ".image_id", "gt.images"),
            "category": _index(a_cat, cat_ids, what + ".category_id", "gt.categories"), "area": area}


def load_lvis_gt(data: dict, *, need_segmentation: bool = False) -> GroundTruth:
    """LVIS ground truth (see :func:`metrics.evaluate_lvis` for the fields)."""
    images, cats, anns = data["images"], data["categories"], data["annotations"]
    cat_ids_raw = int_column(field(cats, "id", "gt.categories[{i}]"), "gt.categories[{i}].id")
    freq_raw = field(cats, "frequency", "gt.categories[{i}]")
    freq_code = np.empty(len(cats), dtype=np.int8)
    for i, f in enumerate(freq_raw):  # one small loop over categories (~1,200)
        if f not in FREQUENCIES:
            raise InputError(f"gt.categories[{i}].frequency must be one of 'r', 'c', 'f'; got {f!r}")
        freq_code[i] = FREQUENCIES.index(f)
    cat_ids, corder = _sorted_unique_ids(cat_ids_raw, "gt.categories")
    n_cat = len(cat_ids)
    img_ids_raw = int_column(field(images, "id", "gt.images[{i}]"), "gt.images[{i}].id")
    width, height = _sizes(images, required=True)
    neg = field(images, "neg_category_ids", "gt.images[{i}]")
    nel = field(images, "not_exhaustive_category_ids", "gt.images[{i}]")
    img_ids, iorder = _sorted_unique_ids(img_ids_raw, "gt.images")
    img_pos = np.empty(len(images), dtype=np.int64)
    img_pos[iorder] = np.arange(len(images))

    def pair_keys(lists: list, name: str) -> np.ndarray:
        lens = np.fromiter((len(x) if isinstance(x, list) else -1 for x in lists), np.int64, len(lists))
        if (lens < 0).any():
            i = int(np.flatnonzero(lens < 0)[0])
            raise InputError(f"gt.images[{i}].{name} must be a list of category ids; got {lists[i]!r}")
        flat = [c for x in lists for c in x]
        if not flat:
            return np.zeros(0, dtype=np.int64)
        ids = int_column(flat, f"gt.images[*].{name}[{{i}}]")
        owner = np.repeat(np.arange(len(lists)), lens)
        cidx = np.minimum(np.searchsorted(cat_ids, ids), n_cat - 1)
        bad = cat_ids[cidx] != ids
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise InputError(f"gt.images[{owner[j]}].{name} lists category id {ids[j]}, which is not in "
                             f"gt.categories")
        return np.unique(img_pos[owner] * n_cat + cidx)

    neg_pairs, ne_pairs = pair_keys(neg, "neg_category_ids"), pair_keys(nel, "not_exhaustive_category_ids")
    if anns:
        cols = _annotation_columns(anns, img_ids, cat_ids)
        if (cols["ids"] <= 0).any():
            i = int(np.flatnonzero(cols["ids"] <= 0)[0])
            raise InputError(f"gt.annotations[{i}].id must be a positive integer (lvis-api treats id 0 as "
                             f"'unmatched'); got {cols['ids'][i]}")
        bbox = bbox_column(field(anns, "bbox", "gt.annotations[{i}]"), "gt.annotations[{i}].bbox")
        ignore = np.fromiter((bool(a.get("ignore", 0)) for a in anns), bool, len(anns))
        segm = field(anns, "segmentation", "gt.annotations[{i}]") if need_segmentation else None
    else:
        cols = {"ids": np.zeros(0, np.int64), "image": np.zeros(0, np.int64), "category": np.zeros(0, np.int64),
                "area": np.zeros(0)}
        bbox, ignore = np.zeros((0, 4)), np.zeros(0, bool)
        segm = [] if need_segmentation else None
    # lvis-api's get_ann_ids keeps only 0 < area < inf: other annotations do not exist for it.
    keep = cols["area"] > 0
    n_zero = int((~keep).sum())
    if n_zero:
        cols = {k: v[keep] for k, v in cols.items()}
        bbox, ignore = bbox[keep], ignore[keep]
        if segm is not None:
            segm = [s for s, k in zip(segm, keep) if k]
    return GroundTruth(
        image_ids=img_ids, image_width=width[iorder], image_height=height[iorder], category_ids=cat_ids,
        category_freq=freq_code[corder], neg_pairs=neg_pairs, not_exhaustive_pairs=ne_pairs,
        ann_ids=cols["ids"], ann_image=cols["image"], ann_category=cols["category"], ann_area=cols["area"],
        ann_bbox=bbox, ann_ignore=ignore, ann_crowd=np.zeros(len(ignore), bool), ann_segmentation=segm,
        federated=True, n_zero_area=n_zero)


def load_coco_gt(data: dict, *, iou_type: str = "bbox", n_keypoints: int | None = None) -> GroundTruth:
    """COCO ground truth as pycocotools' ``COCOeval`` reads it.

    ``ignore`` = ``iscrowd`` (pycocotools overwrites any ``ignore`` field with it; a
    missing ``iscrowd`` is 0), and for keypoints also ``num_keypoints == 0``. The area
    is the stored ``area``.
    """
    images, cats, anns = data["images"], data["categories"], data["annotations"]
    cat_ids, _ = _sorted_unique_ids(int_column(field(cats, "id", "gt.categories[{i}]"), "gt.categories[{i}].id"),
                                    "gt.categories")
    img_ids, iorder = _sorted_unique_ids(int_column(field(images, "id", "gt.images[{i}]"), "gt.images[{i}].id"),
                                         "gt.images")
    width, height = _sizes(images, required=iou_type == "segm")
    what = "gt.annotations[{i}]"
    n = len(anns)
    keypoints = None
    segm = None
    if anns:
        cols = _annotation_columns(anns, img_ids, cat_ids)
        bbox = (bbox_column(field(anns, "bbox", what), what + ".bbox") if iou_type != "segm"
                else np.zeros((n, 4)))
        crowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), bool, n)
        ignore = crowd.copy()
        if iou_type == "segm":
            segm = field(anns, "segmentation", what)
        if iou_type == "keypoints":
            keypoints = vector_column(field(anns, "keypoints", what), what + ".keypoints", n_keypoints,
                                      f"a list of {n_keypoints} (x, y, v) triples")
            nk = int_column(field(anns, "num_keypoints", what), what + ".num_keypoints")
            ignore |= nk == 0
    else:
        cols = {"ids": np.zeros(0, np.int64), "image": np.zeros(0, np.int64), "category": np.zeros(0, np.int64),
                "area": np.zeros(0)}
        bbox, crowd, ignore = np.zeros((0, 4)), np.zeros(0, bool), np.zeros(0, bool)
        segm = [] if iou_type == "segm" else None
        if iou_type == "keypoints":
            keypoints = np.zeros((0, 3 * (n_keypoints or 1)))
    return GroundTruth(
        image_ids=img_ids, image_width=width[iorder], image_height=height[iorder], category_ids=cat_ids,
        category_freq=np.full(len(cat_ids), -1, np.int8), neg_pairs=np.zeros(0, np.int64),
        not_exhaustive_pairs=np.zeros(0, np.int64), ann_ids=cols["ids"], ann_image=cols["image"],
        ann_category=cols["category"], ann_area=cols["area"], ann_bbox=bbox, ann_ignore=ignore, ann_crowd=crowd,
        ann_segmentation=segm, ann_keypoints=keypoints, federated=False)


def load_gt(gt: object, *, need_segmentation: bool = False, dataset: str = "lvis") -> GroundTruth:
    """LVIS (``dataset="lvis"``), COCO (``"coco"``) or whichever the categories say (``"auto"``)."""
    data = read_dataset(gt)
    if dataset == "auto":
        dataset = "lvis" if is_lvis(data) else "coco"
    if dataset == "lvis":
        return load_lvis_gt(data, need_segmentation=need_segmentation)
    return load_coco_gt(data, iou_type="segm" if need_segmentation else "bbox")
