"""``Regret``: a torchmetrics Metric that streams rounds and keeps only sums."""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torchmetrics import Metric

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.validation import check_int
from metrics.regret._core import dynamic_from_sums, regret_from_sums, run_sums, swap_from_matrix
from metrics.regret._inputs import check_atol, played

RegretKind = Literal["external", "dynamic", "swap"]

__all__ = ["Regret"]


class Regret(Metric):
    r"""Streaming external / dynamic / swap regret.

    ``update(preds, losses)`` takes a batch of B consecutive rounds: ``preds`` is a (B, A)
    float policy batch (expected regret) or (B,) integer actions (realised regret), and
    ``losses`` the (B, A) full loss vectors. The states are sums in float64 with
    ``dist_reduce_fx="sum"``: cumulative losses L (A,), learner loss Λ, Σ_t min_i ℓ_t(i),
    the round count, and M = Σ_t π_t ℓ_tᵀ (A × A) for ``kind="swap"`` only. Every regret is
    a function of these sums, so splitting rounds over batches or processes in any order
    gives the same value as :func:`metrics.external_regret` (resp. dynamic / swap) on all
    rounds. The curve and the no-regret test need the round order and are not provided.

    Parameters
    ----------
    n_actions : int
        A, the number of actions.
    kind : {"external", "dynamic", "swap"}
    simplex_atol : float
        Tolerance for policy rows (see :func:`metrics.external_regret`).
    validate_args : bool
        Check every batch (default). Tensors are processed in torch on their device with
        every check folded into one flag read once per ``update()`` (one host
        synchronisation); ``False`` reads nothing (shapes are still checked) and invalid
        values then give undefined results.

    Semantics: an empty batch changes nothing; ``forward()`` never loses the accumulated
    state (a batch that raises leaves it as it was) and returns the batch's own regret;
    ranks that saw no batch contribute zero sums under DDP.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    cumulative_loss: torch.Tensor
    learner_loss: torch.Tensor
    sum_min_loss: torch.Tensor
    n_rounds: torch.Tensor

    @validate_options
    def __init__(self, n_actions: int, *, kind: RegretKind = "external", simplex_atol: float = 1e-6,
                 validate_args: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validate_args = bool(validate_args)
        self._warned_empty = False
        self.n_actions = check_int(n_actions, "n_actions", min_value=1)
        self.kind = kind
        self.simplex_atol = check_atol(simplex_atol)
        f64 = torch.float64
        self.add_state("cumulative_loss", torch.zeros(self.n_actions, dtype=f64), dist_reduce_fx="sum", persistent=True)
        self.add_state("learner_loss", torch.zeros((), dtype=f64), dist_reduce_fx="sum", persistent=True)
        self.add_state("sum_min_loss", torch.zeros((), dtype=f64), dist_reduce_fx="sum", persistent=True)
        self.add_state("n_rounds", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum", persistent=True)
        if self.kind == "swap":
            self.add_state("swap_matrix", torch.zeros(self.n_actions, self.n_actions, dtype=f64),
                           dist_reduce_fx="sum", persistent=True)

    # ------------------------------------------------------------------ batch statistics
    def _batch(self, preds: npt.ArrayLike | torch.Tensor, losses: npt.ArrayLike | torch.Tensor
               ) -> dict[str, torch.Tensor] | None:
        """The sums of one batch (None for an empty batch). Raises before any state changes.

        The same validation and the same formulas as the functions (:func:`played`,
        :func:`run_sums`): tensors stay on their device, numpy runs in numpy.
        """
        if _is_empty(losses, self.n_actions) and _is_empty(preds, None):
            return None
        run = played(preds, losses, self.simplex_atol, validate=self.validate_args, n_actions=self.n_actions)
        sums = run_sums(run.xp, run.losses, run.mode, run.chosen, swap=self.kind == "swap")
        run.check()  # the one synchronisation (none with validate_args=False)
        device = self.cumulative_loss.device

        def put(x: object) -> torch.Tensor:
            if isinstance(x, torch.Tensor):
                return x.to(device=device, dtype=torch.float64)
            return torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)

        stats = {"cumulative_loss": put(sums.cumulative_loss), "learner_loss": put(sums.learner_loss),
                 "sum_min_loss": put(sums.sum_min_loss),
                 "n_rounds": torch.tensor(int(run.losses.shape[0]), dtype=torch.int64, device=device)}
        if self.kind == "swap":
            stats["swap_matrix"] = put(sums.swap_matrix)
        return stats

    def _add(self, stats: dict[str, torch.Tensor] | None) -> None:
        if stats is not None:
            for name, value in stats.items():
                getattr(self, name).add_(value)

    def _value(self, learner: torch.Tensor, cumulative: torch.Tensor, sum_min: torch.Tensor,
               swap: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "external":
            return regret_from_sums(learner, cumulative)
        if self.kind == "dynamic":
            return dynamic_from_sums(learner, sum_min)
        assert swap is not None
        return swap_from_matrix(swap)

    # ------------------------------------------------------------------ Metric API
    def update(self, preds: npt.ArrayLike | torch.Tensor,  # type: ignore[override]
               losses: npt.ArrayLike | torch.Tensor) -> None:
        """Add B rounds: ``preds`` (B, A) policies or (B,) actions; ``losses`` (B, A)."""
        self._add(self._batch(preds, losses))

    def forward(self, preds: npt.ArrayLike | torch.Tensor,  # type: ignore[override]
                losses: npt.ArrayLike | torch.Tensor) -> torch.Tensor:
        """Add the batch and return the regret of its own rounds (NaN with a warning when empty).

        Unlike torchmetrics' default, the accumulated state is never reset: a batch that
        raises leaves it unchanged.
        """
        stats = self._batch(preds, losses)
        self._add(stats)
        self._update_count += 1
        self._computed = None
        if stats is None:
            if not self._warned_empty:
                warnings.warn("Regret.forward: the batch is empty; its value is NaN (the accumulated state "
                              "is kept)", RuntimeWarning, stacklevel=2)
                self._warned_empty = True
            return torch.tensor(math.nan, dtype=torch.float64, device=self.cumulative_loss.device)
        return self._value(stats["learner_loss"], stats["cumulative_loss"], stats["sum_min_loss"],
                           stats.get("swap_matrix"))

    def compute(self) -> torch.Tensor:
        """The regret over all rounds seen (float64 scalar tensor)."""
        if int(self.n_rounds) == 0:
            raise InputError("Regret.compute() called before any update; no rounds were seen")
        value = self._value(self.learner_loss, self.cumulative_loss, self.sum_min_loss,
                            getattr(self, "swap_matrix", None))
        if not bool(torch.isfinite(value)):
            raise InputError("losses: the accumulated sums exceed the float64 range; rescale the losses")
        return value


def _is_empty(x: object, width: int | None) -> bool:
    """A batch with no rounds: shape (0, width) (or (0,) / (0, k) for preds), checked on the shape only."""
    shape = tuple(getattr(x, "shape", ())) if hasattr(x, "shape") else tuple(np.shape(np.asarray(x, dtype=object)))
    if not shape or shape[0] != 0:
        return False
    if width is None:
        return len(shape) in (1, 2)
    return len(shape) == 2 and shape[1] == width
