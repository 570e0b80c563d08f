"""Gradient conflict and the plasticity / stability decomposition.

* **Gradient conflict** between two losses on shared parameters (e.g. cross-entropy and
  logit distillation, which conflict in the head, not the backbone; Yang et al., DHKD,
  arXiv:2411.08937): inner product, cosine and norms of the two gradients per tensor,
  per group of tensors and over all of them.
* **Plasticity / stability** decomposition of the stability gap (De Lange, van de Ven &
  Tuytelaars, ICLR 2023, arXiv:2205.13452): the gradient of the new-task term against
  that of the replay term.

All inner products and norms are accumulated in float64.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from diagnostics._params import named_tensors, pair_sums
from diagnostics.nlm import _Sums, tensor_sums
from metrics.core.errors import InputError
from metrics.core.report import Report

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["AlignmentRecord", "ConflictResult", "PlasticityStabilityResult", "gradient_cosine",
           "plasticity_stability"]

GradientsLike = torch.Tensor | Mapping[str, torch.Tensor] | Sequence[torch.Tensor]
ParamsLike = torch.nn.Module | Mapping[str, torch.Tensor] | Sequence[torch.Tensor]

# ---------------------------------------------------------------------------------------------

def _loss_gradients(loss: object, params: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
        raise InputError(f"{name} must be a scalar loss tensor that requires grad (or a mapping of gradients)")
    grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
    return {n: (torch.zeros_like(p) if g is None else g) for (n, p), g in zip(params.items(), grads)}


def _as_gradients(value: object, params: dict[str, torch.Tensor] | None, name: str) -> dict[str, torch.Tensor]:
    """A loss (differentiated w.r.t. ``params``) or a gradient mapping/sequence/array, as
    detached tensors of their own dtype."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.requires_grad:
        if params is None:
            raise InputError(f"params is required when {name} is a loss tensor")
        grads = _loss_gradients(value, params, name)
    else:
        named = named_tensors(value, name)
        missing_grad = [n for n, g in named.items() if g is None]
        if missing_grad:
            raise InputError(f"{name} has no gradient (None) for {missing_grad[:5]}")
        grads = {n: g for n, g in named.items() if g is not None}
        if params is not None:
            missing = [n for n in params if n not in grads]
            if missing:
                raise InputError(f"{name} has no gradient for parameter(s) {missing[:5]}")
            grads = {n: grads[n] for n in params}
    for n, g in grads.items():
        if params is not None and g.shape != params[n].shape:
            raise InputError(f"{name}[{n!r}] has shape {tuple(g.shape)}, but the parameter has "
                             f"{tuple(params[n].shape)}")
    return {n: g.detach() for n, g in grads.items()}


def _trainable(params: ParamsLike) -> dict[str, torch.Tensor]:
    """The parameters that require grad (frozen tensors are skipped: they have no gradient)."""
    named = {k: v for k, v in named_tensors(params, "params", trainable_only=True).items() if v is not None}
    if not named:
        raise InputError("params must hold at least one tensor that requires grad; every one is frozen")
    return named


@dataclasses.dataclass(frozen=True)
class AlignmentRecord:
    """Inner product, cosine (None when a norm is 0), norms and conflict flag of two gradients."""

    inner: float
    cos: float | None
    norm_a: float
    norm_b: float
    conflict: bool

    @staticmethod
    def from_sums(inner: float, sq_a: float, sq_b: float) -> AlignmentRecord:
        na, nb = math.sqrt(sq_a), math.sqrt(sq_b)
        cos = inner / (na * nb) if na > 0 and nb > 0 else None
        return AlignmentRecord(inner=inner, cos=cos, norm_a=na, norm_b=nb, conflict=inner < 0)


