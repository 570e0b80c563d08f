"""Regret of online learners, bandits and repeated games (spec: ``specs/regret.md``).

All regret arithmetic lives in :mod:`metrics.regret._core` (array-generic: numpy and
torch) and is called by the functions, the report, the streaming Metric and the
differentiable ``reference_models.expected_regret``.
"""

from metrics.regret import bandit, games, metric, no_regret, online, report
from metrics.regret.bandit import *  # noqa: F401,F403
from metrics.regret.games import *  # noqa: F401,F403
from metrics.regret.metric import *  # noqa: F401,F403
from metrics.regret.no_regret import *  # noqa: F401,F403
from metrics.regret.online import *  # noqa: F401,F403
from metrics.regret.report import *  # noqa: F401,F403

__all__ = online.__all__ + games.__all__ + bandit.__all__ + no_regret.__all__ + report.__all__ + metric.__all__
