"""Probabilities and labels as torch tensors on their own device, validated with one flag.

Every calibration entry point (functional, report, Metric) converts its inputs here:
torch tensors stay where they are (detached, never copied), numpy arrays / lists /
pandas become CPU tensors sharing memory where possible (a copy only for negative
strides, which torch cannot view). Validation reduces every check (finite, in [0, 1],
row sums, integral labels in range) to one boolean tensor, so a device batch costs one
host synchronisation; only when the flag fails are the inputs copied to the host to
name the offending element in the error.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.validation import as_label_array, as_probabilities, to_numpy

if TYPE_CHECKING:
    import torch

__all__ = ["as_tensor", "check_flag", "prepare", "row_sum_tolerance", "validity_flag"]

#: row sums of float32/float64 probabilities must be within this of 1
BASE_ROW_SUM_TOL = 1e-3
#: elements per single-threaded step of the per-sample passes on the CPU (torch's parallel grain)
CPU_STEP = 1 << 15


def row_sum_tolerance(dtype: torch.dtype) -> float:
    """Allowed |row sum − 1|: 1e-3, or 2·eps of a coarser dtype (bfloat16: 0.0156; float16: 0.00195).

    Rounding each of the K non-negative entries to the dtype moves a row sum by at most
    eps/2 whatever K is; twice eps leaves room for a softmax computed in that dtype.
    """
    import torch

    if not dtype.is_floating_point:
        return BASE_ROW_SUM_TOL
    return max(BASE_ROW_SUM_TOL, 2.0 * float(torch.finfo(dtype).eps))


def as_tensor(x: npt.ArrayLike | torch.Tensor, name: str) -> torch.Tensor:
    """A tensor view of ``x`` (tensors detached, numpy shared; negative strides copied)."""
    import torch

    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise InputError(f"{name} must be real-valued; got a complex tensor")
        return x.detach()
    arr = to_numpy(x, name)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold numbers; found dtype {arr.dtype}")
    if any(s < 0 for s in arr.strides) or not arr.flags.aligned or arr.dtype.byteorder == ">":
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    if arr.dtype.kind == "u" and arr.dtype != np.uint8:
        arr = arr.astype(np.int64)  # torch has no uint16/32/64 arithmetic everywhere
    with warnings.catch_warnings():  # read-only arrays: we never write into the view
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def prepare(probs: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *, name: str = "probs",
            label_name: str = "labels",
            allow_empty: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Shape and dtype checks (metadata only, no synchronisation); returns (p, y) tensors.

    ``p`` keeps a floating dtype (other dtypes become float64); ``y`` is the label
    tensor as given (bool, integer or float), checked later by :func:`validity_flag`.
    """
    import torch

    p = as_tensor(probs, name)
    y = as_tensor(labels, label_name)
    if p.ndim not in (1, 2):
        raise InputError(f"{name} must be a 1-D or 2-D array of probabilities; got shape {_shape_text(tuple(p.shape))}")
    if p.ndim == 2 and p.shape[1] < 2:
        raise InputError(f"{name} must be (N,) probabilities of the positive class or (N, K) with K ≥ 2 "
                         f"columns; got shape {_shape_text(tuple(p.shape))} (pass a 1-D array for one column)")
    if not p.dtype.is_floating_point:
        p = p.to(torch.float64)
    if y.ndim != 1:
        raise InputError(f"{label_name} must be a 1-D array of integer labels; "
                         f"got shape {_shape_text(tuple(y.shape))}")
    if y.shape[0] != p.shape[0]:
        raise InputError(f"{name}, {label_name} must have the same number of rows; {name} has {p.shape[0]}, "
                         f"{label_name} has {y.shape[0]}")
    if p.shape[0] == 0 and not allow_empty:
        raise InputError(f"{name} must not be empty; got shape {_shape_text(tuple(p.shape))}")
    if y.dtype.is_complex:
        raise InputError(f"{label_name} must be integer labels; found a complex dtype")
    if y.device != p.device:
        y = y.to(p.device)
    return p, y


