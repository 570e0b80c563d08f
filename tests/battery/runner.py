"""Run the battery's cases over one registry entry and collect the outcomes."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import re
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tests.battery import cases as C


@dataclass(frozen=True)
class Example:
    """Valid inputs: ``args`` / ``kwargs`` as the function (or ``update()``) takes them."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Entry:
    """One public function or Metric class and how the battery exercises it.

    Parameters
    ----------
    name : str
        ``"package.public_name"`` as exported in the package's ``__all__``.
    build : callable
        ``() -> Example`` with small valid inputs (numpy arrays for array arguments).
    arrays : dict
        Argument name -> role: ``"float"`` (real numbers), ``"prob"`` (probabilities),
        ``"label"`` (class labels), ``"int"`` / ``"bool"`` (integer or boolean arrays).
    aligned : tuple of str
        Arguments that must have the same length along the first axis.
    scale_free : dict
        Argument name -> ``"global"`` (multiplying it by c > 0 leaves the value unchanged)
        or ``"row"`` (so does multiplying one row).
    torch_only : bool
        The function takes torch tensors only; cases use tensors.
    metric_init : dict or None
        For a Metric class: constructor keyword arguments. ``update()`` gets the example
        split in two halves, then ``compute()``.
    functional : callable or None
        For a Metric class: ``f(*update_arrays)`` (numpy) giving the functional value that
        ``compute()`` must equal.
    value : callable
        Result -> what is compared (default: numbers, arrays, dicts and reports' ``to_dict()``).
    batch_axis : int
        For a Metric class: the axis along which batches are split.
    rtol, atol : float
        Tolerance of the equivalent cases.
    accepts : dict
        ``"case:arg"`` -> why a value (not an error) is right for that bad input.
    not_applicable : dict
        ``"case"`` or ``"case:arg"`` -> why the case does not apply.
    known_failures : dict
        ``"case:arg"`` -> why it still fails (the gap stays visible; fixed ones must be removed).
    """

    name: str
    build: Callable[[], Example]
    arrays: dict[str, str] = field(default_factory=dict)
    aligned: tuple[str, ...] = ()
    scale_free: dict[str, str] = field(default_factory=dict)
    torch_only: bool = False
    metric_init: dict | None = None
    functional: Callable[..., Any] | None = None
    value: Callable[[Any], Any] | None = None
    batch_axis: int = 0
    rtol: float = 1e-9
    atol: float = 1e-12
    accepts: dict[str, str] = field(default_factory=dict)
    not_applicable: dict[str, str] = field(default_factory=dict)
    known_failures: dict[str, str] = field(default_factory=dict)

    @property
    def is_metric(self) -> bool:
        return self.metric_init is not None

    def resolve(self) -> Any:
        package, attr = self.name.split(".", 1)
        return getattr(importlib.import_module(package), attr)


@dataclass
class Outcome:
    case: str
    ok: bool
    detail: str = ""


class _CaseFailed(Exception):
    pass


# ---------------------------------------------------------------- values


def comparable(result: Any) -> Any:
    """A result as nested floats / arrays / dicts for comparison."""
    if isinstance(result, torch.Tensor):
        return result.detach().to("cpu", torch.float64).numpy() if result.dtype != torch.bool else \
            result.detach().cpu().numpy()
    if isinstance(result, (bool, np.bool_, str)) or result is None:
        return result
    if isinstance(result, (int, float, np.number)):
        return float(result)
    if isinstance(result, np.ndarray):
        return result.astype(np.float64) if result.dtype.kind in "biuf" else result
    if isinstance(result, dict):
        return {k: comparable(v) for k, v in result.items()}
    if isinstance(result, (list, tuple)):
        return [comparable(v) for v in result]
    if hasattr(result, "to_dict") and callable(result.to_dict):
        return comparable(result.to_dict())
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {f.name: comparable(getattr(result, f.name)) for f in dataclasses.fields(result)}
    return f"<{type(result).__name__}>"


