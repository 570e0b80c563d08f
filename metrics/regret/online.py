"""External, dynamic and swap regret of a logged online-learning run, and their curves.

Protocol: each round t = 1..T the learner commits to a policy π_t on the simplex Δ_A
(optionally draws a_t ~ π_t), then the full loss vector ℓ_t ∈ ℝ^A is revealed. Regret
always uses the full loss vectors, also when the learner only saw ℓ_t(a_t) (bandit
feedback). Passing ``policy`` gives the expected regret; passing ``actions`` gives
the realised regret (π_t = e_{a_t}). Rewards: pass ``-rewards`` or ``1 - rewards``.

References: Cesa-Bianchi & Lugosi, *Prediction, Learning, and Games* (2006), ch. 2 and 4;
Blum & Mansour, *From external to internal regret*, JMLR 2007 (swap regret);
Besbes, Gur & Zeevi, *Stochastic multi-armed-bandit problem with non-stationary rewards*,
NeurIPS 2014 (variation budget); Park et al., *Do LLM Agents Have Regret?*, ICLR 2025.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.core.validation import check_option
from metrics.regret._core import (
    as_losses,
    decisions,
    dynamic_from_sums,
    learner_loss_total,
    regret_from_sums,
    round_learner_losses,
    rows_per_chunk,
    swap_from_matrix,
    swap_matrix_of,
)

__all__ = [
    "external_regret",
    "dynamic_regret",
    "swap_regret",
    "regret_curve",
    "variation_budget",
    "best_action_switches",
]


def external_regret(losses: Any, *, policy: Any = None, actions: Any = None,
                    simplex_atol: float = 1e-6) -> float:
    r"""External regret against the best fixed action in hindsight.

    .. math:: \mathrm{Reg}_T = \sum_{t=1}^T \langle \ell_t, \pi_t\rangle - \min_i \sum_{t=1}^T \ell_t(i)

    The comparator is also the best fixed *mixed* policy (the loss is linear in π).
    With ``actions`` (realised regret) π_t = e_{a_t}; the realised value can be negative.

    Parameters
    ----------
    losses : array-like, shape (T, A)
        Finite loss vectors, one row per round (the range is not restricted).
    policy : array-like, shape (T, A), optional
        The learner's policies; rows on the simplex within ``simplex_atol``, used as given.
    actions : array-like of int, shape (T,), optional
        The actions actually played, in ``[0, A)``. Exactly one of ``policy`` / ``actions``.
    simplex_atol : float
        Tolerance for negative entries and row sums of ``policy``.

    Returns
    -------
    float
    """
    losses = as_losses(losses)
    mode, chosen = decisions(losses, policy, actions, simplex_atol)
    return float(regret_from_sums(learner_loss_total(losses, mode, chosen), losses.sum(axis=0)))


def dynamic_regret(losses: Any, *, policy: Any = None, actions: Any = None,
                   simplex_atol: float = 1e-6) -> float:
    r"""Dynamic regret against the per-round best action.

    .. math:: \mathrm{D\text{-}Reg}_T = \sum_t \langle \ell_t, \pi_t\rangle - \sum_t \min_i \ell_t(i)

    Always ≥ the external regret. Report it with :func:`variation_budget` and
    :func:`best_action_switches` (minimax dynamic regret of non-stationary bandits grows
    as :math:`V_T^{1/3} T^{2/3}`, Besbes et al. 2014). Parameters as in :func:`external_regret`.
    """
    losses = as_losses(losses)
    mode, chosen = decisions(losses, policy, actions, simplex_atol)
    return float(dynamic_from_sums(learner_loss_total(losses, mode, chosen), _sum_of_row_minima(losses)))


def swap_regret(losses: Any, *, policy: Any = None, actions: Any = None,
                simplex_atol: float = 1e-6) -> float:
    r"""Swap regret (Blum & Mansour 2007): the gain of the best map φ: A → A applied to every play.

    .. math:: M = \sum_t \pi_t \ell_t^\top, \qquad \mathrm{SwapReg} = \sum_a \bigl(M_{aa} - \min_b M_{ab}\bigr)

    Always ≥ max(external regret, 0). No swap regret leads to correlated equilibria,
    no external regret only to coarse correlated equilibria. O(T A²) time (one matrix
    product), O(A²) memory. Parameters as in :func:`external_regret`.
    """
    losses = as_losses(losses)
    mode, chosen = decisions(losses, policy, actions, simplex_atol)
    return float(swap_from_matrix(swap_matrix_of(losses, mode, chosen)))


def regret_curve(losses: Any, *, policy: Any = None, actions: Any = None, kind: str = "external",
                 simplex_atol: float = 1e-6) -> np.ndarray:
    r"""Regret after every round, ``curve[t-1] = R_t`` for t = 1..T.

    ``kind="external"``: :math:`R_t = \sum_{s\le t}\langle\ell_s,\pi_s\rangle - \min_i L_t(i)`,
    the comparator recomputed on every prefix (prefix-best, not final-best).
    ``"dynamic"``: the running dynamic regret. ``"swap"``: swap regret of every prefix,
    with a running M (O(T A²) time, computed in chunks so memory stays O(T + A²)).
    """
    check_option(kind, "kind", ("external", "dynamic", "swap"))
    losses = as_losses(losses)
    mode, chosen = decisions(losses, policy, actions, simplex_atol)
    n_rounds, n_actions = losses.shape
    out = np.empty(n_rounds)
    learner_carry = 0.0
    if kind == "swap":
        step = rows_per_chunk(n_actions * n_actions)
        m_carry = np.zeros((n_actions, n_actions))
        eye = np.eye(n_actions)
        for start in range(0, n_rounds, step):
            block = losses[start:start + step]
            pol = chosen[start:start + step] if mode == "policy" else eye[chosen[start:start + step]]
            running = np.cumsum(pol[:, :, None] * block[:, None, :], axis=0)
            running += m_carry
            out[start:start + block.shape[0]] = swap_from_matrix(running)
            m_carry = running[-1]
        return out
    step = rows_per_chunk(n_actions)
    cum_carry = np.zeros(n_actions)
    for start in range(0, n_rounds, step):
        stop = min(start + step, n_rounds)
        learner = np.cumsum(round_learner_losses(losses, mode, chosen, start, stop))
        learner += learner_carry
        block = losses[start:stop]
        if kind == "external":
            running = np.cumsum(block, axis=0)
            running += cum_carry
            out[start:stop] = regret_from_sums(learner, running)
            cum_carry = running[-1]
        else:
            minima = np.cumsum(block.min(axis=1))
            minima += cum_carry[0]
            out[start:stop] = dynamic_from_sums(learner, minima)
            cum_carry[0] = minima[-1]
        learner_carry = learner[-1]
    return out


def _sum_of_row_minima(losses: np.ndarray) -> float:
    step = rows_per_chunk(losses.shape[1])
    return float(sum(losses[s:s + step].min(axis=1).sum() for s in range(0, losses.shape[0], step)))


_NORMS = {"inf": np.inf, "1": 1, "2": 2}


def variation_budget(losses: Any, *, norm: str = "inf") -> float:
    r"""Variation budget :math:`V_T = \sum_{t=2}^T \lVert \ell_t - \ell_{t-1}\rVert` (Besbes et al. 2014).

    ``norm`` is ``"inf"`` (default), ``"1"`` or ``"2"``. Zero when T = 1.
    """
    check_option(norm, "norm", tuple(_NORMS))
    losses = as_losses(losses)
    n_rounds, n_actions = losses.shape
    step = rows_per_chunk(n_actions)
    total = 0.0
    for start in range(1, n_rounds, step):
        stop = min(start + step, n_rounds)
        diff = losses[start:stop] - losses[start - 1:stop - 1]
        total += float(np.linalg.norm(diff, ord=_NORMS[norm], axis=1).sum())
    return total


def best_action_switches(losses: Any) -> int:
    r"""Number of rounds t ≥ 2 whose best action differs from round t−1's (argmin, lowest index on ties)."""
    losses = as_losses(losses)
    best = np.argmin(losses, axis=1)
    return int(np.count_nonzero(best[1:] != best[:-1]))


