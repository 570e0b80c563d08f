"""The regret report on Dask: the order-free sums, then the curve from prefix offsets.

Pass 1 (one task per partition, rounds in order): the partition's :class:`metrics.Regret`
state with ``kind="swap"`` (validation and every sum: Λ, L (A,), Σ min ℓ_t, M (A × A),
the round count), its first and last loss rows and its round range. On the client, the
exclusive prefix sums of Λ and L over the partitions are the offsets at which each
partition's part of the curve starts. Pass 2 (one task per partition): the curve
``R_t = (Λ_offset + Σ_{s ≤ t} ⟨ℓ_s, π_s⟩) − min_a (L_offset(a) + Σ_{s ≤ t} ℓ_s(a))`` on the
partition's rounds, and the variation budget and best-action switches of its rounds
preceded by the previous partition's last row (so the boundary terms count once).
Each task holds one partition; the client holds the curve (one float64 per round) and
A × A sums.
"""

from __future__ import annotations

import contextlib
import functools
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from metrics.core.errors import InputError
from metrics.distributed._frames import as_dask_frame, check_columns, local_shuffle, partition_arrays
from metrics.distributed._states import merge_states, partial_state, tree_reduce

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd
    import torch

    from metrics.regret import Regret, RegretReport
    from metrics.regret._no_regret import EvalPoints

Norm = Literal["inf", "1", "2"]

__all__ = ["regret_report"]


class _Columns(NamedTuple):
    losses: list[str]
    policy: list[str] | None
    action: str | None


class _First(NamedTuple):
    """What pass 1 returns for one partition."""

    state: Regret
    n: int
    first_row: np.ndarray | None
    last_row: np.ndarray | None
    round_min: object
    round_max: object
    duplicate: object  # a repeated round value inside the partition, or None


def _arrays(part: pd.DataFrame, columns: _Columns) -> tuple[np.ndarray, np.ndarray]:
    losses = partition_arrays(part, columns.losses).astype(np.float64, copy=False)
    if columns.policy is not None:
        return partition_arrays(part, columns.policy).astype(np.float64, copy=False), losses
    assert columns.action is not None
    return partition_arrays(part, [columns.action])[:, 0], losses


def _rounds(part: pd.DataFrame, round_column: str | None) -> np.ndarray | None:
    return None if round_column is None else part.index.to_numpy()


def _first_pass(part: pd.DataFrame, columns: _Columns, round_column: str | None,
                options: dict[str, Any]) -> _First:
    from metrics.regret import Regret

    preds, losses = _arrays(part, columns)
    state = partial_state(lambda: Regret(**options), preds, losses)
    n = int(losses.shape[0])
    rounds = _rounds(part, round_column)
    if n == 0:
        return _First(state, 0, None, None, None, None, None)
    duplicate = None
    lo = hi = None
    if rounds is not None:
        repeated = rounds[1:][rounds[1:] == rounds[:-1]]
        duplicate = repeated[0] if repeated.size else None
        lo, hi = rounds[0], rounds[-1]
    return _First(state, n, losses[0].copy(), losses[-1].copy(), lo, hi, duplicate)


def _second_pass(part: pd.DataFrame, columns: _Columns, learner_offset: float, loss_offset: np.ndarray,
                 previous_row: np.ndarray | None, norm: Norm) -> tuple[np.ndarray, float, int]:
    """(curve on the partition's rounds, variation and switches including the step from the previous row)."""
    from metrics.regret import best_action_switches, regret_from_sums, variation_budget

    preds, losses = _arrays(part, columns)
    if losses.shape[0] == 0:
        return np.empty(0), 0.0, 0
    if columns.policy is not None:
        per_round = (losses * preds).sum(axis=1)
    else:
        per_round = losses[np.arange(losses.shape[0]), preds.astype(np.int64)]
    learner = np.cumsum(per_round) + learner_offset
    running = np.cumsum(losses, axis=0) + loss_offset
    curve = np.asarray(regret_from_sums(learner, running), dtype=np.float64)
    rows = losses if previous_row is None else np.vstack([previous_row[None, :], losses])
    if rows.shape[0] < 2:
        return curve, 0.0, 0
    return curve, float(variation_budget(rows, norm=norm)), int(best_action_switches(rows))


