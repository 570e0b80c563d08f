"""Per-case dispersion functions D of LInCo (the one place where they are computed).

Every function takes a (K, n) block of predictions (K group models, n cases) and
returns (n,) per-case values; a skipped case is NaN. Work is done in column chunks
so that memory stays bounded for large N.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

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

Task = Literal["regression", "classification"]
DispersionName = Literal["var_pop", "std_pop", "std_log1p", "cv_pop", "mean_abs_pairwise",
                         "pairwise_disagreement", "one_minus_majority_fraction"]
#: A callable dispersion: f(P (K, N), read-only) -> (N,) per-case values.
DispersionFunction = Callable[[np.ndarray], npt.ArrayLike]
Dispersion = DispersionName | DispersionFunction | None

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


# ------------------------------------------------------------------- kernels (numpy or torch)
# One implementation of every D. A block is a (K, n) numpy array or torch tensor; the same
# arithmetic runs on either (torch on the tensor's device), so the functional numpy path,
# the functional torch path and the Metric share one formula.


def is_tensor(x: object) -> bool:
    """True for a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch") or any(
        c.__module__ == "torch" and c.__name__ == "Tensor" for c in type(x).__mro__)


_is_tensor = is_tensor


def _sort0(x: Any) -> Any:
    return x.sort(dim=0).values if _is_tensor(x) else np.sort(x, axis=0)


def _amax0(x: Any) -> Any:
    return x.amax(dim=0) if _is_tensor(x) else x.max(axis=0)


def _cummax0(x: Any) -> Any:
    return x.cummax(dim=0).values if _is_tensor(x) else np.maximum.accumulate(x, axis=0)


def _column_scale(block: Any) -> Any:
    """Per-case power of two ≥ max_k |x_kj| / 2 (so the scaled values lie in [-2, 2]).

    Dividing by a power of two is exact, so the scaled arithmetic rounds exactly as the
    unscaled one would, but its squares and differences cannot overflow.
    """
    if _is_tensor(block):
        import torch

        _, exponent = torch.frexp(block.abs().amax(dim=0))
        return torch.ldexp(torch.ones_like(block[0]), exponent - 1)
    _, exponent = np.frexp(np.abs(block).max(axis=0))
    return np.ldexp(1.0, exponent - 1)


def regression_kernel(block: Any, dispersion: str) -> Any:
    """(K, n) float64 → (n,) per-case D; NaN marks a case skipped by cv_pop (mean 0).

    Inputs are assumed valid (finite; > −1 for std_log1p; non-negative case means for
    cv_pop); the callers check. A value beyond the float64 range comes out as inf.
    """
    K = block.shape[0]
    if dispersion == "std_log1p":
        block = block.log1p() if _is_tensor(block) else np.log1p(block)
    scale = _column_scale(block)
    y = block / scale
    if dispersion == "mean_abs_pairwise":
        # Sorted gaps: sum_{a<b} |x_a - x_b| = sum_{k=1}^{K-1} k (K - k) (x_(k) - x_(k-1)).
        # Equal to sum_k (2k - K + 1) x_(k), but free of cancellation (exactly 0 when all agree).
        gaps = _sort0(y)
        gaps = gaps[1:] - gaps[:-1]
        k = np.arange(1, K, dtype=np.float64)
        weights = (k * (K - k) * (2.0 / (K * (K - 1))))[:, None]
        if _is_tensor(gaps):
            import torch

            weights = torch.as_tensor(weights, device=gaps.device)
        return (gaps * weights).sum(0) * scale
    # Centre on the first model's value: shift invariance keeps var exact for equal rows.
    centred = y - y[0]
    deviation = centred - centred.mean(0)
    var = (deviation * deviation).mean(0)
    if dispersion == "var_pop":
        return var * scale * scale
    std = var ** 0.5
    if dispersion in ("std_pop", "std_log1p"):
        return std * scale
    # cv_pop = std / mean; the scale cancels. A zero mean gives NaN (skipped).
    mean = y.mean(0)
    positive = mean > 0
    if _is_tensor(mean):
        import torch

        return torch.where(positive, std / torch.where(positive, mean, 1.0), math.nan)
    return np.where(positive, std / np.where(positive, mean, 1.0), np.nan)


def classification_kernel(codes: Any, dispersion: str) -> Any:
    """(K, n) int64 labels → (n,) float64 per-case D from the label counts n_c of each case."""
    K = codes.shape[0]
    s = _sort0(codes)
    idx: Any
    new_run: Any
    zero: Any
    where: Any
    if _is_tensor(s):
        import torch

        idx = torch.arange(K, dtype=torch.int64, device=s.device)[:, None]
        new_run = torch.ones(s.shape, dtype=torch.bool, device=s.device)
        zero = torch.zeros((), dtype=torch.int64, device=s.device)
        where = torch.where
    else:
        s = np.ascontiguousarray(s)
        idx = np.arange(K, dtype=np.int64)[:, None]
        new_run = np.ones(s.shape, dtype=bool)
        zero = np.int64(0)
        where = np.where
    new_run[1:] = s[1:] != s[:-1]
    run_start = _cummax0(where(new_run, idx, zero))
    pos = idx - run_start  # 0-based position of each model inside its run of equal labels
    if dispersion == "pairwise_disagreement":
        # sum_c n_c^2 = sum over elements of (2 pos + 1), since sum_{i<n} (2i + 1) = n^2
        sum_sq = (2 * pos + 1).sum(0)
        return 1.0 - _float64(sum_sq - K) / (K * (K - 1))
    return 1.0 - _float64(_amax0(pos) + 1) / K  # one_minus_majority_fraction


