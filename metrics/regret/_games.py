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

import dataclasses
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.validation import as_float_array
from metrics.regret._core import Mode, Ops, is_tensor, loss_limit, numpy_ops, regret_from_sums, run_sums, torch_ops
from metrics.regret._inputs import Played, check_atol, numpy_preds, tensor_preds, to_device
from metrics.regret._legacy import payoffs_first

if TYPE_CHECKING:
    import torch

    ArrayOrTensor = npt.ArrayLike | torch.Tensor

PayoffIs = Literal["loss", "utility"]

__all__ = ["cce_gap", "game_regret"]

_NAMES = ("preds_row", "preds_col")


@dataclasses.dataclass
class _Game:
    xp: Ops
    payoff_row: Any
    payoff_col: Any
    mode: Mode
    row: Any
    col: Any
    played: Played  # carries the deferred check and the read


def _numpy_payoffs(payoff_row: Any, payoff_col: Any, n_rounds: int | None) -> tuple[np.ndarray, np.ndarray]:
    a = as_float_array(payoff_row, "payoff_row", ndim=2, what="payoffs (an (A1, A2) matrix)")
    b = as_float_array(payoff_col, "payoff_col", ndim=2, what="payoffs (an (A1, A2) matrix)")
    if a.shape != b.shape:
        raise InputError(f"payoff_col must have the shape of payoff_row {a.shape}; got {b.shape}")
    if n_rounds is not None:
        limit = loss_limit(n_rounds, max(a.shape))
        for m, name in ((a, "payoff_row"), (b, "payoff_col")):
            if m.size and np.abs(m).max() > limit:
                raise InputError(f"{name} must be at most {limit:.3g} in absolute value so that sums over "
                                 f"T = {n_rounds} rounds stay within float64; rescale it")
    return a, b


def _numpy_game(preds_row: Any, preds_col: Any, payoff_row: Any, payoff_col: Any,
                atol: float) -> tuple[np.ndarray, np.ndarray, Mode, np.ndarray, np.ndarray]:
    a, b = _numpy_payoffs(payoff_row, payoff_col, None)
    mode, row = numpy_preds(preds_row, None, a.shape[0], atol, _NAMES[0])
    mode_col, col = numpy_preds(preds_col, row.shape[0], a.shape[1], atol, _NAMES[1])
    if mode_col != mode:
        raise InputError("preds_row and preds_col must both be policies (expected regret) or both actions "
                         f"(realised regret); got {mode} for the row player and {mode_col} for the column player")
    _numpy_payoffs(a, b, row.shape[0])
    return a, b, mode, row, col


def _game(preds_row: Any, preds_col: Any, payoff_row: Any, payoff_col: Any, payoff_is: str,
          simplex_atol: Any) -> _Game:
    atol = check_atol(simplex_atol)

    def fail() -> None:
        from metrics.core.validation import to_numpy

        _numpy_game(to_numpy(preds_row, _NAMES[0]), to_numpy(preds_col, _NAMES[1]),
                    to_numpy(payoff_row, "payoff_row"), to_numpy(payoff_col, "payoff_col"), atol)
        raise InputError("preds_row / preds_col / payoff_row / payoff_col hold invalid values")

    sign = -1.0 if payoff_is == "utility" else 1.0
    inputs = (preds_row, preds_col, payoff_row, payoff_col)
    if not any(is_tensor(x) for x in inputs):
        a_np, b_np, mode, row_np, col_np = _numpy_game(*inputs, atol)
        return _Game(numpy_ops, sign * a_np, sign * b_np, mode, row_np, col_np,
                     Played(numpy_ops, None, mode, None, None, fail))
    import torch

    anchor = next(x for x in inputs if is_tensor(x))
    p1, p2 = to_device(preds_row, anchor, _NAMES[0]), to_device(preds_col, anchor, _NAMES[1])
    a, b = to_device(payoff_row, anchor, "payoff_row"), to_device(payoff_col, anchor, "payoff_col")
    if not (a.ndim == 2 and a.shape == b.shape and a.numel() > 0 and p1.ndim in (1, 2) and p1.ndim == p2.ndim
            and p1.shape[0] >= 1 and p2.shape[0] == p1.shape[0]
            and (p1.ndim == 1 or (p1.shape[1] == a.shape[0] and p2.shape[1] == a.shape[1]))
            and not any(x.is_complex() for x in (a, b, p1, p2))):
        fail()
    mode, row, ok_row = tensor_preds(p1, int(a.shape[0]), atol, True)
    _, col, ok_col = tensor_preds(p2, int(a.shape[1]), atol, True)
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    limit = loss_limit(int(p1.shape[0]), max(a.shape))
    ok = ok_row & ok_col  # type: ignore[operator]
    for m in (a64, b64):
        ok = ok & torch.isfinite(m).all() & (m.abs().amax() <= limit)
    return _Game(torch_ops, sign * a64, sign * b64, mode, row, col, Played(torch_ops, None, mode, None, ok, fail))


