"""Softmax Collapse (SC), zero-loss and update-absorption fractions, NLM alignment.

Prieto, Barsbey, Mediano & Birdal, *Grokking at the Edge of Numerical Stability*,
ICLR 2025 (arXiv:2501.04697). Once a classifier fits its training set, the gradient
aligns with the *naive loss minimisation* (NLM) direction -- scaling the weights up,
which only scales the logits -- until float rounding makes the softmax saturate:
``sum_k exp(z_k - max z)`` rounds to exactly 1, the loss of a sample becomes exactly
0 and its gradient vanishes (Softmax Collapse), which stalls grokking.

Definitions (``dtype`` = the dtype the *loss* is computed in; half types accumulate
the sum in float32 and round once, as torch does):

- ``m = max_k z_k``, ``e_k = fl(exp(z_k - m))``, ``S = fl(sum_k e_k)``.
- label-free collapse (the authors' metric): ``S == 1``.
- label-relative collapse (the paper's): the per-sample CE
  ``(m - z_y) + log S`` is exactly 0 (``-0`` counts) ⇔ ``S == 1`` and ``z_y == m``;
  then ``p_y == 1`` and the correct-class gradient ``p_y - 1`` is 0.

``1 + x`` rounds to 1 iff ``x < 2^-p`` (p = significand bits), so a single competitor
is absorbed beyond a gap of 36.74 (float64), 16.64 (float32), 7.62 (float16), 5.55
(bfloat16). With several competitors the *sum* decides, so we compute the sum and
never compare with a gap constant (the paper's ``2^-23`` for float32 is off by a
factor of 2). Rows absorbed term by term but not in total depend on the summation
order, so bit equality across devices is not guaranteed for them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from diagnostics._params import named_tensors
from diagnostics.monitors import Monitor, MonitorAlert
from metrics.core.errors import InputError
from metrics.core.report import Report
from metrics.core.validation import check_int, check_option, check_positive, to_numpy

__all__ = [
    "softmax_collapse_fraction",
    "softmax_collapse_report",
    "SoftmaxCollapseReport",
    "zero_loss_fraction",
    "update_absorption_fraction",
    "nlm_alignment",
    "nlm_logit_alignment",
    "AlignmentResult",
    "TensorAlignment",
    "SoftmaxCollapseMonitor",
    "CollapseDetected",
]

_FLOAT_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
_HALF = (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------------------
# input coercion
# ---------------------------------------------------------------------------------
def _check_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    if dtype not in _FLOAT_DTYPES:
        raise InputError(f"{name} must be one of torch.float64, torch.float32, torch.float16, "
                         f"torch.bfloat16; got {dtype!r}")
    return dtype


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    """A torch tensor view of ``x`` (tensors stay on their device, never copied here)."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.is_complex():
            raise InputError(f"{name} must be real-valued; got a complex tensor")
        return t
    return torch.as_tensor(to_numpy(x, name))


def _logit_rows(logits: Any, name: str = "logits") -> torch.Tensor:
    z = _as_tensor(logits, name)
    if z.ndim < 1:
        raise InputError(f"{name} must have a class dimension (..., C); got a scalar")
    if not (z.dtype.is_floating_point or z.dtype in (torch.int8, torch.int16, torch.int32, torch.int64,
                                                     torch.uint8, torch.bool)):
        raise InputError(f"{name} must hold numbers; found dtype {z.dtype}")
    if z.numel() == 0:
        raise InputError(f"{name} must not be empty; got shape {tuple(z.shape)}")
    if z.ndim == 1:
        z = z.unsqueeze(0)
    z = z.reshape(-1, z.shape[-1])
    return z


def _label_rows(labels: Any, n_rows: int, n_classes: int, ignore_index: int, device) -> torch.Tensor:
    y = _as_tensor(labels, "labels")
    if y.dtype.is_floating_point:
        if not bool(torch.all(torch.isfinite(y) & (y == torch.round(y)))):
            raise InputError("labels must be integer class labels; found a fractional or non-finite value")
    elif y.dtype == torch.bool or y.dtype.is_complex:
        raise InputError(f"labels must be integer class labels; found dtype {y.dtype}")
    y = y.reshape(-1).to(device=device, dtype=torch.int64)
    if y.numel() != n_rows:
        raise InputError(f"labels must have one entry per logit row; logits have {n_rows} rows, "
                         f"labels have {y.numel()}")
    bad = (y != ignore_index) & ((y < 0) | (y >= n_classes))
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        raise InputError(f"labels must be in [0, {n_classes}) or ignore_index={ignore_index}; "
                         f"element {i} is {int(y[i])}")
    return y


