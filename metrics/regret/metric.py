"""``Regret``: a torchmetrics Metric that streams rounds and keeps only sums."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from metrics.core.errors import InputError
from metrics.core.validation import check_int, check_option, to_numpy
from metrics.regret._core import (
    as_actions,
    as_losses,
    as_policy,
    check_atol,
    dynamic_from_sums,
    learner_loss_total,
    regret_from_sums,
    swap_from_matrix,
    swap_matrix_of,
)

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
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, n_actions: int, *, kind: str = "external", simplex_atol: float = 1e-6,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_actions = check_int(n_actions, "n_actions", min_value=1)
        self.kind = check_option(kind, "kind", ("external", "dynamic", "swap"))
        self.simplex_atol = check_atol(simplex_atol)
        f64 = torch.float64
        self.add_state("cumulative_loss", torch.zeros(self.n_actions, dtype=f64), dist_reduce_fx="sum")
        self.add_state("learner_loss", torch.zeros((), dtype=f64), dist_reduce_fx="sum")
        self.add_state("sum_min_loss", torch.zeros((), dtype=f64), dist_reduce_fx="sum")
        self.add_state("n_rounds", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")
        if self.kind == "swap":
            self.add_state("swap_matrix", torch.zeros(self.n_actions, self.n_actions, dtype=f64),
                           dist_reduce_fx="sum")

    def update(self, preds: Any, losses: Any) -> None:  # type: ignore[override]
        """Add B rounds: ``preds`` (B, A) policies or (B,) actions; ``losses`` (B, A)."""
        loss_arr = as_losses(losses)
        if loss_arr.shape[1] != self.n_actions:
            raise InputError(f"losses must have n_actions = {self.n_actions} columns; got {loss_arr.shape[1]}")
        pred_arr = to_numpy(preds, "preds")
        if pred_arr.ndim == 2:
            mode, chosen = "policy", as_policy(pred_arr, loss_arr.shape[0], self.n_actions,
                                               self.simplex_atol, "preds")
        elif pred_arr.ndim == 1:
            mode, chosen = "actions", as_actions(pred_arr, loss_arr.shape[0], self.n_actions, "preds")
        else:
            raise InputError(f"preds must be a (B, A) policy batch or (B,) actions; got shape {pred_arr.shape}")
        device = self.cumulative_loss.device

        def add(x) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)

        self.cumulative_loss += add(loss_arr.sum(axis=0))
        self.learner_loss += add(learner_loss_total(loss_arr, mode, chosen))
        self.sum_min_loss += add(loss_arr.min(axis=1).sum())
        self.n_rounds += loss_arr.shape[0]
        if self.kind == "swap":
            self.swap_matrix += add(swap_matrix_of(loss_arr, mode, chosen))

    def compute(self) -> torch.Tensor:
        """The regret over all rounds seen (float64 scalar tensor)."""
        if int(self.n_rounds) == 0:
            raise InputError("Regret.compute() called before any update; no rounds were seen")
        if self.kind == "external":
            return regret_from_sums(self.learner_loss, self.cumulative_loss)
        if self.kind == "dynamic":
            return dynamic_from_sums(self.learner_loss, self.sum_min_loss)
        return swap_from_matrix(self.swap_matrix)
