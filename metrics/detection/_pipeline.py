"""The machinery LVIS and COCO evaluation share: detection areas and masks, matching, accumulation.

A caller selects detections (per-image or per-pair cap, per-category top-K; see
``_selection``) into a :class:`Prepared` in matching order, then

1. :func:`match` scores every (detection, GT) pair of the same (image, category) —
   or image, for COCO's ``useCats = 0`` — with box IoU, mask IoU or OKS and runs the
   one greedy matcher (``_matching``) under the rule set of the ground truth (LVIS:
   federated filter and not-exhaustive ignore; COCO: crowd GT);
2. :func:`accumulate` turns TP / FP flags into interpolated precision, recall and
   scores per segment (category, or a pool of categories), with ``_accumulate``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from metrics.core.errors import InputError
from metrics.detection._accumulate import REC_THRS, interpolated_precision
from metrics.detection._gt_io import GroundTruth
from metrics.detection._iou import bbox_iou_pairs, box_polygon, mask_iou_block, oks_pairs, rle_area, to_rle
from metrics.detection._matching import greedy_match
from metrics.detection._results_io import Results

__all__: list[str] = []

_ACC_CHUNK = 250_000  # detections per accumulation chunk (bounds memory)


@dataclasses.dataclass
class Prepared:
    """Detections that reach matching, in matching order (pair, rank in pair)."""

    file_index: np.ndarray
    img: np.ndarray  # image index
    cat: np.ndarray  # category index
    score: np.ndarray
    area: np.ndarray
    not_exhaustive: np.ndarray
    counts: dict[str, int]
    warnings: list[str]
    rank: np.ndarray | None = None  # rank inside the pair (COCO standard: the maxDets cut)
    unknown_category_ids: np.ndarray | None = None  # distinct category ids absent from gt that were dropped


@dataclasses.dataclass
class Matches:
    """TP / FP flags (A, T, N) in matching order, with the raw matching arrays."""

    tp: np.ndarray
    fp: np.ndarray
    n_gt: np.ndarray  # (A, S): non-ignored GT per area range and segment
    matched: np.ndarray  # took a GT that counts (TP or ignored GT)
    matched_ignored: np.ndarray
    max_iou: np.ndarray


def image_index(gt: GroundTruth, res: Results) -> np.ndarray:
    """Index of each result's image in gt; unknown images are an error (both references assert)."""
    if len(res) == 0:
        return np.zeros(0, np.int64)
    idx = np.minimum(np.searchsorted(gt.image_ids, res.image_id), gt.n_images - 1)
    bad = gt.image_ids[idx] != res.image_id
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"results[{i}].image_id {res.image_id[i]} is not an image of gt "
                         f"({int(bad.sum())} detections have image ids absent from gt)")
    return idx


def category_index(gt: GroundTruth, res: Results, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into gt categories, known mask) of the results ``rows``."""
    cat_id = res.category_id[rows]
    if gt.n_categories == 0 or len(rows) == 0:
        return np.zeros(len(rows), np.int64), np.zeros(len(rows), bool)
    cidx = np.minimum(np.searchsorted(gt.category_ids, cat_id), gt.n_categories - 1)
    return cidx, gt.category_ids[cidx] == cat_id


def unknown_category_message(n_detections: int, bad_ids: np.ndarray, reference: str) -> str:
    """The warning for ``n_detections`` dropped detections of the sorted unknown category ids ``bad_ids``."""
    return (f"{n_detections} detections of {len(bad_ids)} category ids absent from gt "
            f"(e.g. {bad_ids[0]}) were dropped, as {reference} does")


def top_k_short_message(n_short: int, top_k: int) -> str:
    """The warning for ``n_short`` categories with fewer than ``top_k`` detections (AP-Fixed / AP-Pool)."""
    return (f"{n_short} categories have fewer than {top_k} detections: AP-Fixed / AP-Pool may be "
            f"artificially low (output {top_k} detections per category)")


def det_rles(gt: GroundTruth, res: Results, rows: np.ndarray, img_idx: np.ndarray) -> list:
    """RLEs of result ``rows`` (polygons converted; a missing mask is the record's box, as loadRes)."""
    segs = res.segmentation if res.segmentation is not None else [None] * len(res)
    out: list[object] = []
    for r, i in zip(rows.tolist(), img_idx.tolist()):  # pycocotools takes Python objects
        s = segs[r]
        if s is None and res.bbox is not None:
            s = box_polygon(res.bbox[r])
        if isinstance(s, dict) and isinstance(s.get("counts"), (str, bytes)) and "size" in s:
            out.append(s)
        elif isinstance(s, dict) and not {"counts", "size"} <= s.keys():
            raise InputError(f"results[{r}].segmentation must be an RLE with 'size' and 'counts'; got the keys "
                             f"{sorted(map(str, s))}")
        elif isinstance(s, (dict, list)):
            if not np.isfinite(gt.image_height[i]):
                raise InputError(f"results[{r}].segmentation is a polygon; its image needs width and height in gt")
            try:
                out.append(to_rle(s, gt.image_height[i], gt.image_width[i]))
            except Exception as exc:  # pycocotools raises TypeError / ValueError / KeyError
                raise InputError(f"results[{r}].segmentation must be an RLE or a polygon; got an unreadable "
                                 f"value ({type(exc).__name__})") from None
        else:
            raise InputError(f"results[{r}].segmentation must be an RLE dict or a polygon; got {type(s).__name__}")
    return out


def det_areas(gt: GroundTruth, res: Results, rows: np.ndarray, img_idx: np.ndarray, iou_type: str,
              rule: str) -> np.ndarray:
    """Detection areas: ``"mask"`` (RLE area), or ``"first_record"`` (pycocotools' loadRes / lvis-api:
    w·h of the box when the first record has one, else the mask area or, for keypoints, the extent)."""
    if iou_type == "bbox" or (rule == "first_record" and res.first_has_bbox and res.bbox is not None):
        box = res.bbox[rows]  # type: ignore[index]
        return box[:, 2] * box[:, 3]
    if iou_type == "keypoints":
        kp = res.keypoints[rows]  # type: ignore[index]
        x, y = kp[:, 0::3], kp[:, 1::3]
        return (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))
    return rle_area(det_rles(gt, res, rows, img_idx))


