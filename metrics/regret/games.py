"""Regret of both players in a repeated two-player general-sum game, and the CCE gap.

Loss matrices ``payoff_row`` = A and ``payoff_col`` = B, both (A₁, A₂), indexed
[a_row, a_col]. Each round the row player faces the expected loss vector of the
opponent's mixed policy, ℓ¹_t = A π²_t, and the column player ℓ²_t = Bᵀ π¹_t; each
player's regret is the external regret of its (ℓⁱ, πⁱ). For
σ = (1/T) Σ_t π¹_t ⊗ π²_t the CCE gap of player i equals Regⁱ_T / T exactly, so "all
players no-regret" means σ approaches the set of coarse correlated equilibria
(Hannan 1957; Hart & Mas-Colell 2000; Park et al., ICLR 2025, Sec. 4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, check_option
from metrics.regret._core import as_actions, as_policy, check_atol, regret_from_sums
from metrics.regret.online import external_regret

__all__ = ["game_regret", "cce_gap"]


def _payoffs(payoff_row: Any, payoff_col: Any, payoff_is: str) -> tuple[np.ndarray, np.ndarray]:
    check_option(payoff_is, "payoff_is", ("loss", "utility"))
    a = as_float_array(payoff_row, "payoff_row", ndim=2, what="payoffs (an (A1, A2) matrix)")
    b = as_float_array(payoff_col, "payoff_col", ndim=2, what="payoffs (an (A1, A2) matrix)")
    if a.shape != b.shape:
        raise InputError(f"payoff_col must have the shape of payoff_row {a.shape}; got {b.shape}")
    if payoff_is == "utility":
        a, b = -a, -b
    return a, b


def _policies(policy_row: Any, policy_col: Any, shape: tuple[int, int],
              simplex_atol: float) -> tuple[np.ndarray, np.ndarray]:
    if policy_row is None or policy_col is None:
        raise InputError("policy_row and policy_col are both required; got "
                         f"{'None' if policy_row is None else 'an array'} and "
                         f"{'None' if policy_col is None else 'an array'}")
    p1 = as_float_array(policy_row, "policy_row", ndim=2, finite=False, what="probability rows")
    p1 = as_policy(p1, p1.shape[0], shape[0], simplex_atol, "policy_row")
    p2 = as_float_array(policy_col, "policy_col", ndim=2, finite=False, what="probability rows")
    p2 = as_policy(p2, p1.shape[0], shape[1], simplex_atol, "policy_col")
    return p1, p2


def game_regret(payoff_row: Any, payoff_col: Any, policy_row: Any = None, policy_col: Any = None, *,
                actions_row: Any = None, actions_col: Any = None, payoff_is: str = "loss",
                simplex_atol: float = 1e-6) -> tuple[float, float]:
    r"""Each player's external regret in a repeated two-player game.

    Expected (default): player 1 faces :math:`\ell^1_t = A\pi^2_t`, player 2
    :math:`\ell^2_t = B^\top\pi^1_t`, and :math:`\mathrm{Reg}^i_T` is the external regret of
    :math:`(\ell^i, \pi^i)`. Realised (both ``actions_row`` and ``actions_col`` given):
    :math:`\sum_t A[a^1_t, a^2_t] - \min_a \sum_t A[a, a^2_t]` and the same for B over the
    column player's deviations (policies are then optional and only validated).

    Parameters
    ----------
    payoff_row, payoff_col : array-like, shape (A1, A2)
        Loss matrices of the row and the column player (utilities with ``payoff_is="utility"``,
        which negates both).
    policy_row, policy_col : array-like, shapes (T, A1) and (T, A2)
        The players' mixed policies per round.
    actions_row, actions_col : array-like of int, shape (T,), optional
        Sampled actions; pass both for the realised regrets (one alone raises).

    Returns
    -------
    (float, float)
        (row player's regret, column player's regret).
    """
    a, b = _payoffs(payoff_row, payoff_col, payoff_is)
    atol = check_atol(simplex_atol)
    if (actions_row is None) != (actions_col is None):
        raise InputError("actions_row and actions_col must be given together (realised regret) or both "
                         f"omitted (expected regret); got only {'actions_row' if actions_col is None else 'actions_col'}")
    if actions_row is not None:
        a1 = as_actions(actions_row, None, a.shape[0], "actions_row")
        a2 = as_actions(actions_col, a1.shape[0], a.shape[1], "actions_col")
        if policy_row is not None or policy_col is not None:
            p1, _ = _policies(policy_row, policy_col, a.shape, atol)
            if p1.shape[0] != a1.shape[0]:
                raise InputError(f"policy_row must have one row per round (T = {a1.shape[0]} actions); "
                                 f"got {p1.shape[0]}")
        # Realised: the row player faces column a²_t of A, the column player row a¹_t of B.
        return (external_regret(a.T[a2], actions=a1), external_regret(b[a1], actions=a2))
    p1, p2 = _policies(policy_row, policy_col, a.shape, atol)
    return (external_regret(p2 @ a.T, policy=p1, simplex_atol=atol),
            external_regret(p1 @ b, policy=p2, simplex_atol=atol))


def cce_gap(payoff_row: Any, payoff_col: Any, policy_row: Any, policy_col: Any, *,
            payoff_is: str = "loss", simplex_atol: float = 1e-6) -> tuple[float, float]:
    r"""CCE gap of the empirical joint play :math:`\sigma = \frac1T\sum_t \pi^1_t\otimes\pi^2_t`.

    .. math::
        \mathrm{gap}_1 = \mathbb E_\sigma[A] - \min_{a'} \sum_{a_1,a_2}\sigma(a_1,a_2)A[a',a_2],\quad
        \mathrm{gap}_2 = \mathbb E_\sigma[B] - \min_{b'} \sum_{a_1,a_2}\sigma(a_1,a_2)B[a_1,b']

    Computed from σ directly (independently of :func:`game_regret`); equals Regⁱ_T / T.
    σ is a CCE iff both gaps are ≤ 0.
    """
    a, b = _payoffs(payoff_row, payoff_col, payoff_is)
    p1, p2 = _policies(policy_row, policy_col, a.shape, check_atol(simplex_atol))
    sigma = (p1.T @ p2) / p1.shape[0]
    col_marginal = sigma.sum(axis=0)
    row_marginal = sigma.sum(axis=1)
    gap_row = regret_from_sums(float((sigma * a).sum()), a @ col_marginal)
    gap_col = regret_from_sums(float((sigma * b).sum()), row_marginal @ b)
    return float(gap_row), float(gap_col)
