"""Streaming calibration error: a torchmetrics ``Metric`` with fixed-size per-bin sums (§6)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from metrics.calibration._inputs import n_classes, scores_outcomes, validate_inputs
from metrics.calibration.binning import binned_statistics, uniform_edges
from metrics.calibration.estimators import (
    _classwise_statistics,
    check_ce_options,
    errors_from_statistics,
    statistics,
)
from metrics.core.errors import InputError
from metrics.core.validation import check_int

__all__ = ["CalibrationError"]

CHUNK_ROWS = 1 << 16


class CalibrationError(Metric):
    r"""Binned calibration error accumulated over batches and processes.

    ``compute()`` equals :func:`~metrics.calibration_error` on all the data seen (within
    1e-12; only the float64 summation order differs).

    States (``dist_reduce_fx="sum"``, shape (M,) or (K, M) for ``classwise``):
    ``count`` (int64), ``sum_score`` (float64), ``sum_outcome`` (int64). Memory is
    O(K·M) whatever the number of samples, and merging shards is exact. Each update is
    processed in chunks of at most 2^16 rows, so its temporaries stay bounded.

    With ``binning="quantile"`` the edges depend on all scores, so the states are
    instead list states with ``dist_reduce_fx="cat"`` holding every score and outcome
    (O(N) memory; the probabilities (N, K) for ``classwise``).

    Parameters
    ----------
    n_bins, norm, binning, scope, debiased
        As :func:`~metrics.calibration_error`.
    num_classes : int, optional
        K; required for ``scope="classwise"`` (it sizes the states), checked otherwise.
    compat : None
        ``compat=`` modes are functional only; anything else raises InputError.

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

    def __init__(self, n_bins: int = 15, norm: str = "l1", binning: str = "uniform", scope: str = "top_label",
                 debiased: bool = False, num_classes: int | None = None, compat: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_bins = check_ce_options(n_bins, norm, binning, scope, debiased, None)
        if compat is not None:
            raise InputError(f"compat: CalibrationError does not support compat={compat!r}; compat modes are "
                             "functional only (use metrics.calibration_error(..., compat=...))")
        self.norm, self.binning, self.scope, self.debiased = norm, binning, scope, bool(debiased)
        if num_classes is not None:
            num_classes = check_int(num_classes, "num_classes", min_value=2)
        elif scope == "classwise":
            raise InputError("num_classes: CalibrationError(scope='classwise') needs num_classes (it sizes the states)")
        self.num_classes = num_classes
        if binning == "quantile":
            if scope == "classwise":
                self.add_state("probs", default=[], dist_reduce_fx="cat")
                self.add_state("labels", default=[], dist_reduce_fx="cat")
            else:
                self.add_state("scores", default=[], dist_reduce_fx="cat")
                self.add_state("outcomes", default=[], dist_reduce_fx="cat")
            return
        shape = (num_classes, self.n_bins) if scope == "classwise" else (self.n_bins,)
        self.add_state("count", default=torch.zeros(shape, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("sum_score", default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sum_outcome", default=torch.zeros(shape, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, preds: Any, target: Any) -> None:  # type: ignore[override]
        """Add a batch: ``preds`` (N,) or (N, K) probabilities, ``target`` (N,) labels."""
        p, y = validate_inputs(preds, target, name="preds")
        if self.num_classes is not None and n_classes(p) != self.num_classes:
            raise InputError(f"preds must have num_classes = {self.num_classes} columns; got K = {n_classes(p)}")
        device = self._device
        if self.binning == "quantile":
            if self.scope == "classwise":
                q = np.stack([1 - p.astype(np.float64), p.astype(np.float64)], 1) if p.ndim == 1 else p
                self.probs.append(torch.from_numpy(np.asarray(q, dtype=np.float64)).to(device))
                self.labels.append(torch.from_numpy(y).to(device))
            else:
                for start in range(0, y.size, CHUNK_ROWS):
                    s, o = scores_outcomes(p[start:start + CHUNK_ROWS], y[start:start + CHUNK_ROWS], self.scope)
                    self.scores.append(torch.from_numpy(s).to(device))
                    self.outcomes.append(torch.from_numpy(o).to(device))
            return
        edges = uniform_edges(self.n_bins)
        count = np.zeros(tuple(self.count.shape), dtype=np.int64)
        sum_s = np.zeros(tuple(self.count.shape))
        sum_o = np.zeros(tuple(self.count.shape), dtype=np.int64)
        for start in range(0, y.size, CHUNK_ROWS):
            pc, yc = p[start:start + CHUNK_ROWS], y[start:start + CHUNK_ROWS]
            if self.scope == "classwise":
                c, ss, so, _ = _classwise_statistics(pc, yc, self.n_bins, "uniform")
            else:
                s, o = scores_outcomes(pc, yc, self.scope)
                st = binned_statistics(s, o, edges)
                c, ss, so = st.counts, st.sum_score, st.sum_outcome
            count += c
            sum_s += ss
            sum_o += np.asarray(so).astype(np.int64)
        self.count += torch.from_numpy(count).to(device)
        self.sum_score += torch.from_numpy(sum_s).to(device)
        self.sum_outcome += torch.from_numpy(sum_o).to(device)

    def compute(self) -> torch.Tensor:
        """The calibration error of everything seen so far (float64 scalar tensor)."""
        classwise = self.scope == "classwise"
        if self.binning == "quantile":
            if classwise:
                p, y = _gathered(self.probs), _gathered(self.labels)
                counts, sum_s, sum_o, _ = statistics(p, y, self.n_bins, "quantile", "classwise")
            else:
                s, o = _gathered(self.scores), _gathered(self.outcomes)
                from metrics.calibration.binning import bin_edges

                st = binned_statistics(s, o, bin_edges(s, self.n_bins, "quantile"))
                counts, sum_s, sum_o = st.counts, st.sum_score, st.sum_outcome
        else:
            counts = self.count.cpu().numpy()
            if counts.sum() == 0:
                raise InputError("CalibrationError.compute() called before any update")
            sum_s, sum_o = self.sum_score.cpu().numpy(), self.sum_outcome.cpu().numpy()
        value = errors_from_statistics(counts, sum_s, sum_o, norm=self.norm, debiased=self.debiased,
                                       classwise=classwise)
        return torch.tensor(value, dtype=torch.float64)


def _gathered(state) -> np.ndarray:
    """A ``cat`` list state as one numpy array (after a sync it is already a tensor)."""
    if isinstance(state, list) and not state:
        raise InputError("CalibrationError.compute() called before any update")
    return dim_zero_cat(state).cpu().numpy()