def _check_finite(z: torch.Tensor, name: str, dtype: torch.dtype) -> None:
    finite = torch.isfinite(z)
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0, 0])
        raise InputError(f"{name} must be finite in {str(dtype).replace('torch.', '')}; row {i} holds "
                         f"{float(z[i][~finite[i]][0])}")


# ---------------------------------------------------------------------------------
# the one SC computation
# ---------------------------------------------------------------------------------
def _sc_chunk(z: torch.Tensor, y: torch.Tensor | None, dtype: torch.dtype, m: torch.Tensor | None = None):
    """Per-row ``(S, loss or None, p_y or None)`` for a chunk already cast to ``dtype``;
    ``m`` is the row max when already known."""
    m = (z.max(dim=-1).values if m is None else m).unsqueeze(1)
    e = z - m
    e.exp_()  # in place on our own temporary
    if dtype in _HALF:  # torch accumulates half sums in float32 and rounds once
        s = torch.sum(e, dim=-1, dtype=torch.float32).to(dtype)
    else:
        s = torch.sum(e, dim=-1)
    if y is None:
        return s, None, None
    zy = z.gather(1, y.unsqueeze(1)).squeeze(1)
    # (m - z_y) >= 0 and log S >= 0: the rounded sum is 0 iff both are 0.
    loss = (m.squeeze(1) - zy) + torch.log(s)
    p_y = e.gather(1, y.unsqueeze(1)).squeeze(1) / s
    return s, loss, p_y


def _prepare(logits, labels, dtype, ignore_index, *, skip_nonfinite: bool):
    dtype = _check_dtype(dtype)
    ignore_index = check_int(ignore_index, "ignore_index")
    z = _logit_rows(logits)
    y = None
    if labels is not None:
        y = _label_rows(labels, z.shape[0], z.shape[1], ignore_index, z.device)
        keep = y != ignore_index
        if not bool(keep.all()):
            z, y = z[keep], y[keep]
        if z.shape[0] == 0:
            raise InputError(f"labels are all ignore_index={ignore_index}; no rows left to score")
    z = z.to(dtype)  # a new tensor unless already in dtype; never modified in place below
    hi = z.amax(dim=-1)  # the row max, needed anyway
    # NaN / ±inf make the total non-finite; a finite total proves every logit finite
    # (the cheap test; an overflowing total only sends us to the exact per-row test)
    total = z.sum(dtype=torch.float32) if z.dtype in _HALF else z.sum()
    n_nonfinite = 0
    if not bool(torch.isfinite(total)):
        finite = torch.isfinite(z).all(dim=-1)
        n_nonfinite = int((~finite).sum())
        if n_nonfinite:
            if not skip_nonfinite:
                _check_finite(z, "logits", dtype)
            z, hi = z[finite], hi[finite]
            y = y[finite] if y is not None else None
    return z, y, hi, n_nonfinite


@dataclasses.dataclass(frozen=True)
class SoftmaxCollapseReport(Report):
    """Per-row Softmax Collapse tests (see :func:`softmax_collapse_report`).

    Arrays have one entry per kept row (``ignore_index`` rows dropped). Label-relative
    fields are ``None`` without labels.
    """

    dtype: str
    sum_exp: np.ndarray
    collapsed: np.ndarray
    loss: np.ndarray | None
    loss_zero: np.ndarray | None
    p_true_is_one: np.ndarray | None
    true_grad_zero: np.ndarray | None
    collapse_fraction: float
    zero_loss_fraction: float | None

    def to_frame(self):
        import pandas as pd

        cols = {"sum_exp": self.sum_exp, "collapsed": self.collapsed}
        for k in ("loss", "loss_zero", "p_true_is_one", "true_grad_zero"):
            if getattr(self, k) is not None:
                cols[k] = getattr(self, k)
        return pd.DataFrame(cols)


