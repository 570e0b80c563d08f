"""Instability signals of small-scale Transformer training.

Wortsman et al., "Small-scale proxies for large-scale Transformer training
instabilities", ICLR 2024 (arXiv:2309.14322):

* attention-logit growth — the largest pre-softmax attention logit
  z = scale·q kᵀ (runs whose logits passed ~1e4 diverged);
* output-logit divergence — the log-partition log Z of the output softmax drifting away
  from 0, held in check by the z-loss c·(log Z)²;
* learning-rate sensitivity — how much the final loss degrades over a learning-rate sweep.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, check_bool, check_positive

__all__ = [
    "max_attention_logit",
    "attention_logit_bound",
    "QKRecorder",
    "z_loss",
    "output_logit_stats",
    "lr_sensitivity",
]

_BLOCK_ELEMENTS = 1 << 24  # attention-logit entries materialised at once


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        t = torch.from_numpy(as_float_array(x, name, finite=False))
    if not t.is_floating_point():
        t = t.to(torch.float32)
    return t


def _check_finite(t: torch.Tensor, name: str) -> None:
    if t.numel() == 0:
        raise InputError(f"{name} must not be empty; got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{name} must be finite; found NaN or inf")


def _check_qk(q: Any, k: Any) -> tuple[torch.Tensor, torch.Tensor]:
    q, k = _as_tensor(q, "q"), _as_tensor(k, "k")
    for name, t in (("q", q), ("k", k)):
        if t.ndim != 4:
            raise InputError(f"{name} must be a 4-D tensor (batch, heads, tokens, head_dim); "
                             f"got shape {tuple(t.shape)}")
        _check_finite(t, name)
    if q.shape[:2] != k.shape[:2] or q.shape[3] != k.shape[3]:
        raise InputError(f"q and k must agree in batch, heads and head_dim; got q {tuple(q.shape)} "
                         f"and k {tuple(k.shape)}")
    return q, k


def max_attention_logit(q: Any, k: Any, *, mask: Any = None, causal: bool = False, scale: float | None = None,
                        absolute: bool = False, per_head: bool = False) -> float | torch.Tensor:
    """Largest attention logit z = scale·q kᵀ over the positions allowed to attend.

    Parameters
    ----------
    q, k : tensor, shape (B, H, Tq, d) and (B, H, Tk, d)
        Queries and keys after any rotary / normalisation, as the softmax sees them.
    mask : bool tensor, optional
        Broadcastable to (B, H, Tq, Tk); True = may attend (the convention of
        ``torch.nn.functional.scaled_dot_product_attention``). Masked entries never count.
    causal : bool
        Also exclude keys after the query (key j > query i, top-left aligned like SDPA).
    scale : float, optional
        Defaults to 1/√d.
    absolute : bool
        Report max |z| instead of max z.
    per_head : bool
        Return a (H,) tensor, the maximum per head, instead of a float.

    The logits are recomputed in float32 (float64 for float64 input) in blocks of
    batch×head slices, so memory stays bounded; cost O(B·H·Tq·Tk·d).
    """
    q, k = _check_qk(q, k)
    causal, absolute, per_head = (check_bool(causal, "causal"), check_bool(absolute, "absolute"),
                                  check_bool(per_head, "per_head"))
    b, h, tq, d = q.shape
    tk = k.shape[2]
    scale = 1.0 / math.sqrt(d) if scale is None else check_positive(scale, "scale")
    dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    allowed = torch.ones((1, 1, tq, tk), dtype=torch.bool, device=q.device)
    if mask is not None:
        m = mask.detach() if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))
        if m.dtype != torch.bool:
            raise InputError(f"mask must be a boolean tensor (True = may attend); got dtype {m.dtype}")
        try:
            allowed = allowed & m.to(q.device)
            allowed = allowed.expand(b, h, tq, tk)
        except RuntimeError:
            raise InputError(f"mask must broadcast to (batch, heads, Tq, Tk) = {(b, h, tq, tk)}; "
                             f"got shape {tuple(m.shape)}") from None
    if causal:
        allowed = allowed & torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril()
    allowed = allowed.expand(b, h, tq, tk)
    if not bool(allowed.any()):
        raise InputError("mask and causal leave no position allowed to attend; the maximum is undefined")
    qf, kf = q.to(dtype).reshape(b * h, tq, d), k.to(dtype).reshape(b * h, tk, d)
    allowed = allowed.reshape(b * h, tq, tk)
    best = torch.full((b * h,), -math.inf, dtype=dtype, device=q.device)
    step = max(1, _BLOCK_ELEMENTS // max(1, tq * tk))
    for start in range(0, b * h, step):  # blocks of (batch, head) slices, not samples
        z = torch.bmm(qf[start:start + step], kf[start:start + step].transpose(1, 2)) * scale
        if absolute:
            z = z.abs()
        z = z.masked_fill(~allowed[start:start + step], -math.inf)
        best[start:start + step] = z.amax(dim=(1, 2))
    best = best.reshape(b, h)
    if per_head:
        return best.amax(dim=0)  # -inf for a head whose every position is masked
    return float(best.max())


def attention_logit_bound(q: Any, k: Any, *, scale: float | None = None, per_head: bool = False):
    """Cheap upper bound scale·max‖q‖·max‖k‖ on |attention logits|, O(B·H·T·d).

    Cauchy–Schwarz bound on :func:`max_attention_logit` with ``absolute=True`` and no
    mask; per head with ``per_head=True``.
    """
    q, k = _check_qk(q, k)
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else check_positive(scale, "scale")
    dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    qn = q.to(dtype).norm(dim=3).amax(dim=(0, 2))
    kn = k.to(dtype).norm(dim=3).amax(dim=(0, 2))
    bound = scale * qn * kn
    return bound if check_bool(per_head, "per_head") else float(bound.max())


class QKRecorder:
    """Record queries and keys with forward hooks, for :func:`max_attention_logit`.

    ``with QKRecorder(block.q_proj, block.k_proj, n_heads=8) as rec: model(x)`` then
    ``rec.max_attention_logit(causal=True)``. The hooked modules' outputs, shaped
    (B, T, H·d), are reshaped to (B, H, T, d) and detached; nothing else of the model
    changes. Layers whose q/k are computed inside one fused projection can pass that
    module and ``split="qkv"`` to take the first and second thirds of its output.
    """

    def __init__(self, q_module: torch.nn.Module, k_module: torch.nn.Module | None = None, *, n_heads: int,
                 split: str | None = None):
        if split not in (None, "qkv"):
            raise InputError(f"split must be None or 'qkv'; got {split!r}")
        if split is None and k_module is None:
            raise InputError("k_module is required unless split='qkv'")
        self.q_module, self.k_module, self.n_heads, self.split = q_module, k_module, int(n_heads), split
        self.q: torch.Tensor | None = None
        self.k: torch.Tensor | None = None
        self._handles: list = []

    def _heads(self, out: torch.Tensor) -> torch.Tensor:
        b, t, width = out.shape
        if width % self.n_heads:
            raise InputError(f"n_heads={self.n_heads} does not divide the projection width {width}")
        return out.detach().reshape(b, t, self.n_heads, width // self.n_heads).transpose(1, 2)

    def __enter__(self) -> QKRecorder:
        if self.split == "qkv":
            def fused(_m, _i, out):
                q, k, _v = out.chunk(3, dim=-1)
                self.q, self.k = self._heads(q), self._heads(k)

            self._handles = [self.q_module.register_forward_hook(fused)]
        else:
            self._handles = [
                self.q_module.register_forward_hook(lambda _m, _i, out: setattr(self, "q", self._heads(out))),
                self.k_module.register_forward_hook(lambda _m, _i, out: setattr(self, "k", self._heads(out))),
            ]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def max_attention_logit(self, **kwargs) -> float | torch.Tensor:
        """:func:`max_attention_logit` on the last recorded q and k."""
        if self.q is None or self.k is None:
            raise InputError("no q/k recorded yet: run a forward pass inside the `with` block")
        return max_attention_logit(self.q, self.k, **kwargs)


def _logit_rows(logits: Any, labels: Any, ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten (..., V) logits to rows, keeping rows whose label is not ``ignore_index``."""
    if not isinstance(logits, torch.Tensor):
        logits = torch.from_numpy(as_float_array(logits, "logits", finite=False))
    if logits.ndim < 1 or logits.shape[-1] == 0:
        raise InputError(f"logits must have a class dimension last (..., V); got shape {tuple(logits.shape)}")
    rows = logits.reshape(-1, logits.shape[-1])
    keep = torch.ones(rows.shape[0], dtype=torch.bool, device=rows.device)
    if labels is not None:
        lab = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
        if lab.numel() != rows.shape[0]:
            raise InputError(f"labels must have one entry per logit row; logits have {rows.shape[0]} rows, "
                             f"labels {lab.numel()}")
        keep = lab.reshape(-1).to(rows.device) != ignore_index
    rows = rows[keep]
    if rows.shape[0] == 0:
        raise InputError("logits must have at least one row whose label is not ignore_index")
    if not bool(torch.isfinite(rows.detach()).all()):
        raise InputError("logits must be finite; found NaN or inf")
    return rows, keep


