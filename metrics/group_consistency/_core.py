"""LInCo of a prediction matrix: :func:`linco`, :func:`linco_report` and :class:`LincoReport`.

Status: reimplementation of Wang et al., *Equality before the Law: Legal Judgment
Consistency Analysis for Fairness* (arXiv:2103.13868, 2021) from its abstract; the
dispersions, the baseline correction and all defaults are metricprobe's choices.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.report import Report
from metrics.core.validation import check_fraction, check_option
from metrics.group_consistency._dispersion import (
    _callable_labels,
    as_prediction_matrix,
    check_task,
    dispersion_name,
    per_case_values,
    resolve_dispersion,
)

__all__ = ["LincoReport", "linco", "linco_report"]

STATUS = "reimplementation"


@dataclasses.dataclass(frozen=True, eq=False)
class LincoReport(Report):
    """Result of :func:`linco_report` / :func:`linco_from_data`.

    Attributes
    ----------
    value : float
        The corrected LInCo: ``raw - baseline`` (``"subtract"``), ``raw / baseline``
        (``"ratio"``), or ``raw`` when there is no baseline.
    raw : float
        Mean per-case dispersion of the group models' predictions.
    baseline : float or None
        Mean LInCo of the random-split (or given) baseline matrices.
    baseline_values : list of float
        LInCo of each baseline matrix.
    ci_low, ci_high : float or None
        Interval for ``value`` at ``ci_level`` from the spread of the baseline values
        (needs ≥ 2 of them): ``value ± t_{R-1} s_B sqrt(1 + 1/R)`` for ``"subtract"``,
        the same bounds divided by the baseline mean for ``"ratio"``. When the groups
        carry no inconsistency, ``raw`` and the R baseline values are exchangeable
        draws, so the interval covers the null value (0, or 1 for ratio) with
        probability ``ci_level``. It reflects training/split noise only, not the
        sampling of the evaluation cases (our choice; the paper reports no interval).
    per_case : numpy.ndarray
        (N,) per-case dispersion of the raw matrix; NaN marks a case skipped by ``cv_pop``.
    n_skipped : int
        Cases skipped because D is undefined there (``cv_pop`` with mean 0).
    groups : list
        Group labels in row order (row indices for a bare matrix).
    group_train_sizes : list of int or None
        Training cases per group model (``linco_from_data`` only).
    status : str
        ``"reimplementation"`` until the paper's text or code is checked.
    """

    value: float
    raw: float
    baseline: float | None
    baseline_values: list[float]
    dispersion: str
    task: str
    groups: list[Any]
    group_train_sizes: list[int] | None
    n_eval: int
    per_case: np.ndarray
    n_skipped: int
    baseline_mode: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float = 0.95
    status: str = STATUS

    def to_frame(self):
        """One row of the scalar fields plus the number of groups."""
        frame = super().to_frame()
        frame["n_groups"] = len(self.groups)
        return frame

    def plot(self, ax=None):
        """Histogram of the per-case dispersion with the raw mean and the baseline mean."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        values = self.per_case[np.isfinite(self.per_case)]
        ax.hist(values, bins=min(50, max(5, int(np.sqrt(values.size)))), color="0.7", edgecolor="0.4")
        ax.axvline(self.raw, color="C3", label=f"raw LInCo {self.raw:.4g}")
        if self.baseline is not None and np.isfinite(self.baseline):
            ax.axvline(self.baseline, color="C0", ls="--", label=f"baseline {self.baseline:.4g}")
        ax.set_xlabel(f"per-case dispersion ({self.dispersion})")
        ax.set_ylabel("cases")
        ax.set_title(f"LInCo = {self.value:.4g} ({self.task}, K = {len(self.groups)})")
        ax.legend(loc="upper right", fontsize="small")
        return ax


