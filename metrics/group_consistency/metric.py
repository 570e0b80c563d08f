"""``LInCo``: the torchmetrics Metric accumulating LInCo over batches of cases."""

from __future__ import annotations

import math
import typing
import warnings

import numpy as np
import numpy.typing as npt
import torch
from torchmetrics import Metric

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.group_consistency._dispersion import (
    Dispersion,
    Task,
    as_prediction_matrix,
    check_tensor_shape,
    dispersion_name,
    is_tensor,
    per_case_values,
    resolve_dispersion,
    tensor_per_case,
)
from metrics.group_consistency.functional import OnUndefined

__all__ = ["LInCo"]


class LInCo(Metric):
    """LInCo accumulated over batches of shared cases (see :func:`metrics.linco`).

    ``update(predictions)`` takes one (K, B) batch: the K group models' outputs on B
    cases. The states are fixed-size sufficient statistics: the float64 sum of the
    per-case dispersion D over included cases and the int64 numbers of included and
    skipped cases, all merged with ``dist_reduce_fx="sum"``. ``compute()`` equals
    :func:`metrics.linco` on the concatenated columns. There is no baseline here:
    subtract one computed separately.

    Where the work runs: a torch tensor is processed in torch on its device, states on
    the Metric's device; nothing is copied to the host. With ``validate_args=True`` (the
    default) all checks are folded into one flag read once per ``update()`` (one host
    synchronisation); with ``validate_args=False`` there is none. Numpy / list input and
    callable dispersions take the numpy path on the host.

    Semantics: K is fixed by the first batch and checked on every later one, by
    ``update()`` and ``forward()`` alike; an empty (K, 0) batch changes nothing;
    ``forward()`` never loses the accumulated state (a batch that raises leaves it as it
    was) and returns NaN with a warning for a batch whose own value is undefined (every
    case skipped by ``cv_pop``). Ranks that saw no batch contribute zeros under DDP.

    Parameters
    ----------
    task : {"regression", "classification"}
    dispersion : str or callable, optional
        As in :func:`metrics.linco` (default ``"std_log1p"`` / ``"pairwise_disagreement"``).
    on_undefined : {"raise", "nan"}
        ``compute()`` with no included case raises (default) or returns NaN.
    validate_args : bool
        Check every batch (one host synchronisation per ``update()``; default). ``False``
        skips the value checks (shapes and K are still checked) and never synchronises.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    dispersion_sum: torch.Tensor
    n_included: torch.Tensor
    n_skipped: torch.Tensor

    @validate_options
    def __init__(self, task: Task = "regression", dispersion: Dispersion = None, *,
                 on_undefined: OnUndefined = "raise", validate_args: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.validate_args = bool(validate_args)
        self.task = task
        self.dispersion = resolve_dispersion(dispersion, self.task)
        self.on_undefined = on_undefined
        self._n_models: int | None = None
        self._warned_undefined = False
        self.add_state("dispersion_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum", persistent=True)
        self.add_state("n_included", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum", persistent=True)
        self.add_state("n_skipped", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum", persistent=True)

    # ------------------------------------------------------------------ batch statistics
    def _batch(self, predictions: npt.ArrayLike | torch.Tensor) -> tuple[int, tuple[torch.Tensor, ...] | None]:
        """(K, (sum, included, skipped)) of one batch, or (K, None) for an empty batch.

        Raises before any state changes; the accumulated state is not touched here.
        """
        device = self.dispersion_sum.device
        if is_tensor(predictions) and not callable(self.dispersion):
            x: torch.Tensor = predictions  # type: ignore[assignment]
            n_models = int(x.shape[0]) if x.ndim >= 1 else 0
            self._check_models(n_models, x.ndim)
            check_tensor_shape(x, "predictions", allow_empty=True)
            if x.shape[1] == 0:
                return n_models, None
            per_case = tensor_per_case(x, task=self.task, dispersion=self.dispersion,  # type: ignore[arg-type]
                                       validate=self.validate_args)
        else:
            arr = (typing.cast(torch.Tensor, predictions).detach().cpu().numpy() if is_tensor(predictions)
                   else np.asarray(predictions))
            n_models = int(arr.shape[0]) if arr.ndim >= 1 else 0
            self._check_models(n_models, arr.ndim)
            if arr.ndim == 2 and arr.shape[1] == 0:
                return n_models, None
            matrix = as_prediction_matrix(predictions, "predictions", self.task)
            per_case = torch.as_tensor(per_case_values(matrix, task=self.task, dispersion=self.dispersion),
                                       device=device)
        included = ~torch.isnan(per_case)
        stats = (torch.where(included, per_case, 0.0).sum().to(device),
                 included.sum().to(device), (~included).sum().to(device))
        return n_models, stats

    def _check_models(self, n_models: int, ndim: int) -> None:
        if ndim == 2 and self._n_models is not None and n_models != self._n_models:
            raise InputError(f"predictions must have the same K = {self._n_models} rows in every update; "
                             f"got {n_models}")

    def _add(self, n_models: int, stats: tuple[torch.Tensor, ...] | None) -> None:
        self._n_models = n_models
        if stats is not None:
            self.dispersion_sum += stats[0]
            self.n_included += stats[1]
            self.n_skipped += stats[2]

    # ------------------------------------------------------------------ Metric API
    def update(self, predictions: npt.ArrayLike | torch.Tensor) -> None:  # type: ignore[override]
        """Add one (K, B) batch of the K group models' predictions on B cases."""
        self._add(*self._batch(predictions))

    def forward(self, predictions: npt.ArrayLike | torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Add the batch and return its own LInCo (NaN with a warning when undefined).

        Unlike torchmetrics' default, the accumulated state is never reset: a batch that
        raises leaves it unchanged.
        """
        n_models, stats = self._batch(predictions)
        self._add(n_models, stats)
        self._update_count += 1
        self._computed = None
        if stats is None:
            return self._undefined_batch("the batch is empty")
        total, included, _ = stats
        value = torch.where(included > 0, total / included.clamp(min=1), math.nan)
        if self.validate_args and not bool(included > 0):
            self._undefined_batch("every case of the batch was skipped")
        return value

    def _undefined_batch(self, why: str) -> torch.Tensor:
        if not self._warned_undefined:
            warnings.warn(f"LInCo.forward: {why}; its value is NaN (the accumulated state is kept)",
                          RuntimeWarning, stacklevel=3)
            self._warned_undefined = True
        return torch.tensor(math.nan, dtype=torch.float64, device=self.dispersion_sum.device)

    def compute(self) -> torch.Tensor:
        """Mean per-case dispersion over every included case seen (float64 scalar tensor)."""
        n = int(self.n_included)
        if n == 0:
            if self.on_undefined == "nan":
                return torch.tensor(math.nan, dtype=torch.float64, device=self.dispersion_sum.device)
            raise InputError(f"LInCo({dispersion_name(self.dispersion)!r}): no case with a defined dispersion "
                             f"was seen ({int(self.n_skipped)} skipped); call update() with data first")
        if not bool(torch.isfinite(self.dispersion_sum)):
            raise InputError("predictions: the sum of the per-case dispersions exceeds the float64 range; "
                             "rescale the predictions (e.g. months to years)")
        return self.dispersion_sum / n

    def reset(self) -> None:
        super().reset()
        self._n_models = None
