"""A tensor-subclass guard that counts host copies and synchronisations.

During training the inputs of a Metric's ``update()`` live on an accelerator. Two things
stall the training loop there: copying a tensor to the host (``.cpu()``, ``.numpy()``,
``np.asarray(t)``, ``.tolist()``, ``.to("cpu")``) and reading a value on the host, which
waits for the device (``.item()``, ``bool(t)``, ``float(t)``, ``int(t)``, and ops whose
output size depends on the data: ``nonzero``, boolean-mask indexing, ``unique``,
``masked_select``, ``bincount``...). On a CPU-only machine neither costs anything, so a
regression would go unnoticed; the guard makes them visible::

    from tests.guards import guard_update
    report = guard_update(metric, preds, target)
    assert report.host_copies == 0 and report.syncs <= 1, report.events

The inputs are wrapped in :class:`GuardedTensor`, a ``torch.Tensor`` subclass whose
``__torch_function__`` records the calls above. Results of operations on guarded tensors
stay guarded, so a copy made three operations later is still seen; each call is counted
once, at the top level (torch's own internals run with the subclass disabled).

After ``update()`` the guard unwraps every guarded tensor the metric kept (its states and
any other attribute), so no subclass leaks into the metric, and reports the states that
share memory with an input (``aliased``): a state must never be a view of the caller's
buffer.

On a machine without an accelerator every tensor is on the CPU, so a ``.to(device)`` call
cannot be told apart from a no-op move to the metric's own device by its value. The guard
counts ``.to("cpu")`` given as a string (and ``.to(device)`` to a device other than the
metric's), and lets ``.to(metric.device)`` pass: on an accelerator that is where the
states live.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import torch

__all__ = [
    "GuardReport",
    "GuardedTensor",
    "guard",
    "guard_call",
    "guard_update",
    "unwrap",
    "wrap",
]

_T = torch.Tensor

#: Calls that copy a tensor's data to host memory.
_HOST_COPY = {
    _T.cpu: "cpu()",
    _T.numpy: "numpy()",
    _T.__array__: "__array__ (np.asarray)",
    _T.tolist: "tolist()",
}
#: Calls that read a value on the host, i.e. wait for the device.
_SYNC: dict[Any, str | None] = {
    _T.item: "item()",
    _T.tolist: "tolist()",
    _T.__bool__: "__bool__ (if t / bool(t))",
    _T.__float__: "__float__ (float(t))",
    _T.__int__: "__int__ (int(t))",
    _T.__index__: "__index__ (range(t) / indexing a list)",
    _T.__complex__: "__complex__",
    _T.__format__: "__format__ (f-string of a tensor)",
    _T.__len__: None,  # shape only, no sync; listed to document it is allowed
}
#: Operations whose output size depends on the data: the device must report it to the host.
_DATA_DEPENDENT: dict[Any, str] = {}
for _name, _fn in [
    ("nonzero", (torch.nonzero, _T.nonzero)),
    ("argwhere", (torch.argwhere, _T.argwhere)),
    ("unique", (torch.unique, _T.unique)),
    ("unique_consecutive", (torch.unique_consecutive, _T.unique_consecutive)),
    ("masked_select", (torch.masked_select, _T.masked_select)),
    ("bincount without minlength", ()),
    ("equal", (torch.equal, _T.equal)),
    ("allclose", (torch.allclose, _T.allclose)),
    ("is_nonzero", (torch.is_nonzero, _T.is_nonzero)),
    ("nonzero_static", ()),
]:
    for _f in _fn:
        _DATA_DEPENDENT[_f] = _name
_SYNC_NAMES: dict[Any, str] = {k: v for k, v in _SYNC.items() if v is not None}


@dataclass
class GuardReport:
    """What happened while the guard was active.

    Attributes
    ----------
    host_copies : int
        Calls that copied tensor data to the host.
    syncs : int
        Calls that waited for the device (host reads, data-dependent output sizes).
    events : list of str
        One line per recorded call, ``"host copy: cpu()"`` / ``"sync: item()"``, in order.
    aliased : list of str
        Metric states (or attributes) that share memory with an input tensor.
    """

    host_copies: int = 0
    syncs: int = 0
    events: list[str] = field(default_factory=list)
    aliased: list[str] = field(default_factory=list)

    def record(self, kind: str, what: str) -> None:
        if kind == "host copy":
            self.host_copies += 1
        else:
            self.syncs += 1
        self.events.append(f"{kind}: {what} at {_caller()}")


def _caller() -> str:
    """``file:line`` of the innermost frame outside torch and this module."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if not (path == __file__ or f"{os.sep}torch{os.sep}" in path):
            return f"{os.path.basename(path)}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


