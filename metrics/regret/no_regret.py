"""Statistical "no-regret" tests on a regret curve (after Park et al., ICLR 2025, Sec. 3).

Park et al.'s exact statistic, evaluation grid and the handling of R_t ≤ 0 could not
be checked (only the abstract was available); this is a documented reimplementation.
The evaluation points, the one-sided p-values and the R_t ≤ 0 filter all change the
verdict, so the result always reports them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.report import Report
from metrics.core.validation import as_float_array, check_fraction, check_int, to_numpy

__all__ = ["NoRegretTestResult", "no_regret_test"]


@dataclasses.dataclass(frozen=True)
class NoRegretTestResult(Report):
    """Result of :func:`no_regret_test`.

    Attributes
    ----------
    trend_statistic : int
        s = #{k < m : R_{t_{k+1}}/t_{k+1} < R_{t_k}/t_k} (strict decreases of R_t / t).
    trend_n : int
        n = m − 1 comparisons.
    trend_p_value : float
        One-sided P[Bin(n, ½) ≥ s].
    slope, intercept : float or None
        OLS fit log R_t = slope · log t + intercept over evaluation points with R_t > 0.
    n_points : int
        Number of evaluation points with R_t > 0 used by the fit.
    slope_p_value : float or None
        One-sided t-test of H0: slope ≥ 1 (df = n_points − 2; None when n_points < 3).
    trend_significant : bool
        trend_p_value < alpha.
    sublinear : bool or None
        slope < 1 (None without a fit).
    nonpositive : bool
        All R_t ≤ 0 on the evaluation points (trivially no regret).
    alpha : float
    eval_points : numpy.ndarray
        The 1-based rounds t_1 < … < t_m used.
    """

    trend_statistic: int
    trend_n: int
    trend_p_value: float
    slope: float | None
    intercept: float | None
    n_points: int
    slope_p_value: float | None
    trend_significant: bool
    sublinear: bool | None
    nonpositive: bool
    alpha: float
    eval_points: np.ndarray = dataclasses.field(repr=False)

    @property
    def verdict(self) -> str:
        """One line: what the two tests say."""
        if self.nonpositive:
            return "no regret (R_t ≤ 0 at every evaluation point)"
        parts = []
        parts.append(f"R_t/t decreasing: {'yes' if self.trend_significant else 'not significant'} "
                     f"(p = {self.trend_p_value:.3g})")
        if self.slope is None:
            parts.append(f"log-log slope: undefined ({self.n_points} points with R_t > 0)")
        else:
            p = "" if self.slope_p_value is None else f", p(slope ≥ 1) = {self.slope_p_value:.3g}"
            parts.append(f"log-log slope {self.slope:.3f} ({'sublinear' if self.sublinear else 'not sublinear'}{p})")
        return "; ".join(parts)


def resolve_eval_points(eval_points: Any, n_rounds: int) -> np.ndarray:
    """1-based evaluation rounds: None → 1..T; int k → k, 2k, … ≤ T; a sequence is used as given."""
    if eval_points is None:
        return np.arange(1, n_rounds + 1)
    if isinstance(eval_points, (int, np.integer)) and not isinstance(eval_points, bool):
        k = check_int(eval_points, "eval_points", min_value=1, max_value=n_rounds)
        return np.arange(k, n_rounds + 1, k)
    arr = to_numpy(eval_points, "eval_points")
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"eval_points must be None, an int, or a non-empty 1-D sequence of rounds; "
                         f"got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise InputError("eval_points must hold integer rounds; found a non-integer value")
    if arr.dtype.kind not in "iuf":
        raise InputError(f"eval_points must hold integer rounds; found dtype {arr.dtype}")
    pts = arr.astype(np.int64)
    if pts[0] < 1 or pts[-1] > n_rounds:
        raise InputError(f"eval_points must be 1-based rounds in [1, {n_rounds}]; "
                         f"got values from {pts.min()} to {pts.max()}")
    if np.any(np.diff(pts) <= 0):
        i = int(np.flatnonzero(np.diff(pts) <= 0)[0])
        raise InputError(f"eval_points must be strictly increasing; element {i + 1} ({pts[i + 1]}) "
                         f"follows {pts[i]}")
    return pts


def no_regret_test(curve: Any, *, eval_points: Any = None, alpha: float = 0.05) -> NoRegretTestResult:
    r"""Trend and log-log regression tests of a regret curve.

    Let E = (t_1 < … < t_m) be the evaluation points (``eval_points``: None = every round,
    int k = k, 2k, …, or an increasing sequence of 1-based rounds) and R_t = ``curve[t-1]``.

    - Trend test (H0: R_t/t does not decrease systematically):
      :math:`s = \#\{k<m: R_{t_{k+1}}/t_{k+1} < R_{t_k}/t_k\}`, n = m − 1,
      p = P[Bin(n, ½) ≥ s] = ``scipy.stats.binom.sf(s - 1, n, 0.5)``.
    - Regression test: OLS of log R_t = β₀ log t + β₁ over t ∈ E with R_t > 0; ``sublinear``
      is β₀ < 1, and (our addition) a one-sided t-test of H0: β₀ ≥ 1 with df = n_points − 2.

    Reimplementation of Park et al., *Do LLM Agents Have Regret?* (ICLR 2025); their exact
    test details are unverified.
    """
    from scipy import stats

    r = as_float_array(curve, "curve", ndim=1, what="regrets (a 1-D curve)")
    alpha = check_fraction(alpha, "alpha")
    pts = resolve_eval_points(eval_points, r.shape[0])
    values = r[pts - 1]
    ratios = values / pts
    s = int(np.count_nonzero(ratios[1:] < ratios[:-1]))
    n = int(pts.shape[0] - 1)
    trend_p = float(stats.binom.sf(s - 1, n, 0.5))

    positive = values > 0
    n_points = int(np.count_nonzero(positive))
    slope = intercept = slope_p = None
    if n_points >= 2:
        x = np.log(pts[positive].astype(np.float64))
        y = np.log(values[positive])
        fit = stats.linregress(x, y)
        slope, intercept = float(fit.slope), float(fit.intercept)
        if n_points >= 3:
            if fit.stderr > 0:
                slope_p = float(stats.t.cdf((slope - 1.0) / fit.stderr, df=n_points - 2))
            else:  # a perfect line: the slope is known exactly
                slope_p = 0.0 if slope < 1.0 else 1.0
    return NoRegretTestResult(
        trend_statistic=s, trend_n=n, trend_p_value=trend_p, slope=slope, intercept=intercept,
        n_points=n_points, slope_p_value=slope_p, trend_significant=bool(trend_p < alpha),
        sublinear=None if slope is None else bool(slope < 1.0),
        nonpositive=bool(np.all(values <= 0)), alpha=alpha, eval_points=pts)