def _float64(x: Any) -> Any:
    """Integer counts as float64 (torch would divide them in float32)."""
    if _is_tensor(x):
        import torch

        return x.to(torch.float64)
    return x.astype(np.float64)


# ----------------------------------------------------------------------------- numpy checks
def _check_regression_block(block: np.ndarray, dispersion: str, offset: int, name: str) -> None:
    if dispersion == "std_log1p":
        bad = block <= -1.0
        if bad.any():
            k, j = _first_bad(bad)
            raise InputError(f"{name} must be > -1 for dispersion='std_log1p' (log(1 + x)); "
                             f"row {k}, column {j + offset} is {float(block[k, j])!r}")
    if dispersion == "cv_pop":
        scale = _column_scale(block)
        scaled_mean = (block / scale).mean(axis=0)  # no overflow; the sign is exact
        neg = scaled_mean < 0
        if neg.any():
            j = int(np.flatnonzero(neg)[0])
            mean = float(scaled_mean[j] * scale[j])
            raise InputError(f"{name} must have a non-negative mean in every case for dispersion='cv_pop'; "
                             f"column {j + offset} has mean {mean!r}")


def check_overflow(per_case: Any, dispersion: str, offset: int, name: str) -> None:
    """Raise when a per-case value left the float64 range (numpy values)."""
    bad = np.isinf(per_case)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name}: the {dispersion} of column {j + offset} exceeds the float64 range "
                         "(values too large); rescale the predictions (e.g. months to years)")


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
            _check_regression_block(block, dispersion, a, name)
            with np.errstate(over="ignore"):  # a value beyond float64 becomes inf and is reported
                values = regression_kernel(block, dispersion)
            check_overflow(values, dispersion, a, name)
            out[a:a + step] = values
        else:
            out[a:a + step] = classification_kernel(block, dispersion)
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


# ----------------------------------------------------------------------------- torch path
def _tensor_flag_message(x: torch.Tensor, task: str, dispersion: str, name: str) -> None:
    """Raise the precise message for an invalid tensor (the error path: a host copy is fine)."""
    matrix = as_prediction_matrix(x.detach().cpu().numpy(), name, task)
    per_case_values(matrix, task=task, dispersion=dispersion, name=name)
    raise InputError(f"{name} holds values the dispersion {dispersion!r} cannot use")


def check_tensor_shape(x: torch.Tensor, name: str, *, allow_empty: bool = False) -> None:
    """Shape checks of a (K, N) tensor (no device synchronisation)."""
    shape = tuple(x.shape)
    if x.ndim != 2:
        raise InputError(f"{name} must be a 2-D array of shape (K groups, N cases); got shape {_shape_text(shape)}")
    if shape[0] < 2:
        raise InputError(f"{name} must have K ≥ 2 rows (one per group model); got {shape[0]} "
                         f"(shape {_shape_text(shape)})")
    if shape[1] < 1 and not allow_empty:
        raise InputError(f"{name} must have N ≥ 1 columns (cases); got shape {_shape_text(shape)}")
    if x.is_complex():
        raise InputError(f"{name} must be real-valued; got a complex tensor")


def tensor_per_case(x: torch.Tensor, *, task: str, dispersion: str, name: str = "predictions",
                    validate: bool = True, allow_empty: bool = False) -> torch.Tensor:
    """(N,) float64 per-case D of a (K, N) tensor, computed on its device.

    With ``validate`` every check (finite values, integral labels, > −1 for std_log1p,
    non-negative case means for cv_pop, no value beyond float64) is folded into one flag
    and read once: a single host synchronisation. Without it there is none.
    """
    import torch

    check_tensor_shape(x, name, allow_empty=allow_empty)
    x = x.detach()
    K, N = x.shape
    ok = torch.ones((), dtype=torch.bool, device=x.device)
    if task == "regression":
        if x.dtype == torch.bool:
            x = x.to(torch.int64)
        data = x.to(torch.float64)
        if validate:
            ok = ok & torch.isfinite(data).all()
            if dispersion == "std_log1p":
                ok = ok & (data > -1.0).all()
    else:
        if x.dtype.is_floating_point:
            if validate:
                ok = ok & (torch.isfinite(x) & (x == x.round())).all()
            data = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).to(torch.int64)
        else:
            data = x.to(torch.int64)
    out = torch.empty(N, dtype=torch.float64, device=x.device)
    step = max(1, _CHUNK_ELEMENTS // K)
    for a in range(0, N, step):
        block = data[:, a:a + step]
        if task == "regression":
            if validate and dispersion == "cv_pop":
                ok = ok & ((block / _column_scale(block)).mean(0) >= 0).all()
            out[a:a + step] = regression_kernel(block, dispersion)
        else:
            out[a:a + step] = classification_kernel(block, dispersion)
    if validate and task == "regression":
        ok = ok & ~torch.isinf(out).any()
    if validate and not bool(ok):  # the one synchronisation
        _tensor_flag_message(x, task, dispersion, name)
    return out
