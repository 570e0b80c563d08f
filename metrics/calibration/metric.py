"""Streaming calibration error: a torchmetrics ``Metric`` with fixed-size per-bin sums on the batch's device."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from metrics.calibration._estimators import Binning, Norm, Scope, check_ce_options, errors_from_statistics
from metrics.calibration._kernel import (
    RowReductions,
    add_uniform_sums,
    binned_sums,
    classwise_sums,
    pairs_of_rows,
    reduce_rows,
    work_device,
)
from metrics.calibration._tensors import check_flag, labels_as_long, n_classes_of, prepare, validity_flag
from metrics.core.errors import InputError
from metrics.core.validation import check_bool, check_int

__all__ = ["CalibrationError"]


@dataclasses.dataclass
class _Batch:
    """A validated batch, reduced to what the states need (all on the batch's device).

    Uniform top-label / positive-class batches keep the caller's tensors (read in this
    update only, never stored) with their row reductions; quantile batches hold copies.
    """

    n: int
    scores: torch.Tensor | None = None     # (N,) float64, quantile
    outcomes: torch.Tensor | None = None   # (N,) bool, quantile
    probs: torch.Tensor | None = None      # (N, K) classwise, or the batch itself for uniform bins
    labels: torch.Tensor | None = None     # (N,) int64
    reductions: RowReductions | None = None


class CalibrationError(Metric):
    r"""Binned calibration error accumulated over batches and processes.

    ``compute()`` equals :func:`~metrics.calibration_error` on all the data seen (within
    1e-12; only the float64 summation order differs).

    ``update()`` runs in torch on the device of its inputs: the batch is reduced to its
    top-label (or class) scores there and binned into the states with ``scatter_add_``;
    nothing is copied to the host. Validation (finite, in [0, 1], rows summing to 1,
    labels integral in [0, K)) is reduced to one flag: one host synchronisation per
    update, none with ``validate_args=False``.

    States (``dist_reduce_fx="sum"``, shape (M,) or (K, M) for ``classwise``, on the
    Metric's device): ``count`` (int64), ``sum_score`` (float64), ``sum_outcome``
    (int64). Memory is O(K·M) whatever the number of samples, merging shards is exact,
    and a process that saw no batch contributes zeros.

    With ``binning="quantile"`` the edges depend on all scores, so the states are
    instead list states with ``dist_reduce_fx="cat"`` holding copies of every score and
    outcome (O(N) memory; the probabilities (N, K) for ``classwise``); the edges are
    derived at ``compute()``.

    ``forward()`` validates the batch before touching the states: a batch that raises
    :class:`~metrics.InputError` leaves the accumulated state as it was, and an empty
    batch returns NaN (with a warning, once) and changes nothing.

    Parameters
    ----------
    n_bins, norm, binning, scope, debiased
        As :func:`~metrics.calibration_error`.
    num_classes : int, optional
        K; required for ``scope="classwise"`` (it sizes the states), checked otherwise.
    compat : None
        ``compat=`` modes are functional only; anything else raises InputError.
    validate_args : bool
        Check every batch (default). ``False`` skips the check and its synchronisation;
        invalid values then give meaningless numbers (never an out-of-bounds access).

    Examples
    --------
    >>> import torch
    >>> from metrics import CalibrationError
    >>> m = CalibrationError(n_bins=10)
    >>> m.update(torch.tensor([[.9, .1], [.3, .7]]), torch.tensor([0, 0]))
    >>> round(float(m.compute()), 6)
    0.4
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    # states (declared for type checkers; registered by add_state)
    count: torch.Tensor
    sum_score: torch.Tensor
    sum_outcome: torch.Tensor
    scores: list[torch.Tensor]
    outcomes: list[torch.Tensor]
    probs: list[torch.Tensor]
    labels: list[torch.Tensor]

    def __init__(self, n_bins: int = 15, norm: Norm = "l1", binning: Binning = "uniform",
                 scope: Scope = "top_label", debiased: bool = False, num_classes: int | None = None,
                 compat: None = None, validate_args: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_bins = check_ce_options(n_bins, norm, binning, scope, debiased, None)
        if compat is not None:
            raise InputError(f"compat: CalibrationError does not support compat={compat!r}; compat modes are "
                             "functional only (use metrics.calibration_error(..., compat=...))")
        self.norm, self.binning, self.scope, self.debiased = norm, binning, scope, bool(debiased)
        self.validate_args = check_bool(validate_args, "validate_args")
        if num_classes is not None:
            num_classes = check_int(num_classes, "num_classes", min_value=2)
        elif scope == "classwise":
            raise InputError("num_classes: CalibrationError(scope='classwise') needs num_classes (it sizes the states)")
        self.num_classes = num_classes
        self._pending: _Batch | None = None
        self._warned_undefined = False
        if binning == "quantile":
            names = ("probs", "labels") if scope == "classwise" else ("scores", "outcomes")
            for name in names:
                self.add_state(name, default=[], dist_reduce_fx="cat")
            self._seed_lists()
            return
        shape: tuple[int, ...] = (num_classes, self.n_bins) if num_classes and scope == "classwise" else (self.n_bins,)
        self.add_state("count", default=torch.zeros(shape, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("sum_score", default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sum_outcome", default=torch.zeros(shape, dtype=torch.int64), dist_reduce_fx="sum")

    # ------------------------------------------------------------------ list states
    def _seed_lists(self) -> None:
        """Start each list state with a typed empty tensor, so that a process that never
        sees a batch still gathers tensors of the right dtype and rank (never an empty list)."""
        if self.binning != "quantile":
            return
        dev = self.device
        if self.scope == "classwise":
            k = self.num_classes or 2
            self.probs.append(torch.empty((0, k), dtype=torch.float64, device=dev))
            self.labels.append(torch.empty(0, dtype=torch.int64, device=dev))
        else:
            self.scores.append(torch.empty(0, dtype=torch.float64, device=dev))
            self.outcomes.append(torch.empty(0, dtype=torch.bool, device=dev))

    def reset(self) -> None:
        """Back to the empty state (list states keep one typed empty tensor)."""
        super().reset()
        self._seed_lists()

    # ------------------------------------------------------------------ batches
    def _batch(self, preds: npt.ArrayLike | torch.Tensor, target: npt.ArrayLike | torch.Tensor) -> _Batch:
        """Validate a batch (at most one synchronisation) and reduce it to the states' inputs."""
        p, y = prepare(preds, target, name="preds", label_name="target", allow_empty=True)
        if self.num_classes is not None and n_classes_of(p) != self.num_classes:
            raise InputError(f"preds must have num_classes = {self.num_classes} columns; got K = {n_classes_of(p)}")
        if self.scope == "positive_class" and p.ndim == 2 and p.shape[1] != 2:
            raise InputError(f"scope='positive_class' needs 1-D preds or K = 2 columns; preds has K = {p.shape[1]}")
        n = int(p.shape[0])
        if n == 0:
            return _Batch(0)
        if self.scope == "classwise":
            if self.validate_args:
                check_flag(validity_flag(p, y), p, y, "preds", "target")
            yl = labels_as_long(y)
            if self.binning == "quantile":  # own copies: never a view of the caller's buffer
                full = torch.stack([1.0 - p.to(torch.float64), p.to(torch.float64)], 1) if p.ndim == 1 else p
                return _Batch(n, probs=full.to(torch.float64, copy=True), labels=yl.to(torch.int64, copy=True))
            return _Batch(n, probs=p, labels=yl)
        reductions, flag = reduce_rows(p, y, self.scope, self.validate_args)
        if flag is not None:
            check_flag(flag, p, y, "preds", "target")
        yl = labels_as_long(y)
        if self.binning == "uniform":  # binned by update(), in place
            return _Batch(n, probs=p, labels=yl, reductions=reductions)
        s, o = pairs_of_rows(p, yl, self.scope, reductions)
        return _Batch(n, scores=s.to(torch.float64, copy=True), outcomes=o)  # o is always a new tensor

    def update(self, preds: npt.ArrayLike | torch.Tensor, target: npt.ArrayLike | torch.Tensor) -> None:
        """Add a batch: ``preds`` (N,) or (N, K) probabilities, ``target`` (N,) labels (N = 0 allowed)."""
        batch = self._pending if self._pending is not None else self._batch(preds, target)
        if batch.n == 0:
            return
        if self.binning == "quantile":
            if self.scope == "classwise":
                assert batch.probs is not None and batch.labels is not None
                self.probs.append(batch.probs)
                self.labels.append(batch.labels)
            else:
                assert batch.scores is not None and batch.outcomes is not None
                self.scores.append(batch.scores)
                self.outcomes.append(batch.outcomes)
            return
        assert batch.probs is not None and batch.labels is not None
        state_dev: torch.device = self.count.device
        if self.scope == "classwise":
            count, sum_s, sum_o = classwise_sums(batch.probs, batch.labels, self.n_bins)
        else:
            assert batch.reductions is not None
            if work_device(batch.probs) == state_dev:  # straight into the states
                add_uniform_sums(self.count, self.sum_score, self.sum_outcome, batch.probs, batch.labels,
                                 n_bins=self.n_bins, scope=self.scope, reductions=batch.reductions)
                return
            dev = work_device(batch.probs)  # states elsewhere: sum here, then add the M numbers
            count = torch.zeros(self.n_bins, dtype=torch.int64, device=dev)
            sum_s = torch.zeros(self.n_bins, dtype=torch.float64, device=dev)
            sum_o = torch.zeros(self.n_bins, dtype=torch.int64, device=dev)
            add_uniform_sums(count, sum_s, sum_o, batch.probs, batch.labels,
                             n_bins=self.n_bins, scope=self.scope, reductions=batch.reductions)
        self.count += count.to(state_dev)
        self.sum_score += sum_s.to(state_dev)
        self.sum_outcome += sum_o.to(state_dev)

    def forward(self, preds: npt.ArrayLike | torch.Tensor, target: npt.ArrayLike | torch.Tensor) -> torch.Tensor:
        """Accumulate the batch and return its own calibration error.

        The batch is validated before the states are touched, so an invalid batch raises
        and leaves everything accumulated so far intact. An empty batch returns NaN.
        """
        batch = self._batch(preds, target)
        if batch.n == 0:
            if not self._warned_undefined:
                warnings.warn("CalibrationError: an empty batch has no calibration error; returning NaN "
                              "(the accumulated state is unchanged)", RuntimeWarning, stacklevel=2)
                self._warned_undefined = True
            return torch.tensor(float("nan"), dtype=torch.float64)
        self._pending = batch
        try:
            return super().forward(preds, target)
        finally:
            self._pending = None

    # ------------------------------------------------------------------ compute
    def compute(self) -> torch.Tensor:
        """The calibration error of everything seen so far (float64 scalar tensor)."""
        classwise = self.scope == "classwise"
        if self.binning == "quantile":
            if _gathered(self.labels if classwise else self.outcomes).numel() == 0:
                raise InputError("CalibrationError.compute() called before any non-empty update")
            if classwise:
                p, y = _gathered(self.probs), _gathered(self.labels)
                count, sum_s, sum_o, _, _ = binned_sums(p, y, n_bins=self.n_bins, binning="quantile",
                                                        scope="classwise", validate=False)
            else:
                s, o = _gathered(self.scores), _gathered(self.outcomes)
                # the scores are already top-label / positive-class: bin them as the positive class
                count, sum_s, sum_o, _, _ = binned_sums(s, o, n_bins=self.n_bins, binning="quantile",
                                                        scope="positive_class", validate=False)
            counts, sums_s, sums_o = count.cpu().numpy(), sum_s.cpu().numpy(), sum_o.cpu().numpy()
        else:
            counts = self.count.cpu().numpy()
            sums_s, sums_o = self.sum_score.cpu().numpy(), self.sum_outcome.cpu().numpy()
        if np.any(counts.reshape(counts.shape[0] if classwise else 1, -1).sum(axis=1) == 0):
            raise InputError("CalibrationError.compute() called before any non-empty update")
        value = errors_from_statistics(counts, sums_s, sums_o, norm=self.norm, debiased=self.debiased,
                                       classwise=classwise)
        return torch.tensor(value, dtype=torch.float64)


def _gathered(state: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """A ``cat`` list state as one tensor (after a sync it is already a tensor)."""
    return dim_zero_cat(state) if isinstance(state, list) else state
