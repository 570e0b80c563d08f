"""Bin edges, bin assignment and per-bin sums of calibration.md §2 (the one binning rule).

Public and reused by the detection D-ECE (``metrics.detection``) and by the
``HistogramBinning`` calibrator, so that every binned quantity in the package cuts the
scores the same way:

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
from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, check_int, check_option

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
    n_bins = check_int(n_bins, "n_bins", min_value=1)
    return np.arange(n_bins + 1, dtype=np.float64) / n_bins


def quantile_edges(scores: Any, n_bins: int) -> np.ndarray:
    """Equal-mass edges of calibration.md §2 (never raises on ties or N < M).

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
    n_bins = check_int(n_bins, "n_bins", min_value=1)
    s = np.sort(_scores(scores))
    n = s.size
    m = min(n_bins, n)
    # chunk ends of np.array_split(s, m): the first n % m chunks hold one extra element
    size, extra = divmod(n, m)
    ends = np.arange(1, m) * size + np.minimum(np.arange(1, m), extra)
    interior = (s[ends - 1] + s[ends]) / 2.0
    return np.unique(np.concatenate(([0.0], interior, [1.0])))


def bin_edges(scores: Any = None, n_bins: int = 15, binning: str = "uniform") -> np.ndarray:
    """Edges e_0 = 0 < ... < e_M' = 1 for ``binning="uniform"`` (scores unused) or ``"quantile"``."""
    check_option(binning, "binning", BINNINGS)
    if binning == "uniform":
        return uniform_edges(n_bins)
    return quantile_edges(scores, n_bins)


def _scores(scores: Any) -> np.ndarray:
    if isinstance(scores, np.ndarray) and scores.dtype == np.float64 and scores.ndim == 1:
        return scores
    return as_float_array(scores, "scores", ndim=1, what="scores")


def _is_uniform(edges: np.ndarray) -> bool:
    m = edges.size - 1
    return m >= 1 and edges[1] * m == 1.0 and np.array_equal(edges, np.arange(m + 1) / m)


def assign_bins(scores: Any, edges: Any) -> np.ndarray:
    """Bin index of each score: [e_k, e_{k+1}), the last bin closed.

    Equals ``np.searchsorted(edges[1:-1], scores, side="right")``. For uniform k/M
    edges a faster ``floor(s·M)`` is used and corrected against the edges (the product
    can be off by one ulp, so one step each way suffices). Scores must lie in
    [e_0, e_M] (they do for validated probabilities).

    Returns
    -------
    numpy.ndarray of int64, same shape as ``scores``, values in [0, len(edges) - 2].
    """
    s = scores if isinstance(scores, np.ndarray) and scores.dtype == np.float64 else np.asarray(scores, np.float64)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise InputError(f"edges must be a 1-D array of at least 2 increasing values; got shape {e.shape}")
    m = e.size - 1
    if m == 1:
        return np.zeros(s.shape, dtype=np.int64)
    if not _is_uniform(e):
        return np.searchsorted(e[1:-1], s, side="right").astype(np.int64, copy=False)
    idx = (s * m).astype(np.int64)
    np.clip(idx, 0, m - 1, out=idx)
    idx -= s < e[idx]                     # product rounded up across an edge
    idx += (s >= e[idx + 1]) & (idx < m - 1)  # product rounded down below an edge
    return idx


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


def binned_statistics(scores: Any, outcomes: Any, edges: Any, *, weights: Any = None,
                      bins: np.ndarray | None = None) -> BinnedStatistics:
    """Counts, Σ score and Σ outcome per bin of ``edges`` (float64 ``np.bincount``).

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
    s = scores if isinstance(scores, np.ndarray) and scores.dtype == np.float64 else np.asarray(scores, np.float64)
    o = np.asarray(outcomes)
    e = np.asarray(edges, dtype=np.float64)
    m = e.size - 1
    b = assign_bins(s, e) if bins is None else bins
    if weights is None:
        counts = np.bincount(b, minlength=m)
        sum_score = np.bincount(b, weights=s, minlength=m)
        if o.dtype == bool:
            sum_outcome = np.bincount(b[o], minlength=m).astype(np.float64)
        else:
            sum_outcome = np.bincount(b, weights=o, minlength=m)
    else:
        w = np.asarray(weights, dtype=np.float64)
        counts = np.bincount(b, weights=w, minlength=m)
        sum_score = np.bincount(b, weights=w * s, minlength=m)
        sum_outcome = np.bincount(b, weights=w * o, minlength=m)
    return BinnedStatistics(e, counts, sum_score, sum_outcome)
