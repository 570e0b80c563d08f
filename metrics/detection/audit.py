"""Auditing detector calibration on LVIS or COCO data.

- :func:`label_detections`: each detection's TP / FP label with the LVIS or COCO
  matching rules (the evaluation's own matching, :func:`metrics.match_detections`) at
  one IoU threshold, as a pandas table.
- :func:`detection_ece`: D-ECE of labelled detections, optionally binned jointly with
  box features (Küppers et al. 2020), with a netcal-exact mode.
- :func:`detection_calibration_report`: ECE / MCE overall, per frequency group and per
  class with the keys of Dave et al. (arXiv 2102.01066, ``lvdevil/calib.py``),
  reliability diagrams, and AP / AP-Fixed / AP-Pool before and after a calibrator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from metrics.calibration import assign_bins, bin_edges
from metrics.core.errors import InputError
from metrics.core.validation import check_int, check_option
from metrics.detection._audit_ece import (
    _check_n_bins,
    dece_from_bins,
    detection_ece,
    joint_bins,
    validate_detection_inputs,
)
from metrics.detection._audit_report import CategoryCalibration, DetectionCalibrationReport
from metrics.detection._gt_io import FREQUENCIES, load_gt
from metrics.detection.inputs import GroundTruthInput, ResultsCalibrator, ResultsInput
from metrics.detection.matches import DetectionMatches, check_iou_threshold, match_detections

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["label_detections", "detection_ece", "detection_calibration_report", "DetectionCalibrationReport",
           "detection_categories", "reliability_bins"]

FEATURES = ("cx", "cy", "w", "h")
Dataset = Literal["auto", "lvis", "coco"]
Matching = Literal["greedy", "independent"]
Ignored = Literal["exclude", "fp"]
GroupBy = Literal["frequency", "overall", "category"]
#: (metrics, per category, reliability bins per group, detections, true positives)
_Audit = tuple[dict[str, float | None], dict[int, CategoryCalibration], dict[str, dict[str, np.ndarray]], int, int]


def detection_categories(gt: GroundTruthInput, *, dataset: Dataset = "auto") -> dict[int, str | None]:
    """Category id → LVIS frequency ('r', 'c', 'f'), or None for every category of COCO ground truth."""
    check_option(dataset, "dataset", ("auto", "lvis", "coco"))
    return load_gt(gt, dataset=dataset).categories()


def _labels(gt: GroundTruthInput, results: ResultsInput, *, iou_threshold: float, iou_type: Literal["bbox", "segm"],
            dets_per_cat: int, matching: Matching, ignored: Ignored, dataset: Dataset = "auto"
            ) -> tuple[DetectionMatches, np.ndarray, np.ndarray]:
    """(DetectionMatches, kept mask, matched flags of the kept detections)."""
    check_option(matching, "matching", ("greedy", "independent"))
    check_option(ignored, "ignored", ("exclude", "fp"))
    t = check_iou_threshold(iou_threshold)
    dm = match_detections(gt, results, iou_type=iou_type, iou_threshold=t, dets_per_cat=dets_per_cat,  # type: ignore
                          dataset=dataset)
    score = np.asarray(dm.score, dtype=np.float64)
    bad = (score < 0) | (score > 1)
    if bad.any():  # confidences are compared with precisions: they must be probabilities
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"results must have scores in [0, 1] for the calibration audit; detection "
                         f"{int(dm.index[i])} has score {score[i]!r}")
    if matching == "greedy":
        tp = np.asarray(dm.matched, dtype=bool)
    else:  # TP when IoU ≥ t with any same-class GT of the image (no one-to-one assignment)
        tp = np.asarray(dm.max_iou, dtype=float) >= min(t, 1 - 1e-10)
    ign = np.asarray(dm.ignored, dtype=bool) & ~tp
    keep = np.ones(len(dm), dtype=bool) if ignored == "fp" else ~ign
    return dm, keep, tp[keep]


def _box_features(dm: DetectionMatches, keep: np.ndarray, names: Sequence[str]) -> np.ndarray:
    if not names:
        return np.zeros((int(keep.sum()), 0))
    if dm.bbox is None:
        raise InputError("features need a bbox on every detection; the results have none (segm without bbox)")
    x, y, w, h = (np.asarray(dm.bbox, dtype=np.float64)[keep, j] for j in range(4))
    width = np.asarray(dm.image_width, dtype=np.float64)[keep]
    height = np.asarray(dm.image_height, dtype=np.float64)[keep]
    if not (np.isfinite(width).all() and np.isfinite(height).all()):
        raise InputError("box features need the width and height of every image in gt")
    table = {"cx": (x + w / 2) / width, "cy": (y + h / 2) / height, "w": w / width, "h": h / height}
    return np.clip(np.column_stack([table[n] for n in names]), 0.0, 1.0)


def label_detections(gt: GroundTruthInput, results: ResultsInput, *, iou_threshold: float = 0.75,
                     iou_type: Literal["bbox", "segm"] = "bbox", dets_per_cat: int = 10000,
                     matching: Literal["greedy", "independent"] = "greedy",
                     ignored: Literal["exclude", "fp"] = "exclude", dataset: Dataset = "auto") -> pd.DataFrame:
    """TP / FP label of every detection with the LVIS or COCO rules, as a pandas DataFrame.

    The detections are those of AP-Fixed (top ``dets_per_cat`` per category, no per-image
    cap), matched greedily at ``iou_threshold`` alone with area range "all" by the
    evaluation's own matching (:func:`metrics.match_detections`, equal to lvis-api's
    ``dt_matches``, or pycocotools' ``dtMatches`` for COCO). Federated-dropped
    detections (LVIS: category neither annotated nor negative in the image) are absent.
    Ignored detections (matched to an ignored or crowd GT, or unmatched in a
    not-exhaustive category) are left out, or counted as FP with ``ignored="fp"``.

    Parameters
    ----------
    gt, results
        As in :func:`metrics.evaluate_lvis` (LVIS) or :func:`metrics.evaluate_coco` (COCO).
    iou_threshold : float
        IoU threshold t (0.75 as in Dave et al.).
    iou_type : {"bbox", "segm"}
    dets_per_cat : int
        Per-category budget K (10,000; −1 = no limit).
    matching : {"greedy", "independent"}
        ``independent``: TP when IoU ≥ t with any same-class GT (no one-to-one
        assignment: duplicates all count as TP).
    ignored : {"exclude", "fp"}
    dataset : {"auto", "lvis", "coco"}
        Ground-truth format; ``auto`` reads LVIS when every category has a ``frequency``.

    Returns
    -------
    pandas.DataFrame
        Columns ``detection`` (position in ``results``), ``image_id``, ``category_id``,
        ``frequency`` (r/c/f; empty for COCO), ``score``, ``matched`` (bool), and the box features ``cx``,
        ``cy``, ``w``, ``h`` normalised by the image size and clipped to [0, 1] (when the
        results carry boxes), in input order.
    """
    import pandas as pd

    dm, keep, tp = _labels(gt, results, iou_threshold=iou_threshold, iou_type=iou_type,
                           dets_per_cat=dets_per_cat, matching=matching, ignored=ignored, dataset=dataset)
    frame = pd.DataFrame({
        "detection": np.asarray(dm.index)[keep], "image_id": np.asarray(dm.image_id)[keep],
        "category_id": np.asarray(dm.category_id)[keep], "frequency": np.asarray(dm.frequency)[keep],
        "score": np.asarray(dm.score, dtype=np.float64)[keep], "matched": tp,
    })
    if dm.bbox is not None and np.isfinite(dm.image_width).all() and np.isfinite(dm.image_height).all():
        feats = _box_features(dm, keep, FEATURES)
        for j, name in enumerate(FEATURES):
            frame[name] = feats[:, j]
    return frame


# ----------------------------------------------------------------------------- the audit
def _group_ece(s: np.ndarray, m: np.ndarray, f: np.ndarray, dims: list[int], min_bin_count: int
               ) -> tuple[float | None, float | None, float]:
    """(ECE, MCE, sparse mass) of one group; None where no joint bin is kept."""
    if s.size == 0:
        return None, None, 0.0
    bins = joint_bins(s, m, f, dims, "uniform")
    try:
        ece, sparse = dece_from_bins(bins, "l1", min_bin_count)
        mce, _ = dece_from_bins(bins, "max", min_bin_count)
    except InputError:
        return None, None, 1.0
    return ece, mce, sparse


def reliability_bins(scores: npt.ArrayLike, matched: npt.ArrayLike, *, n_bins: int = 20) -> dict[str, np.ndarray]:
    """Confidence-only reliability bins of labelled detections (what the audit's diagrams draw).

    ``n_bins`` equal-width bins [k/M, (k+1)/M) (the last closed), as the calibration
    binning. Returns ``edges`` (M + 1,), ``counts``, ``mean_confidence`` and
    ``precision`` (share of matched detections) per bin, NaN in empty bins.

    Examples
    --------
    >>> rel = reliability_bins([0.9, 0.8, 0.3, 0.2], [1, 0, 0, 0], n_bins=2)
    >>> rel["counts"].tolist(), rel["precision"].tolist()
    ([2, 2], [0.0, 0.5])
    """
    n_bins = check_int(n_bins, "n_bins", min_value=1)
    s, m, _ = validate_detection_inputs(scores, matched, None)
    return _reliability(np.asarray(s, dtype=np.float64), m, n_bins)


def _reliability(s: np.ndarray, m: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    edges = bin_edges(None, n_bins, "uniform")
    idx = assign_bins(s, edges)
    counts = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(idx, weights=s, minlength=n_bins) / counts
        prec = np.bincount(idx, weights=m, minlength=n_bins) / counts
    return {"edges": edges, "counts": counts, "mean_confidence": conf, "precision": prec}


def _mean_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _audit(dm: DetectionMatches, keep: np.ndarray, tp: np.ndarray, *, n_bins: int, features: tuple[str, ...],
           feature_bins: int, min_bin_count: int, group_by: GroupBy
           ) -> _Audit:
    s = np.asarray(dm.score, dtype=np.float64)[keep]
    m = tp.astype(np.float64)
    f = _box_features(dm, keep, features)
    dims = _check_n_bins([n_bins] + [feature_bins] * len(features), 1 + len(features))
    cats = np.asarray(dm.category_id)[keep]
    freq = np.asarray(dm.frequency)[keep]
    metrics: dict[str, float | None] = {}
    metrics["ece-overall"], metrics["mce-overall"], sparse = _group_ece(s, m, f, dims, min_bin_count)
    # per class: one vectorised D-ECE per category (a loop over categories, not detections)
    order = np.argsort(cats, kind="stable")
    uniq, starts = np.unique(cats[order], return_index=True)
    ends = np.r_[starts[1:], order.size]
    per_category: dict[int, CategoryCalibration] = {}
    for cid, a, b in zip(uniq.tolist(), starts, ends):
        rows = order[a:b]
        ece, mce, _ = _group_ece(s[rows], m[rows], f[rows], dims, min_bin_count)
        per_category[int(cid)] = {"frequency": str(freq[rows[0]]), "n": int(rows.size),
                                  "n_matched": int(m[rows].sum()), "ece": ece, "mce": mce}
    metrics["ece-per-class"] = _mean_or_none([v["ece"] for v in per_category.values()])
    freqs = FREQUENCIES if dm.dataset == "lvis" else ()  # COCO has no frequency groups
    for fr in freqs:
        rows = freq == fr
        metrics[f"ece-freq-{fr}"], metrics[f"mce-freq-{fr}"], _ = _group_ece(s[rows], m[rows], f[rows], dims,
                                                                           min_bin_count)
        metrics[f"ece-per-class-{fr}"] = _mean_or_none(
            [v["ece"] for v in per_category.values() if v["frequency"] == fr])
    metrics["sparse_mass"] = sparse
    if group_by == "overall":
        groups = {"overall": np.ones(s.size, dtype=bool)}
    elif group_by == "frequency":
        groups = {"overall": np.ones(s.size, dtype=bool), **{fr: freq == fr for fr in freqs}}
    else:
        groups = {str(c): cats == c for c in uniq.tolist()}
    reliability = {name: _reliability(s[rows], m[rows], n_bins) for name, rows in groups.items()}
    return metrics, per_category, reliability, int(s.size), int(m.sum())


def _ap_summary(gt: GroundTruthInput, results: ResultsInput, *, iou_type: Literal["bbox", "segm"], dets_per_cat: int,
                dataset: str) -> dict[str, float]:
    if dataset == "coco":
        from metrics.detection.coco import evaluate_coco

        c = evaluate_coco(gt, results, iou_type=iou_type, mode="all", dets_per_cat=dets_per_cat).stats  # type: ignore
        return {"AP": c["standard/AP"], "AP-Fixed": c["fixed/AP"], "AP-Pool": c["pooled/AP-pooled-all"]}
    from metrics.detection.evaluate import evaluate_lvis

    r = evaluate_lvis(gt, results, iou_type=iou_type, mode="all", dets_per_cat=dets_per_cat).metrics  # type: ignore
    out = {k: r[f"standard/{k}"] for k in ("AP", "APr", "APc", "APf")}
    out["AP-Fixed"] = r["fixed/AP"]
    for p in ("all", "r", "c", "f"):
        out["AP-Pool" if p == "all" else f"AP-Pool-{p}"] = r[f"pooled/AP-pooled-{p}"]
    return out


def detection_calibration_report(gt: GroundTruthInput, results: ResultsInput, *, iou_threshold: float = 0.75, n_bins: int = 20,
                                 group_by: GroupBy = "frequency",
                                 iou_type: Literal["bbox", "segm"] = "bbox", dets_per_cat: int = 10000,
                                 matching: Literal["greedy", "independent"] = "greedy",
                                 ignored: Literal["exclude", "fp"] = "exclude",
                                 features: Sequence[str] = (), feature_bins: int = 4,
                                 min_bin_count: int | None = None,
                                 calibrator: ResultsCalibrator | None = None,
                                 dataset: Dataset = "auto") -> DetectionCalibrationReport:
    """Calibration audit of a detector: D-ECE / MCE overall, per frequency group and per class.

    Detections are labelled by :func:`label_detections` (LVIS or COCO matching at
    ``iou_threshold``); then, for each group, D-ECE = Σ_b (n_b/N′)|precision_b − conf_b|
    over joint bins of ``n_bins`` equal-width confidence bins (the calibration binning) ×
    ``feature_bins`` per box feature in ``features`` ⊂ {cx, cy, w, h}, keeping the bins
    with n_b ≥ ``min_bin_count`` (default 1, or 10 with features). Keys follow Dave et al.
    (``lvdevil/calib.py``): ``ece-overall``, ``ece-per-class``, ``ece-freq-{r,c,f}``,
    ``ece-per-class-{r,c,f}``, plus ``mce-*`` and ``sparse_mass``; COCO ground truth
    has no frequency groups, so only ``ece-overall``, ``ece-per-class``, ``mce-overall``
    and ``sparse_mass``.

    Parameters
    ----------
    gt, results
        As in :func:`metrics.evaluate_lvis` (LVIS) or :func:`metrics.evaluate_coco` (COCO).
    iou_threshold, iou_type, dets_per_cat, matching, ignored, dataset
        As in :func:`label_detections`.
    n_bins : int
        Confidence bins (20, as the authors).
    group_by : {"frequency", "overall", "category"}
        Groups of the reliability diagrams (``report.plot()``).
    features : sequence of {"cx", "cy", "w", "h"}
    feature_bins : int
    min_bin_count : int, optional
    calibrator : ResultsCalibrator, optional
        A fitted :class:`reference_models.DetectionCalibrator`, or any object with
        ``transform(results)`` returning detection dicts with calibrated scores.
        When given, ``results`` are also calibrated (``calibrator.transform``) and the
        report adds the audit of the calibrated results and AP / AP-Fixed / AP-Pool
        before and after.

    Returns
    -------
    DetectionCalibrationReport
    """
    check_option(group_by, "group_by", ("frequency", "overall", "category"))
    check_option(iou_type, "iou_type", ("bbox", "segm"))
    check_option(dataset, "dataset", ("auto", "lvis", "coco"))
    n_bins = check_int(n_bins, "n_bins", min_value=1)
    feature_bins = check_int(feature_bins, "feature_bins", min_value=1)
    feature_names = (features,) if isinstance(features, str) else tuple(features)
    for name in feature_names:
        check_option(name, "features", FEATURES)
    if len(set(feature_names)) != len(feature_names):
        raise InputError(f"features must not repeat a name; got {feature_names!r}")
    if min_bin_count is None:
        min_bin_count = 10 if feature_names else 1
    min_bin_count = check_int(min_bin_count, "min_bin_count", min_value=1)
    def labels(res: ResultsInput) -> tuple[DetectionMatches, np.ndarray, np.ndarray]:
        return _labels(gt, res, iou_threshold=iou_threshold, iou_type=iou_type, dets_per_cat=dets_per_cat,
                       matching=matching, ignored=ignored, dataset=dataset)

    def audit(dm: DetectionMatches, keep: np.ndarray, tp: np.ndarray) -> _Audit:
        return _audit(dm, keep, tp, n_bins=n_bins, features=feature_names, feature_bins=feature_bins,
                      min_bin_count=min_bin_count, group_by=group_by)

    dm, keep, tp = labels(results)
    if not keep.any():
        raise InputError("results have no labelled detections (after the federated filter and the ignored rule)")
    metrics, per_category, reliability, n, n_tp = audit(dm, keep, tp)
    params: dict[str, object] = {
        "iou_threshold": iou_threshold, "iou_type": iou_type, "dets_per_cat": dets_per_cat, "matching": matching,
        "ignored": ignored, "dataset": dm.dataset, "n_bins": n_bins, "feature_bins": feature_bins,
        "min_bin_count": min_bin_count, "group_by": group_by, "features": list(feature_names)}
    metrics_after = reliability_after = ap_before = ap_after = None
    if calibrator is not None:
        if not hasattr(calibrator, "transform"):
            raise InputError(f"calibrator must be a fitted DetectionCalibrator; got {type(calibrator).__name__}")
        calibrated = calibrator.transform(results)
        metrics_after, _, reliability_after, _, _ = audit(*labels(calibrated))
        kind = dm.dataset
        ap_before = _ap_summary(gt, results, iou_type=iou_type, dets_per_cat=dets_per_cat, dataset=kind)
        ap_after = _ap_summary(gt, calibrated, iou_type=iou_type, dets_per_cat=dets_per_cat, dataset=kind)
        params["calibrator"] = repr(calibrator)
    return DetectionCalibrationReport(metrics=metrics, per_category=per_category, reliability=reliability,
                                      n_detections=n, n_matched=n_tp, params=params,
                                      warnings=tuple(dm.warnings), metrics_after=metrics_after,
                                      reliability_after=reliability_after, ap_before=ap_before, ap_after=ap_after)
