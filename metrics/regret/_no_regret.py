"""Statistical "no-regret" tests on a regret curve (after Park et al., ICLR 2025, Sec. 3).

Park et al.'s exact statistic, evaluation grid and the handling of R_t ≤ 0 could not
be checked (only the abstract was available); this is a documented reimplementation.
The evaluation points, the one-sided p-values and the R_t ≤ 0 filter all change the
verdict, so the result always reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, check_fraction, check_int, to_numpy
from metrics.regret.report import DEFAULT_LOG_POINTS, NoRegretTestResult

__all__ = ["EvalPoints", "log_spaced_rounds", "no_regret_test", "resolve_eval_points"]


EvalPoints = Literal["log", "all"] | int | Sequence[int] | npt.NDArray[np.integer] | None


def log_spaced_rounds(n_rounds: int, *, n_points: int = DEFAULT_LOG_POINTS) -> np.ndarray:
    r"""Up to ``n_points`` distinct, log-spaced 1-based rounds from 1 to ``n_rounds``.

    :math:`t_k = \operatorname{round}(T^{k/(m-1)})` for :math:`k = 0, \dots, m-1`, duplicates
    removed (so early rounds, where the grid is denser than 1, appear once). The grid always
    holds t = 1 and t = T; consecutive points are a constant factor apart, so the R_t / t
    compared by the trend test are not dominated by the rounds they share.
    """
    n_rounds = check_int(n_rounds, "n_rounds", min_value=1)
    n_points = check_int(n_points, "n_points", min_value=2)
    if n_rounds == 1:
        return np.ones(1, dtype=np.int64)
    grid = np.round(np.exp(np.linspace(0.0, np.log(n_rounds), n_points))).astype(np.int64)
    grid[0], grid[-1] = 1, n_rounds
    return np.unique(grid)


def resolve_eval_points(eval_points: EvalPoints, n_rounds: int) -> tuple[np.ndarray, str]:
    """1-based evaluation rounds and a description of the rule.

    ``"log"`` (default; ``None`` means the default) → :func:`log_spaced_rounds`; ``"all"`` → 1..T;
    int k → k, 2k, … ≤ T; a sequence is used as given.
    """
    if eval_points is None or (isinstance(eval_points, str) and eval_points == "log"):
        return log_spaced_rounds(n_rounds), f"log-spaced ({DEFAULT_LOG_POINTS} points)"
    if isinstance(eval_points, str):
        if eval_points == "all":
            return np.arange(1, n_rounds + 1), "every round"
        raise InputError(f"eval_points must be 'log', 'all', an int k or an increasing sequence of rounds; "
                         f"got {eval_points!r}")
    if isinstance(eval_points, (int, np.integer)) and not isinstance(eval_points, bool):
        k = check_int(eval_points, "eval_points", min_value=1, max_value=n_rounds)
        return np.arange(k, n_rounds + 1, k), f"every {k}th round"
    arr = to_numpy(eval_points, "eval_points")
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"eval_points must be 'log', 'all', an int, or a non-empty 1-D sequence of rounds; "
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
    return pts, "given"


def no_regret_test(curve: npt.ArrayLike, *, eval_points: EvalPoints = "log",
                   alpha: float = 0.05) -> NoRegretTestResult:
    r"""Trend and log-log regression tests of a regret curve.

    Let E = (t_1 < … < t_m) be the evaluation points and R_t = ``curve[t-1]``. ``eval_points``:

    - ``"log"`` (default, also ``None``): up to 20 log-spaced rounds from 1 to T
      (:func:`log_spaced_rounds`; pass ``log_spaced_rounds(T, n_points=m)`` for another m);
    - ``"all"``: every round. Consecutive R_t share all but one round, so the ratios
      compared by the trend test are strongly autocorrelated and the binomial p-value is
      far too small (1e-100 on a plain Hedge run); use it only to look, not to test;
    - an int k: rounds k, 2k, … ≤ T;
    - an increasing sequence of 1-based rounds, used as given.

    The rounds used and the rule are in the result (``eval_points``, ``eval_points_rule``).

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
    pts, rule = resolve_eval_points(eval_points, r.shape[0])
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
        nonpositive=bool(np.all(values <= 0)), alpha=alpha, eval_points=pts,
        eval_points_rule=rule, curve_at_points=values.copy())
