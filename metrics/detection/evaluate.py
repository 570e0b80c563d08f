"""LVIS AP (lvis-api), AP-Fixed and AP-Pool (Dave et al. 2021), and LVIS TP/FP labels.

Gupta, Dollár & Girshick, "LVIS: A Dataset for Large Vocabulary Instance
Segmentation", CVPR 2019 (standard AP, reproduced from lvis-api 0.5.3 ``LVISEval``).
Dave, Dollár, Ramanan, Kirillov & Girshick, "Evaluating Large-Vocabulary Object
Detectors: The Devil is in the Details", arXiv 2102.01066 (AP-Fixed, AP-Pool,
reproduced from their ``scripts/evaluate_ap_fixed.py`` / ``evaluate_ap_pooled.py``).

For one category and IoU threshold t, with detections ranked by score,

    AP_t = (1/101) Σ_{r ∈ {0, .01, …, 1}} max_{i : recall_i ≥ r} precision_i

and AP is the mean over t ∈ {.50, .55, …, .95} and over categories. The pipeline is
vectorised: results are streamed into columns, the per-image cap and the per-class
top-K are lexsorts, IoU is computed for all same-(image, category) pairs at once, the
greedy matching runs rank by rank over all pairs (``_matching``), and precision /
recall are cumulative sums (``_accumulate``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import check_int, check_option
from metrics.detection._accumulate import IOU_THRS, REC_THRS, interpolated_precision
from metrics.detection._io import FREQUENCIES, GroundTruth, Results, load_gt, load_results
from metrics.detection._iou import bbox_iou_pairs, mask_iou_block, rle_area, to_rle
from metrics.detection._matching import greedy_match
from metrics.detection.report import LVISReport

__all__ = ["evaluate_lvis", "ap_fixed", "ap_pool", "match_detections", "DetectionMatches"]

AREA_RANGES = np.array([[0.0, 1e5 ** 2], [0.0, 32.0 ** 2], [32.0 ** 2, 96.0 ** 2], [96.0 ** 2, 1e5 ** 2]])
AREA_LABELS = ("all", "small", "medium", "large")
MODES = ("standard", "fixed", "pooled", "all")
POOLS = ("all", "r", "c", "f")
_ACC_CHUNK = 250_000  # detections per accumulation chunk (bounds memory)


# ----------------------------------------------------------------------------- selection


def _rank_within(groups: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable order by (group, −score, position) and each record's rank in its group."""
    order = np.lexsort((-score, groups))
    g = groups[order]
    n = len(g)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if n else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, lengths)
    return order, rank