def n_classes_of(p: torch.Tensor) -> int:
    """K (2 for a 1-D p, meaning [1 − p, p])."""
    return 2 if p.ndim == 1 else int(p.shape[1])


def validity_flag(p: torch.Tensor, y: torch.Tensor, row_max: torch.Tensor | None = None,
                  row_sum: torch.Tensor | None = None) -> torch.Tensor:
    """One boolean tensor: probabilities finite, in [0, 1], rows summing to 1; labels integral in [0, K).

    NaN and ±inf fail every comparison they reach (a non-finite entry makes its row sum
    non-finite). ``row_max`` / ``row_sum`` reuse reductions the caller already has.
    """
    import torch

    k = n_classes_of(p)
    if p.ndim == 1:
        lo, hi = extremes(p)
        ok = (lo >= 0) & (hi <= 1)
    else:
        if row_max is None:
            row_max = p.amax(dim=1)
        if row_sum is None:
            row_sum = row_sums(p)
        tol = row_sum_tolerance(p.dtype)
        # max_i |row_sum_i − 1| from the two extreme row sums (x ↦ fl(|x − 1|) is monotone
        # on each side of 1): two scalar operations instead of three passes over N rows
        sum_lo, sum_hi = extremes(row_sum)
        worst = torch.maximum((sum_hi - 1.0).abs(), (sum_lo - 1.0).abs())
        ok = (p.amin() >= 0) & (extremes(row_max)[1] <= 1) & (worst <= tol)
    if y.dtype == torch.bool:
        return ok
    y_lo, y_hi = extremes(y)
    ok = ok & (y_lo >= 0) & (y_hi <= k - 1)
    if y.dtype.is_floating_point:
        ok = ok & torch.all(y == torch.round(y))  # NaN fails, ±inf fail the range check
    return ok


def extremes(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(min, max) of a 1-D tensor as 0-d tensors, NaN propagated.

    On the CPU in single-threaded steps of :data:`CPU_STEP` elements (a pass over N
    numbers is microseconds of work; waking the thread pool for it costs milliseconds on
    a busy machine).
    """
    import torch

    n = t.shape[0]
    if t.device.type != "cpu" or n <= CPU_STEP:
        lo, hi = torch.aminmax(t)
        return lo, hi
    parts = torch.stack([torch.stack(torch.aminmax(t[start:start + CPU_STEP])) for start in range(0, n, CPU_STEP)])
    return parts[:, 0].amin(), parts[:, 1].amax()


def row_sums(p: torch.Tensor) -> torch.Tensor:
    """Row sums, accumulated in float32 for half-precision input."""
    import torch

    if p.dtype in (torch.float16, torch.bfloat16):
        return p.sum(dim=1, dtype=torch.float32)
    return p.sum(dim=1)


def check_flag(flag: torch.Tensor, p: torch.Tensor, y: torch.Tensor, name: str,
               label_name: str = "labels") -> None:
    """Raise a precise :class:`InputError` when ``flag`` is False (the one synchronisation)."""
    if bool(flag):
        return
    explain(p, y, name, label_name)


def explain(p: torch.Tensor, y: torch.Tensor, name: str, label_name: str = "labels") -> None:
    """Host-side element-wise checks naming the first bad element (error path only)."""
    arr = to_numpy(p, name)
    k = n_classes_of(p)
    as_probabilities(arr, name, row_sum_tol=row_sum_tolerance(p.dtype), dtype=None)
    as_label_array(to_numpy(y, label_name), label_name, n_classes=k)
    raise InputError(f"{name} must hold probabilities in [0, 1] with rows summing to 1, and {label_name} "
                     f"integer classes in [0, {k})")


def labels_as_long(y: torch.Tensor) -> torch.Tensor:
    """int64 labels (validated ones; bools become 0/1)."""
    import torch

    return y if y.dtype == torch.int64 else y.to(torch.int64)