@payoffs_first(takes_actions=True)
@validate_options
def game_regret(preds_row: ArrayOrTensor, preds_col: ArrayOrTensor, *, payoff_row: ArrayOrTensor,
                payoff_col: ArrayOrTensor, payoff_is: PayoffIs = "loss",
                simplex_atol: float = 1e-6) -> tuple[float, float]:
    r"""Each player's external regret in a repeated two-player game.

    Expected (both players' policies): player 1 faces :math:`\ell^1_t = A\pi^2_t`, player 2
    :math:`\ell^2_t = B^\top\pi^1_t`, and :math:`\mathrm{Reg}^i_T` is the external regret of
    :math:`(\ell^i, \pi^i)`. Realised (both players' actions):
    :math:`\sum_t A[a^1_t, a^2_t] - \min_a \sum_t A[a, a^2_t]` and the same for B over the
    column player's deviations.

    Parameters
    ----------
    preds_row, preds_col : array-like or torch.Tensor
        What each player played: mixed policies of shapes (T, A1) and (T, A2), or integer
        actions of shape (T,) each (both the same kind).
    payoff_row, payoff_col : array-like or torch.Tensor, shape (A1, A2)
        Loss matrices of the row and the column player (utilities with ``payoff_is="utility"``,
        which negates both).
    payoff_is : {"loss", "utility"}
    simplex_atol : float
        Tolerance of the policies' rows.

    Returns
    -------
    (float, float)
        (row player's regret, column player's regret).

    The previous order ``game_regret(payoff_row, payoff_col, policy_row, policy_col, *,
    actions_row=..., actions_col=...)`` still works for one release, with a ``DeprecationWarning``.
    """
    g = _game(preds_row, preds_col, payoff_row, payoff_col, payoff_is, simplex_atol)
    xp = g.xp
    if g.mode == "policy":
        # Each player faces the expected loss vector of the opponent's mixed policy.
        loss_row, loss_col = xp.f64(g.col) @ g.payoff_row.T, xp.f64(g.row) @ g.payoff_col
    else:  # realised: the row player faces column a²_t of A, the column player row a¹_t of B
        loss_row, loss_col = g.payoff_row.T[g.col], g.payoff_col[g.row]
    s1 = run_sums(xp, loss_row, g.mode, g.row, sum_min_loss=False)
    s2 = run_sums(xp, loss_col, g.mode, g.col, sum_min_loss=False)
    out = g.played.read_many(regret_from_sums(s1.learner_loss, s1.cumulative_loss),
                             regret_from_sums(s2.learner_loss, s2.cumulative_loss))
    return out[0], out[1]


@payoffs_first(takes_actions=False)
@validate_options
def cce_gap(preds_row: ArrayOrTensor, preds_col: ArrayOrTensor, *, payoff_row: ArrayOrTensor,
            payoff_col: ArrayOrTensor, payoff_is: PayoffIs = "loss",
            simplex_atol: float = 1e-6) -> tuple[float, float]:
    r"""CCE gap of the empirical joint play :math:`\sigma = \frac1T\sum_t \pi^1_t\otimes\pi^2_t`.

    .. math::
        \mathrm{gap}_1 = \mathbb E_\sigma[A] - \min_{a'} \sum_{a_1,a_2}\sigma(a_1,a_2)A[a',a_2],\quad
        \mathrm{gap}_2 = \mathbb E_\sigma[B] - \min_{b'} \sum_{a_1,a_2}\sigma(a_1,a_2)B[a_1,b']

    Computed from σ directly (independently of :func:`game_regret`); equals Regⁱ_T / T.
    σ is a CCE iff both gaps are ≤ 0. With actions, π_t = e_{a_t} and σ is the empirical
    distribution of the joint play. Parameters as in :func:`game_regret`.
    """
    g = _game(preds_row, preds_col, payoff_row, payoff_col, payoff_is, simplex_atol)
    xp = g.xp
    a, b = g.payoff_row, g.payoff_col
    if g.mode == "policy":
        p1, p2 = xp.f64(g.row), xp.f64(g.col)
    else:
        p1, p2 = xp.onehot(g.row, a.shape[0]), xp.onehot(g.col, a.shape[1])
    sigma = (p1.T @ p2) / p1.shape[0]
    col_marginal = sigma.sum(0)
    row_marginal = sigma.sum(1)
    gap_row = regret_from_sums((sigma * a).sum(), a @ col_marginal)
    gap_col = regret_from_sums((sigma * b).sum(), row_marginal @ b)
    out = g.played.read_many(gap_row, gap_col)
    return out[0], out[1]
