"""LVIS AP (lvis-api), AP-Fixed and AP-Pool (Dave et al. 2021).

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
greedy matching runs rank by rank over all pairs, and precision / recall are
cumulative sums (``_pipeline``, shared with the COCO evaluator).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from metrics.core.options import validate_options
from metrics.core.progress import Progress, progress_reporter
from metrics.detection._accumulate import IOU_THRS
from metrics.detection._gt_io import FREQUENCIES, GroundTruth, load_gt
from metrics.detection._lvis_select import AREA_RANGES, lvis_prepare
from metrics.detection._options import LVISOptions, resolve_lvis_options
from metrics.detection._pipeline import Matches, Prepared, accumulate, match, mean_valid
from metrics.detection._results_io import Results, load_results
from metrics.detection._selection import stable_order
from metrics.detection.inputs import GroundTruthInput, ResultsInput
from metrics.detection.report import LVISReport

__all__ = ["evaluate_lvis", "ap_fixed", "ap_pool"]

POOLS = ("all", "r", "c", "f")


def per_category_arrays(prep: Prepared, srank: np.ndarray, tp: np.ndarray, fp: np.ndarray, n_gt: np.ndarray, n_cat: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """lvis-api precision (T, R, K, A) and recall (T, K, A); ranking key (category, −score, image, file).

    ``prep`` is in (category, image, −score, file) order, so a stable sort by
    (category, −score) leaves equal scores in (image, file) order. ``srank``: the
    dense score rank of the results.
    """
    order = stable_order([(prep.cat, n_cat), (srank[prep.file_index], len(srank) + 1)])
    precision, recall, _ = accumulate(tp, fp, prep.cat, order, n_cat, n_gt)
    return precision, recall


def _summaries(precision: np.ndarray, recall: np.ndarray, freq: np.ndarray, cap_label: int) -> dict[str, float]:
    t50 = int(np.flatnonzero(IOU_THRS == 0.5)[0])
    t75 = int(np.flatnonzero(IOU_THRS == 0.75)[0])
    out = {
        "AP": mean_valid(precision[:, :, :, 0]),
        "AP50": mean_valid(precision[t50, :, :, 0]),
        "AP75": mean_valid(precision[t75, :, :, 0]),
        "APs": mean_valid(precision[:, :, :, 1]),
        "APm": mean_valid(precision[:, :, :, 2]),
        "APl": mean_valid(precision[:, :, :, 3]),
    }
    for code, name in enumerate(FREQUENCIES):
        out[f"AP{name}"] = mean_valid(precision[:, :, freq == code, 0])
    out[f"AR@{cap_label}"] = mean_valid(recall[:, :, 0])
    for a, name in ((1, "s"), (2, "m"), (3, "l")):
        out[f"AR{name}@{cap_label}"] = mean_valid(recall[:, :, a])
    return out


def pooled_metrics(prep: Prepared, srank: np.ndarray, n_img: int, tp: np.ndarray, fp: np.ndarray, n_gt: np.ndarray,
                   in_pools: dict[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
    """AP-pooled-p and the pooled extras; ranking key (−score, image, category, file).

    ``in_pools`` maps a pool name to a (K,) bool mask of its categories. ``prep`` holds
    the detections of a (category, image) pair in (−score, file) order, so a stable
    sort by (−score, image, category) leaves the last ties in file order.
    """
    n_cat = len(n_gt[0])
    order = stable_order([(srank[prep.file_index], len(srank) + 1), (prep.img, n_img), (prep.cat, n_cat)])
    metrics: dict[str, float] = {}
    extras: dict[str, float] = {}
    t50 = int(np.flatnonzero(IOU_THRS == 0.5)[0])
    t75 = int(np.flatnonzero(IOU_THRS == 0.75)[0])
    for pool, in_pool in in_pools.items():
        sel = order[in_pool[prep.cat[order]]]
        ngt = n_gt[:, in_pool].sum(axis=1, keepdims=True)  # (A, 1)
        prec, rec, _ = accumulate(tp, fp, np.zeros(len(tp[0, 0]), np.int64), sel, 1, ngt)
        metrics[f"AP-pooled-{pool}"] = mean_valid(prec[:, :, 0, 0])
        extras[f"AP50-pooled-{pool}"] = mean_valid(prec[t50, :, 0, 0])
        extras[f"AP75-pooled-{pool}"] = mean_valid(prec[t75, :, 0, 0])
        extras[f"AR-pooled-{pool}"] = mean_valid(rec[:, 0, 0])
        for a, name in ((1, "s"), (2, "m"), (3, "l")):
            extras[f"AP{name}-pooled-{pool}"] = mean_valid(prec[:, :, 0, a])
    return metrics, extras


def per_category_ap(precision_all_area: np.ndarray, category_ids: np.ndarray) -> dict[int, float | None]:
    """Category id → mean of precision (T, R, K) over entries > −1, None where all are −1."""
    valid = precision_all_area > -1
    n_valid = valid.sum(axis=(0, 1))
    ap = np.where(valid, precision_all_area, 0.0).sum(axis=(0, 1)) / np.maximum(n_valid, 1)
    return {cid: (float(v) if n else None) for cid, v, n in zip(category_ids.tolist(), ap.tolist(), n_valid.tolist())}


EMPTY_RESULTS_WARNING = "results are empty: every category with GT scores AP 0 (lvis-api would crash)"


def lvis_matches(gt: GroundTruth, res: Results, mode: str, opts: LVISOptions,
                 preselected: np.ndarray | None = None) -> tuple[Prepared, Matches]:
    """The selection and matching stage of one mode: the detections that reach matching, and their flags.

    ``preselected`` replaces the per-category top-K of ``fixed`` / ``pooled`` by a mask
    over ``res`` (the top-K of a larger data set, when ``res`` is one shard of it).
    """
    top_k = opts.dets_per_cat if mode != "standard" and preselected is None else -1
    prep = lvis_prepare(gt, res, iou_type=opts.iou_type, cap=opts.max_dets_per_image if mode == "standard" else -1,
                        top_k=top_k, segm_area=opts.segm_area, preselected=preselected)
    return prep, match(gt, res, prep, iou_type=opts.iou_type, thresholds=IOU_THRS, area_ranges=AREA_RANGES)


def lvis_mode_report(gt: GroundTruth, prep: Prepared, tp: np.ndarray, fp: np.ndarray, n_gt: np.ndarray,
                     srank: np.ndarray, mode: str, opts: LVISOptions, warnings: Sequence[str]) -> LVISReport:
    """The accumulation stage of one mode: the report from the TP / FP flags (A, T, N) of ``prep``.

    ``srank`` is the dense descending score rank of the detections ``prep.file_index``
    points at; ``n_gt`` (A, K) the non-ignored GT per area range and category.
    """
    precision, recall = per_category_arrays(prep, srank, tp, fp, n_gt, gt.n_categories)
    metrics: dict[str, float] | None = None
    extras: dict[str, float] = {}
    if mode == "pooled":
        in_pools = {p: (np.ones(gt.n_categories, bool) if p == "all" else gt.category_freq == FREQUENCIES.index(p))
                    for p in POOLS if p in opts.pools}
        metrics, extras = pooled_metrics(prep, srank, gt.n_images, tp, fp, n_gt, in_pools)
    return lvis_report_from_arrays(gt, precision, recall, mode, opts, prep.counts, warnings, metrics=metrics,
                                   extras=extras)


def lvis_report_from_arrays(gt: GroundTruth, precision: np.ndarray, recall: np.ndarray, mode: str,
                            opts: LVISOptions, counts: dict[str, int], warnings: Sequence[str], *,
                            metrics: dict[str, float] | None = None, extras: dict[str, float] | None = None
                            ) -> LVISReport:
    """The report of one mode from lvis-api's precision (T, R, K, A) and recall (T, K, A).

    ``metrics`` (the pooled mode's) replaces the summaries of the arrays when given.
    """
    per_cat = per_category_ap(precision[:, :, :, 0], gt.category_ids)
    if metrics is None:
        metrics = _summaries(precision, recall, gt.category_freq, opts.max_dets_per_image if mode == "standard" else -1)
    return LVISReport(mode=mode, metrics=metrics, per_category_ap=per_cat, extras=extras or {}, counts=counts,
                      warnings=tuple(warnings), params=opts.params(mode), precision=precision[:, :, :, 0],
                      category_frequency=np.array(FREQUENCIES)[gt.category_freq])


def _run_mode(gt: GroundTruth, res: Results, mode: str, opts: LVISOptions) -> LVISReport:
    prep, m = lvis_matches(gt, res, mode, opts)
    warns = list(prep.warnings)
    if len(res) == 0:
        warns.append(EMPTY_RESULTS_WARNING)
    return lvis_mode_report(gt, prep, m.tp, m.fp, m.n_gt, res.score_rank, mode, opts, warns)


def combine_modes(by_mode: dict[str, LVISReport], opts: LVISOptions) -> LVISReport:
    """The ``mode="all"`` report of the standard, fixed and pooled reports."""
    metrics = {f"{m}/{k}": v for m, r in by_mode.items() for k, v in r.metrics.items()}
    extras = {f"pooled/{k}": v for k, v in by_mode["pooled"].extras.items()}
    counts = {f"{m}/{k}": v for m, r in by_mode.items() for k, v in r.counts.items()}
    warns = tuple(dict.fromkeys(w for r in by_mode.values() for w in r.warnings))
    return LVISReport(mode="all", metrics=metrics, per_category_ap=by_mode["standard"].per_category_ap,
                      extras=extras, counts=counts, warnings=warns, params=opts.params("all"), by_mode=by_mode)


@validate_options
def evaluate_lvis(gt: GroundTruthInput, results: ResultsInput, *, iou_type: Literal["bbox", "segm"] = "bbox",
                  mode: Literal["standard", "fixed", "pooled", "all"] = "standard",
                  max_dets_per_image: int | None = None, dets_per_cat: int | None = None,
                  pools: Sequence[str] | str | None = None, segm_area: Literal["mask", "lvis_api"] | None = None,
                  progress: Progress = False) -> LVISReport:
    """LVIS evaluation: standard AP, AP-Fixed, AP-Pool, or all three.

    Parameters
    ----------
    gt : str, path, dict or lvis.LVIS
        LVIS ground truth. Images need ``id``, ``width``, ``height`` (> 0),
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
    max_dets_per_image : int, optional
        Per-image cap of ``standard`` (300 when not given; −1 = off). Only for the
        modes that use it (``standard``, ``all``).
    dets_per_cat : int, optional
        Per-category budget K of ``fixed`` / ``pooled`` (10,000 when not given; −1 =
        no limit).
    pools : subset of ("all", "r", "c", "f"), optional
        Pools of ``pooled`` mode (all four when not given).
    segm_area : {"mask", "lvis_api"}, optional
        Detection area for segm: the RLE area (default; the authors' / detectron2
        practice), or lvis-api's rule (w·h of ``bbox`` when the results carry boxes).
    progress : bool or callable
        A tqdm bar (True) or ``progress(done, total)`` over the loading and each mode.

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
    >>> round(report.metrics["fixed/AP"], 3) >= 0
    True
    """
    opts = resolve_lvis_options(mode=mode, iou_type=iou_type, max_dets_per_image=max_dets_per_image,
                                dets_per_cat=dets_per_cat, pools=pools, segm_area=segm_area)
    modes = ("standard", "fixed", "pooled") if mode == "all" else (mode,)
    with progress_reporter(progress, 2 + len(modes), "lvis") as reporter:
        g = load_gt(gt, need_segmentation=iou_type == "segm")
        reporter.update(1)
        res = load_results(results, iou_type=iou_type)
        reporter.update(1)
        by_mode = {}
        for m in modes:
            by_mode[m] = _run_mode(g, res, m, opts)
            reporter.update(1)
    return by_mode[mode] if mode != "all" else combine_modes(by_mode, opts)


def ap_fixed(gt: GroundTruthInput, results: ResultsInput, *, iou_type: Literal["bbox", "segm"] = "bbox",
             dets_per_cat: int | None = None, segm_area: Literal["mask", "lvis_api"] | None = None
             ) -> dict[str, float]:
    """AP-Fixed (Dave et al. 2021): ``evaluate_lvis(..., mode="fixed").metrics``."""
    return evaluate_lvis(gt, results, mode="fixed", iou_type=iou_type, dets_per_cat=dets_per_cat,
                         segm_area=segm_area).metrics


def ap_pool(gt: GroundTruthInput, results: ResultsInput, *, iou_type: Literal["bbox", "segm"] = "bbox",
            dets_per_cat: int | None = None, pools: Sequence[str] | str | None = None,
            segm_area: Literal["mask", "lvis_api"] | None = None) -> dict[str, float]:
    """AP-Pool (Dave et al. 2021): ``evaluate_lvis(..., mode="pooled").metrics``."""
    return evaluate_lvis(gt, results, mode="pooled", iou_type=iou_type, dets_per_cat=dets_per_cat, pools=pools,
                         segm_area=segm_area).metrics
