"""``ConcordanceIndex``: Harrell's C as a torchmetrics Metric."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torchmetrics import Metric
from torchmetrics.utilities.distributed import gather_all_tensors

from metrics.concordance._inputs import as_event, as_risk, as_vector, resolve_direction
from metrics.concordance.functional import concordance_index
from metrics.core.errors import InputError
from metrics.core.metric_state import forward_keeping_state
from metrics.core.options import validate_options

__all__ = ["ConcordanceIndex"]

_STATES = ("risk", "time", "event")

def _as_tensor(value: torch.Tensor | npt.ArrayLike | None, device: torch.device) -> torch.Tensor | None:
    """A tensor view of the input (copied later, into the state); numpy input goes to ``device``."""
    if value is None or isinstance(value, torch.Tensor):
        return value.detach() if isinstance(value, torch.Tensor) else None
    return torch.from_numpy(np.array(value, copy=True)).to(device)


def _flat(x: torch.Tensor, name: str, what: str) -> torch.Tensor:
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of {what}; got shape {tuple(x.shape)}")
    if x.is_complex() or not (x.is_floating_point() or x.dtype in (torch.bool, torch.uint8, torch.int8,
                                                                      torch.int16, torch.int32, torch.int64)):
        raise InputError(f"{name} must hold {what}; found tensor dtype {x.dtype}")
    return x


class ConcordanceIndex(Metric):
    """Harrell's concordance index accumulated over batches.

    ``update(risk, time, event=None)`` appends the batch; ``compute()`` calls
    :func:`metrics.concordance_index` on the concatenation, so the value equals the
    functional form on all data. C is not a sum over batches (pairs cross batches),
    so the states are **list states with** ``dist_reduce_fx="cat"``: memory grows
    with the number of samples (24 bytes each, float64), and across processes the
    lists are gathered and concatenated before ``compute()`` (a rank that saw no
    batch sends empty states).

    Where the work runs: ``update()`` stays in torch on the input's device and copies
    the batch into float64 states there (never a view of the caller's buffer), with no
    host copy and one host synchronisation for validation (no NaN risk, finite times,
    events 0/1), none with ``validate_args=False``. Shapes are always checked.
    ``compute()`` moves the states to the host once for the sequential O(n log n)
    sweep. Empty batches are accepted and change nothing.

    ``forward()`` returns C of the batch alone and adds the batch to the state. A batch
    that raises leaves the state as it was; a valid batch whose own C is undefined
    (no comparable pair, e.g. two censored subjects, or an empty batch) returns NaN
    with a warning (once per metric).

    Parameters
    ----------
    higher_is, tied_tol, compat, on_undefined
        As :func:`metrics.concordance_index`.
    validate_args : bool, default True
        Check values in ``update()`` (one synchronisation per call).
    **kwargs
        Passed to :class:`torchmetrics.Metric`.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    risk: list[torch.Tensor] | torch.Tensor
    time: list[torch.Tensor] | torch.Tensor
    event: list[torch.Tensor] | torch.Tensor

    @validate_options
    def __init__(self, higher_is: Literal["risk", "survival"] | None = None, tied_tol: float | None = None,
                 compat: Literal["lifelines", "sksurv"] | None = None,
                 on_undefined: Literal["raise", "nan"] = "raise", *, validate_args: bool = True,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        resolve_direction(compat, higher_is, tied_tol)  # fail early on a conflict
        self.higher_is = higher_is
        self.tied_tol = tied_tol
        self.compat = compat
        self.on_undefined = on_undefined
        self.validate_args = bool(validate_args)
        self._in_forward = False
        self._warned_undefined = False
        for name in _STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    # -- update ------------------------------------------------------------------------

    def _checked(self, risk: torch.Tensor | npt.ArrayLike, time: torch.Tensor | npt.ArrayLike,
                 event: torch.Tensor | npt.ArrayLike | None,
                 validate: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r = _flat(_as_tensor(risk, self.device), "risk", "risk scores")  # type: ignore[arg-type]
        t = _flat(_as_tensor(time, self.device), "time", "times")  # type: ignore[arg-type]
        e_in = _as_tensor(event, t.device)
        e = (torch.ones(t.shape[0], dtype=torch.bool, device=t.device) if e_in is None
             else _flat(e_in, "event", "0/1 or bool event indicators"))
        if not (r.shape[0] == t.shape[0] == e.shape[0]):
            raise InputError(f"risk, time, event must have the same length; risk has {r.shape[0]}, "
                             f"time has {t.shape[0]}, event has {e.shape[0]}")
        if validate and t.shape[0]:
            bad = torch.isnan(r).any() if r.is_floating_point() else torch.zeros((), dtype=torch.bool, device=r.device)
            if t.is_floating_point():
                bad = bad.to(t.device) | ~torch.isfinite(t).all()
            if e.dtype != torch.bool:
                bad = bad.to(e.device) | ((e != 0) & (e != 1)).any()
            if bool(bad):  # the one synchronisation
                # the numpy checks name the first bad element (a host copy, on the error path only)
                as_risk(r.cpu().numpy())
                as_vector(t.cpu().numpy(), "time", "times")
                as_event(e.cpu().numpy(), e.shape[0])
        return r, t, e

    def update(self, risk: torch.Tensor, time: torch.Tensor,  # type: ignore[override]
               event: torch.Tensor | None = None) -> None:
        """Append a batch of risk scores, times and (optional) event indicators (copied into the states)."""
        r, t, e = self._checked(risk, time, event, self.validate_args and not self._in_forward)
        if t.shape[0] == 0:
            return
        for name, value in zip(_STATES, (r, t, e)):
            state = getattr(self, name)
            assert isinstance(state, list)
            state.append(value.to(dtype=torch.float64, copy=True))

    # -- forward: never lose the accumulated state -------------------------------------

    def forward(self, risk: torch.Tensor, time: torch.Tensor,  # type: ignore[override]
                event: torch.Tensor | None = None) -> torch.Tensor:
        """C of this batch alone (NaN with a warning when undefined); the batch joins the state."""
        r, t, e = self._checked(risk, time, event, self.validate_args)  # raises before any state change
        parent_forward = super().forward
        self._in_forward = True
        try:
            return forward_keeping_state(self, lambda: parent_forward(r, t, e))
        finally:
            self._in_forward = False

    # -- compute and distributed gathering ---------------------------------------------

    def _sync_dist(self, dist_sync_fn: Callable = gather_all_tensors,  # type: ignore[type-arg]
                   process_group: object | None = None) -> None:
        # every rank sends exactly one float64 tensor per state, also a rank that saw no batch
        for attr in _STATES:
            value = getattr(self, attr)
            if isinstance(value, list):
                setattr(self, attr, [torch.cat(value)] if value else
                        [torch.zeros(0, dtype=torch.float64, device=self.device)])
        super()._sync_dist(dist_sync_fn, process_group)

    def compute(self) -> torch.Tensor:
        """Harrell's C of every batch as a float64 scalar tensor (the sweep runs on the host)."""
        parts = {}
        for attr in _STATES:
            value = getattr(self, attr)
            if isinstance(value, list):
                value = torch.cat(value) if value else torch.zeros(0, dtype=torch.float64)
            parts[attr] = value.cpu().numpy()
        if parts["time"].size == 0:
            if self._in_forward:
                return self._undefined("the batch is empty")
            raise InputError("ConcordanceIndex.compute() called before any update with data")
        try:
            value = concordance_index(parts["risk"], parts["time"], parts["event"], higher_is=self.higher_is,
                                      tied_tol=self.tied_tol, compat=self.compat,
                                      on_undefined="raise" if self._in_forward else self.on_undefined)
        except InputError as exc:
            if self._in_forward:
                return self._undefined(str(exc))
            raise
        return torch.tensor(value, dtype=torch.float64)

    def _undefined(self, why: str) -> torch.Tensor:
        if not self._warned_undefined:
            warnings.warn(f"the concordance of this batch is undefined ({why}); forward() returns NaN for it. "
                          "The batch still joins the accumulated state.", RuntimeWarning, stacklevel=4)
            self._warned_undefined = True
        return torch.tensor(float("nan"), dtype=torch.float64)
