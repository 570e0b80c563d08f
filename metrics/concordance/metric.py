"""``ConcordanceIndex``: Harrell's C as a torchmetrics Metric."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from metrics.concordance._inputs import ON_UNDEFINED, as_event, as_vector, resolve_direction
from metrics.concordance.harrell import concordance_index
from metrics.core.errors import InputError
from metrics.core.validation import check_option

__all__ = ["ConcordanceIndex"]


class ConcordanceIndex(Metric):
    """Harrell's concordance index accumulated over batches.

    ``update(risk, time, event=None)`` appends the batch; ``compute()`` calls
    :func:`metrics.concordance_index` on the concatenation, so the value equals the
    functional form on all data. C is not a sum over batches (pairs cross batches),
    so the states are **list states with** ``dist_reduce_fx="cat"``: memory grows
    with the number of samples (24 bytes each, float64), and across processes the
    lists are gathered and concatenated before ``compute()``.

    Parameters
    ----------
    higher_is, tied_tol, compat, on_undefined
        As :func:`metrics.concordance_index`.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, higher_is: str | None = None, tied_tol: float | None = None, compat: str | None = None,
                 on_undefined: str = "raise", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        resolve_direction(compat, higher_is, tied_tol, ("lifelines", "sksurv"))  # fail early
        check_option(on_undefined, "on_undefined", ON_UNDEFINED)
        self.higher_is = higher_is
        self.tied_tol = tied_tol
        self.compat = compat
        self.on_undefined = on_undefined
        self.add_state("risk", default=[], dist_reduce_fx="cat")
        self.add_state("time", default=[], dist_reduce_fx="cat")
        self.add_state("event", default=[], dist_reduce_fx="cat")

    def update(self, risk: Any, time: Any, event: Any = None) -> None:  # type: ignore[override]
        r = as_vector(risk, "risk", "finite risk scores")
        t = as_vector(time, "time", "finite times")
        e = as_event(event, t.size)
        if not (r.size == t.size == e.size):
            raise InputError(f"risk, time, event must have the same length; risk has {r.size}, "
                             f"time has {t.size}, event has {e.size}")
        self.risk.append(torch.as_tensor(r.copy(), dtype=torch.float64, device=self.device))
        self.time.append(torch.as_tensor(t.copy(), dtype=torch.float64, device=self.device))
        self.event.append(torch.as_tensor(e.astype("float64"), dtype=torch.float64, device=self.device))

    def compute(self) -> torch.Tensor:
        # After a cross-process sync the list states are already concatenated tensors.
        if isinstance(self.time, list) and sum(x.numel() for x in self.time) == 0:
            raise InputError("ConcordanceIndex.compute() called before any update with data")
        risk = dim_zero_cat(self.risk)
        time = dim_zero_cat(self.time)
        event = dim_zero_cat(self.event)
        value = concordance_index(risk, time, event, higher_is=self.higher_is, tied_tol=self.tied_tol,
                                  compat=self.compat, on_undefined=self.on_undefined)
        return torch.tensor(value, dtype=torch.float64)
