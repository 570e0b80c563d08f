"""StableMax, its cross-entropy, and (re-exported) ⊥Grad and the reference grokking task.

Prieto, Barsbey, Mediano & Birdal, *Grokking at the Edge of Numerical Stability*,
ICLR 2025 (arXiv:2501.04697), Sec. 5. StableMax replaces ``exp`` in the softmax by

    s(x) = x + 1          (x ≥ 0)
    s(x) = 1 / (1 − x)    (x < 0),        StableMax(x)_i = s(x_i) / Σ_j s(x_j),

which grows linearly instead of exponentially, so the logits that float32 softmax
absorbs (Softmax Collapse) stay distinguishable. Since s(x) = exp(g(x)) with
g(x) = log1p(x) for x ≥ 0 and −log1p(−x) for x < 0, StableMax(x) = softmax(g(x))
(Prop. 1), and we compute log StableMax = g − logsumexp(g). Written that way (with the
clamps below) it is finite for every finite x -- no overflow for x ≈ 3e38 (g ≈ 88.6) --
and its gradient is finite everywhere, including x = 1, where the authors'
unclamped 1/(1 − x) is infinite and ``torch.where`` back-propagates 0·inf = NaN.
"""

from __future__ import annotations

from typing import Literal

import numpy.typing as npt
import torch
from torch import nn

from metrics.core.errors import InputError
from metrics.core.validation import check_int, check_option

__all__ = ["stablemax", "log_stablemax", "StableMaxCrossEntropy"]

_DTYPES = (None, torch.float64, torch.float32, torch.float16, torch.bfloat16)


def _as_float_tensor(x: npt.ArrayLike | torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        from metrics.core.validation import to_numpy

        x = torch.as_tensor(to_numpy(x, name))
    if not x.dtype.is_floating_point:
        x = x.to(torch.float64)
    return x


def _check_dtype(dtype: torch.dtype | None) -> None:
    if dtype not in _DTYPES:
        raise InputError(f"dtype must be None or a floating torch dtype; got {dtype!r}")


def _g(x: torch.Tensor) -> torch.Tensor:
    """log s(x): log1p(x) for x ≥ 0, −log1p(−x) for x < 0; both branches clamped so the
    unused one is finite and its zero weight in ``where``'s backward stays zero."""
    return torch.where(x >= 0, torch.log1p(x.clamp(min=0)), -torch.log1p((-x).clamp(min=0)))


def log_stablemax(x: npt.ArrayLike | torch.Tensor, dim: int = -1, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """log StableMax(x) along ``dim`` = g(x) − logsumexp(g(x)).

    Parameters
    ----------
    x : tensor (or array-like)
        Logits; differentiable.
    dim : int
        The class dimension.
    dtype : torch dtype, optional
        Compute in this dtype (``None``: the input's).
    """
    _check_dtype(dtype)
    x = _as_float_tensor(x, "x")
    if dtype is not None:
        x = x.to(dtype)
    g = _g(x)
    return g - torch.logsumexp(g, dim=dim, keepdim=True)


def stablemax(x: npt.ArrayLike | torch.Tensor, dim: int = -1, *, dtype: torch.dtype | None = torch.float64) -> torch.Tensor:
    """StableMax(x) = s(x) / Σ s(x) along ``dim``, computed as softmax(g(x)) in ``dtype``
    (float64 by default, as the authors; ``None``: the input's dtype)."""
    _check_dtype(dtype)
    x = _as_float_tensor(x, "x")
    if dtype is not None:
        x = x.to(dtype)
    return torch.softmax(_g(x), dim=dim)


class StableMaxCrossEntropy(nn.Module):
    """StableMax cross-entropy, StCE = −log StableMax(x)_y (Prieto et al. 2025, Eq. 6).

    ``forward(logits, target)``: logits ``(N, C)`` (or ``(..., C)``, flattened to rows),
    integer targets ``(N,)``. Computed in ``dtype`` (float64 by default, as the
    authors; ``None``: the logits' dtype); the gradient with respect to the logits is
    s′(x_i)/Σ_j s(x_j) − 1[i = y]·s′(x_y)/s(x_y), with s′ = 1 for x ≥ 0 and (1 − x)^−2
    otherwise, and is finite for every finite input.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
        ``"mean"`` averages over the rows whose target is not ``ignore_index``;
        ``"none"`` returns ``(N,)`` with 0 at ignored rows (the authors return [N, 1]
        and have no ``"sum"``).
    dtype : torch dtype or None
    ignore_index : int
    """

    def __init__(self, reduction: Literal["mean", "none"] = "mean", *, dtype: torch.dtype | None = torch.float64,
                 ignore_index: int = -100):
        super().__init__()
        self.reduction = check_option(reduction, "reduction", ("mean", "sum", "none"))
        _check_dtype(dtype)
        self.dtype = dtype
        self.ignore_index = check_int(ignore_index, "ignore_index")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point:
            raise InputError("logits must be a floating-point torch tensor (..., C)")
        if logits.ndim < 1 or logits.shape[-1] == 0:
            raise InputError(f"logits must have a non-empty class dimension; got shape {tuple(logits.shape)}")
        c = logits.shape[-1]
        z = logits.reshape(-1, c)
        y = torch.as_tensor(target, device=z.device)
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise InputError(f"target must hold integer class labels; found dtype {y.dtype}")
        y = y.reshape(-1).long()
        if y.numel() != z.shape[0]:
            raise InputError(f"target must have one label per logit row; {z.shape[0]} rows, {y.numel()} labels")
        keep = y != self.ignore_index
        if bool(((y < 0) | (y >= c))[keep].any()):
            raise InputError(f"target must be in [0, {c}) or ignore_index={self.ignore_index}")
        if z.shape[0] == 0 or not bool(keep.any()):
            raise InputError("no rows to score: logits are empty or every target is ignore_index")
        if not bool(torch.isfinite(z).all()):
            raise InputError("logits must be finite")
        logp = log_stablemax(z, dim=-1, dtype=self.dtype)
        picked = logp.gather(1, y.clamp(0, c - 1).unsqueeze(1)).squeeze(1)
        losses = torch.where(keep, -picked, torch.zeros_like(picked))
        if self.reduction == "none":
            return losses
        if self.reduction == "sum":
            return losses.sum()
        return losses.sum() / keep.sum()

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, dtype={self.dtype}, ignore_index={self.ignore_index}"
