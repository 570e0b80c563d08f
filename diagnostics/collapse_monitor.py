"""The Softmax Collapse monitor: SC, zero-loss fraction and NLM alignment during training."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy.typing as npt
import torch

from diagnostics._params import pair_sums
from diagnostics.collapse import check_loss_dtype, prepare_rows, raise_for_counts, sc_counts
from diagnostics.monitors import Monitor, MonitorAlert, Record
from diagnostics.nlm import alignment_pairs, combine, tensor_sums
from metrics.core.errors import InputError
from metrics.core.validation import check_fraction, check_int

__all__ = ["SoftmaxCollapseMonitor", "CollapseDetected"]


class CollapseDetected(MonitorAlert):
    """Raised by :class:`SoftmaxCollapseMonitor` with ``on_alert="raise"`` when the
    collapse fraction passes ``onset_threshold``."""


class _Probe:
    """NLM sums of one step, still on the device (no host read yet)."""

    def __init__(self, model: torch.nn.Module):
        self.names, self.pairs, _ = alignment_pairs(model, None, "gradient")
        self.sums = pair_sums(self.pairs) if self.pairs else None


class SoftmaxCollapseMonitor(Monitor):
    """Log Softmax Collapse, zero-loss fraction and NLM alignment during training.

    Call ``on_step(step, logits=..., labels=..., model=...)`` once per optimizer step,
    after ``backward()`` and before ``optimizer.step()`` (so that ``model``'s weights
    and ``.grad`` belong to the same step). Every ``every_n_steps`` steps it records:

    ``collapse_fraction``
        label-free SC fraction in ``dtype`` (:func:`softmax_collapse_fraction`);
    ``zero_loss_fraction``
        label-relative SC fraction = fraction of exactly-zero CE losses in ``dtype``
        (only with ``labels``);
    ``rows``, ``nonfinite_rows``
        rows scored (labelled ``ignore_index`` rows are not; a batch with none left
        records ``rows = 0`` and no fractions) and rows skipped because a logit is not
        finite in ``dtype``;
    ``nlm_cos``
        global cos(−∇L, θ) of ``model`` (:func:`nlm_alignment`); ``None`` without a
        model, before the first backward, or when a gradient is not finite;
    ``nonfinite_grads``
        number of parameter tensors whose weight or gradient holds NaN or inf (a NaN
        loss shows here); ``None`` when no gradient was read.

    ``collapse_fraction`` above ``onset_threshold`` warns (``on_alert="warn"``), raises
    :class:`CollapseDetected` (``"raise"``) or is only recorded (``"ignore"``);
    ``onset_step`` is the first logged step above it. The paper measures SC on the full
    training set in eval mode; the training batch's logits are the cheap proxy.

    Cost: nothing on steps that are not due (one integer test, no host read). On a
    due step one pass over the logits (a ``log_softmax`` per chunk), one fused pass over
    the parameters, and one host synchronisation for the whole record. SC is measured
    in the arithmetic of the device the logits live on (see
    :mod:`diagnostics.collapse`).

    Parameters
    ----------
    every_n_steps : int
    dtype : torch dtype
        The dtype the loss is computed in.
    onset_threshold : float in [0, 1]
    chunk_rows : int
        Rows per chunk of the logit pass.
    on_alert : {"warn", "raise", "ignore"}
    ignore_index : int
    log_fn : callable, optional
    """

    name = "softmax_collapse"

    def __init__(self, every_n_steps: int = 100, dtype: torch.dtype = torch.float32,
                 onset_threshold: float = 0.5, chunk_rows: int = 8192, *,
                 on_alert: Literal["warn", "raise", "ignore"] = "warn", ignore_index: int = -100,
                 log_fn: Callable[[Record], object] | None = None):
        self.dtype = check_loss_dtype(dtype)
        self.onset_threshold = check_fraction(onset_threshold, "onset_threshold", closed=True)
        self.chunk_rows = check_int(chunk_rows, "chunk_rows", min_value=1)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        super().__init__(every_n_steps=every_n_steps,
                         thresholds={"collapse_fraction": (">", self.onset_threshold)},
                         on_alert=on_alert, log_fn=log_fn)

    def reset(self) -> None:
        super().reset()
        self._stashed: tuple[int | None, _Probe] | None = None

    @property
    def onset_step(self) -> int | None:
        """First logged step whose ``collapse_fraction`` exceeded ``onset_threshold``."""
        for r in self.history:
            fraction = r.get("collapse_fraction")
            if isinstance(fraction, (int, float)) and fraction > self.onset_threshold:
                return int(r.get("step") or 0)
        return None

    def on_before_optimizer_step(self, step: int | None = None, model: torch.nn.Module | None = None,
                                 **_: object) -> None:
        """Adapters call this before the optimizer step: take this step's NLM sums (on the
        device, no host read; :meth:`compute` reads them with the rest of the record)."""
        if model is not None:
            self._stashed = (step, _Probe(model))

    def compute(self, *, logits: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor | None = None,
                model: torch.nn.Module | None = None) -> Record:
        z, y = prepare_rows(logits, labels, self.dtype, self.ignore_index)
        counts = sc_counts(z, y, self.dtype, self.ignore_index, self.chunk_rows)
        stash, self._stashed = self._stashed, None
        probe = None
        if stash is not None and stash[0] == self._counter - 1:
            probe = stash[1]
        elif model is not None:
            probe = _Probe(model)
        values = counts.to(torch.float64)
        if probe is not None and probe.sums is not None:
            values = torch.cat([values, probe.sums.to(values.device).reshape(-1)])
        host = values.tolist()  # the one host synchronisation of a due step
        c = [int(v) for v in host[:5]]
        if c[3]:  # rows flagged non-finite by the cheap test: count them exactly
            c = sc_counts(z, y, self.dtype, self.ignore_index, self.chunk_rows, exact_finite=True).tolist()
        if c[4]:
            raise_for_counts(z, y, self.dtype, self.ignore_index, c, skip_nonfinite=True)
        rows = c[2]
        record: Record = {
            "collapse_fraction": c[0] / rows if rows else None,
            "zero_loss_fraction": c[1] / rows if rows and y is not None else None,
            "nlm_cos": None, "rows": rows, "nonfinite_rows": c[3], "nonfinite_grads": None}
        if probe is not None and probe.sums is not None:
            flat = host[5:]
            sums = tensor_sums(probe.pairs, [flat[i:i + 5] for i in range(0, len(flat), 5)])
            bad = sum(s is None for s in sums)
            record["nonfinite_grads"] = bad
            if not bad:
                try:
                    record["nlm_cos"] = combine(probe.names, [s for s in sums if s is not None], -1.0)[1]
                except InputError:  # an inner product beyond the float64 range
                    record["nlm_cos"] = None
        return record

    def _check_thresholds(self, record: Record) -> None:
        try:
            super()._check_thresholds(record)
        except MonitorAlert as alert:
            if isinstance(alert, CollapseDetected):
                raise
            raise CollapseDetected(str(alert), monitor=alert.monitor, step=alert.step, key=alert.key,
                                   value=alert.value, threshold=alert.threshold, record=alert.record) from None
