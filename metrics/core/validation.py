"""Input coercion and validation shared by every metric.

Every public function converts its array arguments with these helpers, so that
numpy arrays, torch tensors (any device), Python lists/tuples and pandas objects are
accepted alike, nothing is modified in place, and bad input raises one clear
:class:`~metrics.core.errors.InputError` naming the argument, what was expected and what
was found.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from metrics.core.errors import InputError

__all__ = [
    "to_numpy",
    "as_float_array",
    "as_label_array",
    "as_probabilities",
    "check_option",
    "check_int",
    "check_positive",
    "check_fraction",
    "check_bool",
    "check_same_length",
    "as_generator",
    "describe_position",
]


def describe_position(shape: tuple[int, ...], flat_index: int) -> str:
    """Human description of an element position: ``element 3`` or ``row 2, column 5``."""
    if len(shape) <= 1:
        return f"element {flat_index}"
    idx = np.unravel_index(flat_index, shape)
    if len(shape) == 2:
        return f"row {idx[0]}, column {idx[1]}"
    return "index " + str(tuple(int(i) for i in idx))


def _value_text(value: Any) -> str:
    """A numpy scalar as plain text: ``1.2``, ``nan``, ``3`` (no ``np.float64(...)``)."""
    value = value.item() if hasattr(value, "item") else value
    return repr(value) if isinstance(value, float) else str(value)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def to_numpy(x: Any, name: str, *, copy: bool = False) -> np.ndarray:
    """Convert ``x`` to a C-contiguous numpy array in native byte order.

    Accepts numpy arrays of any strides and memory order (negative strides, Fortran
    order, views of views, broadcast views), torch tensors (detached and moved to CPU;
    any device, with or without ``requires_grad``), pandas Series/DataFrames/Index with
    any index (values are taken by position), lists, tuples and scalars. Strings,
    ``None`` and ragged or object-typed data raise :class:`InputError`.

    A contiguous, writeable, native-order numpy input is returned as is unless ``copy``
    is true; anything else is copied once. With ``copy=True`` the result never shares
    memory with ``x`` (use it for anything that outlives the call, such as a Metric's
    state).
    """
    arr, fresh = _to_numpy(x, name)
    if copy and not fresh:
        arr = arr.copy(order="C")
    return arr


def _to_numpy(x: Any, name: str) -> tuple[np.ndarray, bool]:
    """``(array, fresh)``: ``fresh`` is true when the array certainly owns new memory."""
    if x is None:
        raise InputError(f"{name} is required; got None")
    fresh = False
    if _is_masked_array(x):
        arr, fresh = _unmask(x, name), True
    elif isinstance(x, np.ndarray):
        arr = np.asarray(x)  # a subclass (matrix, memmap) as a plain array view
    elif _is_torch_tensor(x):
        arr, fresh = _tensor_to_numpy(x, name)
    elif hasattr(x, "to_numpy") and callable(x.to_numpy):  # pandas Series / DataFrame / Index
        arr = _pandas_to_numpy(x, name)
    elif isinstance(x, (str, bytes)):
        raise InputError(f"{name} must be array-like; got a string")
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:  # ragged nested lists
            raise InputError(f"{name} must be a rectangular array; {exc}") from None
        fresh = isinstance(x, (list, tuple, numbers.Number))
    if arr.dtype == object:
        try:
            arr, fresh = arr.astype(np.float64), True
        except (TypeError, ValueError):
            raise InputError(
                f"{name} must hold numbers; found non-numeric or ragged values (dtype object)"
            ) from None
    if arr.dtype.kind in "USV":
        raise InputError(f"{name} must hold numbers; found dtype {arr.dtype}")
    if arr.dtype.kind == "c":
        raise InputError(f"{name} must be real-valued; found complex dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold numbers; found dtype {arr.dtype}")
    if not arr.dtype.isnative:
        arr, fresh = arr.astype(arr.dtype.newbyteorder("=")), True
    if not _plain_layout(arr):
        arr, fresh = np.array(arr, order="C", copy=True), True
    return arr, fresh


def _is_masked_array(x: object) -> bool:
    """A numpy masked array, without importing ``numpy.ma`` (slow) when no one has."""
    ma = sys.modules.get("numpy.ma")
    return ma is not None and isinstance(x, ma.MaskedArray)


def _unmask(x: np.ma.MaskedArray, name: str) -> np.ndarray:
    """Masked entries become NaN (reported by the finiteness checks); integer data cannot hold them."""
    if not np.ma.is_masked(x):
        return np.array(np.ma.getdata(x))
    if x.dtype.kind != "f":
        i = int(np.flatnonzero(np.ma.getmaskarray(x))[0])
        raise InputError(f"{name} must not hold masked values; {describe_position(x.shape, i)} is masked")
    return np.ma.filled(x, np.nan)


def _plain_layout(arr: np.ndarray) -> bool:
    """C-contiguous with non-negative strides and writeable: safe for ``torch.from_numpy``."""
    return bool(arr.flags.c_contiguous and arr.flags.writeable and all(st >= 0 for st in arr.strides))


def _tensor_to_numpy(x: Any, name: str) -> tuple[np.ndarray, bool]:
    torch = _torch()
    t = x.detach()
    fresh = t.device.type != "cpu"
    if isinstance(t, torch.Tensor) and type(t) is not torch.Tensor:
        t = t.as_subclass(torch.Tensor)  # a tensor subclass: read its plain data
    if t.is_complex():
        raise InputError(f"{name} must be real-valued; got a complex tensor")
    if t.layout != torch.strided:
        t, fresh = t.to_dense(), True
    if t.dtype.is_floating_point and t.dtype not in _NUMPY_FLOAT_TORCH_DTYPES():
        t, fresh = t.to(dtype=torch.float32), True  # bfloat16 and float8 have no numpy counterpart; exact in float32
    if t.dtype not in _NUMPY_TORCH_DTYPES():
        raise InputError(f"{name} must hold numbers; found tensor dtype {t.dtype}")
    return t.cpu().resolve_conj().resolve_neg().numpy(), fresh


def _pandas_to_numpy(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x.to_numpy())
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype == object:  # nullable extension dtypes (Int64, Float64, boolean) hold pd.NA
        try:
            arr = np.asarray(x.to_numpy(dtype=np.float64, na_value=np.nan))
        except (TypeError, ValueError):
            pass  # non-numeric: reported by the caller
    return arr


def _torch():
    import torch

    return torch


def _is_torch_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")  # never import torch for a numpy input
    return torch is not None and isinstance(x, torch.Tensor)


def _NUMPY_FLOAT_TORCH_DTYPES():
    torch = _torch()
    return (torch.float16, torch.float32, torch.float64)


def _NUMPY_TORCH_DTYPES():
    torch = _torch()
    return (torch.float16, torch.float32, torch.float64, torch.bool, torch.uint8, torch.int8,
            torch.int16, torch.int32, torch.int64)


def _check_ndim(arr: np.ndarray, name: str, ndim: int | tuple[int, ...] | None, what: str) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        dims = " or ".join(f"{d}-D" for d in allowed)
        raise InputError(f"{name} must be a {dims} array of {what}; got shape {_shape_text(arr.shape)}")


def as_float_array(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    finite: bool = True,
    min_value: float | None = None,
    max_value: float | None = None,
    allow_empty: bool = False,
    dtype: type | None = np.float64,
    what: str = "numbers",
    copy: bool = False,
) -> np.ndarray:
    """Coerce ``x`` to a C-contiguous float array (float64 by default) and validate it.

    Parameters
    ----------
    x : array-like
        Input values (numpy, torch, list, pandas).
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    finite : bool
        Reject NaN and ±inf.
    min_value, max_value : float, optional
        Inclusive bounds.
    allow_empty : bool
        Accept arrays with zero elements (or zero rows).
    dtype : numpy dtype
        Result dtype; ``None`` keeps a floating input dtype (bools/ints become float64).
    what : str
        Noun for the error message ("probabilities", "scores", ...).
    copy : bool
        Return memory never shared with ``x`` (for Metric states and anything kept).
    """
    arr, fresh = _to_numpy(x, name)
    _check_ndim(arr, name, ndim, what)
    target = (arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)) if dtype is None else np.dtype(dtype)
    if arr.dtype != target:
        arr = arr.astype(target)  # a cast always allocates
    elif copy and not fresh:
        arr = arr.copy()
    if not allow_empty and (arr.size == 0 or (arr.ndim >= 1 and arr.shape[0] == 0)):
        raise InputError(f"{name} must not be empty; got shape {_shape_text(arr.shape)}")
    if finite:
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{name} must be finite {what}; {describe_position(arr.shape, i)} is {_value_text(arr.flat[i])}"
            )
    if min_value is not None or max_value is not None:
        lo = -np.inf if min_value is None else min_value
        hi = np.inf if max_value is None else max_value
        with np.errstate(invalid="ignore"):
            bad = (arr < lo) | (arr > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{name} must be {what} in [{lo:g}, {hi:g}]; "
                f"{describe_position(arr.shape, i)} is {_value_text(arr.flat[i])}"
            )
    return arr


def as_label_array(
    x: Any,
    name: str = "labels",
    *,
    n_classes: int | None = None,
    ndim: int = 1,
    allow_empty: bool = False,
    copy: bool = False,
) -> np.ndarray:
    """Coerce integer class labels to a C-contiguous ``int64`` array.

    Bools and integral floats are accepted; fractional or non-finite values (never
    truncated), values that do not fit in int64, and labels outside ``[0, n_classes)``
    when ``n_classes`` is given, raise with the value as given. ``copy=True`` returns
    memory never shared with ``x``.
    """
    arr, fresh = _to_numpy(x, name)
    _check_ndim(arr, name, ndim, "integer labels")
    if not allow_empty and arr.size == 0:
        raise InputError(f"{name} must not be empty; got shape {_shape_text(arr.shape)}")
    kind = arr.dtype.kind
    if kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{name} must be integer labels; {describe_position(arr.shape, i)} is {_value_text(arr.flat[i])}"
            )
    elif kind not in "biu":
        raise InputError(f"{name} must be integer labels; found dtype {arr.dtype}")
    if arr.size and kind != "b":
        # Checked on the values as given, before any cast: 1e20 is reported as 1e+20.
        too_big = (arr >= 2.0**63) if kind == "f" else (arr > np.iinfo(np.int64).max) if kind == "u" else None
        lo_bad = arr < 0
        hi_bad = arr >= n_classes if n_classes is not None else np.zeros(arr.shape, dtype=bool)
        if too_big is not None:
            hi_bad = hi_bad | too_big
        bad = lo_bad | hi_bad
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = f"{describe_position(arr.shape, i)} is {_value_text(arr.flat[i])}"
            if n_classes is None and not lo_bad.flat[i]:
                raise InputError(f"{name} must be integer labels that fit in int64; {where}")
            rng = f"[0, {n_classes})" if n_classes is not None else "≥ 0"
            raise InputError(f"{name} must be integer labels in {rng}; {where}")
    if arr.dtype != np.int64:
        return arr.astype(np.int64)
    return arr.copy() if copy and not fresh else arr


def as_probabilities(
    x: Any,
    name: str = "probs",
    *,
    row_sum_tol: float | None = 1e-3,
    dtype: type | None = np.float64,
    copy: bool = False,
) -> np.ndarray:
    """Validate probabilities: (N,) or (N, K), finite, in [0, 1], rows summing to 1.

    A 1-D input is returned as is (it means ``[1 - p, p]``); for 2-D input with
    K ≥ 2 each row must sum to 1 within ``row_sum_tol`` (``None`` skips the check).
    """
    arr = as_float_array(x, name, ndim=(1, 2), min_value=0.0, max_value=1.0, dtype=dtype,
                         what="probabilities", copy=copy)
    if arr.ndim == 2:
        if arr.shape[1] == 0:
            raise InputError(f"{name} must have at least one column; got shape {_shape_text(arr.shape)}")
        if row_sum_tol is not None and arr.shape[1] >= 2:
            sums = arr.sum(axis=1, dtype=np.float64)
            bad = np.abs(sums - 1.0) > row_sum_tol
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"{name} must be a 2-D array of probabilities in [0, 1] whose rows sum to 1; "
                    f"row {i} sums to {sums[i]:.6g}"
                )
    return arr


def check_option(value: Any, name: str, allowed: Iterable[Any]) -> Any:
    """Raise unless ``value`` is one of ``allowed``; return it."""
    allowed = tuple(allowed)
    if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
        choices = ", ".join(repr(a) for a in allowed)
        raise InputError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_int(value: Any, name: str, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Raise unless ``value`` is an integer (not a bool) within the bounds; return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise InputError(f"{name} must be an integer ≥ {min_value}; got {value}")
    if max_value is not None and value > max_value:
        raise InputError(f"{name} must be an integer ≤ {max_value}; got {value}")
    return value


def _check_real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise InputError(f"{name} must be finite; got {value}")
    return value


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Raise unless ``value`` is a finite real > 0 (≥ 0 with ``allow_zero``)."""
    value = _check_real(value, name)
    if value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{name} must be {'≥' if allow_zero else '>'} 0; got {value}")
    return value


def check_fraction(value: Any, name: str, *, closed: bool = False) -> float:
    """Raise unless ``value`` lies in (0, 1) (or [0, 1] with ``closed``)."""
    value = _check_real(value, name)
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        raise InputError(f"{name} must be a fraction in {'[0, 1]' if closed else '(0, 1)'}; got {value}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Raise unless ``value`` is a bool (numpy bools accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_same_length(**arrays: np.ndarray) -> int:
    """Raise unless all arrays have the same first dimension; return it.

    ``check_same_length(probs=p, labels=y)``.
    """
    lengths = {k: (len(v) if np.ndim(v) else 0) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        text = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise InputError(f"{', '.join(lengths)} must have the same number of rows; {text}")
    return next(iter(lengths.values()))


def as_generator(seed: Any, name: str = "seed") -> np.random.Generator:
    """``np.random.default_rng(seed)`` for an int, None or an existing Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise InputError(f"{name} must be a non-negative integer or a numpy Generator; got {seed}")
        return np.random.default_rng(None if seed is None else int(seed))
    raise InputError(f"{name} must be an integer, None or a numpy Generator; got {seed!r}")
