"""Calibration on Dask: each shard becomes a ``CalibrationError`` state; the states add up.

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
from metrics.distributed._frames import as_dask_frame, check_columns, reduce_states
from metrics.distributed._states import partial_state

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

    from metrics.calibration import CalibrationError, CalibrationReport

__all__ = ["merged_state", "report_from_state"]

#: report field → (norm, debiased), the fields of ``CalibrationReport``
_REPORT_NORMS = {"ece": ("l1", False), "mce": ("max", False), "ace": ("average", False),
                 "l2": ("l2", False), "l2_debiased": ("l2", True)}


def _shard_state(part: pd.DataFrame, prob_columns: Sequence[str], label_column: str,
                 options: dict[str, Any]) -> CalibrationError:
    import torch

    from metrics.calibration import CalibrationError

    # the Metric keeps only per-bin sums, so reading the frame's own buffers is safe here; each
    # large temporary costs page faults on a Dask worker (its allocator returns memory at once)
    if len(prob_columns) == 1:
        probs = np.ascontiguousarray(part[prob_columns[0]].to_numpy(dtype=np.float64))
    else:
        probs = np.ascontiguousarray(part[list(prob_columns)].to_numpy(dtype=np.float64))
    if not probs.flags.writeable:  # a read-only buffer (Arrow-backed): torch needs its own
        probs = probs.copy()
    labels = part[label_column].to_numpy()
    if labels.dtype.kind == "f" and labels.size and not np.all(np.mod(labels, 1) == 0):
        raise InputError(f"labels: column {label_column!r} must hold integer class labels")
    return partial_state(lambda: CalibrationError(**options), torch.from_numpy(probs),
                         torch.from_numpy(labels.astype(np.int64)))


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


def merged_state(data: dd.DataFrame | str, prob_columns: Sequence[str], label_column: str,
                 options: dict[str, Any], scheduler: str | None) -> CalibrationError:
    """The ``CalibrationError`` state of every row of ``data``."""
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
