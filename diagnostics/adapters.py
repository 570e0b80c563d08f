"""PyTorch Lightning and Hugging Face adapters of a :class:`~diagnostics.monitors.Monitor`.

Adapters (frameworks imported lazily, only when an adapter is built):

- :class:`LightningMonitorCallback` (``monitor.lightning_callback()``): a
  ``lightning.pytorch.Callback``. In ``on_before_optimizer_step`` it calls
  ``monitor.on_before_optimizer_step(step=trainer.global_step, model=pl_module)``;
  in ``on_train_batch_end`` it calls ``monitor.on_step`` for that same step with the
  entries of the ``training_step`` output dict (e.g.
  ``{"loss": loss, "logits": logits.detach(), "labels": y}``) plus ``model``,
  ``batch``, ``trainer``, keeping only the keywords ``compute`` accepts. When
  ``training_step`` returns only the loss (the usual pattern), the logits come from a
  forward hook registered on due batches only: the output of the module's own
  ``forward`` (``self(x)``), else of its last direct child called (``self.net(x)``);
  the labels are the second element of an ``(x, y)`` batch or its ``labels`` / ``target``
  / ``y`` entry. Numeric
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

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from diagnostics.monitors import Monitor
from metrics.core.errors import InputError

if TYPE_CHECKING:
    from lightning.pytorch import Callback as LightningCallback
    from transformers import Trainer, TrainerCallback

__all__ = ["LightningMonitorCallback", "HFMonitorCallback"]


def _detach(value: Any) -> Any:
    return value.detach() if hasattr(value, "detach") and callable(value.detach) else value


def _logits_from(output: Any) -> Any:
    """The logits of a forward output: ``.logits``, a ``"logits"`` entry, the first element
    of a tuple, or the output tensor itself; ``None`` when there is none."""
    import torch

    if output is None:
        return None
    for candidate in (getattr(output, "logits", None),
                      output.get("logits") if isinstance(output, Mapping) else None,
                      output[0] if isinstance(output, (tuple, list)) and output else None, output):
        if isinstance(candidate, torch.Tensor) and candidate.ndim >= 1:
            return candidate
    return None


_LABEL_KEYS = ("labels", "label", "targets", "target", "y")


def _labels_from(batch: Any) -> Any:
    """Labels of a batch: the second element of an ``(x, y)`` pair or a ``labels`` / ``target``
    / ``y`` entry of a mapping; ``None`` otherwise."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[1]
    if isinstance(batch, Mapping):
        for key in _LABEL_KEYS:
            if key in batch:
                return batch[key]
    return None


def LightningMonitorCallback(monitor: Monitor, *, inputs_fn: Callable[..., Mapping[str, object]] | None = None,
                             log: bool = True, prog_bar: bool = False) -> LightningCallback:
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
            self._handles: list[Any] = []
            self._captured: dict[str, Any] = {}

        def _capture(self, key: str):
            def hook(_module, _args, output):
                self._captured[key] = output  # a reference, no copy
            return hook

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self._captured = {}
            if inputs_fn is None and monitor.is_due(int(trainer.global_step)) and not self._handles:
                # training_step may return only the loss: keep the logits of this batch's
                # forward (the module's own, else its last direct child's)
                self._handles = [pl_module.register_forward_hook(self._capture("self"))]
                self._handles += [child.register_forward_hook(self._capture("child"))
                                  for child in pl_module.children()]

        def _release(self) -> None:
            for handle in self._handles:
                handle.remove()
            self._handles = []

        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            step = int(trainer.global_step)
            self._pending_step = step
            if monitor.is_due(step):
                monitor.on_before_optimizer_step(step=step, **monitor.filter_inputs(
                    {"model": pl_module, "trainer": trainer, "optimizer": optimizer}))

        def _default_inputs(self, trainer, pl_module, outputs, batch) -> dict[str, Any]:
            found = dict(outputs) if isinstance(outputs, Mapping) else {"loss": outputs}
            wanted = monitor.accepted_inputs()
            if "logits" not in found and (wanted is None or "logits" in wanted):
                output = self._captured.get("self", self._captured.get("child"))
                logits = _logits_from(output)
                if logits is None:
                    raise InputError(
                        f"{type(monitor).__name__} needs the logits, but training_step returned "
                        f"{type(outputs).__name__} and no forward output was seen; return "
                        "{'loss': loss, 'logits': logits.detach(), 'labels': y} from training_step, "
                        "or pass inputs_fn to the callback")
                found["logits"] = logits
                if "labels" not in found:
                    labels = _labels_from(batch)
                    if labels is not None:
                        found["labels"] = labels
            inputs = {k: _detach(v) for k, v in found.items()}
            inputs.update(model=pl_module, batch=batch, trainer=trainer)
            return monitor.filter_inputs(inputs)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self._release()
            step, self._pending_step = self._pending_step, None
            if step is None or not monitor.is_due(step):
                if step is not None:
                    monitor.skip_step(step)
                return
            if inputs_fn is not None:
                inputs = dict(inputs_fn(trainer, pl_module, outputs, batch))
            else:
                inputs = self._default_inputs(trainer, pl_module, outputs, batch)
            self._captured = {}
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


def _numeric(record: Mapping[str, Any], prefix: str) -> dict[str, float]:
    return {f"{prefix}/{k}": float(v) for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def HFMonitorCallback(monitor: Monitor, *, causal_lm: bool = False,
                      inputs_fn: Callable[[object, Mapping[str, object]], Mapping[str, object]] | None = None,
                      trainer: Trainer | None = None) -> TrainerCallback:
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
    trainer : transformers.Trainer, optional
        The Trainer the callback is added to (or call ``callback.attach(trainer)``, which
        also adds it). Each record is then sent through ``trainer.log`` as
        ``"<monitor.name>/<key>"`` values: every reporting integration (TensorBoard,
        W&B, ...) and ``trainer.state.log_history`` see it. Without a trainer the
        values are added to the ``logs`` of the Trainer's next logging step in
        ``on_log``, which reaches ``log_history`` and the callbacks listed after this one,
        but not the integrations the Trainer registered before it.
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
            self.trainer = trainer
            self._handle = None
            self._captured: tuple[Any, dict[str, Any]] | None = None
            self._due = True
            self._unlogged: dict[str, float] = {}

        def attach(self, hf_trainer: Any) -> Any:
            """Add this callback to ``hf_trainer`` and log records through it; returns self."""
            self.trainer = hf_trainer
            hf_trainer.add_callback(self)
            return self

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self._unlogged and logs is not None and self.trainer is None:
                logs.update(self._unlogged)
                if state.log_history and state.log_history[-1].get("step") == state.global_step:
                    state.log_history[-1].update(self._unlogged)
                self._unlogged = {}

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
            record = monitor.on_step(step, **monitor.filter_inputs(inputs))
            if record:
                values = _numeric(record, monitor.name)
                if self.trainer is not None:
                    self.trainer.log(values)
                else:
                    self._unlogged.update(values)
                    control.should_log = True

        def on_train_end(self, args, state, control, **kwargs):
            if self._handle is not None:
                self._handle.remove()
                self._handle = None

    _HFMonitorCallback.__name__ = _HFMonitorCallback.__qualname__ = "HFMonitorCallback"
    return _HFMonitorCallback()
