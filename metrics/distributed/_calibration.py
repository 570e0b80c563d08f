"""Calibration on Dask: each shard becomes a ``CalibrationError`` state; the states add up.

A Parquet path glob is read by the tasks themselves, one file per task, with PyArrow in
batches of :data:`_BATCH_ROWS` rows, each added to the file's state: a task holds one
batch (a few hundred KiB per probability column) whatever the file's size, and no pandas
partition is built. A Dask DataFrame (or a JSON Lines / CSV glob) goes partition by
partition: a task holds one partition and its float64 copy.

The uniform-bin state is per-bin counts (int64), score sums (float64) and outcome counts
(int64): counts add exactly, score sums to rounding. Every norm of the report is
``compute()`` of a Metric holding the merged state, so the report's numbers are the
Metric's (and the in-memory function's) own.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from metrics.core.errors import InputError
from metrics.distributed._frames import (
    as_dask_frame,
    check_columns,
    import_dask,
    parquet_batches,
    parquet_files,
    reduce_states,
)
from metrics.distributed._states import partial_state

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

    from metrics.calibration import CalibrationError, CalibrationReport

__all__ = ["merged_state", "metric_options", "report_from_state", "shard_arrays"]

#: rows per batch read from a Parquet file (each batch's arrays are a few hundred KiB)
_BATCH_ROWS = 1 << 16
#: report field → (norm, debiased), the fields of ``CalibrationReport``
_REPORT_NORMS = {"ece": ("l1", False), "mce": ("max", False), "ace": ("average", False),
                 "l2": ("l2", False), "l2_debiased": ("l2", True)}


def shard_arrays(part: pd.DataFrame, prob_columns: Sequence[str], label_column: str) -> tuple[np.ndarray, np.ndarray]:
    """A partition's probabilities (float64, (N,) or (N, K)) and int64 labels, with one copy at most each.

    Several probability columns become one (N, K) array in a single ``to_numpy`` copy.
    The Metric keeps only per-bin sums, so reading the frame's own buffers is safe here.
    """
    if len(prob_columns) == 1:
        probs = np.ascontiguousarray(part[prob_columns[0]].to_numpy(dtype=np.float64))
    else:
        probs = np.ascontiguousarray(part[list(prob_columns)].to_numpy(dtype=np.float64))
    if not probs.flags.writeable:  # a read-only buffer (Arrow-backed): torch needs its own
        probs = probs.copy()
    return probs, _integral(part[label_column].to_numpy(), label_column)


def _integral(labels: np.ndarray, label_column: str) -> np.ndarray:
    """int64 labels; float labels must be whole numbers (NaN, from a null, is not)."""
    if labels.dtype.kind == "f" and labels.size and not np.all(np.mod(labels, 1) == 0):
        raise InputError(f"labels: column {label_column!r} must hold integer class labels")
    return labels.astype(np.int64)


def _shard_state(part: pd.DataFrame, prob_columns: Sequence[str], label_column: str,
                 options: dict[str, Any]) -> CalibrationError:
    import torch

    from metrics.calibration import CalibrationError

    probs, labels = shard_arrays(part, prob_columns, label_column)
    return partial_state(lambda: CalibrationError(**options), torch.from_numpy(probs), torch.from_numpy(labels))


def metric_options(prob_columns: Sequence[str], *, n_bins: int, norm: str, scope: str, debiased: bool,
                   binning: str) -> dict[str, Any]:
    """``CalibrationError`` keyword arguments, validated on the client before any work."""
    from metrics.calibration import CalibrationError

    if binning != "uniform":
        raise InputError("binning: only 'uniform' bins are computed on Dask (quantile edges need a global "
                         f"order of every score); got {binning!r}")
    options: dict[str, Any] = {"n_bins": n_bins, "norm": norm, "scope": scope, "debiased": debiased,
                                  "binning": binning}
    if scope == "classwise":
        options["num_classes"] = len(prob_columns)
    CalibrationError(**options)  # raises InputError on a bad option
    return options


def _file_state(fs: object, path: str, prob_columns: Sequence[str], label_column: str,
                options: dict[str, Any]) -> CalibrationError:
    """The state of one Parquet file, read and added :data:`_BATCH_ROWS` rows at a time."""
    from metrics.calibration import CalibrationError

    metric = CalibrationError(**options)
    for *probs, labels in parquet_batches(fs, path, [*prob_columns, label_column], _BATCH_ROWS):
        p = probs[0] if len(probs) == 1 else np.column_stack(probs)
        metric.update(p.astype(np.float64, copy=False), _integral(labels, label_column))
    return metric


def merged_state(data: dd.DataFrame | str, prob_columns: Sequence[str], label_column: str,
                 options: dict[str, Any], scheduler: str | None) -> CalibrationError:
    """The ``CalibrationError`` state of every row of ``data``.

    A Parquet path glob is read file by file with PyArrow, :data:`_BATCH_ROWS` rows at a
    time (one task per file; a task holds one batch, whatever the file's size); anything
    else goes through a Dask DataFrame, one task per partition.
    """
    import_dask()
    parquet = parquet_files(data)
    if parquet is not None:
        import dask

        from metrics.distributed._states import merge_states, tree_reduce

        fs, files, names = parquet
        prob_columns = check_columns(names, prob_columns, "prob_columns")
        (label_column,) = check_columns(names, [label_column], "label_column")
        tasks = [dask.delayed(_file_state)(fs, path, list(prob_columns), label_column, options) for path in files]
        (merged,) = dask.compute(tree_reduce(tasks, dask.delayed(merge_states)), scheduler=scheduler)
        return merged  # type: ignore[no-any-return]
    frame = as_dask_frame(data)
    prob_columns = check_columns(frame, prob_columns, "prob_columns")
    (label_column,) = check_columns(frame, [label_column], "label_column")
    shard = functools.partial(_shard_state, prob_columns=prob_columns, label_column=label_column, options=options)
    return reduce_states(frame, shard, scheduler)


def report_from_state(state: CalibrationError, options: dict[str, Any]) -> CalibrationReport:
    """The ``CalibrationReport`` (no bootstrap) of a merged uniform-bin state."""
    from metrics.calibration import CalibrationReport
    from metrics.calibration.binning import uniform_edges

    values: dict[str, float] = {}
    for field, (norm, debiased) in _REPORT_NORMS.items():
        metric = copy.deepcopy(state)  # the same sums, computed with this norm
        metric.norm, metric.debiased = norm, debiased  # type: ignore[assignment]
        values[field] = float(metric.compute())
    counts = state.count.cpu().numpy().astype(np.int64)
    sum_s, sum_o = state.sum_score.cpu().numpy(), state.sum_outcome.cpu().numpy()
    nonempty = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(nonempty, sum_s / counts, np.nan)
        accuracy = np.where(nonempty, sum_o / counts, np.nan)
    n_bins = int(options["n_bins"])  # type: ignore[call-overload]
    edges = uniform_edges(n_bins)
    if counts.ndim == 2:
        edges = np.tile(edges, (counts.shape[0], 1))
    params: dict[str, Any] = {"n_bins": n_bins, "binning": "uniform", "scope": options["scope"], "compat": None,
                                 "n_bootstrap": 0, "ci_level": 0.95, "ci_method": "percentile", "seed": 0}
    return CalibrationReport(edges=edges, counts=counts, mean_confidence=mean_conf, accuracy=accuracy,
                             nonempty=nonempty, ece=values["ece"], mce=values["mce"], ace=values["ace"],
                             l2=values["l2"], l2_debiased=values["l2_debiased"], ece_ci=None, ci=None,
                             n_samples=int(np.atleast_2d(counts)[0].sum()), params=params)