def softmax_collapse_report(logits: Any, labels: Any = None, *, dtype: torch.dtype = torch.float32,
                            ignore_index: int = -100, chunk_rows: int = 8192) -> SoftmaxCollapseReport:
    """Per-row Softmax Collapse tests in ``dtype``.

    For each row z (logits ``(..., C)`` are flattened to rows) computed in ``dtype``:
    ``sum_exp`` = S = Σ_k fl(exp(z_k − max z)) (half types: float32 accumulation, one
    rounding); ``collapsed`` = (S == 1); with labels, ``loss`` = −log_softmax(z)[y] =
    (max z − z_y) + log S, ``loss_zero`` = (loss == 0), ``p_true_is_one`` = (e_y / S ==
    1) and ``true_grad_zero`` = (p_y − 1 == 0). The four label-relative tests agree by
    construction (Prieto et al. 2025, Sec. 3).

    Parameters
    ----------
    logits : array-like (..., C)
    labels : array-like (...), optional
        Integer classes; entries equal to ``ignore_index`` drop their row.
    dtype : torch dtype
        The dtype the loss uses (float64, float32, float16, bfloat16).
    chunk_rows : int
        Rows processed at once (bounds memory).

    Raises
    ------
    InputError
        Empty input, non-finite logits (after casting to ``dtype``), labels of the wrong
        length or outside ``[0, C)``, all rows ignored.
    """
    chunk_rows = check_int(chunk_rows, "chunk_rows", min_value=1)
    z, y, m, _ = _prepare(logits, labels, dtype, ignore_index, skip_nonfinite=False)
    parts = [_sc_chunk(z[i:i + chunk_rows], None if y is None else y[i:i + chunk_rows], dtype,
                       m[i:i + chunk_rows]) for i in range(0, z.shape[0], chunk_rows)]
    s = torch.cat([p[0] for p in parts])
    f64 = lambda t: t.to(torch.float64).cpu().numpy()  # noqa: E731 - exact widening
    collapsed = (s == 1).cpu().numpy()
    if y is None:
        return SoftmaxCollapseReport(str(dtype).replace("torch.", ""), f64(s), collapsed, None, None, None,
                                     None, float(collapsed.mean()), None)
    loss = torch.cat([p[1] for p in parts])
    p_y = torch.cat([p[2] for p in parts])
    loss_zero = (loss == 0).cpu().numpy()
    return SoftmaxCollapseReport(
        str(dtype).replace("torch.", ""), f64(s), collapsed, f64(loss), loss_zero,
        (p_y == 1).cpu().numpy(), ((p_y - 1) == 0).cpu().numpy(),
        float(collapsed.mean()), float(loss_zero.mean()))


def _collapse_counts(z: torch.Tensor, y: torch.Tensor | None, m: torch.Tensor, dtype: torch.dtype,
                     chunk_rows: int) -> int:
    n = 0
    for i in range(0, z.shape[0], chunk_rows):
        s, loss, _ = _sc_chunk(z[i:i + chunk_rows], None if y is None else y[i:i + chunk_rows], dtype,
                               m[i:i + chunk_rows])
        n += int(((s == 1) if loss is None else (loss == 0)).sum())
    return n


def softmax_collapse_fraction(logits: Any, labels: Any = None, *, dtype: torch.dtype = torch.float32,
                              ignore_index: int = -100, chunk_rows: int = 8192) -> float:
    """Fraction of rows in Softmax Collapse when the loss is computed in ``dtype``.

    Without ``labels``: the label-free test of the authors' code, S = Σ_k fl(exp(z_k −
    max z)) == 1. With ``labels``: the paper's label-relative test, the per-sample
    cross-entropy is exactly 0 (S == 1 and z_y == max z). See
    :func:`softmax_collapse_report` for the per-row values and the exact definitions.
    Cost O(N·C), in chunks of ``chunk_rows`` rows.

    Examples
    --------
    >>> softmax_collapse_fraction([[3.0, 21.5, 0.0]])                  # float32
    1.0
    >>> softmax_collapse_fraction([[3.0, 21.5, 0.0]], dtype=torch.float64)
    0.0
    """
    chunk_rows = check_int(chunk_rows, "chunk_rows", min_value=1)
    z, y, m, _ = _prepare(logits, labels, dtype, ignore_index, skip_nonfinite=False)
    return _collapse_counts(z, y, m, dtype, chunk_rows) / z.shape[0]