def _gt_rle_getter(gt: GroundTruth, gt_order: np.ndarray) -> Callable[[int], object]:
    cache: dict[int, object] = {}

    def get(pos: int) -> object:
        if pos not in cache:
            a = int(gt_order[pos])
            i = int(gt.ann_image[a])
            if not np.isfinite(gt.image_height[i]):
                raise InputError(f"gt.images (id {gt.image_ids[i]}) needs width and height for segm evaluation")
            try:
                cache[pos] = to_rle(gt.ann_segmentation[a], gt.image_height[i], gt.image_width[i])  # type: ignore
            except Exception as exc:
                raise InputError(f"gt.annotations (id {gt.ann_ids[a]}).segmentation must be a polygon list or "
                                 f"an RLE; got an unreadable value ({type(exc).__name__})") from None
        return cache[pos]

    return get


def match(gt: GroundTruth, res: Results, prep: Prepared, *, iou_type: str, thresholds: np.ndarray,
          area_ranges: np.ndarray, use_cats: bool = True, gt_keep: np.ndarray | None = None,
          sigmas: np.ndarray | None = None) -> Matches:
    """Match ``prep`` (in pair order) to gt at every threshold and area range.

    Pairs are (category, image), or images when ``use_cats`` is False (GT then in
    category order, as pycocotools concatenates them). ``gt_keep`` restricts the GT
    (COCO ``imgIds`` / ``catIds``). Segments of ``n_gt`` are categories, or one.
    """
    n_img = gt.n_images
    gt_order, gt_key, gt_ign = _gt_layout(gt, area_ranges, use_cats, gt_keep)
    det_key = prep.cat * n_img + prep.img if use_cats else prep.img
    crowd = gt.ann_crowd[gt_order]
    void = None if gt.federated else gt.ann_ids[gt_order] == 0
    if void is not None and not void.any():
        void = None
    iou_entries = _iou_function(gt, res, prep, gt_order, crowd, iou_type, sigmas)
    matched, matched_ign, max_iou, matched_void = greedy_match(det_key, gt_key, gt_ign, thresholds, iou_entries,
                                                               gt_crowd=crowd, gt_void=void)
    counted = matched if matched_void is None else matched & ~matched_void
    det_out = (prep.area[None, :] < area_ranges[:, :1]) | (prep.area[None, :] > area_ranges[:, 1:])
    unmatched_ignored = det_out | prep.not_exhaustive[None, :]  # (A, N)
    ignored = matched_ign | (~counted & unmatched_ignored[:, None, :])
    tp = counted & ~matched_ign
    fp = ~counted & ~ignored
    n_gt = _n_gt(gt, gt_order, gt_ign, use_cats)
    return Matches(tp=tp, fp=fp, n_gt=n_gt, matched=counted, matched_ignored=matched_ign, max_iou=max_iou)


