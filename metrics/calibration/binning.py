"""Bin edges, bin assignment and per-bin sums: the one binning rule of the package.

Public numpy building blocks, reused by the detection D-ECE (``metrics.detection``) and
by the ``HistogramBinning`` calibrator, so that every binned quantity cuts the scores
the same way. They are numpy entries to the torch kernel that the calibration error,
its report and its Metric run:

- ``uniform``: e_k = k / M, each the correctly rounded double (never ``np.linspace``,
  whose 3/10 is 0.30000000000000004);
- ``quantile``: sort, cut into M' = min(M, N) chunks sized as ``np.array_split``, each
  interior edge the midpoint (last of chunk j + first of chunk j+1) / 2, e_0 = 0,
  e_M' = 1, duplicates dropped (ties never straddle bins; a tie on an edge goes up);
- assignment: bins [e_k, e_{k+1}), the last one closed, i.e.
  ``searchsorted(e[1:M], s, "right")``: 0 goes to the first bin, 1 to the last.

Example
-------
>>> import numpy as np
>>> from metrics.calibration import bin_edges, assign_bins, binned_statistics
>>> s = np.array([0.0, 0.1, 0.3, 0.3, 1.0]); o = np.array([0, 0, 1, 0, 1])
>>> e = bin_edges(s, 10)                  # uniform: 0, 0.1, ..., 1
>>> assign_bins(s, e).tolist()
[0, 1, 3, 3, 9]
>>> binned_statistics(s, o, e).counts.tolist()
[1, 1, 0, 2, 0, 0, 0, 0, 0, 1]
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import numpy.typing as npt

from metrics.calibration._estimators import MAX_BINS
from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.validation import as_float_array, check_int

__all__ = [
    "BINNINGS",
    "BinnedStatistics",
    "assign_bins",
    "bin_edges",
    "binned_statistics",
    "quantile_edges",
    "uniform_edges",
]

BINNINGS = ("uniform", "quantile")


def uniform_edges(n_bins: int) -> np.ndarray:
    """``[0, 1/M, 2/M, ..., 1]`` with each k/M the correctly rounded double."""
    from metrics.calibration._kernel import uniform_edges_t

    n_bins = check_int(n_bins, "n_bins", min_value=1, max_value=MAX_BINS)
    return uniform_edges_t(n_bins).numpy()


def quantile_edges(scores: npt.ArrayLike, n_bins: int) -> np.ndarray:
    """Equal-mass edges (never raises on ties or N < M).

    Parameters
    ----------
    scores : array-like of shape (N,)
        Scores in [0, 1].
    n_bins : int
        Requested number of bins M; at most min(M, N) bins result, fewer when ties
        make midpoints coincide.

    Returns
    -------
    numpy.ndarray
        Strictly increasing float64 edges from 0 to 1.
    """
    import torch

    from metrics.calibration._kernel import quantile_edges_t

    n_bins = check_int(n_bins, "n_bins", min_value=1, max_value=MAX_BINS)
    s = as_float_array(scores, "scores", ndim=1, what="scores")
    return quantile_edges_t(torch.from_numpy(np.ascontiguousarray(s)), n_bins).numpy()


@validate_options
def bin_edges(scores: npt.ArrayLike | None = None, n_bins: int = 15,
              binning: Literal["uniform", "quantile"] = "uniform") -> np.ndarray:
    """Edges e_0 = 0 < ... < e_M' = 1 for ``binning="uniform"`` (scores unused) or ``"quantile"``."""
    if binning == "uniform":
        return uniform_edges(n_bins)
    if scores is None:
        raise InputError("scores: binning='quantile' derives its edges from the scores; got None")
    return quantile_edges(scores, n_bins)


def _as_float64(scores: npt.ArrayLike) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    return np.ascontiguousarray(s) if any(st < 0 for st in s.strides) else s


