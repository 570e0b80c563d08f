"""``forward()`` that never loses a Metric's accumulated state.

torchmetrics' ``forward`` resets the Metric, updates it with the batch alone to compute
the batch value, then restores the accumulated state and adds the batch. When the batch
raises halfway, the restore never happens and every earlier batch is lost. Metrics whose
batch can fail after validation (an undefined batch value, a gather) wrap the parent's
``forward`` with :func:`forward_keeping_state`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

__all__ = ["TORCHMETRICS_FLAGS", "forward_keeping_state"]

T = TypeVar("T")

#: The torchmetrics bookkeeping attributes that ``forward`` changes besides the states.
TORCHMETRICS_FLAGS = ("_update_count", "_computed", "_to_sync", "_should_unsync", "compute_on_cpu",
                      "_enable_grad", "_is_synced")


class _HasStates(Protocol):
    @property
    def _defaults(self) -> Mapping[str, object]: ...


def forward_keeping_state(metric: _HasStates, forward: Callable[[], T], *, extra: Sequence[str] = ()) -> T:
    """Run ``forward()`` (the parent's bound ``forward`` on a validated batch); if it raises,
    put back every state, the torchmetrics flags and the ``extra`` attributes, then re-raise."""
    names = [*metric._defaults, *TORCHMETRICS_FLAGS, *extra]
    saved = {name: getattr(metric, name) for name in names}
    try:
        return forward()
    except BaseException:
        for name, value in saved.items():
            setattr(metric, name, value)
        raise
