"""Post-hoc calibration of a detector's scores (LVIS or COCO ground truth).

Dave, Dollár, Ramanan, Kirillov & Girshick, "Evaluating Large-Vocabulary Object
Detectors: The Devil is in the Details", arXiv 2102.01066 (``scripts/train_calibration.py``):
label the detections of a training results file TP / FP with the LVIS (or COCO)
matching at one IoU threshold, fit a calibrator of P(TP | score) per class, per frequency group or
overall, and apply it to another results file. Calibration re-ranks detections *across*
classes, which is what AP-Pool rewards; a strictly increasing per-class map with exact
tie breaking leaves every class's ranking, hence per-class AP and AP-Fixed, unchanged.

The calibrators are those of :mod:`reference_models.calibrators` on the 1-D score:
``histogram`` (equal-width :class:`HistogramBinning`), ``platt`` (:class:`PlattScaling`),
``isotonic`` (:class:`IsotonicCalibration`) and ``temperature``
(:class:`TemperatureScaling` on logit(clip(s, 1e-12, 1 − 1e-12))).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, check_bool, check_int, check_option, check_same_length
from metrics.detection import FREQUENCIES, detection_categories, iter_detection_chunks, label_detections
from metrics.detection.inputs import GroundTruthInput, ResultsInput
from reference_models.calibrators import HistogramBinning, IsotonicCalibration, PlattScaling, TemperatureScaling

__all__ = ["DetectionCalibrator"]

METHODS = ("histogram", "platt", "isotonic", "temperature")
PER = ("class", "frequency", "overall")
STRATEGIES = ("zero", "keep", "frequency")
_FREQS = FREQUENCIES
Strategy = Literal["zero", "keep", "frequency"]
_Calibrator = HistogramBinning | PlattScaling | IsotonicCalibration | TemperatureScaling


def _logit(s: np.ndarray) -> np.ndarray:
    c = np.clip(s, 1e-12, 1.0 - 1e-12)
    return np.log(c) - np.log1p(-c)


def rank_preserving(calibrated: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Break ties so the order is exactly lexicographic in (calibrated, original).

    1. Sort by (calibrated, original) ascending.
    2. Walk up: a detection with the previous key takes the previous value; otherwise
       max(its calibrated value, nextafter(previous, +inf)).
    3. Walk down from the top: the top is capped at 1 and each value becomes
       min(value, nextafter(the next one up, −inf)); equal keys keep equal values.

    For non-negative doubles the bit pattern read as int64 is monotone and nextafter is
    ±1 on it, so both walks are running max / min of (bits − key rank): vectorised,
    O(N log N) for the sort. Every value stays in [0, 1]; the change is a few ulps.
    """
    c = np.asarray(calibrated, dtype=np.float64) + 0.0  # −0.0 → +0.0
    o = np.asarray(original, dtype=np.float64)
    if c.size == 0:
        return c.copy()
    order = np.lexsort((o, c))
    cs, os_ = c[order], o[order]
    new_key = np.r_[True, (cs[1:] != cs[:-1]) | (os_[1:] != os_[:-1])]
    key_of = np.cumsum(new_key) - 1
    bits = cs[new_key].view(np.int64)
    k = np.arange(bits.size, dtype=np.int64)
    up = k + np.maximum.accumulate(bits - k)  # u_k = max(b_k, u_{k-1} + 1)
    one = np.array(1.0).view(np.int64)
    down = np.minimum.accumulate((up - k)[::-1])[::-1]  # w_k = min(u_k, w_{k+1} − 1), w_K ≤ bits(1)
    final = k + np.minimum(down, one - k[-1])
    out = np.empty_like(c)
    out[order] = final.view(np.float64)[key_of]
    return out


