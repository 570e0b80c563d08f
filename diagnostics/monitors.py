"""The shared monitor base and its PyTorch Lightning / Hugging Face adapters.

Contract
--------
A *monitor* is a framework-free object that a training loop calls once per optimizer
step. Every diagnostic monitor in :mod:`diagnostics` subclasses :class:`Monitor` and
supplies only :meth:`Monitor.compute`::

    class MyMonitor(Monitor):
        name = "my_monitor"

        def compute(self, *, logits, labels=None, model=None) -> dict:
            return {"max_logit": float(logits.max())}

    monitor = MyMonitor(every_n_steps=10, thresholds={"max_logit": 1e4}, on_alert="warn")
    for step, (x, y) in enumerate(loader):
        logits = model(x); loss = loss_fn(logits, y)
        optimizer.zero_grad(); loss.backward()
        monitor.on_step(step, logits=logits, labels=y, model=model)   # before optimizer.step()
        optimizer.step()
    monitor.to_frame()        # one row per logged step

What the base guarantees:

- ``on_step(step=None, **inputs)`` runs :meth:`compute` only on *due* steps,
  ``step % every_n_steps == 0``; ``step=None`` uses the monitor's own call counter
  (0, 1, 2, ...), so the first call is due. Not-due calls cost one integer test and
  return ``None``; due calls return the record.
- A record is ``{"step": step, **compute(...)}``; records are appended to
  ``.history`` (a list of plain dicts); :meth:`to_frame` returns them as a pandas
  DataFrame; ``.latest`` is the last record.
- ``thresholds`` maps a record key to a limit. A plain number means "alert when the
  value is above it"; a pair ``(op, limit)`` with ``op`` in ``">", ">=", "<", "<="``
  chooses the comparison. An alert fires when a key *becomes* crossed (it was not
  crossed at the previous logged step, or this is the first), so a collapsed run
  warns once, not every step. ``on_alert="warn"`` issues a :class:`MonitorWarning`,
  ``"raise"`` raises :class:`MonitorAlert` (after the record is stored), ``"ignore"``
  only records it in ``.alerts``. Keys absent from a record, or ``None``, never alert.
- ``on_before_optimizer_step(step=None, **inputs)`` is an optional first phase for
  signals that must read the gradients of *this* step before the optimizer changes
  the weights (adapters call it after backward, AMP unscaling and the last
  micro-batch). The base does nothing; a subclass may compute and stash values that
  its next :meth:`compute` reports.
- ``reset()`` clears history, alerts, the call counter and timings;
  ``state_dict()`` / ``load_state_dict()`` round-trip the history (checkpointing).
- ``.seconds`` is the total wall time spent inside due calls and ``.n_runs`` their
  number, so the monitor's cost per logged step is ``seconds / n_runs``.

The adapters to PyTorch Lightning and Hugging Face are in :mod:`diagnostics.adapters`.
"""

from __future__ import annotations

import inspect
import math
import operator
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, cast

from metrics.core.errors import InputError
from metrics.core.validation import check_int, check_option

if TYPE_CHECKING:
    from lightning.pytorch import Callback as LightningCallback
    from transformers import TrainerCallback

#: A threshold: a limit (alert when a value rises above it) or ``(operator, limit)``.
Threshold = float | tuple[str, float]
#: One value of a record: a number, a flag, a name, or ``None`` when undefined.
RecordValue = float | int | bool | str | None
#: One record of a monitor: signal name → value.
Record = dict[str, RecordValue]

__all__ = [
    "Monitor",
    "MonitorAlert",
    "MonitorWarning",
]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class MonitorAlert(RuntimeError):
    """A monitor threshold was crossed while ``on_alert="raise"``.

    Attributes
    ----------
    monitor : str
        The monitor's ``name``.
    step : int
        The step whose record crossed the threshold.
    key : str
        The record key, e.g. ``"collapse_fraction"``.
    value : float
        Its value at that step.
    threshold : tuple of (str, float)
        The comparison and the limit.
    record : dict
        The full record (already stored in the monitor's history).
    """

    def __init__(self, message: str, *, monitor: str, step: int, key: str, value: float,
                 threshold: tuple[str, float], record: Record):
        super().__init__(message)
        self.monitor = monitor
        self.step = step
        self.key = key
        self.value = value
        self.threshold = threshold
        self.record = record


