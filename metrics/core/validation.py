"""Input coercion and validation shared by every metric.

Every public function converts its array arguments with these helpers, so that
numpy arrays, torch tensors (any device), Python lists/tuples and pandas objects are
accepted alike, nothing is modified in place, and bad input raises one clear
:class:`~metrics.core.errors.InputError` naming the argument, what was expected and what
was found.
"""

from __future__ import annotations

import numbers
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


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Convert ``x`` to a numpy array without copying when it is already one.

    Accepts numpy arrays, torch tensors (detached and moved to CPU), pandas
    Series/DataFrames/Index, lists, tuples and scalars. Strings, ``None`` and
    ragged or object-typed data raise :class:`InputError`.
    """
    if x is None:
        raise InputError(f"{name} is required; got None")
    if isinstance(x, np.ndarray):
        arr = x
    elif _is_torch_tensor(x):
        t = x.detach()
        if t.is_complex():
            raise InputError(f"{name} must be real-valued; got a complex tensor")
        if t.dtype.is_floating_point and t.dtype not in _NUMPY_FLOAT_TORCH_DTYPES():
            t = t.to(dtype=_torch().float32)  # bfloat16 has no numpy counterpart; exact in float32
        arr = t.cpu().numpy()
    elif hasattr(x, "to_numpy") and callable(x.to_numpy):  # pandas Series / DataFrame / Index
        try:
            arr = x.to_numpy()
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} could not be converted to an array: {exc}") from None
    elif isinstance(x, (str, bytes)):
        raise InputError(f"{name} must be array-like; got a string")
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:  # ragged nested lists
            raise InputError(f"{name} must be a rectangular array; {exc}") from None
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"{name} must hold numbers; found non-numeric or ragged values (dtype object)"
            ) from None
    if arr.dtype.kind in "USV":
        raise InputError(f"{name} must hold numbers; found dtype {arr.dtype}")
    if arr.dtype.kind == "c":
        raise InputError(f"{name} must be real-valued; found complex dtype {arr.dtype}")
    return arr


def _torch():
    import torch

    return torch


def _is_torch_tensor(x: Any) -> bool:
    mod = type(x).__module__
    return mod.startswith("torch") and hasattr(x, "detach") and hasattr(x, "cpu")


def _NUMPY_FLOAT_TORCH_DTYPES():
    torch = _torch()
    return (torch.float16, torch.float32, torch.float64)


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
    dtype: type = np.float64,
    what: str = "numbers",
) -> np.ndarray:
    """Coerce ``x`` to a float array (float64 by default) and validate it.

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
    """
    arr = to_numpy(x, name)
    _check_ndim(arr, name, ndim, what)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold {what}; found dtype {arr.dtype}")
    if dtype is None:
        arr = arr if arr.dtype.kind == "f" else arr.astype(np.float64)
    else:
        arr = arr.astype(dtype, copy=False)
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
) -> np.ndarray:
    """Coerce integer class labels to ``int64``.

    Bools and integral floats are accepted; fractional or non-finite values, and
    labels outside ``[0, n_classes)`` when ``n_classes`` is given, raise.
    """
    arr = to_numpy(x, name)
    _check_ndim(arr, name, ndim, "integer labels")
    if not allow_empty and arr.size == 0:
        raise InputError(f"{name} must not be empty; got shape {_shape_text(arr.shape)}")
    if arr.dtype.kind == "b":
        out = arr.astype(np.int64)
    elif arr.dtype.kind in "iu":
        out = arr.astype(np.int64, copy=False)
        if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise InputError(f"{name} must be integer labels; a value overflows int64")
    elif arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{name} must be integer labels; {describe_position(arr.shape, i)} is {_value_text(arr.flat[i])}"
            )
        out = arr.astype(np.int64)
    else:
        raise InputError(f"{name} must be integer labels; found dtype {arr.dtype}")
    if out.size:
        lo_bad = out < 0
        hi_bad = out >= n_classes if n_classes is not None else np.zeros_like(lo_bad)
        bad = lo_bad | hi_bad
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            rng = f"[0, {n_classes})" if n_classes is not None else "≥ 0"
            raise InputError(
                f"{name} must be integer labels in {rng}; {describe_position(out.shape, i)} is {_value_text(out.flat[i])}"
            )
    return out


def as_probabilities(
    x: Any,
    name: str = "probs",
    *,
    row_sum_tol: float | None = 1e-3,
    dtype: type = np.float64,
) -> np.ndarray:
    """Validate probabilities: (N,) or (N, K), finite, in [0, 1], rows summing to 1.

    A 1-D input is returned as is (it means ``[1 - p, p]``); for 2-D input with
    K ≥ 2 each row must sum to 1 within ``row_sum_tol`` (``None`` skips the check).
    """
    arr = as_float_array(x, name, ndim=(1, 2), min_value=0.0, max_value=1.0, dtype=dtype,
                         what="probabilities")
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
        return np.random.default_rng(seed)
    raise InputError(f"{name} must be an integer, None or a numpy Generator; got {seed!r}")