def _top_per_group(groups: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask: the first ``k`` records of each group by score (ties: file order)."""
    keep = np.ones(len(groups), dtype=bool)
    if k < 0 or len(groups) == 0:
        return keep
    order, rank = _rank_within(groups, score)
    keep[order[rank >= k]] = False
    return keep


@dataclasses.dataclass
class _Prepared:
    """Detections that reach matching, in matching order (pair, −score, file)."""

    file_index: np.ndarray
    img: np.ndarray  # image index
    cat: np.ndarray  # category index
    score: np.ndarray
    area: np.ndarray
    not_exhaustive: np.ndarray
    counts: dict
    warnings: list


def _det_areas(gt: GroundTruth, res: Results, rows: np.ndarray, img_idx: np.ndarray, iou_type: str,
               segm_area: str) -> np.ndarray:
    if iou_type == "bbox":
        box = res.bbox[rows]
        return box[:, 2] * box[:, 3]
    if segm_area == "lvis_api" and res.bbox is not None:
        box = res.bbox[rows]
        return box[:, 2] * box[:, 3]
    return rle_area(_det_rles(gt, res, rows, img_idx))


def _det_rles(gt: GroundTruth, res: Results, rows: np.ndarray, img_idx: np.ndarray) -> list:
    segs = res.segmentation
    out = []
    for r, i in zip(rows.tolist(), img_idx.tolist()):  # pycocotools takes Python objects
        s = segs[r]
        if isinstance(s, dict) and isinstance(s.get("counts"), (str, bytes)) and "size" in s:
            out.append(s)
        elif isinstance(s, (dict, list)):
            try:
                out.append(to_rle(s, gt.image_height[i], gt.image_width[i]))
            except Exception as exc:  # pycocotools raises TypeError / ValueError / KeyError
                raise InputError(f"results[{r}].segmentation must be an RLE or a polygon; got an unreadable "
                                 f"value ({type(exc).__name__})") from None
        else:
            raise InputError(f"results[{r}].segmentation must be an RLE dict; got {type(s).__name__}")
    return out


def _prepare(gt: GroundTruth, res: Results, *, iou_type: str, cap: int, top_k: int, segm_area: str) -> _Prepared:
    counts = {"read": len(res)}
    warns: list[str] = []
    n_img, n_cat = gt.n_images, gt.n_categories
    # unknown images are an error (lvis-api asserts)
    img_idx = np.minimum(np.searchsorted(gt.image_ids, res.image_id), n_img - 1)
    bad = gt.image_ids[img_idx] != res.image_id
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"results[{i}].image_id {res.image_id[i]} is not an image of gt "
                         f"({int(bad.sum())} detections have image ids absent from gt)")
    keep = _top_per_group(res.image_id, res.score, cap)
    counts["capped"] = int((~keep).sum())
    keep &= _top_per_group(res.category_id, res.score, top_k)
    counts["top_k_removed"] = int((~keep).sum()) - counts["capped"]
    if top_k > 0 and len(res):
        per_cat = np.unique(res.category_id, return_counts=True)[1]
        short = int((per_cat < top_k).sum())
        if short:
            warns.append(f"{short} categories have fewer than {top_k} detections: AP-Fixed / AP-Pool may be "
                         f"artificially low (output {top_k} detections per category)")
    rows = np.flatnonzero(keep)
    area = _det_areas(gt, res, rows, img_idx[rows], iou_type, segm_area)
    positive = area > 0
    counts["zero_area"] = int((~positive).sum())
    if counts["zero_area"]:
        warns.append(f"{counts['zero_area']} detections with area ≤ 0 were dropped (as lvis-api does silently)")
    rows, area = rows[positive], area[positive]
    cat_id = res.category_id[rows]
    cidx = np.minimum(np.searchsorted(gt.category_ids, cat_id), n_cat - 1)
    known = gt.category_ids[cidx] == cat_id
    counts["unknown_category"] = int((~known).sum())
    if counts["unknown_category"]:
        bad_ids = np.unique(cat_id[~known])
        warns.append(f"{counts['unknown_category']} detections of {len(bad_ids)} category ids absent from gt "
                     f"(e.g. {bad_ids[0]}) were dropped, as lvis-api does")
    rows, area, cidx = rows[known], area[known], cidx[known]
    iidx = img_idx[rows]
    pair = iidx * n_cat + cidx
    gt_pairs = np.unique(gt.ann_image * n_cat + gt.ann_category)
    verified = np.isin(pair, gt_pairs) | np.isin(pair, gt.neg_pairs)
    counts["federated_dropped"] = int((~verified).sum())
    rows, area, cidx, iidx, pair = rows[verified], area[verified], cidx[verified], iidx[verified], pair[verified]
    counts["evaluated"] = len(rows)
    counts["gt_zero_area"] = gt.n_zero_area
    if gt.n_zero_area:
        warns.append(f"{gt.n_zero_area} GT annotations with area ≤ 0 were dropped (as lvis-api does)")
    ne = np.isin(pair, gt.not_exhaustive_pairs)
    score = res.score[rows]
    order = np.lexsort((rows, -score, cidx * n_img + iidx))
    return _Prepared(file_index=rows[order], img=iidx[order], cat=cidx[order], score=score[order],
                     area=area[order], not_exhaustive=ne[order], counts=counts, warnings=warns)


# ----------------------------------------------------------------------------- matching


def _match(gt: GroundTruth, res: Results, prep: _Prepared, *, iou_type: str, thresholds: np.ndarray,
           area_ranges: np.ndarray):
    """TP / FP rows (A, T, N) in matching order, and the raw matching arrays."""
    n_img = gt.n_images
    gt_key_raw = gt.ann_category * n_img + gt.ann_image
    gt_order = np.argsort(gt_key_raw, kind="stable")
    gt_key = gt_key_raw[gt_order]
    g_area = gt.ann_area[gt_order]
    g_ignore = gt.ann_ignore[gt_order]
    gt_ign = g_ignore[None, :] | (g_area[None, :] < area_ranges[:, :1]) | (g_area[None, :] > area_ranges[:, 1:])
    det_key = prep.cat * n_img + prep.img

    if iou_type == "bbox":
        det_box = res.bbox[prep.file_index]
        gt_box = gt.ann_bbox[gt_order]

        def iou_entries(e_det, e_gt, *_):
            return bbox_iou_pairs(det_box[e_det], gt_box[e_gt])
    else:
        gt_rle_cache: dict[int, Any] = {}

        def gt_rle(pos: int):
            if pos not in gt_rle_cache:
                a = int(gt_order[pos])
                i = int(gt.ann_image[a])
                try:
                    gt_rle_cache[pos] = to_rle(gt.ann_segmentation[a], gt.image_height[i], gt.image_width[i])
                except Exception as exc:
                    raise InputError(f"gt.annotations (id {gt.ann_ids[a]}).segmentation must be a polygon "
                                     f"list or an RLE; got an unreadable value ({type(exc).__name__})") from None
            return gt_rle_cache[pos]

        def iou_entries(e_det, e_gt, p_start, p_ndet, g_start, g_n):
            blocks = []
            for ds, nd, gs, gn in zip(p_start.tolist(), p_ndet.tolist(), g_start.tolist(), g_n.tolist()):
                # one pycocotools call per (image, category) pair with GT
                rows = prep.file_index[ds:ds + nd]
                dt = _det_rles(gt, res, rows, prep.img[ds:ds + nd])
                gts = [gt_rle(p) for p in range(gs, gs + gn)]
                blocks.append(mask_iou_block(dt, gts).ravel())
            return np.concatenate(blocks) if blocks else np.zeros(0)

    matched, matched_ign, max_iou = greedy_match(det_key, gt_key, gt_ign, thresholds, iou_entries)
    det_out = (prep.area[None, :] < area_ranges[:, :1]) | (prep.area[None, :] > area_ranges[:, 1:])
    ignored_unmatched = det_out | prep.not_exhaustive[None, :]  # (A, N)
    tp = matched & ~matched_ign
    fp = ~matched & ~ignored_unmatched[:, None, :]
    g_cat = gt.ann_category[gt_order]
    n_gt = np.stack([np.bincount(g_cat[~ign_a], minlength=gt.n_categories) for ign_a in gt_ign])  # (A, K)
    return tp, fp, n_gt, matched, matched_ign, max_iou


# ----------------------------------------------------------------------------- accumulation


def _per_category(prep: _Prepared, tp: np.ndarray, fp: np.ndarray, n_gt: np.ndarray, n_cat: int):
    """lvis-api precision (T, R, K, A) and recall (T, K, A)."""
    n_area, n_thr, n = tp.shape
    order = np.lexsort((prep.file_index, prep.img, -prep.score, prep.cat))
    cat_sorted = prep.cat[order]
    starts = np.searchsorted(cat_sorted, np.arange(n_cat + 1))
    precision = -np.ones((n_thr, len(REC_THRS), n_cat, n_area))
    recall = -np.ones((n_thr, n_cat, n_area))
    lo = 0
    while lo < n_cat:  # chunks of categories holding about _ACC_CHUNK detections
        hi = max(int(np.searchsorted(starts, starts[lo] + _ACC_CHUNK, "right")) - 1, lo + 1)
        hi = min(hi, n_cat)
        sel = order[starts[lo]:starts[hi]]
        seg_start = starts[lo:hi] - starts[lo]
        seg_len = starts[lo + 1:hi + 1] - starts[lo:hi]
        for a in range(n_area):
            p, r = interpolated_precision(tp[a][:, sel], fp[a][:, sel], seg_start, seg_len, n_gt[a, lo:hi])
            precision[:, :, lo:hi, a] = p
            recall[:, lo:hi, a] = r
        lo = hi
    return precision, recall


def _mean_valid(s: np.ndarray) -> float:
    v = s[s > -1]
    return float(np.mean(v)) if v.size else -1.0


def _summaries(precision: np.ndarray, recall: np.ndarray, freq: np.ndarray, cap_label: int) -> dict[str, float]:
    t50 = int(np.flatnonzero(IOU_THRS == 0.5)[0])
    t75 = int(np.flatnonzero(IOU_THRS == 0.75)[0])
    out = {
        "AP": _mean_valid(precision[:, :, :, 0]),
        "AP50": _mean_valid(precision[t50, :, :, 0]),
        "AP75": _mean_valid(precision[t75, :, :, 0]),
        "APs": _mean_valid(precision[:, :, :, 1]),
        "APm": _mean_valid(precision[:, :, :, 2]),
        "APl": _mean_valid(precision[:, :, :, 3]),
    }
    for code, name in enumerate(FREQUENCIES):
        out[f"AP{name}"] = _mean_valid(precision[:, :, freq == code, 0])
    out[f"AR@{cap_label}"] = _mean_valid(recall[:, :, 0])
    for a, name in ((1, "s"), (2, "m"), (3, "l")):
        out[f"AR{name}@{cap_label}"] = _mean_valid(recall[:, :, a])
    return out


def _pooled(prep: _Prepared, tp: np.ndarray, fp: np.ndarray, n_gt: np.ndarray, freq: np.ndarray,
            pools: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
    """AP-pooled-p and the pooled extras; ranking key (−score, image, category, file)."""
    order = np.lexsort((prep.file_index, prep.cat, prep.img, -prep.score))
    metrics: dict[str, float] = {}
    extras: dict[str, float] = {}
    n_area = tp.shape[0]
    t50 = int(np.flatnonzero(IOU_THRS == 0.5)[0])
    t75 = int(np.flatnonzero(IOU_THRS == 0.75)[0])
    for pool in POOLS:
        if pool not in pools:
            continue
        in_pool = np.ones(len(freq), bool) if pool == "all" else freq == FREQUENCIES.index(pool)
        sel = order[in_pool[prep.cat[order]]]
        prec, rec = [], []
        for a in range(n_area):
            ngt = np.array([int(n_gt[a, in_pool].sum())])
            p, r = interpolated_precision(tp[a][:, sel], fp[a][:, sel], np.array([0]), np.array([len(sel)]), ngt)
            prec.append(p[:, :, 0])
            rec.append(r[:, 0])
        metrics[f"AP-pooled-{pool}"] = _mean_valid(prec[0])
        extras[f"AP50-pooled-{pool}"] = _mean_valid(prec[0][t50])
        extras[f"AP75-pooled-{pool}"] = _mean_valid(prec[0][t75])
        extras[f"AR-pooled-{pool}"] = _mean_valid(rec[0])
        for a, name in ((1, "s"), (2, "m"), (3, "l")):
            extras[f"AP{name}-pooled-{pool}"] = _mean_valid(prec[a])
    return metrics, extras


# ----------------------------------------------------------------------------- public API


def _check_pools(pools: Any) -> tuple[str, ...]:
    if isinstance(pools, str):
        pools = tuple(p.strip() for p in pools.split(","))
    try:
        pools = tuple(pools)
    except TypeError:
        raise InputError(f"pools must be a non-empty subset of 'all', 'r', 'c', 'f'; got {pools!r}") from None
    if not pools or any(p not in POOLS for p in pools) or len(set(pools)) != len(pools):
        raise InputError(f"pools must be a non-empty subset of 'all', 'r', 'c', 'f' without repeats; got {pools!r}")
    return pools


def _check_limit(value: Any, name: str) -> int:
    value = check_int(value, name)
    if value == 0 or value < -1:
        raise InputError(f"{name} must be an integer ≥ 1, or −1 for no limit; got {value}")
    return value


def _run_mode(gt: GroundTruth, res: Results, mode: str, *, iou_type: str, cap: int, top_k: int,
              pools: tuple[str, ...], segm_area: str, params: dict) -> LVISReport:
    prep = _prepare(gt, res, iou_type=iou_type, cap=cap if mode == "standard" else -1,
                    top_k=top_k if mode != "standard" else -1, segm_area=segm_area)
    warns = list(prep.warnings)
    if len(res) == 0:
        warns.append("results are empty: every category with GT scores AP 0 (lvis-api would crash)")
    tp, fp, n_gt, *_ = _match(gt, res, prep, iou_type=iou_type, thresholds=IOU_THRS, area_ranges=AREA_RANGES)
    precision, recall = _per_category(prep, tp, fp, n_gt, gt.n_categories)
    p_all = precision[:, :, :, 0]
    valid = p_all > -1
    n_valid = valid.sum(axis=(0, 1))
    ap = np.where(valid, p_all, 0.0).sum(axis=(0, 1)) / np.maximum(n_valid, 1)
    per_cat = {cid: (float(v) if n else None)
               for cid, v, n in zip(gt.category_ids.tolist(), ap.tolist(), n_valid.tolist())}
    extras: dict[str, float] = {}
    if mode == "pooled":
        metrics, extras = _pooled(prep, tp, fp, n_gt, gt.category_freq, pools)
    else:
        metrics = _summaries(precision, recall, gt.category_freq, cap if mode == "standard" else -1)
    return LVISReport(mode=mode, metrics=metrics, per_category_ap=per_cat, extras=extras, counts=prep.counts,
                      warnings=tuple(warns), params=params)


def evaluate_lvis(gt: Any, results: Any, *, iou_type: str = "bbox", mode: str = "standard",
                  max_dets_per_image: int = 300, dets_per_cat: int = 10000,
                  pools: Sequence[str] = ("all", "r", "c", "f"), segm_area: str = "mask") -> LVISReport:
    """LVIS evaluation: standard AP, AP-Fixed, AP-Pool, or all three.

    Parameters
    ----------
    gt : str, path, dict or lvis.LVIS
        LVIS ground truth. Images need ``id``, ``width``, ``height``,
        ``neg_category_ids``, ``not_exhaustive_category_ids``; categories ``id`` and
        ``frequency`` ∈ {r, c, f}; annotations ``id`` (> 0, unique), ``image_id``,
        ``category_id``, ``area``, ``bbox`` (xywh) and ``segmentation`` for segm.
    results : str, path or list of dict
        Detections (``image_id``, ``category_id``, ``score``, ``bbox``; RLE
        ``segmentation`` for segm); a JSON / JSON Lines file is streamed.
    iou_type : {"bbox", "segm"}
    mode : {"standard", "fixed", "pooled", "all"}
        ``standard`` is lvis-api's ``LVISEval``: at most ``max_dets_per_image``
        detections per image (by score, ties in file order), federated rules
        (detections of categories neither annotated nor listed negative in an image
        are dropped; unmatched detections of not-exhaustive categories are ignored).
        ``fixed`` keeps the top ``dets_per_cat`` detections of each category over the
        whole dataset and no per-image cap (AP-Fixed). ``pooled`` uses the same
        detections and ranks all categories of each pool together (AP-Pool):
        key (−score, image_id, category_id, file order), n_gt summed over the pool.
    max_dets_per_image : int
        Per-image cap for ``standard`` (300; −1 = off).
    dets_per_cat : int
        Per-category budget K for ``fixed`` / ``pooled`` (10,000; −1 = no limit).
    pools : subset of ("all", "r", "c", "f")
        Pools of ``pooled`` mode.
    segm_area : {"mask", "lvis_api"}
        Detection area for segm: the RLE area (the authors' / detectron2 practice), or
        lvis-api's rule (w·h of ``bbox`` when the results carry boxes).

    Returns
    -------
    LVISReport
        ``metrics`` with lvis-api's keys (−1 = undefined), ``per_category_ap``,
        pooled ``extras``, ``counts``, ``warnings``; ``by_mode`` for ``mode="all"``.

    Notes
    -----
    Per category and IoU threshold, recall_i = TP_i / n_gt and precision_i =
    TP_i / (TP_i + FP_i + eps); precision is made non-increasing from the right and
    read at recall r ∈ {0, 0.01, …, 1}; AP is the mean over thresholds
    {0.50, …, 0.95}, recall points and categories with GT. Numbers equal lvis-api
    0.5.3 and the authors' scripts (``achalddave/large-vocab-devil``), to 1e-12.

    Examples
    --------
    >>> from reference_models.data import sample_path
    >>> report = evaluate_lvis(sample_path("lvis_sample_gt.json"), sample_path("lvis_sample_results.json"),
    ...                        mode="all")
    >>> report.metrics["fixed/AP"]                                    # doctest: +SKIP
    """
    check_option(iou_type, "iou_type", ("bbox", "segm"))
    check_option(mode, "mode", MODES)
    max_dets_per_image = _check_limit(max_dets_per_image, "max_dets_per_image")
    dets_per_cat = _check_limit(dets_per_cat, "dets_per_cat")
    pools = _check_pools(pools)
    check_option(segm_area, "segm_area", ("mask", "lvis_api"))
    if mode in ("fixed", "pooled") and max_dets_per_image != 300:
        raise InputError(f"max_dets_per_image applies to mode 'standard' only; got {max_dets_per_image} "
                         f"with mode {mode!r}")
    if mode == "standard" and dets_per_cat != 10000:
        raise InputError(f"dets_per_cat applies to modes 'fixed' and 'pooled' only; got {dets_per_cat} "
                         f"with mode 'standard'")
    if mode in ("standard", "fixed") and pools != POOLS:
        raise InputError(f"pools applies to mode 'pooled' only; got {pools!r} with mode {mode!r}")
    if iou_type == "bbox" and segm_area != "mask":
        raise InputError(f"segm_area applies to iou_type 'segm' only; got {segm_area!r} with iou_type 'bbox'")
    return _evaluate(gt, results, iou_type=iou_type, mode=mode, max_dets_per_image=max_dets_per_image,
                     dets_per_cat=dets_per_cat, pools=pools, segm_area=segm_area)


def _evaluate(gt: Any, results: Any, *, iou_type: str, mode: str, max_dets_per_image: int, dets_per_cat: int,
              pools: tuple[str, ...], segm_area: str, on_step=None) -> LVISReport:
    """Body of :func:`evaluate_lvis` on checked options; ``on_step(name)`` reports progress (CLI)."""
    step = on_step or (lambda name: None)
    g = load_gt(gt, need_segmentation=iou_type == "segm")
    step("ground truth")
    res = load_results(results, iou_type=iou_type)
    step("results")
    params = {"iou_type": iou_type, "mode": mode, "max_dets_per_image": max_dets_per_image,
              "dets_per_cat": dets_per_cat, "pools": list(pools), "segm_area": segm_area}
    kw = dict(iou_type=iou_type, cap=max_dets_per_image, top_k=dets_per_cat, pools=pools, segm_area=segm_area,
              params=params)
    if mode != "all":
        report = _run_mode(g, res, mode, **kw)
        step(mode)
        return report
    by_mode = {}
    for m in ("standard", "fixed", "pooled"):
        by_mode[m] = _run_mode(g, res, m, **kw)
        step(m)
    metrics = {f"{m}/{k}": v for m, r in by_mode.items() for k, v in r.metrics.items()}
    extras = {f"pooled/{k}": v for k, v in by_mode["pooled"].extras.items()}
    counts = {f"{m}/{k}": v for m, r in by_mode.items() for k, v in r.counts.items()}
    warns = tuple(dict.fromkeys(w for r in by_mode.values() for w in r.warnings))
    return LVISReport(mode="all", metrics=metrics, per_category_ap=by_mode["standard"].per_category_ap,
                      extras=extras, counts=counts, warnings=warns, params=params, by_mode=by_mode)


def ap_fixed(gt: Any, results: Any, **kw: Any) -> dict[str, float]:
    """AP-Fixed (Dave et al. 2021): ``evaluate_lvis(..., mode="fixed").metrics``."""
    if "mode" in kw:
        raise InputError("ap_fixed: mode is fixed; do not pass mode")
    return evaluate_lvis(gt, results, mode="fixed", **kw).metrics


def ap_pool(gt: Any, results: Any, **kw: Any) -> dict[str, float]:
    """AP-Pool (Dave et al. 2021): ``evaluate_lvis(..., mode="pooled").metrics``."""
    if "mode" in kw:
        raise InputError("ap_pool: mode is pooled; do not pass mode")
    return evaluate_lvis(gt, results, mode="pooled", **kw).metrics


# ----------------------------------------------------------------------------- TP/FP labels


@dataclasses.dataclass(frozen=True)
class DetectionMatches:
    """Per-detection LVIS labels at one IoU threshold (see :func:`match_detections`).

    Arrays are aligned, one entry per detection that reaches matching, in input
    (file) order.
    """

    index: np.ndarray  # position in the input results
    image_id: np.ndarray
    category_id: np.ndarray
    score: np.ndarray
    matched: np.ndarray  # True = TP: matched to a non-ignored GT
    ignored: np.ndarray  # matched to an ignored GT, or unmatched and not-exhaustive
    frequency: np.ndarray  # 'r' / 'c' / 'f' of the category
    max_iou: np.ndarray  # largest IoU with any GT of the same (image, category); 0 if none
    bbox: np.ndarray | None  # (n, 4) xywh, None for segm results without boxes
    image_width: np.ndarray
    image_height: np.ndarray
    counts: dict
    warnings: tuple[str, ...]

    @property
    def false_positive(self) -> np.ndarray:
        """FP = unmatched and not ignored."""
        return ~self.matched & ~self.ignored

    def __len__(self) -> int:
        return len(self.index)


def match_detections(gt: Any, results: Any, *, iou_type: str = "bbox", iou_threshold: float = 0.75,
                     max_dets_per_image: int = -1, dets_per_cat: int = 10000,
                     segm_area: str = "mask") -> DetectionMatches:
    """Label detections TP / FP / ignored with LVIS rules at one IoU threshold.

    The selection is that of AP-Fixed (top ``dets_per_cat`` per category, ties in file
    order; optionally also a per-image cap ``max_dets_per_image`` applied first),
    then lvis-api's federated filter and greedy matching at ``iou_threshold`` with
    area range "all" — exactly the ``dt_matches`` / ``dt_ignore`` of ``LVISEval``.

    Parameters
    ----------
    gt, results, iou_type, segm_area
        As in :func:`evaluate_lvis`.
    iou_threshold : float
        IoU threshold t in (0, 1]; a detection matches when IoU ≥ min(t, 1 − 1e-10).
    max_dets_per_image : int
        −1 (default, no cap) or the per-image cap of standard LVIS AP.
    dets_per_cat : int
        Per-category budget K (10,000; −1 = no limit).

    Returns
    -------
    DetectionMatches
        ``index`` (position in ``results``), ``image_id``, ``category_id``, ``score``,
        ``matched`` (TP: took a non-ignored GT), ``ignored`` (took an ignored GT, or
        unmatched in a not-exhaustive category), ``frequency`` ('r'/'c'/'f'),
        ``max_iou``, ``bbox``, ``image_width``, ``image_height``; the property
        ``false_positive`` = ~matched & ~ignored. Detections dropped by the
        federated filter (category neither annotated nor negative in the image),
        by area ≤ 0, unknown categories, the cap or top-K are absent (see ``counts``).
    """
    check_option(iou_type, "iou_type", ("bbox", "segm"))
    check_option(segm_area, "segm_area", ("mask", "lvis_api"))
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float, np.floating)) or not (
            0 < float(iou_threshold) <= 1):
        raise InputError(f"iou_threshold must be a number in (0, 1]; got {iou_threshold!r}")
    cap = _check_limit(max_dets_per_image, "max_dets_per_image")
    top_k = _check_limit(dets_per_cat, "dets_per_cat")
    g = load_gt(gt, need_segmentation=iou_type == "segm")
    res = load_results(results, iou_type=iou_type)
    prep = _prepare(g, res, iou_type=iou_type, cap=cap, top_k=top_k, segm_area=segm_area)
    tp, fp, _, matched, matched_ign, max_iou = _match(g, res, prep, iou_type=iou_type,
                                                      thresholds=np.array([float(iou_threshold)]),
                                                      area_ranges=AREA_RANGES[:1])
    is_tp, is_fp = tp[0, 0], fp[0, 0]
    back = np.argsort(prep.file_index)
    fi = prep.file_index[back]
    return DetectionMatches(
        index=fi, image_id=res.image_id[fi], category_id=res.category_id[fi], score=res.score[fi],
        matched=is_tp[back], ignored=(~is_tp & ~is_fp)[back],
        frequency=np.array(FREQUENCIES)[g.category_freq[prep.cat[back]]], max_iou=max_iou[back],
        bbox=None if res.bbox is None else res.bbox[fi],
        image_width=g.image_width[prep.img[back]], image_height=g.image_height[prep.img[back]],
        counts=prep.counts, warnings=tuple(prep.warnings),
    )
