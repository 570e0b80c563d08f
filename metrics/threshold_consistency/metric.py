"""``OPIS``: a torchmetrics Metric that gathers embeddings and computes OPIS once."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from metrics.core.errors import InputError
from metrics.threshold_consistency.core import _opis_params, _report, compute_curves

__all__ = ["OPIS"]


class OPIS(Metric):
    """OPIS over everything seen since the last ``reset()`` (Zhang et al., ICLR 2024).

    ``update(embeddings, labels)`` appends a batch; ``compute()`` returns
    :func:`metrics.opis` of the concatenated data as a float64 scalar tensor. OPIS is a
    property of the whole set (its thresholds come from all negative pairs), so no
    fixed-size sufficient statistic exists: the states are list states reduced with
    ``dist_reduce_fx="cat"``, costing O(N·d) memory. The computation itself streams
    pairs as :func:`metrics.opis` does.

    Parameters are those of :func:`metrics.opis`; other keyword arguments go to
    :class:`torchmetrics.Metric`.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, *, far_range: tuple[float, float] = (0.01, 0.1), n_thresholds: int = 101,
                 beta: float = 1.0, distance: str = "cosine", reference: str = "class_mean",
                 min_class_size: int = 2, inclusive: bool = True, integration: str = "mean",
                 quantile_method: str = "linear", mode: str = "exact", device: Any = None,
                 block_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._params = _opis_params(far_range, n_thresholds, beta, distance, reference, min_class_size,
                                    inclusive, integration, quantile_method, mode, block_size)
        self._compute_device = device
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:  # type: ignore[override]
        emb = torch.as_tensor(embeddings)
        lab = torch.as_tensor(labels)
        if emb.ndim != 2:
            raise InputError(f"embeddings must be a 2-D array of embedding values; got shape {tuple(emb.shape)}")
        if lab.ndim != 1 or lab.shape[0] != emb.shape[0]:
            raise InputError(f"embeddings, labels must have the same number of rows; embeddings has "
                             f"{emb.shape[0]}, labels has shape {tuple(lab.shape)}")
        if emb.is_floating_point() and not bool(torch.isfinite(emb).all()):
            raise InputError("embeddings must be finite embedding values; found NaN or inf")
        self.embeddings.append(emb.detach().to(torch.float64))
        self.labels.append(lab.detach().to(torch.int64))

    def compute(self) -> torch.Tensor:
        if isinstance(self.embeddings, list) and not self.embeddings:  # after a sync it is one tensor
            raise InputError("OPIS.compute() called before any update(); no embeddings seen")
        emb = dim_zero_cat(self.embeddings)
        lab = dim_zero_cat(self.labels)
        curves = compute_curves(emb, lab, self._params, self._compute_device)
        value = _report(curves, self._params, (), "per_threshold").opis
        return torch.tensor(value, dtype=torch.float64)
