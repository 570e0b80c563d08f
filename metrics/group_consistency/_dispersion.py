"""Per-case dispersion functions D of LInCo (the one place where they are computed).

Every function takes a (K, n) block of predictions (K group models, n cases) and
returns (n,) per-case values; a skipped case is NaN. Work is done in column chunks
so that memory stays bounded for large N.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, describe_position, to_numpy

__all__ = [
    "LINCO_REGRESSION_DISPERSIONS",
    "LINCO_CLASSIFICATION_DISPERSIONS",
    "linco_per_case",
]

LINCO_REGRESSION_DISPERSIONS = ("var_pop", "std_pop", "std_log1p", "cv_pop", "mean_abs_pairwise")
LINCO_CLASSIFICATION_DISPERSIONS = ("pairwise_disagreement", "one_minus_majority_fraction")
DEFAULT_DISPERSION = {"regression": "std_log1p", "classification": "pairwise_disagreement"}
TASKS = ("regression", "classification")

# Column chunk so that one chunk holds about this many matrix elements (32 MiB of float64).
_CHUNK_ELEMENTS = 1 << 22


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def check_task(task: Any) -> str:
    if task not in TASKS:
        raise InputError(f"task must be 'regression' or 'classification'; got {task!r}")
    return task


def resolve_dispersion(dispersion: Any, task: str) -> str | Callable:
    """Return the dispersion name (or the callable), checking that it fits ``task``."""
    if dispersion is None:
        return DEFAULT_DISPERSION[task]
    if callable(dispersion):
        return dispersion
    own = LINCO_REGRESSION_DISPERSIONS if task == "regression" else LINCO_CLASSIFICATION_DISPERSIONS
    other = LINCO_CLASSIFICATION_DISPERSIONS if task == "regression" else LINCO_REGRESSION_DISPERSIONS
    if isinstance(dispersion, str) and dispersion in own:
        return dispersion
    if isinstance(dispersion, str) and dispersion in other:
        raise InputError(f"dispersion {dispersion!r} is for the other task; task={task!r} needs one of "
                         + ", ".join(map(repr, own)) + " or a callable")
    raise InputError("dispersion must be one of " + ", ".join(map(repr, own + other))
                     + f" or a callable f(P) -> (N,); got {dispersion!r}")


def dispersion_name(dispersion: str | Callable) -> str:
    if isinstance(dispersion, str):
        return dispersion
    return getattr(dispersion, "__name__", type(dispersion).__name__)


def _check_matrix_shape(arr: np.ndarray, name: str) -> None:
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D array of shape (K groups, N cases); "
                         f"got shape {_shape_text(arr.shape)}")
    if arr.shape[0] < 2:
        raise InputError(f"{name} must have K ≥ 2 rows (one per group model); got {arr.shape[0]} "
                         f"(shape {_shape_text(arr.shape)})")
    if arr.shape[1] < 1:
        raise InputError(f"{name} must have N ≥ 1 columns (cases); got shape {_shape_text(arr.shape)}")


def as_prediction_matrix(x: Any, name: str, task: str) -> np.ndarray:
    """Coerce a (K, N) prediction matrix.

    Regression: finite float64. Classification: int64 label codes (integers are kept,
    strings are replaced by their rank among the sorted unique labels, which leaves
    every count n_c unchanged).
    """
    if task == "regression":
        arr = to_numpy(x, name)
        _check_matrix_shape(arr, name)
        return as_float_array(arr, name, ndim=2, what="predictions")
    arr = _label_matrix(x, name)
    _check_matrix_shape(arr, name)
    return arr


def _label_matrix(x: Any, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.dtype.kind in "USO":
        raw = x
    elif isinstance(x, (list, tuple)):
        try:
            raw = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be a rectangular (K, N) array of labels; {exc}") from None
    elif hasattr(x, "to_numpy") and not hasattr(x, "detach"):
        raw = x.to_numpy()
    else:
        raw = None
    if raw is not None and raw.dtype.kind in "USO":
        if raw.dtype.kind == "O":
            flat = raw.ravel()
            if all(isinstance(v, str) for v in flat):
                raw = raw.astype(str)
            else:
                raw = to_numpy(raw, name)  # numbers stored as objects, or an error
        if raw.dtype.kind in "US":
            _check_matrix_shape(raw, name)
            _, codes = np.unique(raw, return_inverse=True)
            return codes.reshape(raw.shape).astype(np.int64, copy=False)
        x = raw
    arr = to_numpy(x, name)
    _check_matrix_shape(arr, name)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{name} must hold class labels (integers or strings) for task='classification'; "
                             f"{describe_position(arr.shape, i)} is {arr.flat[i]!r}")
        return arr.astype(np.int64)
    raise InputError(f"{name} must hold class labels (integers or strings); found dtype {arr.dtype}")


def _first_bad(mask: np.ndarray) -> tuple[int, int]:
    k, j = np.unravel_index(int(np.flatnonzero(mask)[0]), mask.shape)
    return int(k), int(j)


# ----------------------------------------------------------------------------- regression
def _regression_block(block: np.ndarray, dispersion: str, offset: int, name: str) -> np.ndarray:
    """(K, n) float64 → (n,) per-case D; NaN marks a case skipped by cv_pop."""
    K = block.shape[0]
    if dispersion == "std_log1p":
        bad = block <= -1.0
        if bad.any():
            k, j = _first_bad(bad)
            raise InputError(f"{name} must be > -1 for dispersion='std_log1p' (log(1 + x)); "
                             f"row {k}, column {j + offset} is {float(block[k, j])!r}")
        block = np.log1p(block)
    if dispersion == "mean_abs_pairwise":
        # Sorted gaps: sum_{a<b} |x_a - x_b| = sum_{k=1}^{K-1} k (K - k) (x_(k) - x_(k-1)).
        # Equivalent to the spec's sum_k (2k - K + 1) x_(k), but free of cancellation
        # (exactly 0 when all models agree).
        s = np.sort(block.T, axis=1)
        k = np.arange(1, K, dtype=np.float64)
        gaps = np.diff(s, axis=1)
        gaps *= k * (K - k)
        return gaps.sum(axis=1) * (2.0 / (K * (K - 1)))  # row sums: independent of the chunking
    # Centre on the first model's value: shift invariance keeps var exact for equal rows.
    centred = block - block[0]
    var = np.var(centred, axis=0)
    if dispersion == "var_pop":
        return var
    std = np.sqrt(var)
    if dispersion in ("std_pop", "std_log1p"):
        return std
    # cv_pop
    mean = block.mean(axis=0)
    neg = mean < 0
    if neg.any():
        j = int(np.flatnonzero(neg)[0])
        raise InputError(f"{name} must have a non-negative mean in every case for dispersion='cv_pop'; "
                         f"column {j + offset} has mean {float(mean[j])!r}")
    out = np.full(block.shape[1], np.nan)
    pos = mean > 0
    out[pos] = std[pos] / mean[pos]
    return out


# ------------------------------------------------------------------------- classification
def _classification_block(codes: np.ndarray, dispersion: str) -> np.ndarray:
    """(K, n) int64 labels → (n,) per-case D from the label counts n_c of each case."""
    K = codes.shape[0]
    # sort each case's labels (contiguous rows), then work on the (K, n) layout so that the
    # run bookkeeping below runs across contiguous cases
    s = np.ascontiguousarray(np.sort(codes.T, axis=1).T)
    idx = np.arange(K, dtype=np.int32)[:, None]
    new_run = np.ones(s.shape, dtype=bool)
    new_run[1:] = s[1:] != s[:-1]
    run_start = np.maximum.accumulate(np.where(new_run, idx, np.int32(0)), axis=0)
    pos = idx - run_start  # 0-based position of each model inside its run of equal labels
    if dispersion == "pairwise_disagreement":
        # sum_c n_c^2 = sum over elements of (2 pos + 1), since sum_{i<n} (2i + 1) = n^2
        sum_sq = (2 * pos + 1).sum(axis=0, dtype=np.int64)
        return 1.0 - (sum_sq - K) / (K * (K - 1))
    return 1.0 - (pos.max(axis=0) + 1) / K  # one_minus_majority_fraction


def per_case_values(matrix: np.ndarray, *, task: str, dispersion: str | Callable,
                    name: str = "predictions", labels: Any = None) -> np.ndarray:
    """(N,) per-case D of a coerced (K, N) matrix; NaN marks skipped cases (cv_pop only)."""
    K, N = matrix.shape
    if callable(dispersion):
        view = (labels if labels is not None else matrix).view()
        view.flags.writeable = False
        out = as_float_array(dispersion(view), f"{name}: dispersion output", ndim=1,
                             what="per-case values")
        if out.shape[0] != N:
            raise InputError(f"dispersion output must have shape ({N},) (one value per case); "
                             f"got {_shape_text(out.shape)}")
        return out
    step = max(1, _CHUNK_ELEMENTS // K)
    out = np.empty(N, dtype=np.float64)
    for a in range(0, N, step):
        block = matrix[:, a:a + step]
        if task == "regression":
            out[a:a + step] = _regression_block(block, dispersion, a, name)
        else:
            out[a:a + step] = _classification_block(block, dispersion)
    return out


def linco_per_case(predictions: Any, *, task: str = "regression",
                   dispersion: str | Callable | None = None) -> np.ndarray:
    """Per-case dispersion D(p_1j, ..., p_Kj) of a (K, N) prediction matrix.

    Returns an (N,) float64 array; cases skipped by ``cv_pop`` (mean 0) are NaN.
    See :func:`metrics.linco` for the dispersions.
    """
    task = check_task(task)
    dispersion = resolve_dispersion(dispersion, task)
    matrix = as_prediction_matrix(predictions, "predictions", task)
    labels = _callable_labels(predictions, matrix, task) if callable(dispersion) else None
    return per_case_values(matrix, task=task, dispersion=dispersion, labels=labels)


def _callable_labels(original: Any, matrix: np.ndarray, task: str) -> np.ndarray | None:
    """For a callable on classification input: hand it the user's labels, not our codes."""
    if task != "classification":
        return None
    try:
        arr = np.asarray(original) if not hasattr(original, "detach") else original.detach().cpu().numpy()
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == matrix.shape else None
