"""Validation and the (score, outcome) pairs of each scope (calibration.md §1, §8)."""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import (
    as_label_array,
    as_probabilities,
    check_same_length,
    to_numpy,
)

__all__ = [
    "SCOPES",
    "class_columns",
    "n_classes",
    "positive_class",
    "scores_outcomes",
    "top_label",
    "validate_inputs",
    "validate_probabilities",
]

SCOPES = ("top_label", "positive_class", "classwise")
ROW_SUM_TOL = 1e-3


def n_classes(p: np.ndarray) -> int:
    """K of validated probabilities (2 for a 1-D p, meaning [1 − p, p])."""
    return 2 if p.ndim == 1 else p.shape[1]


def validate_probabilities(probs: Any, name: str = "probs") -> np.ndarray:
    """(N,) or (N, K ≥ 2) probabilities: finite, in [0, 1], rows summing to 1 ± 1e-3.

    float32 / float64 inputs keep their dtype (no (N, K) float64 copy); other dtypes
    become float64. Large float arrays are checked with a few multi-threaded torch
    reductions (row max, row sums, global min); only when one fails does the
    element-wise numpy check run to name the offending element.
    """
    return _validate(probs, name)[0]


def _validate(probs: Any, name: str):
    """(probs, row_max, row_sum): the torch row reductions when the fast path ran, else None."""
    arr = to_numpy(probs, name)
    if arr.dtype in (np.float32, np.float64) and arr.ndim in (1, 2) and arr.size >= 1 << 16:
        if arr.ndim == 2 and arr.shape[1] < 2:
            _raise_one_column(name, arr.shape)
        ok, row_max, row_sum = _fast_check(arr)
        if ok:
            return arr, row_max, row_sum
    out = as_probabilities(arr, name, row_sum_tol=ROW_SUM_TOL, dtype=None)
    if out.ndim == 2 and out.shape[1] < 2:
        _raise_one_column(name, out.shape)
    return out, None, None


def _raise_one_column(name: str, shape: tuple) -> None:
    raise InputError(f"{name} must be (N,) probabilities of the positive class or (N, K) with K ≥ 2 "
                     f"columns; got shape {shape} (pass a 1-D array for one column)")


def _fast_check(arr: np.ndarray):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(arr))
    if arr.ndim == 1:
        lo, hi = torch.aminmax(t)
        return bool(lo >= 0) and bool(hi <= 1), None, None  # NaN fails both comparisons
    row_max = t.amax(dim=1)  # NaN propagates
    # native-dtype row sums (a float64 cast would copy the whole array); the float32
    # rounding error (~1e-6 for K = 1000) is far below the 1e-3 tolerance. NaN/inf
    # anywhere make a row sum non-finite and fail the check.
    row_sum = t.sum(dim=1)
    ok = (bool(t.amin() >= 0) and bool(row_max.max() <= 1)
          and bool((row_sum - 1.0).abs_().max() <= ROW_SUM_TOL))
    return ok, row_max, row_sum


def validate_inputs(probs: Any, labels: Any, *, name: str = "probs") -> tuple[np.ndarray, np.ndarray]:
    """Validated probabilities (dtype kept) and int64 labels in [0, K)."""
    return validate_inputs_with_stats(probs, labels, name=name)[:2]


def validate_inputs_with_stats(probs: Any, labels: Any, *, name: str = "probs"):
    """(probs, labels, row_max, row_sum); the row reductions are reused by :func:`top_label`."""
    p, row_max, row_sum = _validate(probs, name)
    y = as_label_array(labels, "labels", n_classes=n_classes(p))
    check_same_length(**{name: p, "labels": y})
    return p, y, row_max, row_sum


def top_label(p: np.ndarray, y: np.ndarray, row_max=None, row_sum=None) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence max_k p_k (float64) and 1[first argmax = y] (bool).

    For (N, K) input the confidence is a vectorised row max and correctness is
    p_{i,y_i} == max_i, except that a tie at the max before column y_i makes it wrong.
    A tie needs 2·max ≤ row sum, so only those correct-looking rows with y_i > 0 and
    max ≤ ~½ (margin 1e-3 for the float32 row sums) get an exact ``np.argmax`` (first maximal index). This avoids a full
    argmax pass, the slowest reduction on CPU.
    """
    if p.ndim == 1:
        p64 = p.astype(np.float64, copy=False)
        q = 1.0 - p64
        s = np.maximum(p64, q)
        pred = p64 > q  # ties go to class 0, the first argmax of [1 - p, p]
        return s, pred == (y == 1)
    import torch

    t = torch.from_numpy(np.ascontiguousarray(p))
    if row_max is None:
        row_max = t.amax(dim=1)
        row_sum = t.sum(dim=1)
    picked = t.gather(1, torch.from_numpy(y)[:, None])[:, 0]
    m = row_max.numpy()
    correct = (picked == row_max).numpy()
    maybe_tied = correct & (y > 0) & (2.0 * m.astype(np.float64) <= row_sum.numpy().astype(np.float64) + ROW_SUM_TOL)
    if maybe_tied.any():
        rows = np.flatnonzero(maybe_tied)
        correct[rows] = np.argmax(p[rows], axis=1) == y[rows]
    return m.astype(np.float64), correct


def positive_class(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p_1 (float64) and 1[y = 1] (bool); K must be 2."""
    if p.ndim == 2 and p.shape[1] != 2:
        raise InputError(f"scope='positive_class' needs 1-D probabilities or K = 2 columns; "
                         f"probs has K = {p.shape[1]} (use 'top_label' or 'classwise')")
    s = p if p.ndim == 1 else p[:, 1]
    return s.astype(np.float64), y == 1


def class_columns(p: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k's scores p_k (float64) and outcomes 1[y = k] over all samples."""
    if p.ndim == 1:
        p64 = p.astype(np.float64)
        return (p64 if k == 1 else 1.0 - p64), y == k
    return p[:, k].astype(np.float64), y == k


def scores_outcomes(p: np.ndarray, y: np.ndarray, scope: str) -> tuple[np.ndarray, np.ndarray]:
    """(score, outcome) of ``top_label`` or ``positive_class``."""
    if scope == "top_label":
        return top_label(p, y)
    if scope == "positive_class":
        return positive_class(p, y)
    raise InputError(f"scope must be 'top_label' or 'positive_class' here; got {scope!r}")
