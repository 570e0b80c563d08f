"""Validation and the (score, outcome) pairs of each scope (calibration.md §1, §8)."""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.errors import InputError
from metrics.validation import as_label_array, as_probabilities, check_same_length, to_numpy

__all__ = ["SCOPES", "validate_probabilities", "validate_inputs", "top_label", "positive_class",
           "class_columns", "scores_outcomes", "n_classes"]

SCOPES = ("top_label", "positive_class", "classwise")
ROW_SUM_TOL = 1e-3


def n_classes(p: np.ndarray) -> int:
    """K of validated probabilities (2 for a 1-D p, meaning [1 − p, p])."""
    return 2 if p.ndim == 1 else p.shape[1]


def validate_probabilities(probs: Any, name: str = "probs") -> np.ndarray:
    """(N,) or (N, K ≥ 2) probabilities: finite, in [0, 1], rows summing to 1 ± 1e-3.

    float32 / float64 inputs keep their dtype (no (N, K) float64 copy); other dtypes
    become float64. Large float arrays are checked with a few multi-threaded torch
    reductions (min, max, row sums); only when one fails does the element-wise numpy
    check run to name the offending element.
    """
    arr = to_numpy(probs, name)
    if arr.dtype in (np.float32, np.float64) and arr.ndim in (1, 2) and arr.size >= 1 << 16:
        if arr.ndim == 2 and arr.shape[1] < 2:
            _raise_one_column(name, arr.shape)
        if _fast_ok(arr):
            return arr
    out = as_probabilities(arr, name, row_sum_tol=ROW_SUM_TOL, dtype=None)
    if out.ndim == 2 and out.shape[1] < 2:
        _raise_one_column(name, out.shape)
    return out


def _raise_one_column(name: str, shape: tuple) -> None:
    raise InputError(f"{name} must be (N,) probabilities of the positive class or (N, K) with K ≥ 2 "
                     f"columns; got shape {shape} (pass a 1-D array for one column)")


def _fast_ok(arr: np.ndarray) -> bool:
    import torch

    t = torch.from_numpy(np.ascontiguousarray(arr))
    lo, hi = torch.aminmax(t)
    if not (bool(lo >= 0) and bool(hi <= 1)):  # NaN fails both comparisons
        return False
    if arr.ndim == 2:
        # native-dtype row sums (a float64 cast would copy the whole array); the float32
        # rounding error (~1e-6 for K = 1000) is far below the 1e-3 tolerance
        dev = (t.sum(dim=1) - 1.0).abs_().max()
        if not bool(dev <= ROW_SUM_TOL):
            return False
    return True


def validate_inputs(probs: Any, labels: Any, *, name: str = "probs") -> tuple[np.ndarray, np.ndarray]:
    """Validated probabilities (dtype kept) and int64 labels in [0, K)."""
    p = validate_probabilities(probs, name)
    y = as_label_array(labels, "labels", n_classes=n_classes(p))
    check_same_length(**{name: p, "labels": y})
    return p, y


def top_label(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence max_k p_k (float64) and 1[first argmax = y] (bool).

    For (N, K) input one ``torch.max`` pass gives values and indices together.
    """
    if p.ndim == 1:
        p64 = p.astype(np.float64, copy=False)
        q = 1.0 - p64
        s = np.maximum(p64, q)
        pred = p64 > q  # ties go to class 0, the first argmax of [1 - p, p]
        return s, pred == (y == 1)
    import torch

    values, indices = torch.max(torch.from_numpy(np.ascontiguousarray(p)), dim=1)
    return values.numpy().astype(np.float64), indices.numpy() == y


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
