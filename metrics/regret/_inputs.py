"""Validation of what the learner played (``preds``) and the loss vectors, for numpy and torch.

numpy input is validated eagerly with messages naming the row and the column. Torch
input stays on its device: every value check is folded into one boolean flag that the
caller reads once (with its result); only when that flag is false are the inputs copied
to the host, to raise the same message as the numpy path.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, as_label_array, check_positive, to_numpy
from metrics.regret._core import Mode, Ops, is_tensor, loss_limit, numpy_ops, rows_per_chunk, torch_ops

if TYPE_CHECKING:
    import torch


# ----------------------------------------------------------------------------- numpy


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


def check_loss_scale(arr: np.ndarray, name: str = "losses") -> None:
    """Raise when |losses| is so large that a regret sum would overflow float64."""
    if arr.size == 0:
        return
    limit = loss_limit(arr.shape[0], arr.shape[1] if arr.ndim == 2 else 1)
    step = rows_per_chunk(arr.shape[1] if arr.ndim == 2 else 1)
    for start in range(0, arr.shape[0], step):
        block = np.abs(arr[start:start + step])
        if block.max() > limit:
            pos = np.unravel_index(int(np.argmax(block)), block.shape)
            where = f"row {start + pos[0]}, column {pos[1]}" if arr.ndim == 2 else f"element {start + pos[0]}"
            raise InputError(f"{name} must be at most {limit:.3g} in absolute value so that sums over "
                             f"T = {arr.shape[0]} rounds stay within float64; {where} is "
                             f"{float(arr[start:start + step][pos])!r}; rescale them")


def as_losses(losses: Any, name: str = "losses") -> np.ndarray:
    """Loss vectors as a finite float64 ``(T, A)`` array with T ≥ 1 and A ≥ 1."""
    arr = as_float_array(losses, name, ndim=2, finite=False, what="losses (a (T, A) array)")
    if arr.shape[1] == 0:
        raise InputError(f"{name} must have at least one action (column); got shape {arr.shape}")
    _check_finite_chunked(arr, name, "losses")
    check_loss_scale(arr, name)
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


def _ndim(x: Any) -> int:
    return int(x.ndim) if hasattr(x, "ndim") else int(np.ndim(to_numpy(x, "preds")))


def numpy_preds(preds: Any, n_rounds: int | None, n_actions: int, simplex_atol: float,
                name: str = "preds") -> tuple[Mode, np.ndarray]:
    """``("policy", (T, A) float64)`` for a 2-D ``preds``, ``("actions", (T,) int64)`` for a 1-D one."""
    arr = to_numpy(preds, name)
    if arr.ndim == 2:
        return "policy", as_policy(arr, arr.shape[0] if n_rounds is None else n_rounds, n_actions,
                                   simplex_atol, name)
    if arr.ndim == 1:
        return "actions", as_actions(arr, n_rounds, n_actions, name)
    raise InputError(f"{name} must be a (T, A) policy (one probability row per round) or (T,) integer "
                     f"actions; got shape {arr.shape}")


# ----------------------------------------------------------------------------- torch


def to_device(x: Any, like: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as a tensor on ``like``'s device (a tensor already there is used as is, detached)."""
    import torch

    if is_tensor(x):
        return x.detach() if x.device == like.device else x.detach().to(like.device)
    return torch.from_numpy(to_numpy(x, name)).to(like.device)


def _real_dtype(t: torch.Tensor) -> bool:
    return not t.is_complex() and (t.dtype.is_floating_point or t.dtype in _INT_DTYPES())


