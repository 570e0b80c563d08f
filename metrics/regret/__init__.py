"""Regret of online learners, bandits and repeated games (formulas and conventions: ``docs/regret.md``).

Every function takes what the learner played first (``preds``: policies or actions) and
the losses second, like :class:`Regret`'s ``update(preds, losses)``. All regret
arithmetic lives in :mod:`metrics.regret._core` (written once for numpy and torch) and is
called by the functions, the report, the streaming Metric and the differentiable
``reference_models.expected_regret``.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.regret.functional": ("external_regret", "dynamic_regret", "swap_regret", "regret_curve",
                                  "variation_budget", "best_action_switches", "game_regret", "cce_gap",
                                  "contextual_bandit_regret", "log_spaced_rounds", "no_regret_test",
                                  "regret_report"),
    "metrics.regret.report": ("NoRegretTestResult", "RegretReport"),
    "metrics.regret.metric": ("Regret",),
}
# Public at this subpackage (the regret arithmetic shared with reference_models), not
# re-exported at the package level.
_BUILDING_BLOCKS = {
    "metrics.regret._core": ("regret_from_sums", "dynamic_from_sums", "swap_from_matrix", "sum_of_row_minima",
                             "loss_limit"),
    "metrics.regret._inputs": ("as_losses",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _BUILDING_BLOCKS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.regret._core import (  # noqa: F401
        dynamic_from_sums,
        loss_limit,
        regret_from_sums,
        sum_of_row_minima,
        swap_from_matrix,
    )
    from metrics.regret._inputs import as_losses  # noqa: F401
    from metrics.regret.functional import (  # noqa: F401
        best_action_switches,
        cce_gap,
        contextual_bandit_regret,
        dynamic_regret,
        external_regret,
        game_regret,
        log_spaced_rounds,
        no_regret_test,
        regret_curve,
        regret_report,
        swap_regret,
        variation_budget,
    )
    from metrics.regret.metric import Regret  # noqa: F401
    from metrics.regret.report import NoRegretTestResult, RegretReport  # noqa: F401