class DetectionCalibrator:
    """Per-class / per-frequency / overall score calibration of a detector.

    Parameters
    ----------
    method : {"histogram", "platt", "isotonic", "temperature"}
    per : {"class", "frequency", "overall"}
        One calibrator per category, per LVIS frequency group (r, c, f), or one for all.
        COCO ground truth has no frequency groups: ``per="frequency"`` is refused, and
        the ``"frequency"`` fallback of ``no_tp`` / ``missing`` uses the overall
        calibrator.
    n_bins : int
        Equal-width bins of ``histogram`` (20).
    no_tp, missing : {"zero", "keep", "frequency"}
        For a group whose training detections hold no TP (``no_tp``) or that has no
        training detections (``missing``): the score becomes 0, stays as it is, or goes
        through the category's frequency-group calibrator. A frequency group that cannot
        be fitted itself (no detections or no TP) falls back to the overall calibrator.
    maintain_rank : bool
        Break ties of the calibrated scores by the original score, exactly
        (:func:`rank_preserving`), so each class's ranking survives a non-decreasing map.

    Attributes
    ----------
    categories_ : dict
        Category id → frequency of the ground truth used at fit time.
    assignment_ : dict
        Category id → the calibrator used: ``"class"``, ``"frequency:r"``, ``"overall"``,
        ``"zero"`` or ``"keep"``.
    calibrators_ : dict
        Fitted calibrators by key (``"class:<id>"``, ``"frequency:<f>"``, ``"overall"``).

    Examples
    --------
    >>> cal = DetectionCalibrator(method="isotonic", per="class")            # doctest: +SKIP
    >>> cal.fit(gt, train_results).transform(test_results)[0]["score"]      # doctest: +SKIP
    """

    def __init__(self, method: Literal["histogram", "platt", "isotonic", "temperature"] = "histogram",
                 per: Literal["class", "frequency", "overall"] = "class", n_bins: int = 20,
                 no_tp: Strategy = "zero", missing: Strategy = "zero", maintain_rank: bool = True) -> None:
        self.method = check_option(method, "method", METHODS)
        self.per = check_option(per, "per", PER)
        self.n_bins = check_int(n_bins, "n_bins", min_value=1)
        self.no_tp = check_option(no_tp, "no_tp", STRATEGIES)
        self.missing = check_option(missing, "missing", STRATEGIES)
        self.maintain_rank = check_bool(maintain_rank, "maintain_rank")

    def __repr__(self) -> str:
        return (f"DetectionCalibrator(method={self.method!r}, per={self.per!r}, n_bins={self.n_bins}, "
                f"no_tp={self.no_tp!r}, missing={self.missing!r}, maintain_rank={self.maintain_rank})")

    # ------------------------------------------------------------------ one calibrator
    def _fit_one(self, s: np.ndarray, m: np.ndarray) -> _Calibrator:
        y = m.astype(np.int64)
        if self.method == "histogram":
            return HistogramBinning(n_bins=self.n_bins, binning="uniform", scope="positive_class").fit(s, y)
        if self.method == "platt":
            return PlattScaling(scope="positive_class").fit(s, y)
        if self.method == "isotonic":
            return IsotonicCalibration(scope="positive_class").fit(s, y)
        return TemperatureScaling().fit(_logit(s), y)

    def _apply_one(self, cal: _Calibrator, s: np.ndarray) -> np.ndarray:
        if self.method == "temperature":
            return cal.transform(_logit(s))
        return cal.transform(s)

    # ------------------------------------------------------------------ fit
    def fit(self, gt: GroundTruthInput, results: ResultsInput, *, iou_threshold: float = 0.75,
            iou_type: Literal["bbox", "segm"] = "bbox", dets_per_cat: int = 10000,
            dataset: Literal["auto", "lvis", "coco"] = "auto") -> DetectionCalibrator:
        """Label ``results`` on ``gt`` (:func:`metrics.label_detections`, LVIS or COCO) and fit the calibrators."""
        categories = detection_categories(gt, dataset=dataset)
        table = label_detections(gt, results, iou_threshold=iou_threshold, iou_type=iou_type,
                                 dets_per_cat=dets_per_cat, dataset=dataset)
        return self.fit_labels(table["category_id"].to_numpy(), table["score"].to_numpy(),
                               table["matched"].to_numpy(), categories)

    def fit_labels(self, category_ids: npt.ArrayLike, scores: npt.ArrayLike, matched: npt.ArrayLike,
                   categories: Mapping[int, str | None]) -> DetectionCalibrator:
        """Fit on already-labelled detections; ``categories`` maps every category id to r / c / f (None: COCO)."""
        cats = _as_ids(category_ids, "category_ids")
        s = as_float_array(scores, "scores", ndim=1, min_value=0.0, max_value=1.0, allow_empty=True,
                           what="scores")
        m = np.asarray(as_float_array(matched, "matched", ndim=1, allow_empty=True, what="0/1 flags")) > 0.5
        check_same_length(category_ids=cats, scores=s, matched=m)
        if not isinstance(categories, Mapping) or not categories:
            raise InputError("categories must be a non-empty dict of category id → frequency ('r', 'c', 'f')")
        for cid, fr in categories.items():
            check_option(fr, f"categories[{cid}]", (*_FREQS, None))
        if self.per == "frequency" and any(fr is None for fr in categories.values()):
            raise InputError("per='frequency' needs LVIS categories with a frequency; COCO ground truth has none "
                             "(use per='class' or per='overall')")
        known = np.array([int(c) for c in categories], dtype=np.int64)
        unknown = ~np.isin(cats, known)
        if unknown.any():
            raise InputError(f"category_ids must be categories of the ground truth; {int(cats[unknown][0])} is not")
        self.categories_ = {int(c): (None if fr is None else str(fr))
                            for c, fr in sorted(categories.items(), key=lambda kv: int(kv[0]))}
        freq_of = np.array([self.categories_[int(c)] or "" for c in cats], dtype="<U1")
        self.calibrators_: dict[str, _Calibrator] = {}
        status: dict[str, str] = {}  # group key → "fit" / "no_tp" / "missing"

        def fit_group(key: str, rows: np.ndarray) -> str:
            if not rows.any():
                status[key] = "missing"
            elif not m[rows].any():
                status[key] = "no_tp"
            else:
                self.calibrators_[key] = self._fit_one(s[rows], m[rows])
                status[key] = "fit"
            return status[key]

        fit_group("overall", np.ones(s.size, dtype=bool))
        for fr in _FREQS:
            fit_group(f"frequency:{fr}", freq_of == fr)

        def fallback(fr: str | None, strategy: str) -> str:
            if strategy != "frequency":
                return strategy
            if fr is not None and status[f"frequency:{fr}"] == "fit":
                return f"frequency:{fr}"
            if status["overall"] == "fit":
                return "overall"
            raise InputError("results hold no true positive at this IoU threshold: there is nothing to "
                             "calibrate with (no_tp / missing = 'frequency')")

        self.assignment_: dict[int, str] = {}
        if self.per in ("overall", "frequency"):
            for c, fr in self.categories_.items():
                group = "overall" if self.per == "overall" else f"frequency:{fr}"
                st = status[group]
                if st == "fit":
                    self.assignment_[c] = group
                    continue
                strategy = self.no_tp if st == "no_tp" else self.missing
                if strategy == "frequency":  # the group itself is unfit: the overall calibrator
                    if status["overall"] != "fit":
                        raise InputError("results hold no true positive at this IoU threshold: there is "
                                         "nothing to calibrate with (no_tp / missing = 'frequency')")
                    strategy = "overall"
                self.assignment_[c] = strategy
        else:
            order = np.argsort(cats, kind="stable")
            uniq, starts = np.unique(cats[order], return_index=True)
            ends = np.r_[starts[1:], order.size]
            rows_of = {int(c): order[a:b] for c, a, b in zip(uniq, starts, ends)}
            for c, fr in self.categories_.items():  # a loop over categories, not detections
                rows = rows_of.get(c)
                if rows is None:
                    self.assignment_[c] = fallback(fr, self.missing)
                elif not m[rows].any():
                    self.assignment_[c] = fallback(fr, self.no_tp)
                else:
                    self.calibrators_[f"class:{c}"] = self._fit_one(s[rows], m[rows])
                    self.assignment_[c] = f"class:{c}"
        used = set(self.assignment_.values())
        self.calibrators_ = {k: v for k, v in self.calibrators_.items() if k in used}
        return self

    # ------------------------------------------------------------------ transform
    def transform_scores(self, category_ids: npt.ArrayLike, scores: npt.ArrayLike) -> np.ndarray:
        """Calibrated scores (N,) of detections given as arrays (category id, score in [0, 1])."""
        if not hasattr(self, "assignment_"):
            raise InputError("DetectionCalibrator is not fitted; call fit(...) first")
        cats = _as_ids(category_ids, "category_ids")
        s = as_float_array(scores, "scores", ndim=1, min_value=0.0, max_value=1.0, allow_empty=True,
                           what="scores")
        check_same_length(category_ids=cats, scores=s)
        known = np.fromiter(self.assignment_, dtype=np.int64)
        unknown = ~np.isin(cats, known)
        if unknown.any():
            raise InputError(f"category_ids must be categories known at fit time; {int(cats[unknown][0])} is not "
                             "(train and test results must share the ground truth's category set)")
        keys = sorted(set(self.assignment_.values()))
        key_index = {k: i for i, k in enumerate(keys)}
        sorted_ids = np.sort(known)
        code_of_cat = np.array([key_index[self.assignment_[int(c)]] for c in sorted_ids], dtype=np.int64)
        code = code_of_cat[np.searchsorted(sorted_ids, cats)]
        out = np.empty_like(s)
        order = np.argsort(code, kind="stable")
        uniq, starts = np.unique(code[order], return_index=True)
        ends = np.r_[starts[1:], order.size]
        for ci, a, b in zip(uniq, starts, ends):  # one vectorised call per calibrator
            rows = order[a:b]
            key = keys[int(ci)]
            if key == "zero":
                out[rows] = 0.0
            elif key == "keep":
                out[rows] = s[rows]
            else:
                out[rows] = self._apply_one(self.calibrators_[key], s[rows])
        if self.maintain_rank:
            out = rank_preserving(out, s)
        return out

    def transform(self, results: ResultsInput) -> list[dict]:
        """New detection dicts with calibrated ``score`` (``results``: list of dicts or a JSON / JSONL path)."""
        records = [d for chunk in iter_detection_chunks(results) for d in chunk]  # type: ignore[arg-type]
        for _i, d in enumerate(records[:1] + records[-1:]):
            if not isinstance(d, dict):
                raise InputError(f"results must hold detection dicts; found {type(d).__name__}")
        try:
            cats = [d["category_id"] for d in records]
            scores = [d["score"] for d in records]
        except KeyError as exc:
            raise InputError(f"results: every detection needs {exc.args[0]!r}") from None
        except TypeError:
            raise InputError("results must hold detection dicts") from None
        new = self.transform_scores(cats, scores)
        return [{**d, "score": float(v)} for d, v in zip(records, new)]


def _as_ids(values: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values) if not hasattr(values, "to_numpy") else values.to_numpy()
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of integer category ids; got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        try:
            as_int = arr.astype(np.int64)
        except (TypeError, ValueError):
            raise InputError(f"{name} must hold integer category ids; found dtype {arr.dtype}") from None
        if arr.dtype.kind == "f" and not np.array_equal(as_int, arr):
            raise InputError(f"{name} must hold integer category ids; found non-integral values")
        return as_int
    return arr.astype(np.int64, copy=False)
