"""Array inputs as torch tensors: any strides, any memory order, the caller's dtype and device."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from metrics.core.errors import InputError
from metrics.core.validation import to_numpy

_INT_TYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def as_tensor(x: npt.ArrayLike | torch.Tensor, name: str) -> torch.Tensor:
    """A tensor holding ``x``: tensors are detached (same device, dtype and strides, no
    copy); numpy arrays, lists and pandas objects keep their dtype and are copied only
    when torch cannot view them (negative strides, non-native byte order, unsigned ints
    wider than 8 bits). The result is never written to."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.is_complex():
            raise InputError(f"{name} must be real-valued; got a complex tensor")
        return t
    arr = to_numpy(x, name)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold numbers; found dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize > 1:
        arr = arr.astype(np.int64)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if any(s < 0 for s in arr.strides):
        arr = np.ascontiguousarray(arr)
    return torch.from_numpy(arr)


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` → ``"float32"``."""
    return str(dtype).replace("torch.", "")


def logit_tensor(logits: npt.ArrayLike | torch.Tensor, name: str = "logits") -> torch.Tensor:
    """Logits ``(..., C)`` checked: at least 1-D, numeric, not empty."""
    z = as_tensor(logits, name)
    if z.ndim < 1:
        raise InputError(f"{name} must have a class dimension (..., C); got a scalar")
    if not (z.dtype.is_floating_point or z.dtype in _INT_TYPES or z.dtype == torch.bool):
        raise InputError(f"{name} must hold numbers; found dtype {z.dtype}")
    if z.numel() == 0:
        raise InputError(f"{name} must not be empty; got shape {tuple(z.shape)}")
    return z


def logit_rows(logits: npt.ArrayLike | torch.Tensor, name: str = "logits") -> torch.Tensor:
    """Logits ``(..., C)`` as a 2-D ``(rows, C)`` tensor (a view when the memory allows)."""
    z = logit_tensor(logits, name)
    return z.reshape(-1, z.shape[-1])


def label_vector(labels: npt.ArrayLike | torch.Tensor, batch_shape: tuple[int, ...], device: torch.device, *,
                 name: str = "labels", logits_name: str = "logits", check_values: bool = True) -> torch.Tensor:
    """Integer labels as a 1-D int64 tensor on ``device``.

    ``labels`` must have the logits' batch shape ``batch_shape`` (their shape without the
    class dimension) or be 1-D with one entry per logit row. A float label must be a
    whole number: with ``check_values`` that costs one host read, for float input only.
    """
    y = as_tensor(labels, name)
    n_rows = 1
    for d in batch_shape:
        n_rows *= d
    if tuple(y.shape) != tuple(batch_shape) and not (y.ndim == 1 and y.numel() == n_rows):
        what = "1-D with one entry per logit row" if len(batch_shape) == 1 else \
            (f"of shape {tuple(batch_shape)} (the {logits_name} shape without the class dimension) or 1-D, "
             f"with one entry per logit row")
        raise InputError(f"{name} must be {what}; {logits_name} have {n_rows} rows, {name} have shape "
                         f"{tuple(y.shape)}")
    if y.dtype == torch.bool or not (y.dtype.is_floating_point or y.dtype in _INT_TYPES):
        raise InputError(f"{name} must be integer class labels; found dtype {y.dtype}")
    if y.dtype.is_floating_point and check_values:
        if not bool(torch.all(torch.isfinite(y) & (y == torch.round(y)))):
            raise InputError(f"{name} must be integer class labels; found a fractional or non-finite value")
    y = y.reshape(-1)
    if y.device != device:
        y = y.to(device)
    if y.dtype != torch.int64:
        y = y.to(torch.int64)
    return y