def _ordered(frame: dd.DataFrame, round_column: str | None, scheduler: str | None) -> dd.DataFrame:
    """The rows in round order, with the partition boundaries fixed once (both passes read the same partitions)."""
    if round_column is None:
        return frame
    import dask

    ordered = frame.set_index(round_column, drop=True, sort=True)
    with dask.config.set(scheduler=scheduler) if scheduler is not None else contextlib.nullcontext():
        divisions = list(ordered.divisions)
    if any(d is None for d in divisions):  # one partition: sorted in place, nothing to align
        return ordered
    return frame.set_index(round_column, drop=True, sort=True, divisions=divisions)


def _plain(value: object) -> object:
    """A numpy scalar as the Python value (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_order(firsts: list[_First], round_column: str | None) -> None:
    if round_column is None:
        return
    kept = [f for f in firsts if f.n]
    for f in kept:
        if f.duplicate is not None:
            raise InputError(f"round_column: round {_plain(f.duplicate)!r} appears more than once in "
                             f"{round_column!r}; the rounds must be distinct to have an order")
    for a, b in zip(kept[:-1], kept[1:], strict=True):
        if not a.round_max < b.round_min:  # type: ignore[operator]
            if a.round_max == b.round_min:
                raise InputError(f"round_column: round {_plain(b.round_min)!r} appears more than once in "
                                 f"{round_column!r}; the rounds must be distinct to have an order")
            raise RuntimeError("Dask's sort returned partitions out of order; the regret curve would be wrong")


def _two_passes(frame: dd.DataFrame, columns: _Columns, round_column: str | None, options: dict[str, Any],
                norm: Norm, scheduler: str | None) -> tuple[Regret, np.ndarray, float, int, int]:
    """(merged Regret state, curve, variation budget, best-action switches, rounds)."""
    import dask

    ordered = _ordered(frame, round_column, scheduler)
    parts = ordered.to_delayed()
    first = functools.partial(_first_pass, columns=columns, round_column=round_column, options=options)
    (firsts,) = dask.compute([dask.delayed(first)(p) for p in parts], scheduler=scheduler)
    _check_order(firsts, round_column)
    n_rounds = sum(f.n for f in firsts)
    if n_rounds == 0:
        raise InputError("data: no rounds (every partition is empty)")
    merged = tree_reduce([f.state for f in firsts], merge_states)
    # offsets: the sums of the earlier partitions, added in partition order
    learner_offsets: list[float] = []
    loss_offsets: list[np.ndarray] = []
    previous_rows: list[np.ndarray | None] = []
    learner_sum, loss_sum, previous = 0.0, np.zeros(len(columns.losses)), None
    for f in firsts:
        learner_offsets.append(learner_sum)
        loss_offsets.append(loss_sum.copy())
        previous_rows.append(previous)
        if f.n:
            learner_sum = learner_sum + float(f.state.learner_loss)
            loss_sum = loss_sum + f.state.cumulative_loss.cpu().numpy()
            previous = f.last_row
    tasks = [dask.delayed(_second_pass)(p, columns, learner_offsets[i], loss_offsets[i], previous_rows[i], norm)
             for i, p in enumerate(ordered.to_delayed())]
    (seconds,) = dask.compute(tasks, scheduler=scheduler)
    if [s[0].size for s in seconds] != [f.n for f in firsts]:
        raise RuntimeError("Dask returned other partitions in the second pass; the regret curve would be wrong")
    curve = np.concatenate([s[0] for s in seconds])
    return merged, curve, float(sum(s[1] for s in seconds)), int(sum(s[2] for s in seconds)), n_rounds


def regret_report(data: dd.DataFrame | str, *, loss_columns: Sequence[str],
                  policy_columns: Sequence[str] | None = None, action_column: str | None = None,
                  round_column: str | None = None, eval_points: EvalPoints = "log", alpha: float = 0.05,
                  norm: Norm = "inf", simplex_atol: float = 1e-6, scheduler: str | None = None) -> RegretReport:
    r"""Every regret, the variation budget, the regret curve and the no-regret test of rounds on many shards.

    The same :class:`~metrics.regret.RegretReport` as :func:`metrics.regret_report` on
    the rounds in order: the sums (external, dynamic and swap regret, learner loss,
    best fixed action) come from the :class:`metrics.Regret` Metric's states merged over
    the partitions; the curve ``R_t`` (one point per round) from each partition's
    cumulative sums started at the exclusive prefix sums of the earlier partitions; the
    variation budget and the best-action switches count each step between two
    partitions once. Every value equals the in-memory one to rounding (float64 sums
    added in another order; tested ≤ 1e-12 relative, the integer fields exactly).

    Parameters
    ----------
    data : dask.dataframe.DataFrame or str
        One row per round; a string is a path glob of Parquet / JSON Lines / CSV shards.
    loss_columns : sequence of str
        The A loss columns ℓ_t(0), …, ℓ_t(A−1).
    policy_columns : sequence of str, optional
        The learner's policy π_t, one column per action (expected regret).
    action_column : str, optional
        The action played (realised regret). Exactly one of the two.
    round_column : str, optional
        The round number; the rounds are put in its order with Dask's sort
        (``set_index``) and must be distinct. Default: the rows are already in order,
        partition after partition as Dask reads them (for a path glob: the files in
        sorted name order).
    eval_points, alpha, norm, simplex_atol
        As :func:`metrics.regret_report`.
    scheduler : str, optional
        A Dask scheduler name; by default the active client, else Dask's default.

    Returns
    -------
    RegretReport
        ``curve`` holds one float64 per round on the client (8 MB per million rounds).
    """

    from metrics.core.validation import check_fraction
    from metrics.regret import (
        Regret,
        RegretReport,
        dynamic_from_sums,
        no_regret_test,
        regret_from_sums,
        swap_from_matrix,
    )

    alpha = check_fraction(alpha, "alpha")
    if norm not in ("inf", "1", "2"):
        raise InputError(f"norm must be one of 'inf', '1', '2'; got {norm!r}")
    options: dict[str, Any] = {"n_actions": len(loss_columns), "kind": "swap", "simplex_atol": simplex_atol}
    Regret(**options)  # validate the options on the client
    frame = as_dask_frame(data)
    losses = check_columns(frame, loss_columns, "loss_columns")
    if (policy_columns is None) == (action_column is None):
        raise InputError("policy_columns / action_column: pass exactly one of them")
    policy = action = None
    if policy_columns is not None:
        policy = check_columns(frame, policy_columns, "policy_columns")
        if len(policy) != len(losses):
            raise InputError(f"policy_columns must name one column per action ({len(losses)}); got {len(policy)}")
    else:
        assert action_column is not None
        (action,) = check_columns(frame, [action_column], "action_column")
    if round_column is not None:
        (round_column,) = check_columns(frame, [round_column], "round_column")
        if round_column in losses + (policy or []) + ([action] if action else []):
            raise InputError(f"round_column {round_column!r} is also a loss or policy column")
    columns = _Columns(losses, policy, action)
    needed = losses + (policy or []) + ([action] if action else []) + ([round_column] if round_column else [])
    with local_shuffle(scheduler):
        merged, curve, variation, switches, n_rounds = _two_passes(frame[needed], columns, round_column, options,
                                                                   norm, scheduler)
    learner = float(merged.learner_loss)
    cumulative = merged.cumulative_loss.cpu().numpy()
    swap_matrix = typing.cast("torch.Tensor", merged.swap_matrix).cpu().numpy()  # kind="swap" holds it
    best = int(np.argmin(cumulative))
    return RegretReport(
        external_regret=float(regret_from_sums(learner, cumulative)),
        dynamic_regret=float(dynamic_from_sums(learner, float(merged.sum_min_loss))),
        swap_regret=float(swap_from_matrix(swap_matrix)), best_fixed_action=best,
        best_fixed_loss=float(cumulative[best]), learner_loss=learner, sum_min_loss=float(merged.sum_min_loss),
        variation_budget=variation, best_action_switches=switches,
        n_rounds=n_rounds, n_actions=len(losses), realized=policy is None,
        test=no_regret_test(curve, eval_points=eval_points, alpha=alpha), curve=curve)