def difference(a: Any, b: Any, rtol: float, atol: float, path: str = "value") -> str | None:
    """None when ``a`` and ``b`` agree (NaN equals NaN), else where they differ."""
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or a.keys() != b.keys():
            return f"{path}: keys differ"
        for k in a:
            d = difference(a[k], b[k], rtol, atol, f"{path}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and not _numeric_list(a):
        if len(a) != len(b):
            return f"{path}: lengths {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = difference(x, y, rtol, atol, f"{path}[{i}]")
            if d:
                return d
        return None
    if _is_number_like(a) and _is_number_like(b):
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if x.shape != y.shape:
            return f"{path}: shapes {x.shape} vs {y.shape}"
        if np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
            return None
        return f"{path}: {_short(x)} vs {_short(y)}"
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def _numeric_list(v: list) -> bool:
    return all(isinstance(x, (int, float, np.number)) for x in v)


def _is_number_like(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return True
    if isinstance(v, (int, float, np.number)):
        return True
    if isinstance(v, np.ndarray):
        return v.dtype.kind in "biuf"
    return isinstance(v, list) and _numeric_list(v)


def _short(x: np.ndarray) -> str:
    return repr(x.item()) if x.size == 1 else np.array2string(x.reshape(-1)[:4], precision=17) + ("..." if x.size > 4 else "")


def nan_count(v: Any) -> int:
    if isinstance(v, dict):
        return sum(nan_count(x) for x in v.values())
    if isinstance(v, list):
        return sum(nan_count(x) for x in v)
    if isinstance(v, (float, np.ndarray)) and (not isinstance(v, np.ndarray) or v.dtype.kind == "f"):
        return int(np.isnan(v).sum())
    return 0


def has_nan(v: Any) -> bool:
    return nan_count(v) > 0


# ---------------------------------------------------------------- calling


def _input_error() -> type[Exception]:
    from metrics.core.errors import InputError

    return InputError


class Target:
    """The callable under test, its signature, and how to call it with named arguments."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.obj = entry.resolve()
        if entry.is_metric:
            probe = self.obj(**(entry.metric_init or {}))
            self.signature = inspect.signature(probe.update)
            self.param_names = set(self.signature.parameters) | set(inspect.signature(self.obj).parameters)
        else:
            self.signature = inspect.signature(self.obj)
            self.param_names = set(self.signature.parameters)
        self.param_names -= {"self", "kwargs", "args", "options"}

    def bind(self, example: Example) -> OrderedDict:
        return OrderedDict(self.signature.bind(*example.args, **example.kwargs).arguments)

    def _call_with(self, fn: Callable, arguments: OrderedDict) -> Any:
        bound = inspect.BoundArguments(self.signature, arguments)
        return fn(*bound.args, **bound.kwargs)

    def call(self, arguments: OrderedDict, split: bool = True) -> Any:
        # stateful non-array arguments (an online learner) start afresh in every case
        arguments = OrderedDict((k, v if k in self.entry.arrays else copy.deepcopy(v)) for k, v in arguments.items())
        if not self.entry.is_metric:
            return self._call_with(self.obj, arguments)
        metric = self.obj(**(self.entry.metric_init or {}))
        for half in self.halves(arguments) if split else [arguments]:
            self._call_with(metric.update, half)
        return metric.compute()

    def new_metric(self, **overrides: Any) -> Any:
        return self.obj(**{**(self.entry.metric_init or {}), **overrides})

    def update(self, metric: Any, arguments: OrderedDict) -> None:
        self._call_with(metric.update, arguments)

    def halves(self, arguments: OrderedDict) -> list[OrderedDict]:
        arrays = [k for k in self.entry.arrays if k in arguments and arguments[k] is not None]
        axis = self.entry.batch_axis
        if any(getattr(arguments[k], "ndim", 1) <= axis for k in arrays):
            return [arguments]  # a malformed input goes to update() whole
        n = arguments[arrays[0]].shape[axis] if hasattr(arguments[arrays[0]], "shape") else len(arguments[arrays[0]])
        cut = n // 2
        out = []
        for lo, hi in ((0, cut), (cut, n)):
            part = OrderedDict(arguments)
            for k in arrays:
                index = (slice(None),) * axis + (slice(lo, hi),)
                part[k] = arguments[k][index]
            out.append(part)
        return out


def _to_torch(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


def _names_real_argument(message: str, names: set[str]) -> bool:
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", message))
    return bool(words & names)


# ---------------------------------------------------------------- the battery


def run_entry(entry: Entry) -> list[Outcome]:
    """Every applicable case of the battery for one entry."""
    outcomes: list[Outcome] = []
    try:
        target = Target(entry)
        example = entry.build()
        base_args = target.bind(example)
    except Exception as exc:  # an import or construction error fails the whole entry
        return [Outcome("import", False, f"{type(exc).__name__}: {exc}")]
    as_input = _to_torch if (entry.torch_only or entry.is_metric) else (lambda v: v)
    base_args = OrderedDict((k, as_input(v) if k in entry.arrays else v) for k, v in base_args.items())
    value_of = entry.value or comparable

    def run(case: str, arguments: OrderedDict, check: Callable[[Any, Exception | None], str | None],
            split: bool = True) -> None:
        if case in entry.not_applicable or case.split(":")[0] in entry.not_applicable:
            return
        before = {k: C.snapshot(v) for k, v in arguments.items() if k in entry.arrays}
        error: Exception | None = None
        result = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = value_of(target.call(arguments, split=split))
            except Exception as exc:  # judged by `check`
                error = exc
        problem = None
        for k, v in before.items():
            if not C.same_input(v, arguments[k]):
                problem = f"mutated its argument {k}"
        if problem is None:
            try:
                problem = check(result, error)
            except Exception as exc:  # a failing comparison is a failing case
                problem = f"check raised {type(exc).__name__}: {exc}"
        outcomes.append(Outcome(case, problem is None, problem or ""))

    # -- the plain input
    baseline_holder: list[Any] = []

    def check_baseline(result: Any, error: Exception | None) -> str | None:
        if error is not None:
            return f"valid example raised {type(error).__name__}: {error}"
        baseline_holder.append(result)
        return None

    run("valid_example", base_args, check_baseline)
    if not baseline_holder:
        return outcomes
    baseline = baseline_holder[0]
    if not isinstance(baseline, dict) and has_nan(baseline):
        outcomes.append(Outcome("valid_example_no_nan", False, "valid example gave NaN"))

    def same_value(result: Any, error: Exception | None) -> str | None:
        if error is not None:
            return f"raised {type(error).__name__}: {error}"
        return difference(result, baseline, entry.rtol, entry.atol)

    def input_error(result: Any, error: Exception | None) -> str | None:
        if error is None:
            return f"no error; returned {_brief(result)}"
        if not isinstance(error, _input_error()):
            return f"raised {type(error).__name__} (not InputError): {error}"
        if not _names_real_argument(str(error), target.param_names):
            return f"InputError names no argument of the function: {error}"
        return None

    def error_or_same(result: Any, error: Exception | None) -> str | None:
        if error is not None:
            return input_error(result, error)
        return difference(result, baseline, max(entry.rtol, 1e-7), entry.atol)

    def error_or_no_nan(result: Any, error: Exception | None) -> str | None:
        if error is not None:
            return input_error(result, error)
        return "returned NaN" if nan_count(result) > nan_count(baseline) else None

    def accepted(result: Any, error: Exception | None) -> str | None:
        if error is not None and not isinstance(error, _input_error()):
            return f"raised {type(error).__name__}: {error}"
        return None

    array_args = [k for k in entry.arrays if k in base_args and base_args[k] is not None]
    raw = {k: np.asarray(_numpy_of(base_args[k])) for k in array_args}

    def with_arg(name: str, value: Any) -> OrderedDict:
        out = OrderedDict(base_args)
        out[name] = value
        return out

    # -- equivalent layouts and types
    layouts = C.METRIC_LAYOUTS if (entry.is_metric or entry.torch_only) else C.LAYOUTS
    for case, transform, roles, min_ndim in layouts:
        for k in array_args:
            role = entry.arrays[k]
            if role not in roles or raw[k].ndim < min_ndim or (case == "pandas_index" and raw[k].ndim > 2):
                continue
            x = raw[k]
            if case.startswith("labels_as") or case in ("float16", "float32"):
                x = transform(x)
                value = _to_torch(x) if (entry.is_metric or entry.torch_only) else x
            elif case.startswith("torch"):
                value = transform(x)
            else:
                value = transform(x)
            run(f"{case}:{k}", with_arg(k, value), same_value)

    # -- the same float32 numbers as numpy and as torch give the same value (the container never changes it)
    floats = [k for k in array_args if entry.arrays[k] in ("float", "prob")]
    case = "float32_numpy_vs_torch"
    if floats and not (entry.is_metric or entry.torch_only) and case not in entry.not_applicable:
        results: list[tuple[Any, str | None]] = []
        for as_torch in (False, True):
            arguments = OrderedDict(base_args)
            for k in floats:
                x32 = raw[k].astype(np.float32)
                arguments[k] = torch.from_numpy(x32) if as_torch else x32

            def keep(r: Any, e: Exception | None, into: list = results) -> str | None:
                into.append((r, None if e is None else f"raised {type(e).__name__}: {e}"))
                return None

            run(case, arguments, keep)
            outcomes.pop()  # judged below, once for the pair
        errors = [e for _, e in results if e]
        detail = errors[0] if errors else difference(results[1][0], results[0][0], 1e-6, 1e-9)
        outcomes.append(Outcome(case, detail is None, detail or ""))

    # -- bad values in every float argument
    for k in array_args:
        role = entry.arrays[k]
        if role in ("float", "prob"):
            for case, bad in C.BAD_VALUES:
                key = f"{case}:{k}"
                run(key, with_arg(k, _as_input(C._put(raw[k], bad), entry)),
                    accepted if key in entry.accepts else input_error, split=False)
            key = f"huge:{k}"
            check = accepted if key in entry.accepts else (input_error if role == "prob" else error_or_no_nan)
            run(key, with_arg(k, _as_input(C._put(raw[k], C.HUGE), entry)), check, split=False)
        if role == "label":
            for case, bad in (("fractional_label", 0.5), ("negative_label", -1.0), ("nan", np.nan)):
                key = f"{case}:{k}"
                run(key, with_arg(k, _as_input(C._put(raw[k], bad, "first"), entry)),
                    accepted if key in entry.accepts else input_error, split=False)
        # wrong ndim
        run(f"extra_dim:{k}", with_arg(k, _as_input(C.extra_dim(raw[k]), entry)),
            accepted if f"extra_dim:{k}" in entry.accepts else input_error, split=False)
        if raw[k].ndim >= 1:
            run(f"scalar:{k}", with_arg(k, _as_input(C.scalar(raw[k]), entry)),
                accepted if f"scalar:{k}" in entry.accepts else input_error, split=False)

    # -- empty (every array argument at once, so lengths still agree)
    if array_args and not entry.is_metric:
        empty = OrderedDict(base_args)
        for k in array_args:
            empty[k] = _as_input(C.empty_like(raw[k]), entry)
        run("empty", empty, accepted if "empty" in entry.accepts else input_error)

    # -- length mismatch
    for k in entry.aligned[1:]:
        run(f"length_mismatch:{k}", with_arg(k, _as_input(C.drop_last(raw[k]), entry)), input_error, split=False)

    # -- scale invariance
    for k, how in entry.scale_free.items():
        x = raw[k].astype(np.float64)
        if how == "global":
            for c in (1e200, 1e-200):
                run(f"scale_{c:g}:{k}", with_arg(k, _as_input(x * c, entry)), error_or_same)
        if how == "row" or (how == "global" and x.ndim >= 2 and entry.arrays[k] == "float" and k in _ROW_SCALED):
            row = x.copy()
            row[len(row) // 2] *= 1e300
            run(f"one_row_scaled_1e300:{k}", with_arg(k, _as_input(row, entry)), error_or_same)

    if entry.is_metric:
        from tests.battery.metric_cases import metric_cases

        outcomes.extend(metric_cases(entry, target, base_args, baseline, value_of))
    return outcomes


#: Arguments whose rows are scaled one at a time (row-wise scale-free: cosine geometry).
_ROW_SCALED = ("embeddings",)


def _numpy_of(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def _as_input(x: np.ndarray, entry: Entry) -> Any:
    return _to_torch(np.asarray(x)) if (entry.torch_only or entry.is_metric) else x


def _brief(result: Any) -> str:
    text = repr(result)
    return text if len(text) < 80 else text[:77] + "..."
