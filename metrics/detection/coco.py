"""COCO evaluation: AP / AR exactly as pycocotools' ``COCOeval``, and AP-Fixed / AP-Pool on COCO data.

Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014; the numbers are
those of ``pycocotools.cocoeval.COCOeval`` (evaluate → accumulate → summarize):
per (image, category) the detections are sorted by score (stable) and cut to the
largest ``max_dets``; each detection in turn takes the best-IoU GT still free at
threshold t (non-ignored GT first; a crowd GT may be taken any number of times and
its IoU is intersection / detection area); per category, precision
TP / (TP + FP + eps) is made non-increasing from the right and read at recall
r ∈ {0, 0.01, …, 1}. AP-Fixed and AP-Pool (Dave et al., arXiv 2102.01066) use the
same matching on the top ``dets_per_cat`` detections of each category.

The machinery (IoU / OKS, the greedy matcher, the accumulator) is shared with
:func:`metrics.evaluate_lvis`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.progress import Progress, progress_reporter
from metrics.detection._coco_options import COCOOptions, resolve_coco_options
from metrics.detection._coco_select import coco_prepare
from metrics.detection._gt_io import GroundTruth, load_coco_gt, read_dataset
from metrics.detection._pipeline import Matches, Prepared, accumulate, match, mean_valid
from metrics.detection._results_io import Results, load_results
from metrics.detection._selection import stable_order
from metrics.detection.coco_report import COCOReport
from metrics.detection.evaluate import per_category_ap, pooled_metrics
from metrics.detection.inputs import GroundTruthInput, ResultsInput

__all__ = ["evaluate_coco"]


def _summarize(precision: np.ndarray, recall: np.ndarray, o: COCOOptions, *, ap: bool, iou_thr: float | None = None,
               area: str = "all", max_det: int) -> float:
    """``COCOeval.summarize``'s ``_summarize``: the same selection, the same mean."""
    aind = [i for i, lbl in enumerate(o.area_labels) if lbl == area]
    mind = [i for i, m in enumerate(o.max_dets) if m == max_det]
    if not aind or not mind:
        return -1.0
    s = precision if ap else recall
    if iou_thr is not None:
        t = np.where(iou_thr == o.iou_thresholds)[0]
        s = s[t]
    s = s[:, :, :, aind, mind] if ap else s[:, :, aind, mind]
    return mean_valid(s)


def _standard_stats(precision: np.ndarray, recall: np.ndarray, o: COCOOptions) -> dict[str, float]:
    top = o.max_dets[-1]

    def ap(**kw: object) -> float:
        return _summarize(precision, recall, o, ap=True, max_det=top, **kw)  # type: ignore[arg-type]

    def ar(max_det: int = top, **kw: object) -> float:
        return _summarize(precision, recall, o, ap=False, max_det=max_det, **kw)  # type: ignore[arg-type]

    if o.iou_type == "keypoints":
        return {"AP": ap(), "AP50": ap(iou_thr=.5), "AP75": ap(iou_thr=.75), "APm": ap(area="medium"),
                "APl": ap(area="large"), "AR": ar(), "AR50": ar(iou_thr=.5), "AR75": ar(iou_thr=.75),
                "ARm": ar(area="medium"), "ARl": ar(area="large")}
    out = {"AP": ap(), "AP50": ap(iou_thr=.5), "AP75": ap(iou_thr=.75), "APs": ap(area="small"),
           "APm": ap(area="medium"), "APl": ap(area="large")}
    for m in o.max_dets:
        out[f"AR{m}"] = ar(m)
    out.update({"ARs": ar(area="small"), "ARm": ar(area="medium"), "ARl": ar(area="large")})
    return out


def _fixed_stats(precision: np.ndarray, recall: np.ndarray, o: COCOOptions) -> dict[str, float]:
    def pick(arr: np.ndarray, area: str, t: float | None = None) -> np.ndarray:
        if area not in o.area_labels:
            return np.full(1, -1.0)
        a = o.area_labels.index(area)
        s = arr[..., a, 0]
        if t is not None:
            hit = np.flatnonzero(o.iou_thresholds == t)
            s = s[hit]
        return s

    out = {"AP": mean_valid(pick(precision, "all")), "AP50": mean_valid(pick(precision, "all", .5)),
           "AP75": mean_valid(pick(precision, "all", .75))}
    for short, area in (("s", "small"), ("m", "medium"), ("l", "large")):
        out[f"AP{short}"] = mean_valid(pick(precision, area))
    out["AR@-1"] = mean_valid(pick(recall, "all"))
    for short, area in (("s", "small"), ("m", "medium"), ("l", "large")):
        out[f"AR{short}@-1"] = mean_valid(pick(recall, area))
    return out