def z_loss(logits: Any, labels: Any = None, *, coefficient: float = 1e-4, ignore_index: int = -100) -> torch.Tensor:
    """Auxiliary z-loss c·(log Z)², log Z = logsumexp of the output logits.

    Averaged over the rows whose label is not ``ignore_index``, like the cross-entropy
    it is added to (PaLM; Wortsman et al. 2023). Differentiable: its gradient is
    2c·log Z·softmax(logits). Computed in float32 at least.
    """
    check_positive(coefficient, "coefficient", allow_zero=True)
    rows, _ = _logit_rows(logits, labels, ignore_index)
    log_z = torch.logsumexp(rows.to(torch.promote_types(rows.dtype, torch.float32)), dim=-1)
    return coefficient * (log_z ** 2).mean()


def output_logit_stats(logits: Any, labels: Any = None, *, coefficient: float = 1e-4,
                       ignore_index: int = -100) -> dict[str, float]:
    """Output-logit divergence signals: mean and min logit, mean and max |log Z|, z-loss."""
    rows, _ = _logit_rows(logits, labels, ignore_index)
    rows = rows.detach().to(torch.float64)
    log_z = torch.logsumexp(rows, dim=-1)
    return {
        "mean_logit": float(rows.mean()),
        "min_logit": float(rows.min()),
        "mean_log_z": float(log_z.mean()),
        "max_abs_log_z": float(log_z.abs().max()),
        "z_loss": float(check_positive(coefficient, "coefficient", allow_zero=True) * (log_z ** 2).mean()),
    }


