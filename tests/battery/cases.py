"""The battery's cases: how an input is re-laid-out, re-typed or broken.

An *equivalent* case gives the same numbers in another container, layout or dtype
(negative strides, Fortran order, a torch tensor with ``requires_grad``, a pandas Series
with a non-default index, a list...): the function must return the value it returns on
the plain input. A *bad* case (NaN, ±inf, empty, wrong ndim, length mismatch) must raise
``InputError`` naming a real argument. An *extreme* case (1e308, a scale of 1e200) may
raise such an ``InputError`` or give the right value, never NaN or a wrong number.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

# ---------------------------------------------------------------- equivalent layouts


def negative_strides(x: np.ndarray) -> np.ndarray:
    """Same values, every axis read backwards from a reversed copy."""
    flip = (slice(None, None, -1),) * x.ndim
    return np.ascontiguousarray(x[flip])[flip]


def non_contiguous(x: np.ndarray) -> np.ndarray:
    """Same values, every second element of a buffer twice as long on the last axis."""
    if x.ndim == 0:
        return x
    buf = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    buf[..., ::2] = x
    return buf[..., ::2]


def view_of_view(x: np.ndarray) -> np.ndarray:
    """Same values through two slicing steps (reversed, then offset, then reversed back)."""
    if x.ndim == 0:
        return x
    pad = np.concatenate([x[:1], x, x[-1:]]) if len(x) else x
    return pad[::-1][1:-1][::-1] if len(x) else x


def fortran(x: np.ndarray) -> np.ndarray:
    return np.asfortranarray(x)


def as_list(x: np.ndarray) -> list:
    return x.tolist()


def as_pandas(x: np.ndarray) -> Any:
    """A Series (1-D) or DataFrame (2-D) whose index is neither 0..n-1 nor sorted."""
    index = np.arange(len(x))[::-1] * 3 + 7
    if x.ndim == 1:
        return pd.Series(x, index=index)
    return pd.DataFrame(x, index=index, columns=[f"c{j}" for j in range(x.shape[1])])


def as_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(x))


def as_tensor_with_grad(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64 if x.dtype == np.float64 else torch.float32, requires_grad=True)


def as_non_contiguous_tensor(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.array(x))
    if t.ndim == 0:
        return t
    buf = torch.zeros(t.shape[:-1] + (2 * t.shape[-1],), dtype=t.dtype)
    buf[..., ::2] = t
    return buf[..., ::2]


def cast(dtype: Any) -> Callable[[np.ndarray], np.ndarray]:
    def f(x: np.ndarray) -> np.ndarray:
        return x.astype(dtype)

    f.__name__ = f"as_{np.dtype(dtype).name}"
    return f


# (case name, transform, roles it applies to, minimum ndim)
LAYOUTS: list[tuple[str, Callable[[np.ndarray], Any], tuple[str, ...], int]] = [
    ("negative_strides", negative_strides, ("float", "prob", "label", "bool", "int"), 1),
    ("non_contiguous", non_contiguous, ("float", "prob", "label", "bool", "int"), 1),
    ("view_of_view", view_of_view, ("float", "prob", "label", "int"), 1),
    ("fortran_order", fortran, ("float", "prob", "label", "int"), 2),
    ("list", as_list, ("float", "prob", "label", "bool", "int"), 1),
    ("pandas_index", as_pandas, ("float", "prob", "label", "bool", "int"), 1),
    ("torch", as_tensor, ("float", "prob", "label", "bool", "int"), 0),
    ("torch_grad", as_tensor_with_grad, ("float", "prob"), 0),
    ("torch_non_contiguous", as_non_contiguous_tensor, ("float", "prob", "label"), 1),
    ("float16", cast(np.float16), ("float", "prob"), 0),
    ("float32", cast(np.float32), ("float", "prob"), 0),
    ("labels_as_float", cast(np.float64), ("label",), 0),
    ("labels_as_int32", cast(np.int32), ("label",), 0),
]

#: Layout cases for a Metric's update(): torch tensors only.
METRIC_LAYOUTS = [c for c in LAYOUTS if c[0] in ("torch_grad", "torch_non_contiguous", "float16", "float32",
                                                  "labels_as_int32")]

# ---------------------------------------------------------------- bad and extreme values


def _put(x: np.ndarray, value: float, where: str = "middle") -> np.ndarray:
    out = np.array(x, dtype=np.float64 if x.dtype.kind != "f" else x.dtype)
    flat = out.reshape(-1)
    flat[len(flat) // 2 if where == "middle" else 0] = value
    return out


BAD_VALUES: list[tuple[str, float]] = [("nan", np.nan), ("posinf", np.inf), ("neginf", -np.inf)]
HUGE = 1e308


def empty_like(x: np.ndarray) -> np.ndarray:
    return x[:0]


def extra_dim(x: np.ndarray) -> np.ndarray:
    return x[None]


def scalar(x: np.ndarray) -> np.ndarray:
    return np.asarray(x.reshape(-1)[0])


def drop_last(x: np.ndarray) -> np.ndarray:
    return x[:-1]


# ---------------------------------------------------------------- helpers for the runner


def snapshot(value: Any) -> Any:
    """A deep copy to compare with after the call (no mutation of inputs)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (pd.Series, pd.DataFrame)):
        return value.copy(deep=True)
    return copy.deepcopy(value)


def same_input(before: Any, after: Any) -> bool:
    if isinstance(before, torch.Tensor):
        return bool(torch.equal(before.detach(), after.detach())) or bool(
            torch.allclose(before.detach(), after.detach(), rtol=0, atol=0, equal_nan=True))
    if isinstance(before, (pd.Series, pd.DataFrame)):
        return bool(before.equals(after)) and bool((before.index == after.index).all())
    if isinstance(before, np.ndarray):
        return before.shape == after.shape and bool(np.array_equal(before, after, equal_nan=before.dtype.kind == "f"))
    if isinstance(before, (list, tuple)):
        return len(before) == len(after) and all(same_input(a, b) for a, b in zip(before, after))
    if isinstance(before, dict):
        return before.keys() == after.keys() and all(same_input(before[k], after[k]) for k in before)
    try:
        return bool(before == after) or (before != before and after != after)
    except Exception:  # objects without a value comparison
        return True
