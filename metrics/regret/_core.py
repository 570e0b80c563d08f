"""Input coercion and the regret formulas, written once.

Every regret in :mod:`metrics.regret` is a function of a few running sums
(learner loss, cumulative losses, the sum of per-round minima, the swap matrix).
The functions here turn those sums into regrets and work on numpy arrays and torch
tensors alike (batched over leading axes), so the functional API, the streaming
:class:`~metrics.regret.Regret` Metric, the curves and the differentiable
``reference_models.expected_regret`` all call the same formula.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, as_label_array, check_positive

# Rows per chunk are chosen so a chunk holds about this many float64 values; every
# O(T A) pass runs chunk by chunk so memory beyond the inputs stays O(T + A²).
CHUNK_ELEMENTS = 1 << 18


def rows_per_chunk(width: int) -> int:
    """Number of rows of a ``width``-wide array that fit in one chunk (at least 1)."""
    return max(1, CHUNK_ELEMENTS // max(1, width))


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def amin_last(x):
    """Minimum over the last axis for numpy arrays and torch tensors."""
    return x.amin(dim=-1) if _is_torch(x) else np.min(x, axis=-1)


def regret_from_sums(learner_loss, cumulative_loss):
    r"""External regret from sums: :math:`\Lambda - \min_i L(i)`.

    ``learner_loss`` has shape ``(...,)`` and ``cumulative_loss`` ``(..., A)``.
    """
    return learner_loss - amin_last(cumulative_loss)


def dynamic_from_sums(learner_loss, sum_min_loss):
    r"""Dynamic regret from sums: :math:`\Lambda - \sum_t \min_i \ell_t(i)`."""
    return learner_loss - sum_min_loss


def swap_from_matrix(swap_matrix):
    r"""Swap regret from :math:`M = \sum_t \pi_t \ell_t^\top`: :math:`\sum_a (M_{aa} - \min_b M_{ab})`.

    ``swap_matrix`` has shape ``(..., A, A)``.
    """
    if _is_torch(swap_matrix):
        diag = swap_matrix.diagonal(dim1=-2, dim2=-1).sum(-1)
        return diag - swap_matrix.amin(dim=-1).sum(-1)
    diag = np.trace(swap_matrix, axis1=-2, axis2=-1)
    return diag - np.min(swap_matrix, axis=-1).sum(axis=-1)


# ----------------------------------------------------------------------------- inputs


def _check_finite_chunked(arr: np.ndarray, name: str, what: str) -> None:
    """Raise on the first NaN / inf, scanning in chunks (no full-size temporary)."""
    step = rows_per_chunk(arr.shape[1] if arr.ndim == 2 else 1)
    for start in range(0, arr.shape[0], step):
        block = arr[start:start + step]
        ok = np.isfinite(block)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            pos = np.unravel_index(i, block.shape)
            where = (f"row {start + pos[0]}, column {pos[1]}" if arr.ndim == 2
                     else f"element {start + pos[0]}")
            raise InputError(f"{name} must be finite {what}; {where} is {block[pos]}")


def as_losses(losses: Any, name: str = "losses") -> np.ndarray:
    """Loss vectors as a finite float64 ``(T, A)`` array with T ≥ 1 and A ≥ 1."""
    arr = as_float_array(losses, name, ndim=2, finite=False, what="losses (a (T, A) array)")
    if arr.shape[1] == 0:
        raise InputError(f"{name} must have at least one action (column); got shape {arr.shape}")
    _check_finite_chunked(arr, name, "losses")
    return arr


def as_policy(policy: Any, n_rounds: int, n_actions: int, simplex_atol: float,
              name: str = "policy") -> np.ndarray:
    """Policies as a float64 ``(T, A)`` array of rows on the simplex (within ``simplex_atol``).

    Rows are used as given, never renormalised.
    """
    arr = as_float_array(policy, name, ndim=2, finite=False, what="probability rows")
    if arr.shape != (n_rounds, n_actions):
        raise InputError(f"{name} must have shape (T, A) = ({n_rounds}, {n_actions}) like the losses; "
                         f"got {arr.shape}")
    _check_finite_chunked(arr, name, "probabilities")
    step = rows_per_chunk(n_actions)
    for start in range(0, n_rounds, step):
        block = arr[start:start + step]
        low = block.min(axis=1)
        bad = np.flatnonzero(low < -simplex_atol)
        if bad.size:
            r = int(bad[0])
            raise InputError(f"{name} rows must be probability vectors (entries ≥ -{simplex_atol:g}); "
                             f"row {start + r} has an entry {low[r]!r}")
        sums = block.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > simplex_atol)
        if bad.size:
            r = int(bad[0])
            raise InputError(f"{name} rows must sum to 1 within simplex_atol={simplex_atol:g}; "
                             f"row {start + r} sums to {sums[r]:.10g}")
    return arr


def as_actions(actions: Any, n_rounds: int | None, n_actions: int, name: str = "actions") -> np.ndarray:
    """Chosen actions as int64 ``(T,)`` in ``[0, A)`` (integral floats accepted)."""
    arr = as_label_array(actions, name, n_classes=n_actions, ndim=1)
    if n_rounds is not None and arr.shape[0] != n_rounds:
        raise InputError(f"{name} must have one action per round (T = {n_rounds}, the rows of the losses); "
                         f"got {arr.shape[0]}")
    return arr


def check_atol(simplex_atol: Any) -> float:
    return check_positive(simplex_atol, "simplex_atol", allow_zero=True)


def decisions(losses: np.ndarray, policy: Any, actions: Any, simplex_atol: Any,
              policy_name: str = "policy", actions_name: str = "actions"):
    """Validate exactly one of ``policy`` / ``actions``; return ``("policy"|"actions", array)``."""
    if (policy is None) == (actions is None):
        raise InputError(f"exactly one of {policy_name} / {actions_name} must be given; got "
                         + ("neither" if policy is None else "both"))
    n_rounds, n_actions = losses.shape
    if policy is not None:
        return "policy", as_policy(policy, n_rounds, n_actions, check_atol(simplex_atol), policy_name)
    return "actions", as_actions(actions, n_rounds, n_actions, actions_name)


# ----------------------------------------------------------------------------- per-round pieces


def round_learner_losses(losses: np.ndarray, mode: str, chosen: np.ndarray, start: int = 0,
                         stop: int | None = None) -> np.ndarray:
    r"""Per-round learner loss :math:`\langle \ell_t, \pi_t\rangle` (or :math:`\ell_t(a_t)`) for rows start:stop."""
    block = losses[start:stop]
    if mode == "policy":
        return np.einsum("ta,ta->t", block, chosen[start:stop])
    return block[np.arange(block.shape[0]), chosen[start:stop]]


def learner_loss_total(losses: np.ndarray, mode: str, chosen: np.ndarray) -> float:
    r"""Λ = Σ_t ⟨ℓ_t, π_t⟩ (or Σ_t ℓ_t(a_t))."""
    if mode == "policy":
        return float(np.vdot(losses, chosen)) if losses.flags.c_contiguous and chosen.flags.c_contiguous \
            else float(np.einsum("ta,ta->", losses, chosen))
    return float(losses[np.arange(losses.shape[0]), chosen].sum())


def swap_matrix_of(losses: np.ndarray, mode: str, chosen: np.ndarray) -> np.ndarray:
    r"""M = Σ_t π_t ℓ_tᵀ (A × A); with actions π_t = e_{a_t}, so row a sums ℓ_t over rounds with a_t = a."""
    n_rounds, n_actions = losses.shape
    if mode == "policy":
        return chosen.T @ losses
    m = np.zeros((n_actions, n_actions))
    step = rows_per_chunk(n_actions)
    for start in range(0, n_rounds, step):
        a = chosen[start:start + step]
        onehot = np.zeros((a.shape[0], n_actions))
        onehot[np.arange(a.shape[0]), a] = 1.0
        m += onehot.T @ losses[start:start + step]
    return m
