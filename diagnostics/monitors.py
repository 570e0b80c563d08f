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

Adapters (frameworks imported lazily, only when an adapter is built):

- :class:`LightningMonitorCallback` (``monitor.lightning_callback()``): a
  ``lightning.pytorch.Callback``. In ``on_before_optimizer_step`` it calls
  ``monitor.on_before_optimizer_step(step=trainer.global_step, model=pl_module)``;
  in ``on_train_batch_end`` it calls ``monitor.on_step`` for that same step with the
  entries of the ``training_step`` output dict (so return e.g.
  ``{"loss": loss, "logits": logits.detach(), "labels": y}``) plus ``model``,
  ``batch``, ``trainer``, keeping only the keywords ``compute`` accepts. Numeric
  record values are logged with ``pl_module.log("<monitor.name>/<key>", ...)``.
  With gradient accumulation only the batch that ends an optimizer step is seen.
- :class:`HFMonitorCallback` (``monitor.hf_callback()``): a
  ``transformers.TrainerCallback``. The Trainer does not hand logits to callbacks, so
  at ``on_train_begin`` it registers a forward hook on the model that keeps a
  reference (no copy) to the last training forward's logits (``output.logits`` or
  the output tensor) and its ``labels`` keyword. ``on_pre_optimizer_step`` calls the
  first phase; ``on_step_end`` calls ``on_step(step=state.global_step - 1, logits=...,
  labels=..., model=model)``. ``causal_lm=True`` shifts labels by one position so that
  logits at position t are scored against the token at t + 1 (what HF causal LMs do
  inside their loss).