def lr_sensitivity(final_losses: Any, *, initial_loss: float, lrs: Any = None) -> float:
    """Learning-rate sensitivity of a sweep (Wortsman et al. 2023, §3.2).

    With ℓ₀ the initial loss, each learning rate's final loss ℓ_η is capped:
    c_η = ℓ₀ if ℓ_η is not finite (NaN / inf: the run diverged), else min(ℓ_η, ℓ₀).
    The sensitivity is mean_η(c_η − min c). The paper's grid is 3e-4 … 3e-1 in half
    decades; ``lrs`` (optional) is only checked for matching length and positivity.
    NaN is mapped explicitly, never through Python's order-dependent ``min``.
    """
    losses = as_float_array(final_losses, "final_losses", ndim=1, finite=False)
    l0 = float(initial_loss) if not isinstance(initial_loss, bool) else math.nan
    if not math.isfinite(l0):
        raise InputError(f"initial_loss must be a finite number; got {initial_loss!r}")
    if lrs is not None:
        rates = as_float_array(lrs, "lrs", ndim=1, min_value=0.0)
        if rates.shape != losses.shape or (rates <= 0).any():
            raise InputError(f"lrs must hold one positive learning rate per final loss; got {rates.shape[0]} "
                             f"rates for {losses.shape[0]} losses")
    capped = np.where(np.isfinite(losses), np.minimum(np.nan_to_num(losses, nan=l0), l0), l0)
    return float(np.mean(capped - capped.min()))
