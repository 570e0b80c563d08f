"""``regret_report``: every online-learning regret of one logged run, its curve and the no-regret test."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from metrics.core.report import Report
from metrics.regret._core import (
    as_losses,
    decisions,
    dynamic_from_sums,
    learner_loss_total,
    regret_from_sums,
    swap_from_matrix,
    swap_matrix_of,
)
from metrics.regret.no_regret import NoRegretTestResult, no_regret_test
from metrics.regret.online import _sum_of_row_minima, best_action_switches, regret_curve, variation_budget

__all__ = ["RegretReport", "regret_report"]


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

    def plot(self, ax=None):
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


def regret_report(losses: Any, *, policy: Any = None, actions: Any = None, eval_points: Any = None,
                  alpha: float = 0.05, norm: str = "inf", simplex_atol: float = 1e-6) -> RegretReport:
    """External, dynamic and swap regret, the variation budget, the external curve and its no-regret test.

    Parameters as in :func:`external_regret`, :func:`variation_budget` and :func:`no_regret_test`.
    """
    losses = as_losses(losses)
    mode, chosen = decisions(losses, policy, actions, simplex_atol)
    kwargs = {mode: chosen}
    learner = learner_loss_total(losses, mode, chosen)
    cumulative = losses.sum(axis=0)
    best = int(np.argmin(cumulative))
    sum_min = _sum_of_row_minima(losses)
    curve = regret_curve(losses, **kwargs, simplex_atol=simplex_atol)
    return RegretReport(
        external_regret=float(regret_from_sums(learner, cumulative)),
        dynamic_regret=float(dynamic_from_sums(learner, sum_min)),
        swap_regret=float(swap_from_matrix(swap_matrix_of(losses, mode, chosen))),
        best_fixed_action=best, best_fixed_loss=float(cumulative[best]), learner_loss=learner,
        sum_min_loss=sum_min, variation_budget=variation_budget(losses, norm=norm),
        best_action_switches=best_action_switches(losses), n_rounds=int(losses.shape[0]),
        n_actions=int(losses.shape[1]), realized=mode == "actions",
        test=no_regret_test(curve, eval_points=eval_points, alpha=alpha), curve=curve)
