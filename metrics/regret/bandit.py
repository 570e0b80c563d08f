"""Contextual-bandit regret (Deb, Ban, Zuo, He & Banerjee, arXiv:2312.07145).

μ_t(a) is the expected reward of arm a in round t. Pseudo-regret compares with the
best expected reward; realised regret subtracts the observed reward; on K-class data
played as a K-armed bandit (reward 1[a = y]) the regret is the number of mistakes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, as_label_array, check_bool, check_option
from metrics.regret._core import as_actions

__all__ = ["contextual_bandit_regret"]


def contextual_bandit_regret(actions: Any, expected_reward: Any = None, *, rewards: Any = None,
                             labels: Any = None, kind: str = "pseudo",
                             return_curve: bool = False) -> float | np.ndarray:
    r"""Cumulative regret of a contextual-bandit learner.

    - ``kind="pseudo"``: :math:`\sum_t [\max_a \mu_t(a) - \mu_t(a_t)]` (needs ``expected_reward``);
    - ``"realized"``: :math:`\sum_t [\max_a \mu_t(a) - r_t]` (needs ``expected_reward`` and ``rewards``);
    - ``"classification"``: :math:`\sum_t 1[a_t \ne y_t]` (needs ``labels``), the mistakes of a
      K-class classifier played as a K-armed bandit with reward 1[a = y].

    Parameters
    ----------
    actions : array-like of int, shape (T,)
    expected_reward : array-like, shape (T, A), optional
        μ_t(a); finite.
    rewards : array-like, shape (T,), optional
        Observed rewards r_t.
    labels : array-like of int, shape (T,), optional
        True classes y_t.
    return_curve : bool
        Return the cumulative regret after every round (shape (T,)) instead of the total.
    """
    check_option(kind, "kind", ("pseudo", "realized", "classification"))
    check_bool(return_curve, "return_curve")
    if kind == "classification":
        if labels is None:
            raise InputError('labels is required for kind="classification"; got None')
        acts = as_label_array(actions, "actions")
        ys = as_label_array(labels, "labels")
        if ys.shape != acts.shape:
            raise InputError(f"labels must have one entry per round like actions ({acts.shape[0]}); "
                             f"got {ys.shape[0]}")
        per_round = (acts != ys).astype(np.float64)
    else:
        if expected_reward is None:
            raise InputError(f'expected_reward is required for kind="{kind}"; got None')
        mu = as_float_array(expected_reward, "expected_reward", ndim=2, what="expected rewards (a (T, A) array)")
        acts = as_actions(actions, mu.shape[0], mu.shape[1])
        best = mu.max(axis=1)
        if kind == "pseudo":
            per_round = best - mu[np.arange(mu.shape[0]), acts]
        else:
            if rewards is None:
                raise InputError('rewards is required for kind="realized"; got None')
            r = as_float_array(rewards, "rewards", ndim=1, what="rewards")
            if r.shape[0] != mu.shape[0]:
                raise InputError(f"rewards must have one entry per round (T = {mu.shape[0]}); got {r.shape[0]}")
            per_round = best - r
    if return_curve:
        return np.cumsum(per_round)
    return float(per_round.sum())