def _default_ce(dtype: torch.dtype):
    def loss_fn(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _sc_chunk(z.to(dtype), y, dtype)[1]  # the same formula as the SC test
    return loss_fn


def zero_loss_fraction(losses_or_logits: Any, labels: Any = None, *,
                       loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                       dtype: torch.dtype = torch.float32, ignore_index: int = -100) -> float:
    """Fraction of samples whose loss is exactly 0 (these give no gradient).

    Without ``labels`` the input is a 1-D array of per-sample losses. With ``labels``
    the input is logits ``(..., C)`` and the per-sample losses are
    ``loss_fn(logits_rows, labels)`` (``reduction="none"``); the default is softmax
    cross-entropy in ``dtype``, i.e. the label-relative collapse test. Rows labelled
    ``ignore_index`` are dropped before ``loss_fn`` is called.
    """
    dtype = _check_dtype(dtype)
    if labels is None:
        if loss_fn is not None:
            raise InputError("loss_fn needs labels; pass logits and labels, or per-sample losses alone")
        t = _as_tensor(losses_or_logits, "losses")
        if t.ndim != 1 or t.numel() == 0:
            raise InputError(f"losses must be a non-empty 1-D array of per-sample losses; got shape {tuple(t.shape)}")
        if not t.dtype.is_floating_point:
            t = t.to(torch.float64)
        if not bool(torch.isfinite(t).all()):
            i = int(torch.nonzero(~torch.isfinite(t))[0, 0])
            raise InputError(f"losses must be finite; element {i} is {float(t[i])}")
        return float((t == 0).sum()) / t.numel()
    if loss_fn is None:
        z, y, m, _ = _prepare(losses_or_logits, labels, dtype, ignore_index, skip_nonfinite=False)
        return _collapse_counts(z, y, m, dtype, 8192) / z.shape[0]
    if not callable(loss_fn):
        raise InputError(f"loss_fn must be callable; got {loss_fn!r}")
    z = _logit_rows(losses_or_logits)
    y = _label_rows(labels, z.shape[0], z.shape[1], check_int(ignore_index, "ignore_index"), z.device)
    keep = y != ignore_index
    z, y = z[keep], y[keep]
    if z.shape[0] == 0:
        raise InputError(f"labels are all ignore_index={ignore_index}; no rows left to score")
    with torch.no_grad():
        losses = torch.as_tensor(loss_fn(z, y)).reshape(-1)
    if losses.numel() != z.shape[0]:
        raise InputError(f"loss_fn must return one loss per row (reduction='none'); got {losses.numel()} "
                         f"values for {z.shape[0]} rows")
    return float((losses == 0).sum()) / losses.numel()


# ---------------------------------------------------------------------------------
# parameters / gradients as named tensors
# ---------------------------------------------------------------------------------
def update_absorption_fraction(weights: Any, grads: Any, *, lr: float) -> float:
    """Fraction of non-zero gradient entries whose SGD update is absorbed by rounding.

    #{g ≠ 0 : fl(w − lr·g) == w in w's dtype} / #{g ≠ 0} (Prieto et al. 2025, App. C;
    the denominator is ours). ``weights`` and ``grads`` are tensors, mappings or
    sequences with the same names and shapes (``grads=None`` entries are skipped).
    """
    lr = check_positive(lr, "lr")
    ws = named_tensors(weights, "weights")
    gs = named_tensors(grads, "grads")
    if set(ws) != set(gs):
        raise InputError(f"grads must have the same names as weights; weights {sorted(ws)}, grads {sorted(gs)}")
    absorbed = nonzero = 0
    for k, w in ws.items():
        g = gs[k]
        if g is None or w is None:
            continue
        if g.shape != w.shape:
            raise InputError(f"grads[{k!r}] must have the shape of its weight {tuple(w.shape)}; got {tuple(g.shape)}")
        w = w.detach()
        g = g.detach().to(device=w.device, dtype=w.dtype if w.dtype.is_floating_point else torch.float64)
        if not bool(torch.isfinite(g).all()):
            raise InputError(f"grads[{k!r}] must be finite")
        nz = g != 0
        nonzero += int(nz.sum())
        absorbed += int(((w - lr * g) == w)[nz].sum())
    if nonzero == 0:
        raise InputError("grads must have at least one non-zero entry; the absorption fraction is undefined")
    return absorbed / nonzero


@dataclasses.dataclass(frozen=True)
class TensorAlignment:
    """NLM alignment of one tensor: ``cos`` = ⟨d, w⟩/(‖d‖‖w‖), ``dot`` = ⟨d, w⟩, where
    d = −g (``kind="gradient"``) or d = Δθ (``kind="update"``); ``cos`` is ``None`` when a
    norm is 0."""

    cos: float | None
    dot: float
    grad_norm: float
    weight_norm: float


@dataclasses.dataclass(frozen=True)
class AlignmentResult(Report):
    """Per-tensor and global NLM alignment (see :func:`nlm_alignment`)."""

    per_tensor: dict[str, TensorAlignment]
    global_cos: float | None
    global_grad_norm: float
    global_weight_norm: float
    skipped: tuple[str, ...] = ()
    kind: str = "gradient"

    def to_frame(self):
        import pandas as pd

        rows = [{"tensor": k, **dataclasses.asdict(v)} for k, v in self.per_tensor.items()]
        rows.append({"tensor": "(global)", "cos": self.global_cos, "dot": None,
                     "grad_norm": self.global_grad_norm, "weight_norm": self.global_weight_norm})
        return pd.DataFrame(rows)


def _cos(dot: float, a: float, b: float) -> float | None:
    if a == 0 or b == 0:
        return None
    return max(-1.0, min(1.0, dot / (math.sqrt(a) * math.sqrt(b))))


_F64 = torch.float64
_CHUNK = 1 << 15  # elements converted to float64 at once: the copies stay in cache
_SMALL = 1 << 12  # tensors up to this size are stacked with same-sized ones


def _three_sums(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> list[list[float]]:
    """Float64 (w·w, w·g, g·g) per (w, g) pair, with one host sync at the end."""
    order, blocks = [], []
    small = {}
    for i, (w, g) in enumerate(pairs):
        a, b = w.reshape(-1), g.reshape(-1)
        n = a.numel()
        if n <= _SMALL:
            small.setdefault((n, a.device), []).append((i, a, b))
            continue
        x = torch.empty(min(n, _CHUNK), dtype=_F64, device=a.device)
        y = torch.empty_like(x)
        parts = []
        for s in range(0, n, _CHUNK):
            k = min(_CHUNK, n - s)
            xs, ys = x[:k], y[:k]
            xs.copy_(a[s:s + k])
            ys.copy_(b[s:s + k])
            parts += [torch.dot(xs, xs), torch.dot(xs, ys), torch.dot(ys, ys)]
        sums = torch.stack(parts)
        order.append(i)
        blocks.append(sums.view(-1, 3).sum(0, keepdim=True))
    for (n, dev), items in small.items():
        k = max(1, (_CHUNK // max(n, 1)))
        for j in range(0, len(items), k):
            batch = items[j:j + k]
            X = torch.stack([t[1] for t in batch]).to(_F64)
            Y = torch.stack([t[2] for t in batch]).to(_F64)
            sums = torch.stack([(X * X).sum(1), (X * Y).sum(1), (Y * Y).sum(1)], 1)
            order += [t[0] for t in batch]
            blocks.append(sums)
    if len({b.device for b in blocks}) > 1:
        blocks = [b.cpu() for b in blocks]
    rows = torch.cat(blocks).tolist()  # the one host sync
    out = [None] * len(pairs)
    for i, r in zip(order, rows):
        out[i] = r
    return out


def nlm_alignment(params: Any, grads: Any = None, *, kind: str = "gradient") -> AlignmentResult:
    """Cosine between the descent direction and the weights (naive loss minimisation).

    For a bias-free ReLU MLP (homogeneous of degree L in θ) that fits its training set,
    scaling θ up only scales the logits and lowers the CE: θ itself is the NLM
    direction (Prieto et al. 2025, Sec. 4). The signal, per tensor and over all tensors
    concatenated, is

        cos(−∇_W L, W) = −⟨∇_W L, W⟩ / (‖∇_W L‖ ‖W‖)      (``kind="gradient"``)
        cos(Δθ, θ_t)                                          (``kind="update"``)

    so +1 means the step only scales the logits. ``params`` is a Module, a mapping or a
    sequence (names "0", "1", ...); ``grads`` alike, ``None`` → each ``p.grad`` (for
    ``kind="update"`` pass θ_t as ``params`` and Δθ = θ_{t+1} − θ_t as ``grads``).
    Three float64 sums per tensor (w·g, ‖g‖², ‖w‖²); tensors without a gradient are
    listed in ``.skipped``. Read gradients after AMP unscaling and the last
    micro-batch. Cost O(P).
    """
    kind = check_option(kind, "kind", ("gradient", "update"))
    ws = named_tensors(params, "params")
    if grads is None:
        if kind == "update":
            raise InputError("grads is required for kind='update' (pass Δθ = θ_{t+1} − θ_t)")
        gs = {k: (w.grad if isinstance(w, torch.Tensor) else None) for k, w in ws.items()}
    else:
        gs = named_tensors(grads, "grads")
        extra = set(gs) - set(ws)
        if extra:
            raise InputError(f"grads must name tensors of params; unknown {sorted(extra)}")
    if not ws:
        raise InputError("params must hold at least one tensor; got none")
    per: dict[str, TensorAlignment] = {}
    skipped = []
    names, pairs = [], []
    for k, w in ws.items():
        g = gs.get(k)
        if g is None:
            skipped.append(k)
            continue
        if g.shape != w.shape:
            raise InputError(f"grads[{k!r}] must have the shape of params[{k!r}] {tuple(w.shape)}; got {tuple(g.shape)}")
        names.append(k)
        pairs.append((w.detach(), g.detach().to(device=w.device)))
    tot_dot = tot_g = tot_w = 0.0
    sign = -1.0 if kind == "gradient" else 1.0
    # the three float64 sums of every tensor, exact float64 products, one host sync
    for k, (ww, wg, gg) in zip(names, _three_sums(pairs)):
        if not (math.isfinite(ww) and math.isfinite(gg)):  # NaN / inf entries propagate here
            raise InputError(f"params[{k!r}] and its gradient must be finite")
        dot = sign * wg
        per[k] = TensorAlignment(_cos(dot, gg, ww), dot, math.sqrt(gg), math.sqrt(ww))
        tot_dot += dot
        tot_g += gg
        tot_w += ww
    if not per:
        raise InputError("params have no gradients (every grad is None); run backward first or pass grads")
    return AlignmentResult(per, _cos(tot_dot, tot_g, tot_w), math.sqrt(tot_g), math.sqrt(tot_w),
                           tuple(skipped), kind)


def nlm_logit_alignment(logits: Any, logit_grads: Any) -> float | None:
    """cos(−∂L/∂Z, Z) over all logits (our extension of the NLM signal to logit space).

    For a bias-free network homogeneous of degree L, Euler's theorem gives
    ⟨θ, ∇_θ L⟩ = L·Σ_n ⟨z_n, ∂L/∂z_n⟩, so the numerators of the two cosines agree up to
    the factor L. Returns ``None`` when either norm is 0.
    """
    z = _as_tensor(logits, "logits").to(torch.float64).reshape(-1)
    g = _as_tensor(logit_grads, "logit_grads").to(device=z.device, dtype=torch.float64).reshape(-1)
    if z.numel() == 0:
        raise InputError("logits must not be empty")
    if g.numel() != z.numel():
        raise InputError(f"logit_grads must have the shape of logits; {z.numel()} vs {g.numel()} entries")
    if not (bool(torch.isfinite(z).all()) and bool(torch.isfinite(g).all())):
        raise InputError("logits and logit_grads must be finite")
    return _cos(-float(torch.dot(z, g)), float(torch.dot(g, g)), float(torch.dot(z, z)))


# ---------------------------------------------------------------------------------
# the monitor
# ---------------------------------------------------------------------------------
class CollapseDetected(MonitorAlert):
    """Raised by :class:`SoftmaxCollapseMonitor` with ``on_alert="raise"`` when the
    collapse fraction passes ``onset_threshold``."""


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
    ``nlm_cos``
        global cos(−∇L, θ) of ``model`` (:func:`nlm_alignment`; only with a model
        whose parameters have gradients);
    ``rows``, ``nonfinite_rows``
        rows scored and rows skipped because a logit is not finite in ``dtype``.

    ``collapse_fraction`` above ``onset_threshold`` warns (``on_alert="warn"``), raises
    :class:`CollapseDetected` (``"raise"``) or is only recorded (``"ignore"``);
    ``onset_step`` is the first logged step above it. The paper measures SC on the full
    training set in eval mode; the training batch's logits are the cheap proxy.

    Cost per logged step: one pass over the logits (O(N·C), no backward) and one pass
    over the parameters (O(P)); measured on the reference grokking task in
    ``docs/diagnostics.md``.

    Parameters
    ----------
    every_n_steps : int
    dtype : torch dtype
        The dtype the loss is computed in.
    onset_threshold : float in [0, 1]
    chunk_rows : int
        Rows per chunk of the logit pass.
    on_alert : {"warn", "raise", "ignore"}
    log_fn : callable, optional
    """

    name = "softmax_collapse"

    def __init__(self, every_n_steps: int = 100, dtype: torch.dtype = torch.float32,
                 onset_threshold: float = 0.5, chunk_rows: int = 8192, *, on_alert: str = "warn",
                 ignore_index: int = -100, log_fn: Callable[[dict[str, Any]], Any] | None = None):
        from metrics.core.validation import check_fraction

        self.dtype = _check_dtype(dtype)
        self.onset_threshold = check_fraction(onset_threshold, "onset_threshold", closed=True)
        self.chunk_rows = check_int(chunk_rows, "chunk_rows", min_value=1)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        super().__init__(every_n_steps=every_n_steps,
                         thresholds={"collapse_fraction": (">", self.onset_threshold)},
                         on_alert=on_alert, log_fn=log_fn)

    def reset(self) -> None:
        super().reset()
        self._stashed_nlm: tuple[int, float | None] | None = None

    @property
    def onset_step(self) -> int | None:
        """First logged step whose ``collapse_fraction`` exceeded ``onset_threshold``."""
        for r in self.history:
            if r.get("collapse_fraction") is not None and r["collapse_fraction"] > self.onset_threshold:
                return r["step"]
        return None

    def _nlm(self, model: Any) -> float | None:
        try:
            return nlm_alignment(model).global_cos
        except InputError:  # no gradients yet
            return None

    def on_before_optimizer_step(self, step: int | None = None, model: Any = None, **_: Any) -> None:
        """Adapters call this before the optimizer step: stash cos(−∇L, θ) of this step."""
        if model is not None:
            self._stashed_nlm = (step, self._nlm(model))

    def compute(self, *, logits: Any, labels: Any = None, model: Any = None) -> dict[str, Any]:
        z, y, m, n_bad = _prepare(logits, labels, self.dtype, self.ignore_index, skip_nonfinite=True)
        rows = int(z.shape[0])
        record: dict[str, Any] = {"collapse_fraction": None, "zero_loss_fraction": None, "nlm_cos": None,
                                  "rows": rows, "nonfinite_rows": n_bad}
        if rows:
            with torch.no_grad():
                counts = []
                for i in range(0, rows, self.chunk_rows):
                    m_i = m[i:i + self.chunk_rows]
                    s, _, _ = _sc_chunk(z[i:i + self.chunk_rows], None, self.dtype, m_i)
                    free = s == 1
                    counts.append(free.sum())
                    if y is not None:
                        # loss = (m − z_y) + log S with both terms ≥ 0, so loss == 0 ⇔ S == 1
                        # and z_y == m: the label-relative test from the same pass, no log
                        zy = z[i:i + self.chunk_rows].gather(1, y[i:i + self.chunk_rows].unsqueeze(1))
                        counts.append((free & (zy.squeeze(1) == m_i)).sum())
                counts = torch.stack(counts).view(-1, 1 if y is None else 2).sum(0).tolist()  # one sync
            record["collapse_fraction"] = counts[0] / rows
            if y is not None:
                record["zero_loss_fraction"] = counts[1] / rows
        stash, self._stashed_nlm = self._stashed_nlm, None
        if stash is not None and stash[0] == self._counter - 1:
            record["nlm_cos"] = stash[1]
        elif model is not None:
            record["nlm_cos"] = self._nlm(model)
        return record

    def _check_thresholds(self, record: dict[str, Any]) -> None:
        try:
            super()._check_thresholds(record)
        except MonitorAlert as alert:
            if isinstance(alert, CollapseDetected):
                raise
            raise CollapseDetected(str(alert), monitor=alert.monitor, step=alert.step, key=alert.key,
                                   value=alert.value, threshold=alert.threshold, record=alert.record) from None
