"""The reports of the regret family: :class:`RegretReport` and :class:`NoRegretTestResult`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from metrics.core.report import Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["NoRegretTestResult", "RegretReport"]

DEFAULT_LOG_POINTS = 20


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
        The 1-based rounds t_1 < … < t_m used (also in :meth:`to_dict`).
    eval_points_rule : str
        How they were chosen: ``"log-spaced (20 points)"`` (the default), ``"every round"``,
        ``"every kth round"`` or ``"given"``.
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
    eval_points_rule: str = "given"
    curve_at_points: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, object]:
        """All fields as plain Python values, with the evaluation rounds and the verdict."""
        out = super().to_dict()
        out["eval_points"] = self.eval_points.tolist()
        out["verdict"] = self.verdict
        return out

    def plot(self, ax: Axes | None = None) -> Axes:
        """log R_t against log t at the evaluation points, with the fitted line."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.set_xscale("log")
        ax.set_yscale("log")
        if self.curve_at_points is not None:
            values = np.asarray(self.curve_at_points, dtype=np.float64)
            positive = values > 0
            ax.plot(self.eval_points[positive], values[positive], "o", color="C0",
                    label=f"R_t > 0 at {self.eval_points_rule} rounds")
        if self.slope is not None and self.intercept is not None:
            t = self.eval_points.astype(np.float64)
            ax.plot(t, np.exp(self.intercept) * t ** self.slope, color="C3",
                    label=f"fit: slope {self.slope:.3f}")
            ax.plot(t, np.exp(self.intercept) * t[0] ** (self.slope - 1.0) * t, color="0.6", ls=":",
                    label="slope 1 (linear regret)")
        ax.set_xlabel("round t")
        ax.set_ylabel("regret R_t")
        ax.set_title(self.verdict, fontsize="small")
        ax.legend(fontsize="small")
        return ax

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



@dataclasses.dataclass(frozen=True)
class RegretReport(Report):
    """Regrets of one run (see :func:`regret_report`).

    ``realized`` says whether they were computed from sampled actions (True) or policies.
    """

    external_regret: float
    dynamic_regret: float
    swap_regret: float
    best_fixed_action: int
    best_fixed_loss: float
    learner_loss: float
    sum_min_loss: float
    variation_budget: float
    best_action_switches: int
    n_rounds: int
    n_actions: int
    realized: bool
    test: NoRegretTestResult
    curve: np.ndarray = dataclasses.field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["test"]["verdict"] = self.test.verdict
        out["test"]["eval_points"] = self.test.eval_points.tolist()
        out["curve"] = self.curve.tolist()
        return out

    def plot(self, ax: Axes | None = None) -> Axes:
        """R_t (left axis) and R_t / t (right axis) against the round t."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        t = np.arange(1, self.curve.shape[0] + 1)
        ax.plot(t, self.curve, color="C0", label="R_t")
        ax.set_xlabel("round t")
        ax.set_ylabel("external regret R_t", color="C0")
        twin = ax.twinx()
        twin.plot(t, self.curve / t, color="C1", label="R_t / t")
        twin.set_ylabel("R_t / t", color="C1")
        ax.set_title(f"{'realised' if self.realized else 'expected'} regret, T = {self.n_rounds}")
        return ax
