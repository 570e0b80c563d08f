"""LInCo of a prediction matrix: :func:`linco` and :func:`linco_report`.

Status: reimplementation of Wang et al., *Equality before the Law: Legal Judgment
Consistency Analysis for Fairness* (arXiv:2103.13868, 2021) from its abstract; the
dispersions, the baseline correction and all defaults are metricprobe's choices.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.validation import check_fraction
from metrics.group_consistency._dispersion import (
    Dispersion,
    DispersionFunction,
    Task,
    _callable_labels,
    as_prediction_matrix,
    dispersion_name,
    is_tensor,
    per_case_values,
    resolve_dispersion,
    tensor_per_case,
)
from metrics.group_consistency.report import LincoReport

if TYPE_CHECKING:
    import torch

BaselineMode = Literal["subtract", "ratio"]
OnUndefined = Literal["raise", "nan"]
Baseline = npt.ArrayLike | Sequence[npt.ArrayLike] | None

__all__ = ["combine_with_baseline", "linco", "linco_report", "mean_of_included"]

def mean_of_included(per_case: np.ndarray, on_undefined: str, name: str) -> tuple[float, int]:
    """Mean of the defined per-case values (NaN marks a skipped case) and the number skipped."""
    included = ~np.isnan(per_case)
    n_skipped = int(per_case.size - included.sum())
    if n_skipped == per_case.size:
        if on_undefined == "nan":
            return math.nan, n_skipped
        raise InputError(f"{name}: the dispersion is undefined for every one of the {per_case.size} cases "
                         "(cv_pop needs a case mean > 0); pass on_undefined='nan' to get NaN instead")
    values = per_case[included]
    with np.errstate(over="ignore"):
        mean = float(values.mean())
    if math.isinf(mean):  # the sum overflowed; the mean of finite values is finite
        scale = float(np.ldexp(1.0, np.frexp(np.abs(values).max())[1] - 1))
        mean = float((values / scale).mean()) * scale
    return mean, n_skipped


def _per_case(predictions: object, task: str, dispersion: str | DispersionFunction,
              name: str) -> tuple[np.ndarray, tuple[int, int]]:
    """(N,) per-case values on the host; a torch tensor is computed on its device first."""
    if is_tensor(predictions) and not callable(dispersion):
        tensor = typing.cast("torch.Tensor", predictions)
        values = tensor_per_case(tensor, task=task, dispersion=dispersion, name=name)
        return values.cpu().numpy(), (int(tensor.shape[0]), int(tensor.shape[1]))
    matrix = as_prediction_matrix(predictions, name, task)
    labels = _callable_labels(predictions, matrix, task) if callable(dispersion) else None
    return per_case_values(matrix, task=task, dispersion=dispersion, name=name, labels=labels), matrix.shape


def _raw(predictions: object, task: str, dispersion: str | DispersionFunction, on_undefined: str,
         name: str) -> tuple[float, np.ndarray, int, tuple[int, int]]:
    per_case, shape = _per_case(predictions, task, dispersion, name)
    raw, n_skipped = mean_of_included(per_case, on_undefined, name)
    return raw, per_case, n_skipped, shape


def _baseline_list(baseline: Baseline) -> list[object]:
    """None → []; one (K', N) array → [it]; an (R, K', N) array or a sequence of (K', N) → list."""
    if baseline is None:
        return []
    if isinstance(baseline, (list, tuple)):
        if len(baseline) == 0:
            raise InputError("baseline must be None, a (K', N) array or a non-empty sequence of them; got []")
        if all(np.ndim(b) == 2 for b in baseline):
            return list(baseline)
        return [baseline]
    if np.ndim(baseline) == 3:  # type: ignore[arg-type]
        return [baseline[r] for r in range(len(baseline))]  # type: ignore[index, arg-type]
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


@validate_options
def linco_report(predictions: npt.ArrayLike, *, task: Task = "regression", dispersion: Dispersion = None,
                 baseline: Baseline = None, baseline_mode: BaselineMode = "subtract",
                 on_undefined: OnUndefined = "raise", ci_level: float = 0.95) -> LincoReport:
    """LInCo of a (K, N) prediction matrix with its per-case values and baseline.

    Same parameters as :func:`linco`, plus ``ci_level`` for the interval computed when
    ``baseline`` holds at least two matrices. Returns a :class:`LincoReport`.
    """
    resolved = resolve_dispersion(dispersion, task)
    ci_level = check_fraction(ci_level, "ci_level")
    raw, per_case, n_skipped, (K, N) = _raw(predictions, task, resolved, on_undefined, "predictions")
    baseline_values: list[float] = []
    baselines = _baseline_list(baseline)
    for r, b in enumerate(baselines):
        bname = "baseline" if len(baselines) == 1 else f"baseline[{r}]"
        b_raw, _, _, (_, Nb) = _raw(b, task, resolved, on_undefined, bname)
        if Nb != N:
            raise InputError(f"{bname} must cover the same N = {N} cases as predictions; got {Nb} columns")
        baseline_values.append(b_raw)
    value, mean, lo, hi = combine_with_baseline(raw, baseline_values, baseline_mode, ci_level)
    return LincoReport(
        value=float(value), raw=raw, baseline=mean, baseline_values=baseline_values,
        dispersion=dispersion_name(resolved), task=task, groups=list(range(K)), group_train_sizes=None,
        n_eval=N, per_case=per_case, n_skipped=n_skipped,
        baseline_mode=baseline_mode if baseline_values else None,
        ci_low=lo, ci_high=hi, ci_level=ci_level,
    )


@validate_options
def linco(predictions: npt.ArrayLike, *, task: Task = "regression", dispersion: Dispersion = None,
          baseline: Baseline = None, baseline_mode: BaselineMode = "subtract",
          on_undefined: OnUndefined = "raise") -> float:
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
        Classification: integer or string labels (charges). A torch tensor is computed in
        torch on its device (same value as the numpy path to 1e-12).
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