class MonitorWarning(UserWarning):
    """Issued when a monitor threshold is crossed while ``on_alert="warn"``."""


def _parse_thresholds(thresholds: Mapping[str, Threshold] | None) -> dict[str, tuple[str, float]]:
    if thresholds is None:
        return {}
    if not isinstance(thresholds, Mapping):
        raise InputError(f"thresholds must be a mapping of record key to limit; got {type(thresholds).__name__}")
    out: dict[str, tuple[str, float]] = {}
    for key, spec in thresholds.items():
        if isinstance(spec, (tuple, list)):
            if len(spec) != 2 or spec[0] not in _OPS:
                raise InputError(
                    f"thresholds[{key!r}] must be a number or a pair (op, limit) with op in "
                    f"{', '.join(_OPS)}; got {spec!r}")
            op, limit = spec
        else:
            op, limit = ">", spec
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or math.isnan(float(limit)):
            raise InputError(f"thresholds[{key!r}] must have a numeric limit; got {limit!r}")
        out[str(key)] = (op, float(limit))
    return out


class Monitor:
    """Framework-free base of every training monitor (see the module docstring).

    Parameters
    ----------
    every_n_steps : int
        Run :meth:`compute` on steps with ``step % every_n_steps == 0``.
    thresholds : mapping, optional
        Record key → limit (alert when above) or ``(op, limit)``.
    on_alert : {"warn", "raise", "ignore"}
        What a crossed threshold does.
    log_fn : callable, optional
        Called with each new record (e.g. ``wandb.log``-like sinks).
    """

    name = "monitor"

    def __init__(self, *, every_n_steps: int = 1, thresholds: Mapping[str, Threshold] | None = None,
                 on_alert: Literal["warn", "raise", "ignore"] = "warn",
                 log_fn: Callable[[Record], object] | None = None):
        self.every_n_steps = check_int(every_n_steps, "every_n_steps", min_value=1)
        self.thresholds = _parse_thresholds(thresholds)
        self.on_alert = check_option(on_alert, "on_alert", ("warn", "raise", "ignore"))
        if log_fn is not None and not callable(log_fn):
            raise InputError(f"log_fn must be callable; got {log_fn!r}")
        self.log_fn = log_fn
        self.history: list[Record] = []
        self.alerts: list[Record] = []
        self._crossed: dict[str, bool] = {}
        self._counter: int = 0
        self.seconds: float = 0.0
        self.n_runs: int = 0
        self.reset()

    # -- to implement -------------------------------------------------------------
    #: ``compute(**inputs) -> Record``: this step's signals as a flat dict of numbers (or
    #: ``None``). Every monitor defines it with the keyword inputs it needs (``logits=``,
    #: ``model=``, ...); the adapters pass only those (see :meth:`accepted_inputs`).
    compute: Callable[..., Record]

    def _no_first_phase(self, step: int | None = None, **inputs: object) -> None:
        return None

    #: ``on_before_optimizer_step(step=None, **inputs)``: optional first phase, after
    #: backward and before the optimizer step (a no-op unless a monitor defines it).
    on_before_optimizer_step: Callable[..., None] = _no_first_phase

    def _compute_fn(self) -> Callable[..., Record]:
        fn = getattr(self, "compute", None)
        if fn is None:
            raise NotImplementedError(f"{type(self).__name__} must implement compute(**inputs) -> dict")
        return fn

    # -- the loop hook --------------------------------------------------------------
    def is_due(self, step: int | None = None) -> bool:
        """Whether ``on_step(step)`` would run :meth:`compute` (``None``: the next call)."""
        s = self._counter if step is None else step
        return s % self.every_n_steps == 0

    def on_step(self, step: int | None = None, **inputs: object) -> Record | None:
        """Call once per optimizer step; returns the new record on due steps, else ``None``."""
        if step is None:
            step = self._counter
        else:
            step = check_int(step, "step", min_value=0)
        self._counter = step + 1
        if step % self.every_n_steps:
            return None
        start = time.perf_counter()
        values = self._compute_fn()(**inputs)
        if not isinstance(values, Mapping):
            raise TypeError(f"{type(self).__name__}.compute must return a dict; got {type(values).__name__}")
        record = {"step": step, **values}
        self.history.append(record)
        self.seconds += time.perf_counter() - start
        self.n_runs += 1
        if self.log_fn is not None:
            self.log_fn(record)
        self._check_thresholds(record)
        return record

    def skip_step(self, step: int) -> None:
        """Advance the call counter past ``step`` without computing (adapters use it)."""
        self._counter = check_int(step, "step", min_value=0) + 1

    def _check_thresholds(self, record: Record) -> None:
        for key, (op, limit) in self.thresholds.items():
            value = record.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            value = float(value)
            crossed = _OPS[op](value, limit)
            was = self._crossed.get(key, False)
            self._crossed[key] = crossed
            if not crossed or was:
                continue
            step = int(record.get("step") or 0)
            message = f"{self.name}: {key} = {value:.6g} {op} {limit:g} at step {step}"
            alert: Record = {"step": step, "key": key, "value": value, "op": op, "limit": limit}
            self.alerts.append(alert)
            if self.on_alert == "warn":
                warnings.warn(message, MonitorWarning, stacklevel=3)
            elif self.on_alert == "raise":
                raise MonitorAlert(message, monitor=self.name, step=step, key=key,
                                   value=value, threshold=(op, limit), record=record)

    # -- bookkeeping ----------------------------------------------------------------
    def reset(self) -> None:
        """Forget history, alerts, timings and the call counter."""
        self.history = []
        self.alerts = []
        self._crossed = {}
        self._counter = 0
        self.seconds = 0.0
        self.n_runs = 0

    @property
    def latest(self) -> Record | None:
        """The last record, or ``None`` before the first due step."""
        return self.history[-1] if self.history else None

    def to_frame(self):
        """The history as a pandas DataFrame, one row per logged step."""
        import pandas as pd

        return pd.DataFrame(self.history)

    def state_dict(self) -> dict[str, object]:
        """History, alerts and counter as plain Python (for checkpoints)."""
        return {"history": [dict(r) for r in self.history], "alerts": [dict(a) for a in self.alerts],
                "counter": self._counter, "crossed": dict(self._crossed)}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.history = [dict(r) for r in cast(list, state.get("history", []))]
        self.alerts = [dict(a) for a in cast(list, state.get("alerts", []))]
        self._counter = int(cast(int, state.get("counter", 0)))
        self._crossed = dict(cast(dict, state.get("crossed", {})))

    def accepted_inputs(self) -> set[str] | None:
        """Keyword names :meth:`compute` accepts (``None``: any, it takes ``**kwargs``)."""
        params = inspect.signature(self._compute_fn()).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                      inspect.Parameter.POSITIONAL_OR_KEYWORD)}

    def filter_inputs(self, candidates: Mapping[str, object]) -> dict[str, object]:
        """Keep only the candidate keywords that :meth:`compute` accepts."""
        names = self.accepted_inputs()
        return dict(candidates) if names is None else {k: v for k, v in candidates.items() if k in names}

    def lightning_callback(self, **kwargs: object) -> LightningCallback:
        """A ``lightning.pytorch.Callback`` driving this monitor
        (:func:`diagnostics.adapters.LightningMonitorCallback`)."""
        from diagnostics.adapters import LightningMonitorCallback

        return LightningMonitorCallback(self, **kwargs)  # type: ignore[arg-type]  # checked there

    def hf_callback(self, **kwargs: object) -> TrainerCallback:
        """A ``transformers.TrainerCallback`` driving this monitor
        (:func:`diagnostics.adapters.HFMonitorCallback`)."""
        from diagnostics.adapters import HFMonitorCallback

        return HFMonitorCallback(self, **kwargs)  # type: ignore[arg-type]  # checked there

    def __repr__(self) -> str:
        return f"{type(self).__name__}(every_n_steps={self.every_n_steps}, records={len(self.history)})"
