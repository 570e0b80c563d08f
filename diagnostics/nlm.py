"""NLM alignment: the cosine between the descent direction and the weights.

Prieto, Barsbey, Mediano & Birdal, *Grokking at the Edge of Numerical Stability*,
ICLR 2025 (arXiv:2501.04697), Sec. 4. A bias-free ReLU MLP is homogeneous of degree L
(its number of layers) in θ; once it fits its training set, scaling θ up only scales
the logits and lowers the cross-entropy, so θ itself is the *naive loss minimisation*
(NLM) direction. cos(−∇L, θ) → 1 announces Softmax Collapse.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy.typing as npt
import torch

from diagnostics._params import named_tensors, pair_sums
from diagnostics._tensors import as_tensor
from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.report import Report

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["nlm_alignment", "nlm_logit_alignment", "AlignmentResult", "TensorAlignment"]

TensorsLike = torch.nn.Module | torch.Tensor | Mapping[str, torch.Tensor | None] | Sequence[torch.Tensor | None]


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

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [{"tensor": k, **dataclasses.asdict(v)} for k, v in self.per_tensor.items()]
        rows.append({"tensor": "(global)", "cos": self.global_cos, "dot": None,
                     "grad_norm": self.global_grad_norm, "weight_norm": self.global_weight_norm})
        return pd.DataFrame(rows)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Horizontal bars of the per-tensor cosines, the global one on top."""
        import matplotlib.pyplot as plt

        names = ["(global)", *self.per_tensor]
        values = [self.global_cos, *(t.cos for t in self.per_tensor.values())]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.6 + 0.3 * len(names)))
        y = list(range(len(names)))[::-1]
        ax.barh(y, [math.nan if v is None else v for v in values],
                color=["tab:red"] + ["tab:blue"] * (len(names) - 1))
        ax.set_yticks(y, names, fontsize=8)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_xlim(-1.05, 1.05)
        what = "cos(−∇L, θ)" if self.kind == "gradient" else "cos(Δθ, θ)"
        ax.set_xlabel(f"{what}   (+1: the step only scales the logits)")
        ax.set_title("NLM alignment per tensor")
        return ax


def _cos(dot: float, a: float, b: float) -> float | None:
    if a == 0 or b == 0:
        return None
    return max(-1.0, min(1.0, dot / (a * b)))


@dataclasses.dataclass
class _Sums:
    """Sums of one tensor pair with the norms as separate scale factors:
    ⟨w, g⟩ = dot·sw·sg, ‖w‖ = nw·sw, ‖g‖ = ng·sg (scale 1 unless the squares overflow
    or underflow float64)."""

    sw: float
    sg: float
    dot: float
    nw: float
    ng: float

    def norm_w(self) -> float:
        return self.nw * self.sw

    def norm_g(self) -> float:
        return self.ng * self.sg


def _rescaled(w: torch.Tensor, g: torch.Tensor, maxw: float, maxg: float) -> _Sums:
    """Scale-safe sums of one pair: divide by the largest magnitudes first."""
    sw, sg = (maxw or 1.0), (maxg or 1.0)
    a = w.reshape(-1).to(torch.float64) / sw
    b = g.reshape(-1).to(device=a.device, dtype=torch.float64) / sg
    dot, ww, gg = torch.stack([a @ b, a @ a, b @ b]).tolist()
    return _Sums(sw, sg, dot, math.sqrt(ww), math.sqrt(gg))


_TINY = 1e-280  # squared norms below this lose digits to subnormal rounding


def _safe(square: float, largest: float) -> bool:
    """The unscaled squared norm is usable: finite, and not underflowed for a non-zero tensor."""
    return math.isfinite(square) and (largest == 0 or square > _TINY)


def tensor_sums(pairs: list[tuple[torch.Tensor, torch.Tensor]], sums: list[list[float]]) -> list[_Sums | None]:
    """Per pair, from the host copy of :func:`pair_sums`: the sums, rescaled where a square
    over- or underflowed; ``None`` for a pair holding NaN or inf."""
    out: list[_Sums | None] = []
    for (w, g), (ww, wg, gg, maxw, maxg) in zip(pairs, sums):
        wide = w.dtype == torch.float64 or g.dtype == torch.float64
        if not (math.isfinite(maxw) and math.isfinite(maxg)) or not (wide or math.isfinite(ww + wg + gg)):
            out.append(None)  # NaN or inf entries
        elif not wide or (_safe(ww, maxw) and _safe(gg, maxg)):
            out.append(_Sums(1.0, 1.0, wg, math.sqrt(ww), math.sqrt(gg)))
        else:
            out.append(_rescaled(w, g, maxw, maxg))
    return out


