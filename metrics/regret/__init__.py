"""Regret of online learners, bandits and repeated games (spec: ``specs/regret.md``).

All regret arithmetic lives in :mod:`metrics.regret._core` (array-generic: numpy and
torch) and is called by the functions, the report, the streaming Metric and the
differentiable ``reference_models.expected_regret``.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.regret.online": ("external_regret", "dynamic_regret", "swap_regret", "regret_curve", "variation_budget", "best_action_switches"),
    "metrics.regret.games": ("game_regret", "cce_gap"),
    "metrics.regret.bandit": ("contextual_bandit_regret",),
    "metrics.regret.no_regret": ("NoRegretTestResult", "no_regret_test"),
    "metrics.regret.report": ("RegretReport", "regret_report"),
    "metrics.regret.metric": ("Regret",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.regret.bandit import contextual_bandit_regret  # noqa: F401
    from metrics.regret.games import cce_gap, game_regret  # noqa: F401
    from metrics.regret.metric import Regret  # noqa: F401
    from metrics.regret.no_regret import NoRegretTestResult, no_regret_test  # noqa: F401
    from metrics.regret.online import (  # noqa: F401
        best_action_switches,
        dynamic_regret,
        external_regret,
        regret_curve,
        swap_regret,
        variation_budget,
    )
    from metrics.regret.report import RegretReport, regret_report  # noqa: F401
