"""Training-time semantics every Metric keeps, checked by the battery.

Compute equals the functional value; no state aliases the caller's buffer; an empty
batch changes nothing; ``forward()`` keeps the state after a bad batch; ``update()``
makes no host copy and at most one synchronisation (none with ``validate_args=False``);
``deepcopy``, pickling and ``state_dict`` keep the state.
"""

from __future__ import annotations

import inspect
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from tests.battery.runner import Entry, Outcome, Target, _input_error, _numpy_of, difference


def metric_cases(entry: Entry, target: Target, base_args: OrderedDict, baseline: Any,
                  value_of: Callable[[Any], Any]) -> list[Outcome]:
    """Training-time semantics every Metric keeps."""
    from tests.guards import guard_update

    out: list[Outcome] = []
    array_args = [k for k in entry.arrays if k in base_args and base_args[k] is not None]

    def attempt(case: str, fn: Callable[[], str | None]) -> None:
        if case in entry.not_applicable:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                problem = fn()
            except Exception as exc:  # any exception fails the case
                problem = f"raised {type(exc).__name__}: {exc}"
        out.append(Outcome(case, problem is None, problem or ""))

    def equals_functional() -> str | None:
        assert entry.functional is not None
        args = [_numpy_of(base_args[k]) for k in array_args]
        return difference(value_of(entry.functional(*args)), baseline, entry.rtol, entry.atol)

    def no_aliasing() -> str | None:
        metric = target.new_metric()
        buffers = OrderedDict((k, v.clone() if isinstance(v, torch.Tensor) else v) for k, v in base_args.items())
        target.update(metric, buffers)
        for k in array_args:
            buffers[k].copy_(buffers[k].flip(0))  # refill the caller's buffer with other valid data
        return difference(value_of(metric.compute()), baseline, entry.rtol, entry.atol)

    def empty_batch_changes_nothing() -> str | None:
        metric = target.new_metric()
        empty = OrderedDict(base_args)
        for k in array_args:
            empty[k] = base_args[k][(slice(None),) * entry.batch_axis + (slice(0, 0),)]
        target.update(metric, empty)
        target.update(metric, base_args)
        return difference(value_of(metric.compute()), baseline, entry.rtol, entry.atol)

    def forward_keeps_state() -> str | None:
        metric = target.new_metric()
        first, second = target.halves(base_args)
        target.update(metric, first)
        bad = OrderedDict(second)
        k = next(k for k in array_args if entry.arrays[k] in ("float", "prob"))
        broken = bad[k].clone()
        broken.reshape(-1)[0] = float("nan")
        bad[k] = broken
        try:
            inspect.BoundArguments(target.signature, bad)
            metric(*inspect.BoundArguments(target.signature, bad).args)
        except _input_error():
            pass
        else:
            return "forward() accepted a NaN batch"
        target.update(metric, second)
        return difference(value_of(metric.compute()), baseline, entry.rtol, entry.atol)

    def no_host_copy() -> str | None:
        metric = target.new_metric()
        bound = inspect.BoundArguments(target.signature, base_args)
        report = guard_update(metric, *bound.args, **bound.kwargs)
        problems = []
        if report.host_copies:
            problems.append(f"{report.host_copies} host copies")
        if report.syncs > 1:
            problems.append(f"{report.syncs} syncs")
        if report.aliased:
            problems.append(f"states alias the input: {report.aliased}")
        return "; ".join(problems) + f" ({report.events[:4]})" if problems else None

    def no_sync_without_validation() -> str | None:
        try:
            metric = target.new_metric(validate_args=False)
        except TypeError:
            return None  # the Metric has no validate_args switch
        bound = inspect.BoundArguments(target.signature, base_args)
        report = guard_update(metric, *bound.args, **bound.kwargs)
        return f"{report.syncs} syncs with validate_args=False ({report.events[:4]})" if report.syncs else None

    def copies_keep_the_state() -> str | None:
        import copy as copy_module
        import pickle

        metric = target.new_metric()
        for half in target.halves(base_args):
            target.update(metric, half)
        clone = copy_module.deepcopy(metric)
        revived = pickle.loads(pickle.dumps(metric))  # our own object, in memory
        fresh = target.new_metric()
        fresh.load_state_dict(metric.state_dict())
        for name, other in (("deepcopy", clone), ("pickle", revived)):
            d = difference(value_of(other.compute()), baseline, entry.rtol, entry.atol)
            if d:
                return f"{name}: {d}"
        return None

    if entry.functional is not None:
        attempt("equals_functional", equals_functional)
    attempt("update_no_sync_without_validation", no_sync_without_validation)
    attempt("deepcopy_and_pickle_keep_state", copies_keep_the_state)
    attempt("no_aliasing", no_aliasing)
    attempt("empty_batch", empty_batch_changes_nothing)
    if any(entry.arrays[k] in ("float", "prob") for k in array_args):
        attempt("forward_keeps_state_after_bad_batch", forward_keeps_state)
    attempt("update_no_host_copy", no_host_copy)
    return out