def combine(names: list[str], parts: list[_Sums], sign: float) -> tuple[dict[str, TensorAlignment], float | None,
                                                                      float, float]:
    """Per-tensor records and the global (cos, ‖g‖, ‖w‖) of scale-separated sums."""
    per: dict[str, TensorAlignment] = {}
    big_w = max((p.sw for p in parts), default=1.0)
    big_g = max((p.sg for p in parts), default=1.0)
    tot_dot = tot_w = tot_g = 0.0
    for k, p in zip(names, parts):
        rw, rg = p.sw / big_w, p.sg / big_g
        dot = sign * p.dot
        tot_dot += dot * rw * rg
        tot_w += (p.nw * rw) ** 2
        tot_g += (p.ng * rg) ** 2
        with_scale = dot * p.sw * p.sg
        if not math.isfinite(with_scale):
            raise InputError(f"the inner product of params[{k!r}] and its gradient is about "
                             f"{dot:.3g}e{math.log10(p.sw) + math.log10(p.sg):+.0f}, outside the float64 "
                             f"range; the cosine is {_cos(dot, p.nw, p.ng)}")
        per[k] = TensorAlignment(_cos(dot, p.nw, p.ng), with_scale, p.norm_g(), p.norm_w())
    nw, ng = math.sqrt(tot_w), math.sqrt(tot_g)
    return per, _cos(tot_dot, nw, ng), ng * big_g, nw * big_w


def alignment_pairs(params: TensorsLike, grads: TensorsLike | None, kind: str
                    ) -> tuple[list[str], list[tuple[torch.Tensor, torch.Tensor]], list[str]]:
    """(names, (w, g) pairs, skipped names) after checking names and shapes."""
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
    names, pairs, skipped = [], [], []
    for k, w in ws.items():
        g = gs.get(k)
        if g is None or w is None:
            skipped.append(k)
            continue
        if g.shape != w.shape:
            raise InputError(f"grads[{k!r}] must have the shape of params[{k!r}] {tuple(w.shape)}; "
                             f"got {tuple(g.shape)}")
        names.append(k)
        pairs.append((w.detach(), g.detach()))
    return names, pairs, skipped


@validate_options
def nlm_alignment(params: TensorsLike, grads: TensorsLike | None = None, *,
                  kind: Literal["gradient", "update"] = "gradient") -> AlignmentResult:
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
    Tensors without a gradient are listed in ``.skipped``. Read gradients after AMP
    unscaling and the last micro-batch.

    Three float64 sums per tensor (w·w, w·g, g·g; products of float32 or half values are
    exact in float64), computed on the parameters' device: weights and gradients are read
    once, cast slice by slice into a small float64 staging buffer (2 x 1 MiB on the CPU,
    2 x 64 MiB elsewhere) and reduced there by dot products (batched Gram products for
    runs of small tensors of equal size); no host-to-device copy, one host
    synchronisation to read the sums. Magnitudes whose squares leave the float64 range
    (1e200) are handled by rescaling. Cost O(P): one read of w and g.

    Raises
    ------
    InputError
        No tensor has a gradient (a fresh model: run ``backward()`` first or pass
        ``grads``), shapes differ, a tensor or gradient holds NaN or inf.
    """
    names, pairs, skipped = alignment_pairs(params, grads, kind)
    if not pairs:
        raise InputError("params have no gradients (every grad is None); run backward() first or pass grads")
    sums = tensor_sums(pairs, pair_sums(pairs).tolist())  # the one host synchronisation
    for k, s, (w, _g) in zip(names, sums, pairs):
        if s is None:
            which = f"params[{k!r}]" if not bool(torch.isfinite(w).all()) else f"the gradient of params[{k!r}]"
            raise InputError(f"{which} must be finite; found NaN or inf")
    per, cos, norm_g, norm_w = combine(names, [s for s in sums if s is not None],
                                       -1.0 if kind == "gradient" else 1.0)
    return AlignmentResult(per, cos, norm_g, norm_w, tuple(skipped), kind)


def nlm_logit_alignment(logits: npt.ArrayLike | torch.Tensor, logit_grads: npt.ArrayLike | torch.Tensor) -> float | None:
    """cos(−∂L/∂Z, Z) over all logits (our extension of the NLM signal to logit space).

    For a bias-free network homogeneous of degree L, Euler's theorem gives
    ⟨θ, ∇_θ L⟩ = L·Σ_n ⟨z_n, ∂L/∂z_n⟩, so the numerators of the two cosines agree up to
    the factor L. Returns ``None`` when either norm is 0.
    """
    z = as_tensor(logits, "logits")
    g = as_tensor(logit_grads, "logit_grads")
    if z.numel() == 0:
        raise InputError("logits must not be empty")
    if g.numel() != z.numel():
        raise InputError(f"logit_grads must have the shape of logits; {z.numel()} vs {g.numel()} entries")
    z = z.reshape(-1) if z.dtype.is_floating_point else z.reshape(-1).to(torch.float64)
    g = g.reshape(-1).to(z.device) if g.dtype.is_floating_point else g.reshape(-1).to(z.device, torch.float64)
    sums = tensor_sums([(z, g)], pair_sums([(z, g)]).tolist())
    if sums[0] is None:
        raise InputError("logits and logit_grads must be finite")
    s = sums[0]
    return _cos(-s.dot, s.nw, s.ng)
