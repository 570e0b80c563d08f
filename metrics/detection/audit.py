"""Auditing detector calibration on LVIS-style data (detection.md §8).

- :func:`label_detections`: each detection's TP / FP label with the LVIS matching
  rules (the evaluation's own matching, :func:`metrics.match_detections`) at one IoU
  threshold, as a pandas table.
- :func:`detection_ece`: D-ECE of labelled detections, optionally binned jointly with
  box features (Küppers et al. 2020), with a netcal-exact mode.
- :func:`detection_calibration_report`: ECE / MCE overall, per frequency group and per
  class with the keys of Dave et al. (arXiv 2102.01066, ``lvdevil/calib.py``),
  reliability diagrams, and AP / AP-Fixed / AP-Pool before and after a calibrator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metrics.calibration import assign_bins, bin_edges
from metrics.core.errors import InputError
from metrics.core.validation import check_int, check_option
from metrics.detection._audit_ece import (
    _check_n_bins,
    dece_from_bins,
    detection_ece,
    joint_bins,
)
from metrics.detection._audit_report import DetectionCalibrationReport

__all__ = ["label_detections", "detection_ece", "detection_calibration_report", "DetectionCalibrationReport"]

FEATURES = ("cx", "cy", "w", "h")
FREQUENCIES = ("r", "c", "f")


def _check_threshold(iou_threshold: Any) -> float:
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float, np.floating)) \
            or not 0 < float(iou_threshold) <= 1:
        raise InputError(f"iou_threshold must be a number in (0, 1]; got {iou_threshold!r}")
    return float(iou_threshold)


def _labels(gt: Any, results: Any, *, iou_threshold: float, iou_type: str, dets_per_cat: int, matching: str,
            ignored: str):
    """(DetectionMatches, kept mask, matched flags of the kept detections)."""
    from metrics.detection.evaluate import match_detections

    check_option(matching, "matching", ("greedy", "independent"))
    check_option(ignored, "ignored", ("exclude", "fp"))
    t = _check_threshold(iou_threshold)
    dm = match_detections(gt, results, iou_type=iou_type, iou_threshold=t, dets_per_cat=dets_per_cat)
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


def _box_features(dm, keep: np.ndarray, names: Sequence[str]) -> np.ndarray:
    if not names:
        return np.zeros((int(keep.sum()), 0))
    if dm.bbox is None:
        raise InputError("features need a bbox on every detection; the results have none (segm without bbox)")
    x, y, w, h = (np.asarray(dm.bbox, dtype=np.float64)[keep, j] for j in range(4))
    width = np.asarray(dm.image_width, dtype=np.float64)[keep]
    height = np.asarray(dm.image_height, dtype=np.float64)[keep]
    table = {"cx": (x + w / 2) / width, "cy": (y + h / 2) / height, "w": w / width, "h": h / height}
    return np.clip(np.column_stack([table[n] for n in names]), 0.0, 1.0)


def label_detections(gt: Any, results: Any, *, iou_threshold: float = 0.75, iou_type: str = "bbox",
                     dets_per_cat: int = 10000, matching: str = "greedy", ignored: str = "exclude"):
    """TP / FP label of every detection with the LVIS rules, as a pandas DataFrame.

    The detections are those of AP-Fixed (top ``dets_per_cat`` per category, no per-image
    cap), matched greedily at ``iou_threshold`` alone with area range "all" by the
    evaluation's own matching (:func:`metrics.match_detections`, equal to lvis-api's
    ``dt_matches``). Federated-dropped detections (category neither annotated nor
    negative in the image) are absent. Ignored detections (matched to an ignored GT, or
    unmatched in a not-exhaustive category) are left out, or counted as FP with
    ``ignored="fp"``.

    Parameters
    ----------
    gt, results
        As in :func:`metrics.evaluate_lvis`.
    iou_threshold : float
        IoU threshold t (0.75 as in Dave et al.).
    iou_type : {"bbox", "segm"}
    dets_per_cat : int
        Per-category budget K (10,000; −1 = no limit).
    matching : {"greedy", "independent"}
        ``independent``: TP when IoU ≥ t with any same-class GT (no one-to-one
        assignment: duplicates all count as TP).
    ignored : {"exclude", "fp"}

    Returns
    -------
    pandas.DataFrame
        Columns ``detection`` (position in ``results``), ``image_id``, ``category_id``,
        ``frequency`` (r/c/f), ``score``, ``matched`` (bool), and the box features ``cx``,
        ``cy``, ``w``, ``h`` normalised by the image size and clipped to [0, 1] (when the
        results carry boxes), in input order.
    """
    import pandas as pd

    dm, keep, tp = _labels(gt, results, iou_threshold=iou_threshold, iou_type=iou_type,
                           dets_per_cat=dets_per_cat, matching=matching, ignored=ignored)
    frame = pd.DataFrame({
        "detection": np.asarray(dm.index)[keep], "image_id": np.asarray(dm.image_id)[keep],
        "category_id": np.asarray(dm.category_id)[keep], "frequency": np.asarray(dm.frequency)[keep],
        "score": np.asarray(dm.score, dtype=np.float64)[keep], "matched": tp,
    })
    if dm.bbox is not None:
        feats = _box_features(dm, keep, FEATURES)
        for j, name in enumerate(FEATURES):
            frame[name] = feats[:, j]
    return frame


# ----------------------------------------------------------------------------- the audit
def _group_ece(s, m, f, dims, min_bin_count) -> tuple[float | None, float | None, float]:
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


def _reliability(s: np.ndarray, m: np.ndarray, n_bins: int) -> dict[str, Any]:
    edges = bin_edges(None, n_bins, "uniform")
    idx = assign_bins(s, edges)
    counts = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(idx, weights=s, minlength=n_bins) / counts
        prec = np.bincount(idx, weights=m, minlength=n_bins) / counts
    return {"edges": edges, "counts": counts, "mean_confidence": conf, "precision": prec}


def _mean_or_none(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _audit(dm, keep, tp, *, n_bins, features, feature_bins, min_bin_count, group_by):
    s = np.asarray(dm.score, dtype=np.float64)[keep]
    m = tp.astype(np.float64)
    f = _box_features(dm, keep, features)
    dims = _check_n_bins([n_bins] + [feature_bins] * len(features), 1 + len(features))
    cats = np.asarray(dm.category_id)[keep]
    freq = np.asarray(dm.frequency)[keep]
    metrics: dict[str, Any] = {}
    metrics["ece-overall"], metrics["mce-overall"], sparse = _group_ece(s, m, f, dims, min_bin_count)
    # per class: one vectorised D-ECE per category (a loop over categories, not detections)
    order = np.argsort(cats, kind="stable")
    uniq, starts = np.unique(cats[order], return_index=True)
    ends = np.r_[starts[1:], order.size]
    per_category: dict[int, dict[str, Any]] = {}
    for cid, a, b in zip(uniq.tolist(), starts, ends):
        rows = order[a:b]
        ece, mce, _ = _group_ece(s[rows], m[rows], f[rows], dims, min_bin_count)
        per_category[int(cid)] = {"frequency": str(freq[rows[0]]), "n": int(rows.size),
                                  "n_matched": int(m[rows].sum()), "ece": ece, "mce": mce}
    metrics["ece-per-class"] = _mean_or_none([v["ece"] for v in per_category.values()])
    for fr in FREQUENCIES:
        rows = freq == fr
        metrics[f"ece-freq-{fr}"], metrics[f"mce-freq-{fr}"], _ = _group_ece(s[rows], m[rows], f[rows], dims,
                                                                           min_bin_count)
        metrics[f"ece-per-class-{fr}"] = _mean_or_none(
            [v["ece"] for v in per_category.values() if v["frequency"] == fr])
    metrics["sparse_mass"] = sparse
    if group_by == "overall":
        groups = {"overall": np.ones(s.size, dtype=bool)}
    elif group_by == "frequency":
        groups = {"overall": np.ones(s.size, dtype=bool), **{fr: freq == fr for fr in FREQUENCIES}}
    else:
        groups = {str(c): cats == c for c in uniq.tolist()}
    reliability = {name: _reliability(s[rows], m[rows], n_bins) for name, rows in groups.items()}
    return metrics, per_category, reliability, int(s.size), int(m.sum())


def _ap_summary(gt: Any, results: Any, *, iou_type: str, dets_per_cat: int) -> dict[str, float]:
    from metrics.detection.evaluate import evaluate_lvis

    r = evaluate_lvis(gt, results, iou_type=iou_type, mode="all", dets_per_cat=dets_per_cat).metrics
    out = {k: r[f"standard/{k}"] for k in ("AP", "APr", "APc", "APf")}
    out["AP-Fixed"] = r["fixed/AP"]
    for p in ("all", "r", "c", "f"):
        out["AP-Pool" if p == "all" else f"AP-Pool-{p}"] = r[f"pooled/AP-pooled-{p}"]
    return out


def detection_calibration_report(gt: Any, results: Any, *, iou_threshold: float = 0.75, n_bins: int = 20,
                                 group_by: str = "frequency", iou_type: str = "bbox", dets_per_cat: int = 10000,
                                 matching: str = "greedy", ignored: str = "exclude",
                                 features: Sequence[str] = (), feature_bins: int = 4,
                                 min_bin_count: int | None = None,
                                 calibrator: Any = None) -> DetectionCalibrationReport:
    """Calibration audit of a detector: D-ECE / MCE overall, per frequency group and per class.

    Detections are labelled by :func:`label_detections` (LVIS matching at
    ``iou_threshold``); then, for each group, D-ECE = Σ_b (n_b/N′)|precision_b − conf_b|
    over joint bins of ``n_bins`` equal-width confidence bins (calibration.md §2) ×
    ``feature_bins`` per box feature in ``features`` ⊂ {cx, cy, w, h}, keeping the bins
    with n_b ≥ ``min_bin_count`` (default 1, or 10 with features). Keys follow Dave et al.
    (``lvdevil/calib.py``): ``ece-overall``, ``ece-per-class``, ``ece-freq-{r,c,f}``,
    ``ece-per-class-{r,c,f}``, plus ``mce-*`` and ``sparse_mass``.

    Parameters
    ----------
    gt, results
        As in :func:`metrics.evaluate_lvis`.
    iou_threshold, iou_type, dets_per_cat, matching, ignored
        As in :func:`label_detections`.
    n_bins : int
        Confidence bins (20, as the authors).
    group_by : {"frequency", "overall", "category"}
        Groups of the reliability diagrams (``report.plot()``).
    features : sequence of {"cx", "cy", "w", "h"}
    feature_bins : int
    min_bin_count : int, optional
    calibrator : fitted :class:`reference_models.DetectionCalibrator`, optional
        When given, ``results`` are also calibrated (``calibrator.transform``) and the
        report adds the audit of the calibrated results and AP / AP-Fixed / AP-Pool
        before and after.

    Returns
    -------
    DetectionCalibrationReport
    """
    check_option(group_by, "group_by", ("frequency", "overall", "category"))
    check_option(iou_type, "iou_type", ("bbox", "segm"))
    n_bins = check_int(n_bins, "n_bins", min_value=1)
    feature_bins = check_int(feature_bins, "feature_bins", min_value=1)
    if isinstance(features, str):
        features = (features,)
    features = tuple(features)
    for name in features:
        check_option(name, "features", FEATURES)
    if len(set(features)) != len(features):
        raise InputError(f"features must not repeat a name; got {features!r}")
    if min_bin_count is None:
        min_bin_count = 10 if features else 1
    min_bin_count = check_int(min_bin_count, "min_bin_count", min_value=1)
    label_kw = dict(iou_threshold=iou_threshold, iou_type=iou_type, dets_per_cat=dets_per_cat, matching=matching,
                    ignored=ignored)
    audit_kw = dict(n_bins=n_bins, features=features, feature_bins=feature_bins, min_bin_count=min_bin_count,
                    group_by=group_by)
    dm, keep, tp = _labels(gt, results, **label_kw)
    if not keep.any():
        raise InputError("results have no labelled detections (after the federated filter and the ignored rule)")
    metrics, per_category, reliability, n, n_tp = _audit(dm, keep, tp, **audit_kw)
    params = {**label_kw, **{k: v for k, v in audit_kw.items() if k != "features"}, "features": list(features)}
    extra: dict[str, Any] = {}
    if calibrator is not None:
        if not hasattr(calibrator, "transform"):
            raise InputError(f"calibrator must be a fitted DetectionCalibrator; got {type(calibrator).__name__}")
        calibrated = calibrator.transform(results)
        dm2, keep2, tp2 = _labels(gt, calibrated, **label_kw)
        after, _, rel_after, _, _ = _audit(dm2, keep2, tp2, **audit_kw)
        extra = {"metrics_after": after, "reliability_after": rel_after,
                 "ap_before": _ap_summary(gt, results, iou_type=iou_type, dets_per_cat=dets_per_cat),
                 "ap_after": _ap_summary(gt, calibrated, iou_type=iou_type, dets_per_cat=dets_per_cat)}
        params["calibrator"] = repr(calibrator)
    return DetectionCalibrationReport(metrics=metrics, per_category=per_category, reliability=reliability,
                                      n_detections=n, n_matched=n_tp, params=params,
                                      warnings=tuple(dm.warnings), **extra)
