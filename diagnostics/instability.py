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
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from diagnostics._tensors import as_tensor, label_vector
from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, check_bool, check_int, check_positive

__all__ = [
    "max_attention_logit",
    "attention_logit_bound",
    "QKRecorder",
    "z_loss",
    "output_logit_stats",
    "lr_sensitivity",
]

_BLOCK_ELEMENTS = 1 << 24  # attention-logit entries materialised at once


def _as_tensor(x: npt.ArrayLike | torch.Tensor, name: str) -> torch.Tensor:
    t = as_tensor(x, name)
    if not t.is_floating_point():
        t = t.to(torch.float32)
    return t


def _check_finite(t: torch.Tensor, name: str) -> None:
    if t.numel() == 0:
        raise InputError(f"{name} must not be empty; got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{name} must be finite; found NaN or inf")


def _check_qk(q: npt.ArrayLike | torch.Tensor, k: npt.ArrayLike | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


def max_attention_logit(q: npt.ArrayLike | torch.Tensor, k: npt.ArrayLike | torch.Tensor, *,
                        mask: npt.ArrayLike | torch.Tensor | None = None, causal: bool = False, scale: float | None = None,
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


def attention_logit_bound(q: npt.ArrayLike | torch.Tensor, k: npt.ArrayLike | torch.Tensor, *, scale: float | None = None,
                          per_head: bool = False) -> float | torch.Tensor:
    """Cheap upper bound scale·max‖q‖·max‖k‖ on |attention logits|, O(B·H·T·d).

    Cauchy–Schwarz bound on :func:`max_attention_logit` with ``absolute=True`` and no
    mask; per head with ``per_head=True``. The norms are computed in float64 whatever
    the input dtype (the pass is cheap), so the bound is the same for the same values
    given in any float dtype; the per-head tensor is float64.
    """
    q, k = _check_qk(q, k)
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else check_positive(scale, "scale")
    qn = torch.linalg.vector_norm(q, dim=3, dtype=torch.float64).amax(dim=(0, 2))
    kn = torch.linalg.vector_norm(k, dim=3, dtype=torch.float64).amax(dim=(0, 2))
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
            assert self.k_module is not None  # checked in __init__
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


#: logits per chunk (the float32 temporaries of a chunk): on the CPU 2^18 (1 MiB of
#: float32, about a core's L2 cache, so the cast and the log-softmax output hardly reach
#: main memory; 2^17 paid more per-call overhead, 2^20 and the former 2^22 were slower on
#: bfloat16 logits), on an accelerator 2^26 (256 MiB of float32: about a dozen chunks and
#: eighty launches for a 16,384 x 50,257 batch, never a full-size float32 copy of half
#: logits)
_CPU_CHUNK = 1 << 18
_DEVICE_CHUNK = 1 << 26


def _row_chunks(rows: torch.Tensor) -> int:
    limit = _CPU_CHUNK if rows.device.type == "cpu" else _DEVICE_CHUNK
    return max(1, limit // max(1, rows.shape[1]))


def _partition(rows: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(log Z, min log-softmax) per row, in ``dtype``, chunk by chunk.

    log Z = max z − max log_softmax(z): the largest log-probability is −log S exactly. The
    smallest one is −inf when a logit is −inf, and NaN when one is NaN or +inf: the
    finiteness test rides on this pass (a log-probability below the float range, from
    logits ~1e38 apart, only sends the caller to the exact test). Per chunk: one read of
    the half logits for their maximum, the ``log_softmax`` kernel of the cross-entropy in
    ``dtype`` (for half logits a float32 cast of the chunk first), two row reductions of
    its output; the temporaries are one chunk."""
    n = rows.shape[0]
    log_z = torch.empty(n, dtype=dtype, device=rows.device)
    low = torch.empty(n, dtype=dtype, device=rows.device)
    step = _row_chunks(rows)
    scratch = None  # on the CPU the cast and its output go to buffers reused chunk after chunk
    # (fresh allocations each chunk fragmented the heap); elsewhere the caching allocator
    # reuses memory, and float16 keeps torch's fused half-to-float log_softmax (no cast pass)
    if rows.dtype != dtype and rows.device.type == "cpu":
        scratch = torch.empty(2, min(step, n), rows.shape[1], dtype=dtype, device=rows.device)
    for i in range(0, n, step):
        chunk = rows[i:i + step]
        if scratch is None:
            lsm = torch.log_softmax(chunk, dim=-1, dtype=dtype)
        else:
            m = chunk.shape[0]
            lsm = torch.log_softmax(scratch[0, :m].copy_(chunk), dim=-1, out=scratch[1, :m])
        if lsm.device.type == "cpu":  # two reductions: faster than aminmax on the CPU
            top = lsm.amax(dim=-1)
            torch.amin(lsm, dim=-1, out=low[i:i + step])
        else:  # one read of the chunk's output on an accelerator
            low[i:i + step], top = torch.aminmax(lsm, dim=-1)
        torch.sub(chunk.amax(dim=-1).to(dtype), top, out=log_z[i:i + step])
    return log_z, low


class _LogPartition(torch.autograd.Function):
    """log Z = max z − max log_softmax(z) per row, in ``dtype``, chunk by chunk
    (:func:`_partition`); the second output (the smallest log-probability per row, for
    the finiteness test) carries no gradient.

    The forward pass keeps only log Z (no (N, V) output is stored for the backward pass);
    the backward pass recomputes softmax(z) = exp(z − log Z) chunk by chunk:
    d log Z / dz = softmax(z)."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        log_z, low = _partition(rows, dtype)
        ctx.mark_non_differentiable(low)
        ctx.save_for_backward(rows, log_z)
        return log_z, low

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor, _grad_low: torch.Tensor | None) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        rows, log_z = ctx.saved_tensors
        step = _row_chunks(rows)
        out = torch.empty_like(rows)
        for i in range(0, rows.shape[0], step):
            p = torch.exp(rows[i:i + step].to(log_z.dtype) - log_z[i:i + step, None])
            out[i:i + step] = p * grad[i:i + step, None]
        return out, None


class _LogZ(NamedTuple):
    log_z: torch.Tensor      # log Z per row, gradient flowing to the logits
    low: torch.Tensor        # smallest log-probability per row (finiteness test), no gradient
    keep: torch.Tensor       # label is not ignore_index
    bad_label: torch.Tensor  # kept label outside [0, V), fractional or non-finite
    rows: torch.Tensor       # logits as (rows, V)


def _log_z(logits: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor | None,
           ignore_index: int) -> _LogZ:
    """log Z per row and the masks, with gradients flowing to ``logits``.

    log Z = max z − max log_softmax(z) = max z + log S, from the one ``log_softmax``
    kernel the cross-entropy runs, in the logits' dtype (float32 at least); its gradient
    is softmax(z). Rows whose label is ``ignore_index`` are masked, not removed, and bad
    labels are flagged on the device (no host read here).
    """
    z = logits if isinstance(logits, torch.Tensor) else as_tensor(logits, "logits")
    if z.ndim < 1 or z.shape[-1] == 0 or z.numel() == 0:
        raise InputError(f"logits must have a non-empty class dimension last (..., V); got shape {tuple(z.shape)}")
    if z.is_complex() or z.dtype == torch.bool:
        raise InputError(f"logits must hold real numbers; found dtype {z.dtype}")
    if not z.dtype.is_floating_point:
        z = z.to(torch.float32)
    rows = z.reshape(-1, z.shape[-1])
    dtype = torch.promote_types(rows.dtype, torch.float32)
    if rows.requires_grad and torch.is_grad_enabled():
        log_z, low = _LogPartition.apply(rows, dtype)  # max z + log S per row; gradient softmax(z)
    else:  # no autograd node: nothing saved
        log_z, low = _partition(rows, dtype)
    keep = torch.ones(rows.shape[0], dtype=torch.bool, device=rows.device)
    bad = torch.zeros_like(keep)
    if labels is not None:
        check_int(ignore_index, "ignore_index")
        raw = as_tensor(labels, "labels")
        y = label_vector(raw, tuple(z.shape[:-1]), rows.device, check_values=False)
        keep = y != ignore_index
        bad = keep & ((y < 0) | (y >= rows.shape[1]))
        if raw.dtype.is_floating_point:
            f = raw.reshape(-1).to(rows.device)
            bad = bad | ~(torch.isfinite(f) & (f == torch.round(f)))
    return _LogZ(log_z, low, keep, bad, rows)


def _checks(parts: _LogZ) -> torch.Tensor:
    """Device tensor, no host read: ``[bad labels, kept rows, all kept rows finite]``
    (NaN and +inf make log Z non-finite, -inf the smallest log-probability: no second
    pass over the logits)."""
    with torch.no_grad():
        ok = (torch.isfinite(parts.log_z) & torch.isfinite(parts.low)) | ~parts.keep
        return torch.stack([parts.bad_label.sum(), parts.keep.sum(), ok.all()])


def _raise_for(parts: _LogZ, checks: list[float], ignore_index: int) -> None:
    """After the one host read of :func:`_checks`: name what is wrong (only then are the
    inputs re-read)."""
    n_bad, n_kept, finite = checks
    if n_bad:
        i = int(torch.nonzero(parts.bad_label)[0, 0])
        raise InputError(f"labels must be integer classes in [0, {parts.rows.shape[1]}) or "
                         f"ignore_index={ignore_index}; element {i} is not")
    if n_kept == 0:
        raise InputError("logits must have at least one row whose label is not ignore_index")
    if not finite and not bool((torch.isfinite(parts.rows).all(dim=-1) | ~parts.keep).all()):
        raise InputError("logits must be finite; found NaN or inf")


def z_loss(logits: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor | None = None, *,
           coefficient: float = 1e-4, ignore_index: int = -100, validate_args: bool = True) -> torch.Tensor:
    """Auxiliary z-loss c·(log Z)², log Z = logsumexp of the output logits.

    Averaged over the rows whose label is not ``ignore_index``, like the cross-entropy
    it is added to (PaLM; Wortsman et al. 2023). Differentiable: its gradient is
    2c·log Z·softmax(logits).

    Computed in the logits' dtype, float32 at least (half logits go through the float32
    ``log_softmax`` kernel the cross-entropy uses; float32 numpy logits stay float32): it
    is a loss term, computed in the arithmetic of the loss it is added to, so float32
    logits give a value about 1e-8 relative from the float64 value of the same numbers.
    Labels must be integer classes in [0, V) or ``ignore_index``.

    Cost: one ``log_softmax`` and one row reduction, the work of one cross-entropy
    forward. ``validate_args=True`` (default) checks finiteness and that a row is left
    with one host read; ``False`` adds no host synchronisation (for use inside the loss).
    """
    check_positive(coefficient, "coefficient", allow_zero=True)
    parts = _log_z(logits, labels, ignore_index)
    if check_bool(validate_args, "validate_args"):
        _raise_for(parts, _checks(parts).tolist(), ignore_index)  # the one host read
    square = torch.where(parts.keep, parts.log_z.square(), 0.0)  # an ignored row may hold anything
    return coefficient * square.sum() / parts.keep.sum()


def output_logit_stats(logits: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor | None = None, *,
                       coefficient: float = 1e-4, ignore_index: int = -100) -> dict[str, float]:
    """Output-logit divergence signals: mean and min logit, mean and max |log Z|, z-loss.

    log Z per row is computed as in :func:`z_loss`, in the logits' dtype (float32 at
    least), so the logged z-loss is the one training adds; the sums over rows accumulate
    in float64. One host read. Labels as in :func:`z_loss`.
    """
    coefficient = check_positive(coefficient, "coefficient", allow_zero=True)
    with torch.no_grad():
        parts = _log_z(logits, labels, ignore_index)
        checks = _checks(parts)
        row_min = parts.rows.amin(dim=-1)
        log_z, keep, rows = parts.log_z, parts.keep, parts.rows
        n = keep.sum().to(torch.float64)
        lz = log_z.to(torch.float64)
        step = _row_chunks(rows)  # float64 row sums chunk by chunk: no full-size float64 copy
        row_sums = torch.cat([rows[i:i + step].sum(dim=-1, dtype=torch.float64) for i in range(0, rows.shape[0], step)])
        kept = lambda t: torch.where(keep, t, 0.0)  # noqa: E731  (an ignored row may hold anything)
        values = torch.cat([checks.to(torch.float64), torch.stack([
            kept(row_sums).sum() / (n * rows.shape[1]),
            torch.where(keep, row_min, math.inf).amin().to(torch.float64),
            kept(lz).sum() / n,
            kept(lz.abs()).amax(),
            coefficient * kept(lz.square()).sum() / n,
        ])]).tolist()  # the one host read
        _raise_for(parts, values[:3], ignore_index)
        stats = values[3:]
    return dict(zip(("mean_logit", "min_logit", "mean_log_z", "max_abs_log_z", "z_loss"), stats))


def lr_sensitivity(final_losses: npt.ArrayLike, *, initial_loss: float, lrs: npt.ArrayLike | None = None) -> float:
    """Learning-rate sensitivity of a sweep (Wortsman et al. 2023, Sec. 3.2).

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
