"""Bin edges and bin assignment of calibration.md §2, for the calibrators.

TEMPORARY: the calibration-error module (``metrics.calibration``) owns this rule and is
being written concurrently; until it exposes public edge / assignment functions, this
private copy of the §2 rule keeps the calibrators working. Replace these two bodies by
calls to the public functions as soon as they exist (one rule in the package).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bin_edges", "assign_bins"]


def bin_edges(scores: np.ndarray, n_bins: int, binning: str = "uniform") -> np.ndarray:
    """Edges e_0 = 0 < ... < e_M' = 1 of calibration.md §2 (``uniform`` or ``quantile``)."""
    if binning == "uniform":
        # k / M, each a correctly rounded division (never np.linspace: its 3/10 is off by one ulp)
        return np.arange(n_bins + 1, dtype=np.float64) / n_bins
    s = np.sort(np.asarray(scores, dtype=np.float64))
    chunks = np.array_split(s, min(n_bins, s.size))
    last = np.array([c[-1] for c in chunks[:-1]])
    first = np.array([c[0] for c in chunks[1:]])
    interior = (last + first) / 2.0
    return np.unique(np.concatenate(([0.0], interior, [1.0])))


def assign_bins(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each score: [e_k, e_{k+1}) with the last bin closed (0 → first, 1 → last)."""
    return np.searchsorted(edges[1:-1], scores, side="right")