def _ranking(prep: Prepared, srank: np.ndarray, n_cat: int) -> np.ndarray:
    """Per-category ranking order (category, −score, image, rank in pair): pycocotools' merge sort.

    ``prep`` is in (category, image, −score, file) order, so a stable sort by
    (category, −score) leaves equal scores in (image, rank in pair) order.
    """
    return stable_order([(prep.cat, n_cat), (srank[prep.file_index], len(srank) + 1)])


EMPTY_RESULTS_WARNING = "results are empty: every category with GT scores AP 0 (pycocotools' loadRes would crash)"


def coco_matches(gt: GroundTruth, res: Results, mode: str, o: COCOOptions,
                 preselected: np.ndarray | None = None) -> tuple[Prepared, Matches]:
    """The selection and matching stage of one mode: the detections that reach matching, and their flags.

    ``preselected`` replaces the per-category top-K of ``fixed`` / ``pooled`` by a mask
    over ``res`` (the top-K of a larger data set, when ``res`` is one shard of it).
    """
    standard = mode == "standard"
    prep = coco_prepare(gt, res, iou_type=o.iou_type, cap=o.max_dets[-1] if standard else -1,
                        top_k=-1 if standard or preselected is not None else o.dets_per_cat, use_cats=o.use_cats,
                        img_keep=o.img_keep, cat_keep=o.cat_keep, preselected=preselected)
    m = match(gt, res, prep, iou_type=o.iou_type, thresholds=o.iou_thresholds, area_ranges=o.area_array,
              use_cats=o.use_cats, gt_keep=o.gt_keep, sigmas=o.sigmas)
    return prep, m


