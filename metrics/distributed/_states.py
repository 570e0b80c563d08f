"""Engine-neutral per-shard states: the states of the family's torchmetrics ``Metric``.

A shard's state is a Metric object that has seen that shard (``partial_state``); two
states merge with the Metric's own reductions (``merge_states``: sums add, list states
concatenate, exactly as across DDP processes); ``finalize_state`` is ``compute()``.
Dask drives these three functions here; a Ray or Spark adapter needs nothing else.
Because the state *is* the Metric's, the distributed value, the streaming value and the
in-memory value come from one definition.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TypeVar

from torchmetrics import Metric

__all__ = ["finalize_state", "merge_states", "partial_state", "tree_reduce"]

M = TypeVar("M", bound=Metric)
T = TypeVar("T")


def partial_state(make_metric: Callable[[], M], *batch: object) -> M:
    """A fresh Metric from ``make_metric()`` updated with one shard (``metric.update(*batch)``).

    An empty shard gives the Metric's empty state (every family accepts empty batches).
    """
    metric = make_metric()
    metric.update(*batch)
    return metric


def merge_states(a: M, b: M) -> M:
    """The state of the union of the shards behind ``a`` and ``b`` (neither is modified)."""
    merged = copy.deepcopy(a)
    merged.merge_state(b)
    return merged


def finalize_state(state: Metric) -> object:
    """The metric's value on every shard merged into ``state``."""
    return state.compute()


def tree_reduce(items: Sequence[T], combine: Callable[[T, T], T]) -> T:
    """Combine ``items`` pairwise in a balanced tree (depth log2 n); ``items`` must not be empty."""
    level = list(items)
    while len(level) > 1:
        paired = [combine(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