@dataclasses.dataclass(frozen=True)
class ConflictResult(Report):
    """Alignment of two gradients per tensor, per group and over all tensors."""

    per_tensor: dict[str, AlignmentRecord]
    per_group: dict[str, AlignmentRecord]
    global_inner: float
    global_cos: float | None
    global_norm_a: float
    global_norm_b: float
    global_conflict: bool

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [{"scope": "tensor", "name": n, **dataclasses.asdict(r)} for n, r in self.per_tensor.items()]
        rows += [{"scope": "group", "name": n, **dataclasses.asdict(r)} for n, r in self.per_group.items()]
        rows.append({"scope": "global", "name": "all", "inner": self.global_inner, "cos": self.global_cos,
                     "norm_a": self.global_norm_a, "norm_b": self.global_norm_b, "conflict": self.global_conflict})
        return pd.DataFrame(rows)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Cosine of the two gradients per group (or per tensor without groups) and globally;
        conflicting entries (inner < 0) in red."""
        import matplotlib.pyplot as plt

        records = dict(self.per_group or self.per_tensor)
        names = ["(global)", *records]
        cos = [self.global_cos, *(r.cos for r in records.values())]
        conflict = [self.global_conflict, *(r.conflict for r in records.values())]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.6 + 0.3 * len(names)))
        y = list(range(len(names)))[::-1]
        ax.barh(y, [math.nan if c is None else c for c in cos],
                color=["tab:red" if c else "tab:blue" for c in conflict])
        ax.set_yticks(y, names, fontsize=8)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel("cos(g_a, g_b)   (red: conflict, inner product < 0)")
        ax.set_title("Gradient alignment")
        return ax


@dataclasses.dataclass(frozen=True)
class PlasticityStabilityResult(ConflictResult):
    """:class:`ConflictResult` of (plastic, stable) gradients plus ‖g_S‖/(‖g_P‖ + ‖g_S‖)."""

    share_stable: float | None = None


def _record(parts: list[_Sums]) -> AlignmentRecord:
    """The record of several tensors' scale-separated sums (one tensor: its own record).

    Each tensor's sums carry their scale factors (⟨a, b⟩ = dot·sa·sb, ‖a‖ = na·sa), so
    magnitudes whose squares leave the float64 range (1e±200) keep an exact cosine."""
    big_a = max((p.sw for p in parts), default=1.0)
    big_b = max((p.sg for p in parts), default=1.0)
    dot = sq_a = sq_b = 0.0
    for p in parts:
        ra, rb = p.sw / big_a, p.sg / big_b
        dot += p.dot * ra * rb
        sq_a += (p.nw * ra) ** 2
        sq_b += (p.ng * rb) ** 2
    na, nb = math.sqrt(sq_a), math.sqrt(sq_b)
    cos = max(-1.0, min(1.0, dot / (na * nb))) if na > 0 and nb > 0 else None
    return AlignmentRecord(inner=dot * big_a * big_b, cos=cos, norm_a=na * big_a, norm_b=nb * big_b,
                           conflict=dot < 0)


def _alignment(ga: dict[str, torch.Tensor], gb: dict[str, torch.Tensor],
               groups: Mapping[str, Sequence[str]] | None, names: tuple[str, str]) -> dict[str, object]:
    """Per-tensor, per-group and global records: one fused float64 pass, one host read."""
    keys = list(ga)
    for n in keys:
        if ga[n].shape != gb[n].shape:
            a_name, b_name = names if keys == ["0"] else (f"{names[0]}[{n!r}]", f"{names[1]}[{n!r}]")
            raise InputError(f"{b_name} must have the shape of {a_name} {tuple(ga[n].shape)}; "
                             f"got {tuple(gb[n].shape)}")
    pairs = [(ga[n], gb[n]) for n in keys]
    sums = tensor_sums(pairs, pair_sums(pairs).tolist()) if pairs else []
    for n, s_, (a, _b) in zip(keys, sums, pairs):
        if s_ is None:
            arg = names[0] if not bool(torch.isfinite(a).all()) else names[1]
            raise InputError(f"{arg if keys == ['0'] else f'{arg}[{n!r}]'} must be finite; found NaN or inf")
    parts = dict(zip(keys, [s_ for s_ in sums if s_ is not None]))
    per_tensor = {n: _record([p]) for n, p in parts.items()}
    per_group = {}
    for group, members in (groups or {}).items():
        unknown = [n for n in members if n not in parts]
        if unknown:
            raise InputError(f"groups[{group!r}] names unknown parameter(s) {unknown[:5]}")
        per_group[group] = _record([parts[n] for n in members])
    total = _record(list(parts.values()))
    return dict(per_tensor=per_tensor, per_group=per_group, global_inner=total.inner, global_cos=total.cos,
                global_norm_a=total.norm_a, global_norm_b=total.norm_b, global_conflict=total.conflict)


def gradient_cosine(a: torch.Tensor | GradientsLike, b: torch.Tensor | GradientsLike, *,
                    params: ParamsLike | None = None,
                    groups: Mapping[str, Sequence[str]] | None = None) -> ConflictResult:
    """Gradient conflict of two objectives on shared parameters.

    Parameters
    ----------
    a, b : scalar loss tensors, or gradient mappings / sequences
        Losses are differentiated w.r.t. ``params`` (parameters a loss does not use get a
        zero gradient); gradient mappings are used as given.
    params : Module, mapping or sequence, optional
        Required with losses; with gradient mappings it selects and orders the tensors.
    groups : mapping of group name → parameter names, optional
        Adds per-group records (e.g. ``{"head": [...], "backbone": [...]}``).

    Returns
    -------
    ConflictResult
        inner ⟨g_a, g_b⟩, cos, ‖g_a‖, ‖g_b‖ and ``conflict = inner < 0`` per tensor, per
        group and globally (float64 sums).
    """
    named = _trainable(params) if params is not None else None
    ga, gb = _as_gradients(a, named, "a"), _as_gradients(b, named, "b")
    if ga.keys() != gb.keys():
        raise InputError("a and b must have gradients for the same parameters")
    return ConflictResult(**_alignment(ga, gb, groups, ("a", "b")))  # type: ignore[arg-type]


def plasticity_stability(loss_plastic: torch.Tensor | GradientsLike, loss_stable: torch.Tensor | GradientsLike,
                         params: ParamsLike, *,
                         groups: Mapping[str, Sequence[str]] | None = None) -> PlasticityStabilityResult:
    """Plasticity / stability decomposition of a continual-learning update.

    ``loss_plastic`` is the weighted new-task term (e.g. λ·CE(new)) and ``loss_stable`` the
    weighted retention term (e.g. (1 − λ)·CE(replay)). Returns the alignment records of
    g_P and g_S (a = plastic, b = stable) plus ``share_stable`` = ‖g_S‖/(‖g_P‖ + ‖g_S‖)
    (None when both are 0). Right after a task switch g_S ≈ 0: the update is all plasticity,
    which is when the stability gap opens.
    """
    named = _trainable(params)
    gp, gs = _as_gradients(loss_plastic, named, "loss_plastic"), _as_gradients(loss_stable, named, "loss_stable")
    fields = _alignment(gp, gs, groups, ("loss_plastic", "loss_stable"))
    na, nb = float(fields["global_norm_a"]), float(fields["global_norm_b"])  # type: ignore[arg-type]
    share: float | None = None
    if nb > 0:
        ratio = na / nb  # inf / inf (both norms overflow) leaves the share undefined
        share = None if math.isnan(ratio) else 1.0 / (1.0 + ratio)
    elif na > 0:
        share = 0.0
    return PlasticityStabilityResult(**fields, share_stable=share)  # type: ignore[arg-type]