def _gt_layout(gt: GroundTruth, area_ranges: np.ndarray, use_cats: bool, gt_keep: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GT in matching order (pair, file order), their pair keys and ignore flags (A, G) per area range."""
    n_img = gt.n_images
    keep_idx = np.arange(len(gt.ann_ids)) if gt_keep is None else np.flatnonzero(gt_keep)
    g_img, g_cat = gt.ann_image[keep_idx], gt.ann_category[keep_idx]
    if use_cats:
        gt_order = keep_idx[np.lexsort((keep_idx, g_img, g_cat))]
        gt_key = gt.ann_category[gt_order] * n_img + gt.ann_image[gt_order]
    else:
        gt_order = keep_idx[np.lexsort((keep_idx, g_cat, g_img))]
        gt_key = gt.ann_image[gt_order]
    g_area = gt.ann_area[gt_order]
    gt_ign = (gt.ann_ignore[gt_order][None, :] | (g_area[None, :] < area_ranges[:, :1])
              | (g_area[None, :] > area_ranges[:, 1:]))
    return gt_order, gt_key, gt_ign


def _n_gt(gt: GroundTruth, gt_order: np.ndarray, gt_ign: np.ndarray, use_cats: bool) -> np.ndarray:
    seg = gt.ann_category[gt_order] if use_cats else np.zeros(len(gt_order), np.int64)
    n_seg = gt.n_categories if use_cats else 1
    return np.stack([np.bincount(seg[~ign_a], minlength=n_seg) for ign_a in gt_ign])  # (A, S)


def gt_counts(gt: GroundTruth, *, area_ranges: np.ndarray, use_cats: bool = True,
              gt_keep: np.ndarray | None = None) -> np.ndarray:
    """Non-ignored GT per area range and segment (A, S): the ``n_gt`` of :func:`match`, from gt alone."""
    gt_order, _, gt_ign = _gt_layout(gt, area_ranges, use_cats, gt_keep)
    return _n_gt(gt, gt_order, gt_ign, use_cats)


def _iou_function(gt: GroundTruth, res: Results, prep: Prepared, gt_order: np.ndarray, crowd: np.ndarray,
                  iou_type: str, sigmas: np.ndarray | None) -> Callable[..., np.ndarray]:
    if iou_type == "bbox":
        det_box = res.bbox[prep.file_index]  # type: ignore[index]
        gt_box = gt.ann_bbox[gt_order]
        with_crowd = crowd.any()

        def bbox_entries(e_det: np.ndarray, e_gt: np.ndarray, *_: object) -> np.ndarray:
            return bbox_iou_pairs(det_box[e_det], gt_box[e_gt], crowd[e_gt] if with_crowd else None)

        return bbox_entries
    if iou_type == "keypoints":
        det_kp = res.keypoints[prep.file_index]  # type: ignore[index]
        gt_kp = gt.ann_keypoints[gt_order]  # type: ignore[index]
        gt_area, gt_box = gt.ann_area[gt_order], gt.ann_bbox[gt_order]

        def oks_entries(e_det: np.ndarray, e_gt: np.ndarray, *_: object) -> np.ndarray:
            return oks_pairs(det_kp[e_det], gt_kp[e_gt], gt_area[e_gt], gt_box[e_gt], sigmas)  # type: ignore

        return oks_entries
    gt_rle = _gt_rle_getter(gt, gt_order)
    crowd_list = crowd.astype(int).tolist()

    def mask_entries(e_det: np.ndarray, e_gt: np.ndarray, p_start: np.ndarray, p_ndet: np.ndarray,
                     g_start: np.ndarray, g_n: np.ndarray) -> np.ndarray:
        blocks = []
        for ds, nd, gs, gn in zip(p_start.tolist(), p_ndet.tolist(), g_start.tolist(), g_n.tolist()):
            # one pycocotools call per pair with GT
            dt = det_rles(gt, res, prep.file_index[ds:ds + nd], prep.img[ds:ds + nd])
            gts = [gt_rle(p) for p in range(gs, gs + gn)]
            blocks.append(mask_iou_block(dt, gts, crowd_list[gs:gs + gn]).ravel())
        return np.concatenate(blocks) if blocks else np.zeros(0)

    return mask_entries


def accumulate(tp: np.ndarray, fp: np.ndarray, seg: np.ndarray, order: np.ndarray, n_seg: int, n_gt: np.ndarray,
               score: np.ndarray | None = None, rec_thrs: np.ndarray = REC_THRS
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Precision (T, R, S, A), recall (T, S, A) and scores (T, R, S, A) per segment.

    ``order`` lists the detections to rank (a subset is allowed), sorted by segment
    and, inside a segment, in ranking order; ``seg`` is each detection's segment.
    """
    n_area, n_thr, _ = tp.shape
    seg_sorted = seg[order]
    starts = np.searchsorted(seg_sorted, np.arange(n_seg + 1))
    n_rec = len(rec_thrs)
    precision = -np.ones((n_thr, n_rec, n_seg, n_area))
    recall = -np.ones((n_thr, n_seg, n_area))
    scores = None if score is None else -np.ones((n_thr, n_rec, n_seg, n_area))
    lo = 0
    while lo < n_seg:  # chunks of segments holding about _ACC_CHUNK detections
        hi = max(int(np.searchsorted(starts, starts[lo] + _ACC_CHUNK, "right")) - 1, lo + 1)
        hi = min(hi, n_seg)
        sel = order[starts[lo]:starts[hi]]
        seg_start = starts[lo:hi] - starts[lo]
        seg_len = starts[lo + 1:hi + 1] - starts[lo:hi]
        sc = None if score is None else score[sel]
        for a in range(n_area):
            p, r, s = interpolated_precision(tp[a][:, sel], fp[a][:, sel], seg_start, seg_len, n_gt[a, lo:hi],
                                             sc, rec_thrs)
            precision[:, :, lo:hi, a] = p
            recall[:, lo:hi, a] = r
            if scores is not None:
                scores[:, :, lo:hi, a] = s
        lo = hi
    return precision, recall, scores


def mean_valid(s: np.ndarray) -> float:
    """Mean over entries > −1, −1 if none (pycocotools / lvis-api summaries)."""
    v = s[s > -1]
    return float(np.mean(v)) if v.size else -1.0