def mean_of_included(per_case: np.ndarray, on_undefined: str, name: str) -> tuple[float, int]:
    included = ~np.isnan(per_case)
    n_skipped = int(per_case.size - included.sum())
    if n_skipped == per_case.size:
        if on_undefined == "nan":
            return math.nan, n_skipped
        raise InputError(f"{name}: the dispersion is undefined for every one of the {per_case.size} cases "
                         "(cv_pop needs a case mean > 0); pass on_undefined='nan' to get NaN instead")
    return float(per_case[included].mean()), n_skipped


def _raw(predictions: Any, task: str, dispersion, on_undefined: str, name: str):
    matrix = as_prediction_matrix(predictions, name, task)
    labels = _callable_labels(predictions, matrix, task) if callable(dispersion) else None
    per_case = per_case_values(matrix, task=task, dispersion=dispersion, name=name, labels=labels)
    raw, n_skipped = mean_of_included(per_case, on_undefined, name)
    return raw, per_case, n_skipped, matrix.shape


def _baseline_list(baseline: Any) -> list[Any]:
    """None → []; one (K', N) array → [it]; an (R, K', N) array or a sequence of (K', N) → list."""
    if baseline is None:
        return []
    if isinstance(baseline, (list, tuple)):
        if len(baseline) == 0:
            raise InputError("baseline must be None, a (K', N) array or a non-empty sequence of them; got []")
        if all(np.ndim(b) == 2 for b in baseline):
            return list(baseline)
        return [baseline]
    if np.ndim(baseline) == 3:
        return [baseline[r] for r in range(len(baseline))]
    return [baseline]


def combine_with_baseline(raw: float, baseline_values: Sequence[float], mode: str,
                          ci_level: float) -> tuple[float, float | None, float | None, float | None]:
    """(value, baseline mean, ci_low, ci_high) from the raw LInCo and the baseline LInCos."""
    if not baseline_values:
        return raw, None, None, None
    values = np.asarray(baseline_values, dtype=np.float64)
    mean = float(values.mean())
    if mode == "ratio" and mean == 0.0:
        raise InputError("baseline has mean LInCo 0, so baseline_mode='ratio' is undefined; "
                         "use baseline_mode='subtract'")
    value = raw - mean if mode == "subtract" else raw / mean
    lo = hi = None
    R = values.size
    if R >= 2 and np.isfinite(value):
        from scipy import stats

        half = float(stats.t.ppf(0.5 + ci_level / 2, R - 1) * values.std(ddof=1) * math.sqrt(1 + 1 / R))
        lo, hi = raw - mean - half, raw - mean + half
        if mode == "ratio":
            lo, hi = (raw - half) / mean, (raw + half) / mean
    return value, mean, lo, hi


def _options(task, dispersion, baseline_mode, on_undefined):
    task = check_task(task)
    dispersion = resolve_dispersion(dispersion, task)
    check_option(baseline_mode, "baseline_mode", ("subtract", "ratio"))
    check_option(on_undefined, "on_undefined", ("raise", "nan"))
    return task, dispersion


def linco_report(predictions: Any, *, task: str = "regression", dispersion: str | Callable | None = None,
                 baseline: Any = None, baseline_mode: str = "subtract", on_undefined: str = "raise",
                 ci_level: float = 0.95) -> LincoReport:
    """LInCo of a (K, N) prediction matrix with its per-case values and baseline.

    Same parameters as :func:`linco`, plus ``ci_level`` for the interval computed when
    ``baseline`` holds at least two matrices. Returns a :class:`LincoReport`.
    """
    task, dispersion = _options(task, dispersion, baseline_mode, on_undefined)
    ci_level = check_fraction(ci_level, "ci_level")
    raw, per_case, n_skipped, (K, N) = _raw(predictions, task, dispersion, on_undefined, "predictions")
    baseline_values = []
    baselines = _baseline_list(baseline)
    for r, b in enumerate(baselines):
        bname = "baseline" if len(baselines) == 1 else f"baseline[{r}]"
        b_raw, _, _, (_, Nb) = _raw(b, task, dispersion, on_undefined, bname)
        if Nb != N:
            raise InputError(f"{bname} must cover the same N = {N} cases as predictions; got {Nb} columns")
        baseline_values.append(b_raw)
    value, mean, lo, hi = combine_with_baseline(raw, baseline_values, baseline_mode, ci_level)
    return LincoReport(
        value=float(value), raw=raw, baseline=mean, baseline_values=baseline_values,
        dispersion=dispersion_name(dispersion), task=task, groups=list(range(K)), group_train_sizes=None,
        n_eval=N, per_case=per_case, n_skipped=n_skipped,
        baseline_mode=baseline_mode if baseline_values else None,
        ci_low=lo, ci_high=hi, ci_level=ci_level,
    )


