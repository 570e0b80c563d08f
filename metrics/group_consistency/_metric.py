"""``LInCo``: the torchmetrics Metric accumulating LInCo over batches of cases."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from metrics.core.errors import InputError
from metrics.core.validation import check_option
from metrics.group_consistency._dispersion import (
    as_prediction_matrix,
    check_task,
    dispersion_name,
    per_case_values,
    resolve_dispersion,
)

__all__ = ["LInCo"]


class LInCo(Metric):
    """LInCo accumulated over batches of shared cases (see :func:`metrics.linco`).

    ``update(predictions)`` takes one (K, B) batch: the K group models' outputs on B
    cases. The states are fixed-size sufficient statistics: the float64 sum of the
    per-case dispersion D over included cases and the numbers of included and skipped
    cases, all merged with ``dist_reduce_fx="sum"``. ``compute()`` equals
    :func:`metrics.linco` on the concatenated columns. There is no baseline here:
    subtract one computed separately.

    Parameters
    ----------
    task : {"regression", "classification"}
    dispersion : str or callable, optional
        As in :func:`metrics.linco` (default ``"std_log1p"`` / ``"pairwise_disagreement"``).
    on_undefined : {"raise", "nan"}
        ``compute()`` with no included case raises (default) or returns NaN.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, task: str = "regression", dispersion: str | Callable | None = None, *,
                 on_undefined: str = "raise", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = check_task(task)
        self.dispersion = resolve_dispersion(dispersion, self.task)
        self.on_undefined = check_option(on_undefined, "on_undefined", ("raise", "nan"))
        self._n_models: int | None = None
        self.add_state("dispersion_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_included", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("n_skipped", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, predictions: Any) -> None:  # type: ignore[override]
        matrix = as_prediction_matrix(predictions, "predictions", self.task)
        if self._n_models is not None and matrix.shape[0] != self._n_models:
            raise InputError(f"predictions must have the same K = {self._n_models} rows in every update; "
                             f"got {matrix.shape[0]}")
        self._n_models = matrix.shape[0]
        per_case = per_case_values(matrix, task=self.task, dispersion=self.dispersion)
        included = ~np.isnan(per_case)
        self.dispersion_sum += float(per_case[included].sum())
        self.n_included += int(included.sum())
        self.n_skipped += int(per_case.size - included.sum())

    def compute(self) -> torch.Tensor:
        n = int(self.n_included)
        if n == 0:
            if self.on_undefined == "nan":
                return torch.tensor(math.nan, dtype=torch.float64)
            raise InputError(f"LInCo({dispersion_name(self.dispersion)!r}): no case with a defined dispersion "
                             f"was seen ({int(self.n_skipped)} skipped); call update() with data first")
        return self.dispersion_sum / n

    def reset(self) -> None:
        super().reset()
        self._n_models = None