def coco_arrays(prep: Prepared, srank: np.ndarray, tp: np.ndarray, fp: np.ndarray, n_gt: np.ndarray,
                n_seg: int, mode: str, o: COCOOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``COCOeval.accumulate``'s precision (T, R, S, A, M), recall (T, S, A, M) and scores over segments.

    Segments are ``prep.cat`` (categories, or any renumbering of them into 0..n_seg-1)
    with ``use_cats``, else one; M runs over ``max_dets`` in standard mode (one cut
    otherwise). ``srank`` is the dense descending score rank of the detections
    ``prep.file_index`` points at; ``n_gt`` (A, S) the non-ignored GT per segment.
    """
    standard = mode == "standard"
    seg = prep.cat if o.use_cats else np.zeros(len(prep.cat), np.int64)
    # without categories prep is in (image, −score, category, file) order: a stable sort by −score
    order = (_ranking(prep, srank, n_seg) if o.use_cats
             else stable_order([(srank[prep.file_index], len(srank) + 1)]))
    cuts = o.max_dets if standard else (-1,)
    parts = []
    for cut in cuts:
        sub = order if cut < 0 or cut >= o.max_dets[-1] else order[prep.rank[order] < cut]  # type: ignore[index]
        parts.append(accumulate(tp, fp, seg, sub, n_seg, n_gt, prep.score, o.rec_thresholds))
    precision = np.stack([p[0] for p in parts], axis=-1)
    recall = np.stack([p[1] for p in parts], axis=-1)
    scores = np.stack([p[2] for p in parts], axis=-1)  # type: ignore[misc]
    return precision, recall, scores


def coco_mode_report(gt: GroundTruth, prep: Prepared, tp: np.ndarray, fp: np.ndarray, n_gt: np.ndarray,
                     srank: np.ndarray, mode: str, o: COCOOptions, warnings: Sequence[str]) -> COCOReport:
    """The accumulation stage of one mode: the report from the TP / FP flags (A, T, N) of ``prep``.

    ``srank`` is the dense descending score rank of the detections ``prep.file_index``
    points at; ``n_gt`` (A, S) the non-ignored GT per area range and category (or one
    segment without categories).
    """
    n_seg = gt.n_categories if o.use_cats else 1
    arrays = coco_arrays(prep, srank, tp, fp, n_gt, n_seg, mode, o)
    stats = extras = None
    if mode == "pooled":
        _check_pooled(o)
        assert o.cat_keep is not None  # set by COCOOptions.restricted
        stats, extras = pooled_metrics(prep, srank, gt.n_images, tp, fp, n_gt, {"all": np.asarray(o.cat_keep, bool)})
    return coco_report_from_arrays(gt, *arrays, mode, o, prep.counts, warnings, stats=stats, extras=extras)


def _check_pooled(o: COCOOptions) -> None:
    if o.area_labels[:4] != ("all", "small", "medium", "large") or len(o.iou_thresholds) != 10:
        raise InputError("mode 'pooled' needs the default area ranges and IoU thresholds")


def coco_report_from_arrays(gt: GroundTruth, precision: np.ndarray, recall: np.ndarray, scores: np.ndarray,
                            mode: str, o: COCOOptions, counts: dict[str, int], warnings: Sequence[str], *,
                            stats: dict[str, float] | None = None, extras: dict[str, float] | None = None
                            ) -> COCOReport:
    """The report of one mode from :func:`coco_arrays` over every category (or the one segment).

    ``stats`` and ``extras`` (the pooled mode's) replace the summaries when given.
    """
    assert o.cat_keep is not None  # set by COCOOptions.restricted
    k_sel = np.flatnonzero(o.cat_keep) if o.use_cats else np.zeros(1, np.int64)
    precision, recall, scores = precision[:, :, k_sel], recall[:, k_sel], scores[:, :, k_sel]
    a_all = o.area_labels.index("all") if "all" in o.area_labels else 0
    per_cat = per_category_ap(precision[:, :, :, a_all, -1], gt.category_ids[k_sel]) if o.use_cats else {}
    if stats is None:
        stats = _standard_stats(precision, recall, o) if mode == "standard" else _fixed_stats(precision, recall, o)
    return COCOReport(mode=mode, iou_type=o.iou_type, stats=stats, stats_array=np.array(list(stats.values())),
                      precision=precision, recall=recall, scores=scores, per_category_ap=per_cat, extras=extras or {},
                      counts=counts, warnings=tuple(warnings), params=o.params(mode, gt))


def _run_mode(gt: GroundTruth, res: Results, mode: str, o: COCOOptions) -> COCOReport:
    prep, m = coco_matches(gt, res, mode, o)
    warns = list(prep.warnings)
    if len(res) == 0:
        warns.append(EMPTY_RESULTS_WARNING)
    return coco_mode_report(gt, prep, m.tp, m.fp, m.n_gt, res.score_rank, mode, o, warns)


def combine_modes(by_mode: dict[str, COCOReport], o: COCOOptions, gt: GroundTruth) -> COCOReport:
    """The ``mode="all"`` report of the standard, fixed and pooled reports."""
    std = by_mode["standard"]
    stats = {f"{m}/{k}": v for m, r in by_mode.items() for k, v in r.stats.items()}
    return COCOReport(mode="all", iou_type=o.iou_type, stats=stats, stats_array=np.array(list(stats.values())),
                      precision=std.precision, recall=std.recall, scores=std.scores,
                      per_category_ap=std.per_category_ap,
                      extras={f"pooled/{k}": v for k, v in by_mode["pooled"].extras.items()},
                      counts={f"{m}/{k}": v for m, r in by_mode.items() for k, v in r.counts.items()},
                      warnings=tuple(dict.fromkeys(w for r in by_mode.values() for w in r.warnings)),
                      params=o.params("all", gt), by_mode=by_mode)


@validate_options
def evaluate_coco(gt: GroundTruthInput, results: ResultsInput, *, iou_type: Literal["bbox", "segm", "keypoints"] = "bbox",
                  mode: Literal["standard", "fixed", "pooled", "all"] = "standard",
                  max_dets: Sequence[int] | None = None, iou_thresholds: Sequence[float] | None = None,
                  recall_thresholds: Sequence[float] | None = None,
                  area_ranges: Mapping[str, Sequence[float]] | Sequence[Sequence[float]] | None = None,
                  use_cats: bool = True, img_ids: Sequence[int] | None = None, cat_ids: Sequence[int] | None = None,
                  kpt_oks_sigmas: Sequence[float] | None = None, dets_per_cat: int | None = None,
                  progress: Progress = False) -> COCOReport:
    """COCO evaluation: pycocotools' AP / AR, AP-Fixed, AP-Pool, or all three.

    Parameters
    ----------
    gt : str, path, dict or pycocotools.coco.COCO
        COCO ground truth: images (``id``; ``width`` / ``height`` for segm),
        categories (``id``), annotations (``id``, ``image_id``, ``category_id``,
        ``area``, ``bbox``, ``iscrowd`` (0 when absent), ``segmentation`` for segm,
        ``keypoints`` and ``num_keypoints`` for keypoints).
    results : str, path, list of dict or ndarray
        Detections as ``COCO.loadRes`` takes them: a JSON / JSON Lines file (streamed),
        a list of dicts (``image_id``, ``category_id``, ``score`` and ``bbox``,
        ``segmentation`` or ``keypoints``) or an (N, 7) array
        ``[image_id, x, y, w, h, score, category_id]``.
    iou_type : {"bbox", "segm", "keypoints"}
    mode : {"standard", "fixed", "pooled", "all"}
        ``standard`` is ``COCOeval``. ``fixed`` keeps the top ``dets_per_cat``
        detections of each category over the data set, with no per-image cap
        (AP-Fixed); ``pooled`` ranks those detections of all categories together
        (AP-Pool, one pool "all").
    max_dets : sequence of int, optional
        ``params.maxDets`` of standard mode: (1, 10, 100), or (20,) for keypoints.
    iou_thresholds, recall_thresholds : sequence of float, optional
        ``params.iouThrs`` (0.50:0.05:0.95) and ``params.recThrs`` (0:0.01:1).
    area_ranges : mapping label → (lo, hi), or sequence of (lo, hi), optional
        ``params.areaRng`` with ``areaRngLbl`` (all, small, medium, large; keypoints
        all, medium, large). A sequence takes those labels in order.
    use_cats : bool
        False evaluates as ``useCats = 0``: one class-agnostic pass per image.
    img_ids, cat_ids : sequence of int, optional
        Restrict to these GT images / categories (``params.imgIds`` / ``catIds``).
    kpt_oks_sigmas : sequence of float, optional
        Per-keypoint sigmas (the 17 COCO person sigmas by default).
    dets_per_cat : int, optional
        Per-category budget K of ``fixed`` / ``pooled`` (10,000; −1 = no limit).
    progress : bool or callable
        A tqdm bar (True) or ``progress(done, total)`` over the loading and each mode.

    Returns
    -------
    COCOReport
        ``stats`` (named), ``stats_array`` (``COCOeval.stats`` order), ``precision``,
        ``recall``, ``scores`` (``COCOeval.eval``'s arrays), ``per_category_ap``;
        ``str(report)`` prints the lines of ``COCOeval.summarize()``.

    Notes
    -----
    Equal to pycocotools 2.0 (every stat and every array element, ≤ 1e-12), with
    these deliberate differences: AP and the AR of the area ranges use the largest
    ``max_dets`` (pycocotools hard-codes 100, or 20 for keypoints, which only
    differs when ``max_dets`` is customised); ``use_cats=False`` with keypoints
    matches every person GT (pycocotools finds none); polygon segm results are
    accepted; unknown image ids raise InputError (pycocotools asserts).

    Examples
    --------
    >>> from reference_models.data import sample_path
    >>> report = evaluate_coco(sample_path("coco_sample_gt.json"), sample_path("coco_sample_results.json"))
    >>> sorted(report.stats)[:3]
    ['AP', 'AP50', 'AP75']
    """
    data = read_dataset(gt)
    o0 = resolve_coco_options(data, iou_type=iou_type, mode=mode, max_dets=max_dets, iou_thresholds=iou_thresholds,
                              recall_thresholds=recall_thresholds, area_ranges=area_ranges, use_cats=use_cats,
                              kpt_oks_sigmas=kpt_oks_sigmas, dets_per_cat=dets_per_cat)
    modes = ("standard", "fixed", "pooled") if mode == "all" else (mode,)
    with progress_reporter(progress, 2 + len(modes), "coco") as reporter:
        g = load_coco_gt(data, iou_type=iou_type, n_keypoints=o0.n_keypoints)
        o = o0.restricted(g, img_ids, cat_ids)
        reporter.update(1)
        res = load_results(results, iou_type=iou_type, n_keypoints=o.n_keypoints)
        reporter.update(1)
        by_mode = {}
        for m in modes:
            by_mode[m] = _run_mode(g, res, m, o)
            reporter.update(1)
    return by_mode[mode] if mode != "all" else combine_modes(by_mode, o, g)