Both adapters accept ``inputs_fn`` to build the keyword inputs themselves.
"""

from __future__ import annotations

import inspect
import math
import operator
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from metrics.core.errors import InputError
from metrics.core.validation import check_int, check_option

__all__ = [
    "Monitor",
    "MonitorAlert",
    "MonitorWarning",
    "LightningMonitorCallback",
    "HFMonitorCallback",
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
                 threshold: tuple[str, float], record: dict[str, Any]):
        super().__init__(message)
        self.monitor = monitor
        self.step = step
        self.key = key
        self.value = value
        self.threshold = threshold
        self.record = record


class MonitorWarning(UserWarning):
    """Issued when a monitor threshold is crossed while ``on_alert="warn"``."""


def _parse_thresholds(thresholds: Mapping[str, Any] | None) -> dict[str, tuple[str, float]]:
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

    def __init__(self, *, every_n_steps: int = 1, thresholds: Mapping[str, Any] | None = None,
                 on_alert: str = "warn", log_fn: Callable[[dict[str, Any]], Any] | None = None):
        self.every_n_steps = check_int(every_n_steps, "every_n_steps", min_value=1)
        self.thresholds = _parse_thresholds(thresholds)
        self.on_alert = check_option(on_alert, "on_alert", ("warn", "raise", "ignore"))
        if log_fn is not None and not callable(log_fn):
            raise InputError(f"log_fn must be callable; got {log_fn!r}")
        self.log_fn = log_fn
        self.reset()

    # -- to implement -------------------------------------------------------------
    def compute(self, **inputs: Any) -> dict[str, Any]:
        """Return this step's signals as a flat dict of numbers (or ``None``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute(**inputs) -> dict")

    def on_before_optimizer_step(self, step: int | None = None, **inputs: Any) -> None:
        """Optional first phase, after backward and before the optimizer step. No-op here."""
        return None

    # -- the loop hook --------------------------------------------------------------
    def is_due(self, step: int | None = None) -> bool:
        """Whether ``on_step(step)`` would run :meth:`compute` (``None``: the next call)."""
        s = self._counter if step is None else step
        return s % self.every_n_steps == 0

    def on_step(self, step: int | None = None, **inputs: Any) -> dict[str, Any] | None:
        """Call once per optimizer step; returns the new record on due steps, else ``None``."""
        if step is None:
            step = self._counter
        else:
            step = check_int(step, "step", min_value=0)
        self._counter = step + 1
        if step % self.every_n_steps:
            return None
        start = time.perf_counter()
        values = self.compute(**inputs)
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

    def _check_thresholds(self, record: dict[str, Any]) -> None:
        for key, (op, limit) in self.thresholds.items():
            value = record.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            crossed = _OPS[op](float(value), limit)
            was = self._crossed.get(key, False)
            self._crossed[key] = crossed
            if not crossed or was:
                continue
            message = (f"{self.name}: {key} = {float(value):.6g} {op} {limit:g} at step {record['step']}")
            alert = {"step": record["step"], "key": key, "value": float(value), "op": op, "limit": limit}
            self.alerts.append(alert)
            if self.on_alert == "warn":
                warnings.warn(message, MonitorWarning, stacklevel=3)
            elif self.on_alert == "raise":
                raise MonitorAlert(message, monitor=self.name, step=record["step"], key=key,
                                   value=float(value), threshold=(op, limit), record=record)

    # -- bookkeeping ----------------------------------------------------------------
    def reset(self) -> None:
        """Forget history, alerts, timings and the call counter."""
        self.history: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self._crossed: dict[str, bool] = {}
        self._counter = 0
        self.seconds = 0.0
        self.n_runs = 0

    @property
    def latest(self) -> dict[str, Any] | None:
        """The last record, or ``None`` before the first due step."""
        return self.history[-1] if self.history else None

    def to_frame(self):
        """The history as a pandas DataFrame, one row per logged step."""
        import pandas as pd

        return pd.DataFrame(self.history)

    def state_dict(self) -> dict[str, Any]:
        """History, alerts and counter as plain Python (for checkpoints)."""
        return {"history": [dict(r) for r in self.history], "alerts": [dict(a) for a in self.alerts],
                "counter": self._counter, "crossed": dict(self._crossed)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.history = [dict(r) for r in state.get("history", [])]
        self.alerts = [dict(a) for a in state.get("alerts", [])]
        self._counter = int(state.get("counter", 0))
        self._crossed = dict(state.get("crossed", {}))

    def accepted_inputs(self) -> set[str] | None:
        """Keyword names :meth:`compute` accepts (``None``: any, it takes ``**kwargs``)."""
        params = inspect.signature(self.compute).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                      inspect.Parameter.POSITIONAL_OR_KEYWORD)}

    def filter_inputs(self, candidates: Mapping[str, Any]) -> dict[str, Any]:
        """Keep only the candidate keywords that :meth:`compute` accepts."""
        names = self.accepted_inputs()
        return dict(candidates) if names is None else {k: v for k, v in candidates.items() if k in names}

    def lightning_callback(self, **kwargs: Any) -> LightningMonitorCallback:
        """A ``lightning.pytorch.Callback`` driving this monitor."""
        return LightningMonitorCallback(self, **kwargs)

    def hf_callback(self, **kwargs: Any) -> HFMonitorCallback:
        """A ``transformers.TrainerCallback`` driving this monitor."""
        return HFMonitorCallback(self, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(every_n_steps={self.every_n_steps}, records={len(self.history)})"


def _detach(value: Any) -> Any:
    return value.detach() if hasattr(value, "detach") and callable(value.detach) else value


def LightningMonitorCallback(monitor: Monitor, *, inputs_fn: Callable[..., Mapping[str, Any]] | None = None,
                             log: bool = True, prog_bar: bool = False):
    """Build a ``lightning.pytorch.Callback`` that drives ``monitor``.

    Parameters
    ----------
    monitor : Monitor
    inputs_fn : callable, optional
        ``inputs_fn(trainer, pl_module, outputs, batch) -> dict`` of keyword inputs for
        ``monitor.on_step``. Default: the ``training_step`` output dict (tensors
        detached, ``"loss"`` kept) plus ``model``, ``batch`` and ``trainer``, filtered to
        what ``monitor.compute`` accepts.
    log : bool
        Log numeric record values through ``pl_module.log("<name>/<key>", value)``.
    prog_bar : bool
        Show them in the progress bar.
    """
    import lightning.pytorch as pl  # optional extra, imported only here

    if not isinstance(monitor, Monitor):
        raise InputError(f"monitor must be a diagnostics.Monitor; got {type(monitor).__name__}")

    class _LightningMonitorCallback(pl.Callback):
        def __init__(self):
            self.monitor = monitor
            self._pending_step: int | None = None

        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            step = int(trainer.global_step)
            self._pending_step = step
            if monitor.is_due(step):
                monitor.on_before_optimizer_step(step=step, **monitor.filter_inputs(
                    {"model": pl_module, "trainer": trainer, "optimizer": optimizer}))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step, self._pending_step = self._pending_step, None
            if step is None or not monitor.is_due(step):
                if step is not None:
                    monitor.skip_step(step)
                return
            if inputs_fn is not None:
                inputs = dict(inputs_fn(trainer, pl_module, outputs, batch))
            else:
                found = outputs if isinstance(outputs, Mapping) else {"loss": outputs}
                inputs = {k: _detach(v) for k, v in found.items()}
                inputs.update(model=pl_module, batch=batch, trainer=trainer)
                inputs = monitor.filter_inputs(inputs)
            record = monitor.on_step(step, **inputs)
            if log and record:
                for key, value in record.items():
                    if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                        pl_module.log(f"{monitor.name}/{key}", float(value), on_step=True, on_epoch=False,
                                      prog_bar=prog_bar)

        def state_dict(self):
            return monitor.state_dict()

        def load_state_dict(self, state_dict):
            monitor.load_state_dict(state_dict)

    _LightningMonitorCallback.__name__ = _LightningMonitorCallback.__qualname__ = "LightningMonitorCallback"
    return _LightningMonitorCallback()


def HFMonitorCallback(monitor: Monitor, *, causal_lm: bool = False,
                      inputs_fn: Callable[[Any, Mapping[str, Any]], Mapping[str, Any]] | None = None):
    """Build a ``transformers.TrainerCallback`` that drives ``monitor``.

    Parameters
    ----------
    monitor : Monitor
    causal_lm : bool
        Shift labels left by one (logits at t score the token at t + 1) and drop the
        last position, as Hugging Face causal LMs do inside their loss.
    inputs_fn : callable, optional
        ``inputs_fn(model_output, forward_kwargs) -> dict`` turning the captured
        forward call into keyword inputs (``model`` is added). Default: ``logits`` from
        ``output.logits`` (or the output tensor) and ``labels`` from the forward
        keywords.
    """
    from transformers import TrainerCallback  # optional extra, imported only here

    if not isinstance(monitor, Monitor):
        raise InputError(f"monitor must be a diagnostics.Monitor; got {type(monitor).__name__}")

    def default_inputs(output: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        logits = getattr(output, "logits", None)
        if logits is None and isinstance(output, Mapping):
            logits = output.get("logits")
        if logits is None and isinstance(output, (tuple, list)) and output:
            logits = output[0]
        if logits is None:
            logits = output
        labels = kwargs.get("labels")
        logits = _detach(logits)
        if causal_lm and labels is not None:
            logits = logits[..., :-1, :]
            labels = labels[..., 1:]
        return {"logits": logits, "labels": labels}

    build = inputs_fn or default_inputs

    class _HFMonitorCallback(TrainerCallback):
        def __init__(self):
            self.monitor = monitor
            self._handle = None
            self._captured: tuple[Any, dict[str, Any]] | None = None
            self._due = True

        def _hook(self, module, args, kwargs, output):
            if module.training and self._due:
                self._captured = (output, dict(kwargs))  # references only, no copy

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if model is not None and self._handle is None:
                self._handle = model.register_forward_hook(self._hook, with_kwargs=True)
            self._due = monitor.is_due(int(state.global_step))

        def on_step_begin(self, args, state, control, **kwargs):
            self._due = monitor.is_due(int(state.global_step))
            self._captured = None

        def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
            step = int(state.global_step)
            if monitor.is_due(step):
                monitor.on_before_optimizer_step(step=step, **monitor.filter_inputs(
                    {"model": model, "optimizer": optimizer}))

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = int(state.global_step) - 1  # the Trainer has already counted this step
            if not monitor.is_due(step) or self._captured is None:
                monitor.skip_step(step)  # not due, or no training forward was captured
                return
            output, fwd_kwargs = self._captured
            self._captured = None
            inputs = dict(build(output, fwd_kwargs))
            inputs["model"] = model
            monitor.on_step(step, **monitor.filter_inputs(inputs))

        def on_train_end(self, args, state, control, **kwargs):
            if self._handle is not None:
                self._handle.remove()
                self._handle = None

    _HFMonitorCallback.__name__ = _HFMonitorCallback.__qualname__ = "HFMonitorCallback"
    return _HFMonitorCallback()