class _State(threading.local):
    def __init__(self) -> None:
        self.report: GuardReport | None = None
        self.allowed_devices: tuple[torch.device, ...] = ()


_STATE = _State()


def _is_cpu_target(value: Any) -> bool:
    if isinstance(value, str):
        return value.split(":")[0] == "cpu"
    if isinstance(value, torch.device):
        return value.type == "cpu"
    return False


def _to_target(args: tuple, kwargs: dict) -> Any:
    """The device argument of ``Tensor.to(...)``, or None when only a dtype is given."""
    if "device" in kwargs:
        return kwargs["device"]
    for a in args[1:]:
        if isinstance(a, (str, torch.device)):
            return a
        if isinstance(a, torch.Tensor):
            return a.device
    return None


def _has_bool_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    for it in items:
        if isinstance(it, torch.Tensor) and it.dtype == torch.bool:
            return True
        if isinstance(it, list) and it and all(isinstance(v, bool) for v in it):
            return True
    return False


def _classify(func: Any, args: tuple, kwargs: dict, report: GuardReport) -> None:
    if func in _HOST_COPY:
        report.record("host copy", _HOST_COPY[func])
    if func in _SYNC_NAMES:
        report.record("sync", _SYNC_NAMES[func])
        return
    if func is _T.to:
        target = _to_target(args, kwargs)
        if target is None:
            return
        if isinstance(target, str) and _is_cpu_target(target):
            report.record("host copy", f"to({target!r})")
        elif isinstance(target, torch.device) and target.type == "cpu":
            if not any(target == d for d in _STATE.allowed_devices):
                report.record("host copy", f"to({target!r})")
        return
    if func in _DATA_DEPENDENT:
        report.record("sync", f"{_DATA_DEPENDENT[func]} (data-dependent output size)")
        return
    if func in (torch.bincount, _T.bincount):
        if kwargs.get("minlength", args[2] if len(args) > 2 else 0) in (0, None):
            report.record("sync", "bincount without minlength (data-dependent output size)")
        return
    if func in (torch.repeat_interleave, _T.repeat_interleave):
        repeats = args[1] if len(args) > 1 else kwargs.get("repeats")
        if isinstance(repeats, torch.Tensor) and kwargs.get("output_size") is None:
            report.record("sync", "repeat_interleave with tensor repeats (data-dependent output size)")
        return
    if func is torch.where and len(args) + len(kwargs) == 1:
        report.record("sync", "where(condition) (data-dependent output size)")
        return
    if func in (_T.__getitem__, _T.__setitem__) and len(args) > 1 and _has_bool_index(args[1]):
        op = "indexing" if func is _T.__getitem__ else "assignment"
        report.record("sync", f"boolean-mask {op} (data-dependent output size)")