def _INT_DTYPES() -> tuple[torch.dtype, ...]:
    import torch

    return (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def tensor_losses_ok(losses: torch.Tensor) -> torch.Tensor:
    """One flag: every loss finite and small enough for float64 sums (chunked, no synchronisation)."""
    import torch

    n_rounds, n_actions = losses.shape
    limit = loss_limit(n_rounds, n_actions)
    ok = torch.ones((), dtype=torch.bool, device=losses.device)
    step = torch_ops.rows_per_chunk(n_actions)
    for start in range(0, n_rounds, step):
        block = losses[start:start + step]
        if block.dtype != torch.bool:
            # max / min propagate NaN and an infinity exceeds the limit: one test covers finiteness
            ok = ok & (block.amax() <= limit) & (block.amin() >= -limit)
    return ok


def tensor_preds(preds: torch.Tensor, n_actions: int, simplex_atol: float, validate: bool
                 ) -> tuple[Mode, torch.Tensor, torch.Tensor | None]:
    """Mode, the decisions (policy as given / actions as int64 indices) and the validation flag.

    Shapes are checked by the caller. Actions are clamped into [0, A) so that the arithmetic
    never indexes out of range before the flag is read (an invalid batch then raises).
    """
    import torch

    ok = torch.ones((), dtype=torch.bool, device=preds.device) if validate else None
    if preds.ndim == 2:
        if ok is not None:
            step = torch_ops.rows_per_chunk(n_actions)
            for start in range(0, preds.shape[0], step):
                block = preds[start:start + step].to(torch.float64)
                # NaN and -inf fail the first test (amin propagates NaN), +inf the row sums
                ok = ok & (block.amin() >= -simplex_atol) & ((block.sum(1) - 1.0).abs() <= simplex_atol).all()
        return "policy", preds, ok
    acts = preds
    if acts.dtype.is_floating_point:
        if ok is not None:
            ok = ok & (torch.isfinite(acts) & (acts == acts.round())).all()
        acts = torch.nan_to_num(acts, nan=0.0, posinf=0.0, neginf=0.0)
    elif acts.dtype == torch.bool:
        acts = acts.to(torch.int64)
    if ok is not None:
        ok = ok & (acts >= 0).all() & (acts < n_actions).all()
    return "actions", acts.to(torch.int64).clamp(0, n_actions - 1), ok


# ----------------------------------------------------------------------------- both


@dataclasses.dataclass
class Played:
    """Validated inputs of one run: ``xp`` runs the formulas; ``ok`` is the deferred torch check."""

    xp: Ops
    losses: Any
    mode: Mode
    chosen: Any
    ok: torch.Tensor | None
    raise_invalid: Any  # () -> NoReturn: re-validates on the host and raises the precise message

    def read(self, value: Any) -> float:
        """A scalar result as a float; for torch one read that also checks the inputs."""
        if self.ok is None:
            return float(value.item()) if is_tensor(value) else float(value)
        import torch

        out = float(torch.where(self.ok, value, torch.full_like(value, math.nan)).item())
        if math.isnan(out):
            self.raise_invalid()
        return out

    def read_many(self, *values: Any) -> tuple[float, ...]:
        """Several scalar results at once (one transfer for torch)."""
        if self.ok is None:
            return tuple(float(v.item()) if is_tensor(v) else float(v) for v in values)
        import torch

        stacked = torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in values])
        out = torch.where(self.ok, stacked, torch.full_like(stacked, math.nan)).tolist()
        if any(math.isnan(v) for v in out):
            self.raise_invalid()
        return tuple(out)

    def check(self) -> None:
        """Raise now when the torch inputs are invalid (one synchronisation)."""
        if self.ok is not None and not bool(self.ok):
            self.raise_invalid()


def _host_check(preds: Any, losses: Any, simplex_atol: float, names: tuple[str, str],
                n_actions: int | None = None) -> None:
    """The numpy validation on host copies: raises the precise message for invalid input."""
    loss_arr = as_losses(to_numpy(losses, names[1]), names[1])
    if n_actions is not None and loss_arr.shape[1] != n_actions:
        raise InputError(f"{names[1]} must have n_actions = {n_actions} columns; got {loss_arr.shape[1]}")
    numpy_preds(to_numpy(preds, names[0]), loss_arr.shape[0], loss_arr.shape[1], simplex_atol, names[0])


def played(preds: Any, losses: Any, simplex_atol: float, *, names: tuple[str, str] = ("preds", "losses"),
           validate: bool = True, n_actions: int | None = None) -> Played:
    """Validate ``preds`` (a (T, A) policy or (T,) actions) against ``losses`` (T, A).

    Any torch tensor among them selects the torch path on that tensor's device (the other
    argument is moved there); otherwise everything is numpy, validated now.
    """
    atol = check_atol(simplex_atol)

    def fail() -> None:
        _host_check(preds, losses, atol, names, n_actions)
        raise InputError(f"{names[0]} / {names[1]} hold invalid values")

    if not (is_tensor(preds) or is_tensor(losses)):
        loss_arr = as_losses(losses, names[1])
        if n_actions is not None and loss_arr.shape[1] != n_actions:
            raise InputError(f"{names[1]} must have n_actions = {n_actions} columns; got {loss_arr.shape[1]}")
        mode, chosen = numpy_preds(preds, loss_arr.shape[0], loss_arr.shape[1], atol, names[0])
        return Played(numpy_ops, loss_arr, mode, chosen, None, fail)
    anchor = losses if is_tensor(losses) else preds
    loss_t = to_device(losses, anchor, names[1])
    pred_t = to_device(preds, anchor, names[0])
    shape_ok = (loss_t.ndim == 2 and loss_t.shape[0] >= 1 and loss_t.shape[1] >= 1 and _real_dtype(loss_t)
                and _real_dtype(pred_t) and pred_t.ndim in (1, 2) and pred_t.shape[0] == loss_t.shape[0]
                and (pred_t.ndim == 1 or pred_t.shape[1] == loss_t.shape[1])
                and (n_actions is None or loss_t.shape[1] == n_actions))
    if not shape_ok:
        fail()
    mode, chosen_t, ok = tensor_preds(pred_t, int(loss_t.shape[1]), atol, validate)
    if ok is not None:
        ok = ok & tensor_losses_ok(loss_t)
    return Played(torch_ops, loss_t, mode, chosen_t, ok, fail)
