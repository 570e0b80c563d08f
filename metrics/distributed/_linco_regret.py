"""LInCo and regret on Dask: shards become ``LInCo`` / ``Regret`` Metric states, which are sums.

LInCo's state is Σ D (float64) with the numbers of included and skipped cases (int64);
regret's state is the cumulative loss per action, the learner's loss and Σ min loss
(float64) with the round count (int64). Both are order-free, so any partitioning gives
the in-memory value to rounding and identical counts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from metrics.core.errors import InputError
from metrics.distributed._frames import as_dask_frame, check_columns, partition_arrays, reduce_states
from metrics.distributed._states import merge_states, partial_state

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd
    from torchmetrics import Metric

    from metrics.regret import Regret

__all__ = ["linco_states", "regret_state"]


def _merge_each(a: list[Metric], b: list[Metric]) -> list[Metric]:
    return [merge_states(x, y) for x, y in zip(a, b, strict=True)]


def _linco_shard(part: pd.DataFrame, groups: Sequence[Sequence[str]], make: Callable[[], Metric]) -> list[Metric]:
    """One LInCo state per column group (the model rows, then each baseline split)."""
    states = []
    for columns in groups:
        values = part[list(columns)].to_numpy()
        matrix = np.array(values.T, copy=True, order="C")  # (K, B): model k's outputs on the shard's cases
        if matrix.dtype.kind == "O":
            matrix = matrix.astype(str) if all(isinstance(v, str) for v in matrix.flat) else matrix
        states.append(partial_state(make, matrix))
    return states


def linco_states(data: dd.DataFrame | str, model_columns: Sequence[str],
                 baseline_columns: Sequence[Sequence[str]], make: Callable[[], Metric],
                 scheduler: str | None) -> list[Metric]:
    """Merged LInCo states: ``[raw, baseline_1, ..., baseline_R]``."""
    import dask

    frame = as_dask_frame(data)
    groups = [check_columns(frame, model_columns, "model_columns")]
    for r, columns in enumerate(baseline_columns):
        groups.append(check_columns(frame, columns, f"baseline_columns[{r}]"))
    shard = functools.partial(_linco_shard, groups=groups, make=make)
    parts = [dask.delayed(shard)(p) for p in frame.to_delayed()]
    from metrics.distributed._states import tree_reduce

    (merged,) = dask.compute(tree_reduce(parts, dask.delayed(_merge_each)), scheduler=scheduler)
    return merged  # type: ignore[no-any-return]


def _regret_shard(part: pd.DataFrame, loss_columns: Sequence[str], policy_columns: Sequence[str] | None,
                  action_column: str | None, options: dict[str, Any]) -> Regret:
    from metrics.regret import Regret

    losses = partition_arrays(part, loss_columns).astype(np.float64, copy=False)
    if policy_columns is not None:
        preds = partition_arrays(part, policy_columns).astype(np.float64, copy=False)
    else:
        assert action_column is not None
        preds = partition_arrays(part, [action_column])[:, 0]
    return partial_state(lambda: Regret(**options), preds, losses)


def regret_state(data: dd.DataFrame | str, loss_columns: Sequence[str], policy_columns: Sequence[str] | None,
                 action_column: str | None, options: dict[str, Any], scheduler: str | None) -> Regret:
    """The merged ``Regret`` state of every round of ``data`` (order-free sums)."""
    frame = as_dask_frame(data)
    loss_columns = check_columns(frame, loss_columns, "loss_columns")
    if (policy_columns is None) == (action_column is None):
        raise InputError("policy_columns / action_column: pass exactly one of them")
    if policy_columns is not None:
        policy_columns = check_columns(frame, policy_columns, "policy_columns")
        if len(policy_columns) != len(loss_columns):
            raise InputError(f"policy_columns must name one column per action ({len(loss_columns)}); "
                             f"got {len(policy_columns)}")
    else:
        assert action_column is not None
        (action_column,) = check_columns(frame, [action_column], "action_column")
    shard = functools.partial(_regret_shard, loss_columns=loss_columns, policy_columns=policy_columns,
                              action_column=action_column, options=options)
    return reduce_states(frame, shard, scheduler)