def _is_uniform(edges: np.ndarray) -> bool:
    m = edges.size - 1
    return m >= 1 and edges[1] * m == 1.0 and np.array_equal(edges, np.arange(m + 1) / m)


def assign_bins(scores: npt.ArrayLike, edges: npt.ArrayLike) -> np.ndarray:
    """Bin index of each score: [e_k, e_{k+1}), the last bin closed.

    Equals ``np.searchsorted(edges[1:-1], scores, side="right")``. For uniform k/M
    edges a faster ``floor(s·M)`` is used and corrected against the edges (the product
    can be off by one ulp, so one step each way suffices). Scores must lie in
    [e_0, e_M] (they do for validated probabilities).

    Returns
    -------
    numpy.ndarray of int64, same shape as ``scores``, values in [0, len(edges) - 2].
    """
    import torch

    from metrics.calibration._kernel import assign_uniform, searchsorted_bins

    s = torch.from_numpy(_as_float64(scores))
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise InputError(f"edges must be a 1-D array of at least 2 increasing values; got shape {e.shape}")
    if _is_uniform(e):
        return assign_uniform(s, e.size - 1).numpy()
    return searchsorted_bins(s, torch.from_numpy(np.ascontiguousarray(e))).numpy()


@dataclasses.dataclass(frozen=True)
class BinnedStatistics:
    """Per-bin sufficient statistics: counts, sum of scores, sum of outcomes.

    ``counts`` is int64 without weights (float64 with weights); the sums are float64.
    ``mean_score`` and ``mean_outcome`` are NaN for empty bins.
    """

    edges: np.ndarray
    counts: np.ndarray
    sum_score: np.ndarray
    sum_outcome: np.ndarray

    @property
    def nonempty(self) -> np.ndarray:
        return self.counts > 0

    @property
    def mean_score(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.nonempty, self.sum_score / self.counts, np.nan)

    @property
    def mean_outcome(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.nonempty, self.sum_outcome / self.counts, np.nan)


def binned_statistics(scores: npt.ArrayLike, outcomes: npt.ArrayLike, edges: npt.ArrayLike, *,
                      weights: npt.ArrayLike | None = None, bins: np.ndarray | None = None) -> BinnedStatistics:
    """Counts, Σ score and Σ outcome per bin of ``edges`` (float64 sums).

    Parameters
    ----------
    scores : array-like (N,)
        Scores in [0, 1].
    outcomes : array-like (N,)
        0/1 outcomes (bool or numbers; fractional outcomes are summed as given).
    edges : array-like (M'+1,)
        From :func:`bin_edges`.
    weights : array-like (N,), optional
        Non-negative multiplicities (e.g. bootstrap counts); counts become float64.
    bins : numpy.ndarray, optional
        Precomputed :func:`assign_bins` result (skips the assignment).
    """
    import torch

    s = _as_float64(scores)
    o = np.asarray(outcomes)
    e = np.asarray(edges, dtype=np.float64)
    m = e.size - 1
    b = torch.from_numpy(np.ascontiguousarray(assign_bins(s, e) if bins is None else bins, dtype=np.int64))
    st = torch.from_numpy(s)

    def add(values: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
        return torch.zeros(m, dtype=dtype).scatter_add_(0, b, values.to(dtype)).numpy()

    if weights is None:
        counts = add(torch.ones(1, dtype=torch.int64).expand(b.shape), torch.int64)
        sum_score = add(st, torch.float64)
        if o.dtype == bool:
            sum_outcome = add(torch.from_numpy(np.ascontiguousarray(o)), torch.int64).astype(np.float64)
        else:
            sum_outcome = add(torch.from_numpy(_as_float64(o)), torch.float64)
    else:
        w = torch.from_numpy(_as_float64(weights))
        counts = add(w, torch.float64)
        sum_score = add(w * st, torch.float64)
        sum_outcome = add(w * torch.from_numpy(_as_float64(o)), torch.float64)
    return BinnedStatistics(e, counts, sum_score, sum_outcome)