def linco(predictions: Any, *, task: str = "regression", dispersion: str | Callable | None = None,
          baseline: Any = None, baseline_mode: str = "subtract", on_undefined: str = "raise") -> float:
    r"""Legal Inconsistency Coefficient of a (K groups × N cases) prediction matrix.

    .. math::

        \mathrm{LInCo}(P) = \frac{1}{|J|} \sum_{j \in J} D(p_{1j}, \dots, p_{Kj})

    where row k holds the outputs of the model trained on group k's cases only, all
    rows judge the same N cases, and J holds the cases where D is defined (all but
    those ``cv_pop`` skips). Wang et al., *Equality before the Law* (arXiv:2103.13868).
    Status: reimplementation from the paper's abstract; D and the baseline are ours.

    Parameters
    ----------
    predictions : array-like, shape (K, N)
        K ≥ 2 model rows, N ≥ 1 case columns. Regression: finite numbers (prison terms).
        Classification: integer or string labels (charges).
    task : {"regression", "classification"}
    dispersion : str or callable, optional
        Regression (x̄ the case mean over the K models):

        - ``"var_pop"``: (1/K) Σ (x_k − x̄)² (ddof 0);
        - ``"std_pop"``: √var_pop;
        - ``"std_log1p"`` (default): std_pop of log(1 + x_k), needs x_k > −1;
        - ``"cv_pop"``: std_pop / x̄; cases with x̄ = 0 are skipped, x̄ < 0 raises;
        - ``"mean_abs_pairwise"``: (2 / (K(K−1))) Σ_{a<b} |x_a − x_b|, O(K log K) per case.

        Classification (n_c the number of models choosing label c):

        - ``"pairwise_disagreement"`` (default): 1 − Σ_c n_c(n_c − 1) / (K(K−1));
        - ``"one_minus_majority_fraction"``: 1 − max_c n_c / K.

        A callable ``f(P) -> (N,)`` receives the (read-only) matrix; non-finite output raises.
    baseline : None, array-like (K', N), or a sequence / (R, K', N) stack of them
        Predictions of models trained on random splits of the pooled data, on the same
        N cases. Their mean LInCo is removed according to ``baseline_mode``.
    baseline_mode : {"subtract", "ratio"}
        ``raw − mean_r LInCo(B_r)`` (default, never clipped) or ``raw / mean_r LInCo(B_r)``.
    on_undefined : {"raise", "nan"}
        What to do when every case is skipped.

    Returns
    -------
    float

    Raises
    ------
    InputError
        Not 2-D, K < 2, non-finite regression values, x ≤ −1 with ``std_log1p``, a
        negative case mean with ``cv_pop``, every case skipped, an unknown or
        wrong-task dispersion, a baseline whose N differs, or a zero baseline with ``"ratio"``.

    Examples
    --------
    >>> linco([[6, 12], [12, 12], [24, 12]], dispersion="var_pop")
    28.0
    """
    return linco_report(predictions, task=task, dispersion=dispersion, baseline=baseline,
                        baseline_mode=baseline_mode, on_undefined=on_undefined).value
