"""``OPIS``: a torchmetrics Metric that gathers embeddings and computes OPIS once."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import torch
from torchmetrics import Metric
from torchmetrics.utilities.distributed import gather_all_tensors

from metrics.core.errors import InputError
from metrics.core.metric_state import forward_keeping_state
from metrics.threshold_consistency._curves import compute_curves, summarise
from metrics.threshold_consistency._inputs import check_embedding_tensor, check_label_tensor
from metrics.threshold_consistency._options import OPISOptions

__all__ = ["OPIS"]

_OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(OPISOptions))

def _cat_rows(parts: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate gathered batches along rows, skipping empty ones (an empty rank sends
    a (0, 0) placeholder); batches of different widths are an InputError."""
    if isinstance(parts, torch.Tensor):
        return parts
    kept = [p for p in parts if p.shape[0] > 0]
    if not kept:
        return parts[0]
    widths = {tuple(p.shape[1:]) for p in kept}
    if len(widths) > 1:
        raise InputError(f"embeddings must have the same width in every batch; got widths {sorted(widths)}")
    return torch.cat(kept)


def _as_tensor(value: torch.Tensor | npt.ArrayLike) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.array(value, copy=True))


class OPIS(Metric):
    """OPIS over everything seen since the last ``reset()`` (Zhang et al., ICLR 2024).

    ``update(embeddings, labels)`` appends a batch; ``compute()`` returns
    :func:`metrics.opis` of the concatenated data as a float64 scalar tensor. OPIS is a
    property of the whole set (its thresholds come from all negative pairs), so no
    fixed-size sufficient statistic exists: the states are list states gathered by
    concatenation across processes, costing O(N·d) memory. ``compute()`` streams the
    pairs as :func:`metrics.opis` does, on the states' device (or ``device=``).

    ``update()`` runs in torch on the input's device: it copies the batch into the
    states in float64 / int64 (never a view of the caller's buffer), with no host copy
    and one host synchronisation for validation (finite embeddings; integer labels
    ≥ 0, so 0.7 is an error, never truncated), none with ``validate_args=False``.
    Shapes (2-D embeddings, one label per row, the same width in every batch) are
    always checked. Empty batches are accepted and change nothing.

    ``forward()`` returns OPIS of the batch alone and adds the batch to the state. A
    batch that raises leaves the state as it was; a valid batch whose own OPIS is
    undefined (fewer than two eligible classes) returns NaN with a warning.

    Parameters
    ----------
    validate_args : bool, default True
        Check values (one synchronisation per ``update()``).
    **kwargs
        The options of :class:`metrics.threshold_consistency.functional.OPISOptions`
        (``far_range``, ``n_thresholds``, ``beta``, ``distance``, ``reference``,
        ``min_class_size``, ``inclusive``, ``integration``, ``quantile_method``, ``mode``,
        ``device``, ``block_size``); any other keyword goes to :class:`torchmetrics.Metric`.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    embeddings: list[torch.Tensor] | torch.Tensor
    labels: list[torch.Tensor] | torch.Tensor

    def __init__(self, *, validate_args: bool = True, **kwargs: object) -> None:
        options = {k: v for k, v in kwargs.items() if k in _OPTION_NAMES}
        super().__init__(**{k: v for k, v in kwargs.items() if k not in _OPTION_NAMES})
        self.options = OPISOptions.from_keywords(options)
        self.validate_args = bool(validate_args)
        self._width: int | None = None
        self._in_forward = False
        self._warned_undefined = False
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    # -- update ------------------------------------------------------------------------

    def _checked(self, embeddings: torch.Tensor | npt.ArrayLike, labels: torch.Tensor | npt.ArrayLike,
                 validate: bool) -> tuple[torch.Tensor, torch.Tensor]:
        emb = check_embedding_tensor(_as_tensor(embeddings), allow_empty=True, check_finite=False)
        lab = _as_tensor(labels)
        n = int(emb.shape[0])
        if n == 0:
            if lab.numel() != 0:
                raise InputError(f"embeddings, labels must have the same number of rows; embeddings has 0, "
                                 f"labels has shape {tuple(lab.shape)}")
            return emb, lab.reshape(0).to(torch.int64)
        if self._width is not None and emb.shape[1] != self._width:
            raise InputError(f"embeddings must have the same width in every batch; earlier batches have "
                             f"{self._width} columns, this one has {emb.shape[1]}")
        if emb.shape[1] == 0:
            raise InputError(f"embeddings must have at least one column; got shape {tuple(emb.shape)}")
        if validate:
            bad_emb = ~torch.isfinite(emb).all() if emb.is_floating_point() else torch.zeros((), dtype=torch.bool)
            lab_checked = check_label_tensor(lab, n, check_values=False)
            if lab.is_floating_point():
                bad_lab = (~torch.isfinite(lab) | (lab != torch.round(lab)) | (lab < 0)).any()
            elif lab.dtype in (torch.bool, torch.uint8):
                bad_lab = torch.zeros((), dtype=torch.bool, device=lab.device)
            else:
                bad_lab = (lab < 0).any()
            if bool(bad_emb.to(lab.device) | bad_lab):  # the one synchronisation
                check_embedding_tensor(emb)  # raise with the position of the first bad value
                check_label_tensor(lab, n)
            return emb, lab_checked
        return emb, check_label_tensor(lab, n, check_values=False)

    def update(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:  # type: ignore[override]
        """Append a batch of (B, d) embeddings and B integer labels (copied into the states)."""
        emb, lab = self._checked(embeddings, labels, self.validate_args and not self._in_forward)
        if emb.shape[0] == 0:
            return
        self._width = int(emb.shape[1])
        assert isinstance(self.embeddings, list) and isinstance(self.labels, list)
        self.embeddings.append(emb.to(dtype=torch.float64, copy=True))
        self.labels.append(lab.to(dtype=torch.int64, copy=True))

    # -- forward: never lose the accumulated state -------------------------------------

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """OPIS of this batch alone (NaN with a warning when undefined); the batch joins the state."""
        emb, lab = self._checked(embeddings, labels, self.validate_args)  # raises before any state change
        parent_forward = super().forward
        self._in_forward = True
        try:
            return forward_keeping_state(self, lambda: parent_forward(emb, lab), extra=("_width",))
        finally:
            self._in_forward = False

    def reset(self) -> None:
        super().reset()
        if not self._in_forward:  # forward() resets around the batch; the width stays known
            self._width = None

    # -- compute and distributed gathering ---------------------------------------------

    def _sync_dist(self, dist_sync_fn: Callable = gather_all_tensors,  # type: ignore[type-arg]
                   process_group: object | None = None) -> None:
        """Gather the batches of every process. Each rank sends exactly one tensor per
        state, also a rank that saw no batch (a (0, 0) placeholder), so no collective is
        left waiting; empty parts are dropped before concatenating."""
        group = process_group or self.process_group
        for attr, empty in (("embeddings", torch.zeros(0, 0, dtype=torch.float64, device=self.device)),
                            ("labels", torch.zeros(0, dtype=torch.int64, device=self.device))):
            value = getattr(self, attr)
            if isinstance(value, list):
                value = _cat_rows(value) if value else empty
            setattr(self, attr, _cat_rows(dist_sync_fn(value, group=group)))

    def compute(self) -> torch.Tensor:
        """OPIS of all batches as a float64 scalar tensor."""
        emb = _cat_rows(self.embeddings) if isinstance(self.embeddings, list) and self.embeddings else self.embeddings
        lab = _cat_rows(self.labels) if isinstance(self.labels, list) and self.labels else self.labels
        if isinstance(emb, list) or emb.shape[0] == 0:
            if self._in_forward:
                return self._undefined("the batch is empty")
            raise InputError("OPIS.compute() called before any non-empty update(); no embeddings seen")
        assert isinstance(lab, torch.Tensor)
        try:
            curves = compute_curves(emb, lab, self.options)
        except InputError as exc:
            if self._in_forward:
                return self._undefined(str(exc))
            raise
        value = summarise(curves, self.options, (), "per_threshold").opis
        return torch.tensor(value, dtype=torch.float64, device=emb.device)

    def _undefined(self, why: str) -> torch.Tensor:
        if not self._warned_undefined:
            warnings.warn(f"OPIS of this batch is undefined ({why}); forward() returns NaN for it. The batch "
                          "still joins the accumulated state.", RuntimeWarning, stacklevel=4)
            self._warned_undefined = True
        return torch.tensor(float("nan"), dtype=torch.float64, device=self.device)
