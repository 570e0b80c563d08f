"""The regret functions: online learning, repeated games, contextual bandits and the no-regret test.

Protocol: each round t = 1..T the learner commits to a policy π_t on the simplex Δ_A
(optionally draws a_t ~ π_t), then the full loss vector ℓ_t ∈ ℝ^A is revealed. Regret
always uses the full loss vectors, also when the learner only saw ℓ_t(a_t) (bandit
feedback). Every function takes what the learner played first (``preds``: the (T, A)
policies, giving the expected regret, or the (T,) actions, giving the realised regret
with π_t = e_{a_t}) and the (T, A) losses second, as the streaming
:class:`~metrics.regret.Regret` Metric does. Rewards: pass ``-rewards`` or ``1 - rewards``.

numpy input runs in numpy; torch tensors run in torch on their device (the same
formulas, :mod:`metrics.regret._core`); both agree to 1e-12 relative. On CPU tensors the
torch path runs a few hundred small parallel torch operations; on a CPU busier than its
core count torch's OpenMP threads spin at the end of each one waiting for a descheduled
partner, which can make it several times slower than the numpy path (one torch thread,
or ``OMP_WAIT_POLICY=PASSIVE``, removes the wait; see ``benchmarks/regret.py``).

References: Cesa-Bianchi & Lugosi, *Prediction, Learning, and Games* (2006), ch. 2 and 4;
Blum & Mansour, *From external to internal regret*, JMLR 2007 (swap regret);
Besbes, Gur & Zeevi, *Stochastic multi-armed-bandit problem with non-stationary rewards*,
NeurIPS 2014 (variation budget); Park et al., *Do LLM Agents Have Regret?*, ICLR 2025.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from metrics.core.options import validate_options
from metrics.core.validation import check_fraction
from metrics.regret._bandit import contextual_bandit_regret
from metrics.regret._core import (
    Norm,
    dynamic_from_sums,
    regret_curve_of,
    regret_from_sums,
    run_sums,
    swap_from_matrix,
    switches_of,
    torch_ops,
    variation_of,
)
from metrics.regret._games import cce_gap, game_regret
from metrics.regret._inputs import Played, as_losses, played, to_device
from metrics.regret._legacy import losses_first
from metrics.regret._no_regret import EvalPoints, log_spaced_rounds, no_regret_test
from metrics.regret.report import RegretReport

if TYPE_CHECKING:
    import torch

    ArrayOrTensor = npt.ArrayLike | torch.Tensor

CurveKind = Literal["external", "dynamic", "swap"]

__all__ = [
    "best_action_switches",
    "cce_gap",
    "contextual_bandit_regret",
    "dynamic_regret",
    "external_regret",
    "game_regret",
    "log_spaced_rounds",
    "no_regret_test",
    "regret_curve",
    "regret_report",
    "swap_regret",
    "variation_budget",
]


@losses_first
def external_regret(preds: ArrayOrTensor, losses: ArrayOrTensor, *, simplex_atol: float = 1e-6) -> float:
    r"""External regret against the best fixed action in hindsight.

    .. math:: \mathrm{Reg}_T = \sum_{t=1}^T \langle \ell_t, \pi_t\rangle - \min_i \sum_{t=1}^T \ell_t(i)

    The comparator is also the best fixed *mixed* policy (the loss is linear in π).
    With actions (realised regret) π_t = e_{a_t}; the realised value can be negative.

    Parameters
    ----------
    preds : array-like or torch.Tensor, shape (T, A) or (T,)
        What the learner played: its policies (rows on the simplex within ``simplex_atol``,
        used as given, never renormalised), or the integer actions in ``[0, A)``.
    losses : array-like or torch.Tensor, shape (T, A)
        Finite loss vectors, one row per round (the range is not restricted).
    simplex_atol : float
        Tolerance for negative entries and row sums of a policy.

    Returns
    -------
    float

    Examples
    --------
    >>> external_regret([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    -0.5

    The previous order ``external_regret(losses, policy=...)`` / ``(losses, actions=...)``
    still works for one release, with a ``DeprecationWarning``.
    """
    run = played(preds, losses, simplex_atol)
    sums = run_sums(run.xp, run.losses, run.mode, run.chosen, sum_min_loss=False)
    return run.read(regret_from_sums(sums.learner_loss, sums.cumulative_loss))


@losses_first
def dynamic_regret(preds: ArrayOrTensor, losses: ArrayOrTensor, *, simplex_atol: float = 1e-6) -> float:
    r"""Dynamic regret against the per-round best action.

    .. math:: \mathrm{D\text{-}Reg}_T = \sum_t \langle \ell_t, \pi_t\rangle - \sum_t \min_i \ell_t(i)

    Always ≥ the external regret. Report it with :func:`variation_budget` and
    :func:`best_action_switches` (minimax dynamic regret of non-stationary bandits grows
    as :math:`V_T^{1/3} T^{2/3}`, Besbes et al. 2014). Parameters as in :func:`external_regret`.
    """
    run = played(preds, losses, simplex_atol)
    sums = run_sums(run.xp, run.losses, run.mode, run.chosen, cumulative_loss=False)
    return run.read(dynamic_from_sums(sums.learner_loss, sums.sum_min_loss))


@losses_first
def swap_regret(preds: ArrayOrTensor, losses: ArrayOrTensor, *, simplex_atol: float = 1e-6) -> float:
    r"""Swap regret (Blum & Mansour 2007): the gain of the best map φ: A → A applied to every play.

    .. math:: M = \sum_t \pi_t \ell_t^\top, \qquad \mathrm{SwapReg} = \sum_a \bigl(M_{aa} - \min_b M_{ab}\bigr)

    Always ≥ max(external regret, 0). No swap regret leads to correlated equilibria,
    no external regret only to coarse correlated equilibria. O(T A²) time, O(A²) memory.
    Parameters as in :func:`external_regret`.
    """
    run = played(preds, losses, simplex_atol)
    sums = run_sums(run.xp, run.losses, run.mode, run.chosen, swap=True, cumulative_loss=False,
                    sum_min_loss=False)
    return run.read(swap_from_matrix(sums.swap_matrix))


@losses_first
@validate_options
def regret_curve(preds: ArrayOrTensor, losses: ArrayOrTensor, *, kind: CurveKind = "external",
                 simplex_atol: float = 1e-6) -> np.ndarray | torch.Tensor:
    r"""Regret after every round, ``curve[t-1] = R_t`` for t = 1..T.

    ``kind="external"``: :math:`R_t = \sum_{s\le t}\langle\ell_s,\pi_s\rangle - \min_i L_t(i)`,
    the comparator recomputed on every prefix (prefix-best, not final-best).
    ``"dynamic"``: the running dynamic regret. ``"swap"``: swap regret of every prefix,
    with a running M (O(T A²) time, computed in chunks so memory stays O(T + A²)).
    Parameters as in :func:`external_regret`; a float64 numpy array for numpy input, a
    float64 tensor on the input's device for torch input.
    """
    run = played(preds, losses, simplex_atol)
    curve = regret_curve_of(run.xp, run.losses, run.mode, run.chosen, kind)
    run.check()
    return curve


def _losses_only(losses: ArrayOrTensor) -> Played:
    """Losses alone (validated), on the numpy or the torch path."""
    from metrics.regret._core import is_tensor, numpy_ops

    if not is_tensor(losses):
        arr = as_losses(losses)
        return Played(numpy_ops, arr, "actions", None, None, lambda: None)
    from metrics.regret._inputs import _real_dtype, tensor_losses_ok

    t = to_device(losses, typing.cast("torch.Tensor", losses), "losses")

    def fail() -> None:
        as_losses(losses)
        raise AssertionError("unreachable: the host check raises")

    if not (t.ndim == 2 and t.shape[0] >= 1 and t.shape[1] >= 1 and _real_dtype(t)):
        fail()
    return Played(torch_ops, t, "actions", None, tensor_losses_ok(t), fail)


@validate_options
def variation_budget(losses: ArrayOrTensor, *, norm: Norm = "inf") -> float:
    r"""Variation budget :math:`V_T = \sum_{t=2}^T \lVert \ell_t - \ell_{t-1}\rVert` (Besbes et al. 2014).

    ``norm`` is ``"inf"`` (default), ``"1"`` or ``"2"``. Zero when T = 1.
    """
    run = _losses_only(losses)
    return run.read(variation_of(run.xp, run.losses, norm))


def best_action_switches(losses: ArrayOrTensor) -> int:
    r"""Number of rounds t ≥ 2 whose best action differs from round t−1's (argmin, lowest index on ties)."""
    run = _losses_only(losses)
    count = switches_of(run.xp, run.losses)
    if run.ok is None:
        return int(count)
    return int(run.read(count.to(run.ok.device).double()))


@losses_first
@validate_options
def regret_report(preds: ArrayOrTensor, losses: ArrayOrTensor, *, eval_points: EvalPoints = "log",
                  alpha: float = 0.05, norm: Norm = "inf", simplex_atol: float = 1e-6) -> RegretReport:
    """External, dynamic and swap regret, the variation budget, the external curve and its no-regret test.

    Parameters as in :func:`external_regret`, :func:`variation_budget` and :func:`no_regret_test`.
    Torch input is summed on its device; the curve then comes to the host for the test.
    """
    alpha = check_fraction(alpha, "alpha")
    run = played(preds, losses, simplex_atol)
    xp = run.xp
    sums = run_sums(xp, run.losses, run.mode, run.chosen, swap=True)
    curve = regret_curve_of(xp, run.losses, run.mode, run.chosen, "external")
    best = xp.argmin(sums.cumulative_loss, 0)
    scalars = run.read_many(regret_from_sums(sums.learner_loss, sums.cumulative_loss),
                            dynamic_from_sums(sums.learner_loss, sums.sum_min_loss),
                            swap_from_matrix(sums.swap_matrix), sums.cumulative_loss[best],
                            sums.learner_loss, sums.sum_min_loss, variation_of(xp, run.losses, norm),
                            switches_of(xp, run.losses) * 1.0, best * 1.0)
    ext, dyn, swp, best_loss, learner, sum_min, variation, switches, best_action = scalars
    curve_host = curve.cpu().numpy() if run.ok is not None else curve
    return RegretReport(
        external_regret=ext, dynamic_regret=dyn, swap_regret=swp, best_fixed_action=int(best_action),
        best_fixed_loss=best_loss, learner_loss=learner, sum_min_loss=sum_min, variation_budget=variation,
        best_action_switches=int(switches), n_rounds=int(run.losses.shape[0]),
        n_actions=int(run.losses.shape[1]), realized=run.mode == "actions",
        test=no_regret_test(curve_host, eval_points=eval_points, alpha=alpha), curve=curve_host)