class GuardedTensor(torch.Tensor):
    """A ``torch.Tensor`` that reports host copies and synchronisations to the active guard."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        report = _STATE.report
        if report is not None:
            _classify(func, args, kwargs, report)
        if func is _T.as_subclass:
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)
        if func is _T.__format__:  # torch formats only exact Tensors as numbers
            return unwrap(args[0]).__format__(*args[1:], **kwargs)
        return super().__torch_function__(func, types, args, kwargs)


def wrap(x: Any) -> Any:
    """``x`` as a :class:`GuardedTensor` (sharing its memory and autograd history); other values unchanged."""
    if isinstance(x, torch.Tensor) and not isinstance(x, GuardedTensor):
        return x.as_subclass(GuardedTensor)
    if isinstance(x, tuple):
        return tuple(wrap(v) for v in x)
    if isinstance(x, list):
        return [wrap(v) for v in x]
    if isinstance(x, dict):
        return {k: wrap(v) for k, v in x.items()}
    return x


def unwrap(x: Any) -> Any:
    """``x`` with every :class:`GuardedTensor` (also inside lists, tuples, dicts) turned back into a plain tensor."""
    if isinstance(x, GuardedTensor):
        with torch._C.DisableTorchFunctionSubclass():
            return x.as_subclass(torch.Tensor)
    if isinstance(x, tuple):
        return tuple(unwrap(v) for v in x)
    if isinstance(x, list):
        return [unwrap(v) for v in x]
    if isinstance(x, dict):
        return {k: unwrap(v) for k, v in x.items()}
    return x


@contextlib.contextmanager
def guard(*, allowed_devices: tuple[torch.device, ...] = ()) -> Iterator[GuardReport]:
    """Record host copies and syncs made on :class:`GuardedTensor` values inside the block.

    ``allowed_devices``: ``.to(d)`` to one of these devices (a ``torch.device``) is not a
    host copy (the metric's own device).
    """
    if _STATE.report is not None:
        raise RuntimeError("guards do not nest")
    report = GuardReport()
    _STATE.report, _STATE.allowed_devices = report, tuple(allowed_devices)
    try:
        yield report
    finally:
        _STATE.report, _STATE.allowed_devices = None, ()


def _storages(values: Any) -> set[int]:
    out: set[int] = set()
    for v in values if isinstance(values, (list, tuple)) else [values]:
        if isinstance(v, (list, tuple, dict)):
            out |= _storages(list(v.values()) if isinstance(v, dict) else list(v))
        elif isinstance(v, torch.Tensor) and v.numel():
            with torch._C.DisableTorchFunctionSubclass():
                out.add(v.untyped_storage().data_ptr())
    return out


def _unwrap_attributes(obj: Any, inputs: set[int], report: GuardReport, prefix: str = "") -> None:
    """Unwrap guarded tensors held by ``obj`` (a Metric or module) and record aliasing."""
    for key, value in list(vars(obj).items()):
        if key in ("_modules", "_parameters"):
            continue
        if key == "_buffers":
            for bname, buf in list(value.items()):
                _record_alias(prefix + bname, buf, inputs, report)
                value[bname] = unwrap(buf)
            continue
        if isinstance(value, (torch.Tensor, list, tuple, dict)):
            if _contains_guarded(value) or _storages(value) & inputs:
                _record_alias(prefix + key, value, inputs, report)
                vars(obj)[key] = unwrap(value)
    for name, child in getattr(obj, "_modules", {}).items():
        if child is not None:
            _unwrap_attributes(child, inputs, report, prefix=f"{prefix}{name}.")


def _contains_guarded(value: Any) -> bool:
    if isinstance(value, GuardedTensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains_guarded(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_guarded(v) for v in value.values())
    return False


def _record_alias(name: str, value: Any, inputs: set[int], report: GuardReport) -> None:
    if _storages(value) & inputs and name not in report.aliased:
        report.aliased.append(name)


def guard_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, GuardReport]:
    """Call ``fn(*args, **kwargs)`` with tensor arguments guarded; return ``(unwrapped result, report)``."""
    with guard() as report:
        result = fn(*wrap(args), **wrap(kwargs))
    return unwrap(result), report


def guard_update(metric: Any, *args: Any, **kwargs: Any) -> GuardReport:
    """Call ``metric.update(*args, **kwargs)`` with its tensor arguments guarded.

    Returns the :class:`GuardReport`. Afterwards the metric holds no guarded tensor, and
    ``report.aliased`` names the states that share memory with an input.
    """
    inputs = _storages(list(args) + list(kwargs.values()))
    device = getattr(metric, "device", None)
    allowed = (device,) if isinstance(device, torch.device) else ()
    with guard(allowed_devices=allowed) as report:
        try:
            metric.update(*wrap(args), **wrap(kwargs))
        finally:
            _unwrap_attributes(metric, inputs, report)
    return report
