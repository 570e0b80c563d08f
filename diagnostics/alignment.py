"""Gradient-alignment probes: entanglement of preference losses, conflict, plasticity/stability.

* **Gradient entanglement** (Yuan et al., "A Common Pitfall of Margin-based Language Model
  Alignment: Gradient Entanglement", arXiv:2410.13828). For a preference pair, let ĝ_w, ĝ_l be
  the gradients of the chosen / rejected response log-probabilities ℓ_w, ℓ_l. A margin loss has
  ∇L = −(c_w ĝ_w − c_l ĝ_l), so one SGD step of size η changes them by

      Δℓ_w ≈ η(c_w‖ĝ_w‖² − c_l⟨ĝ_w, ĝ_l⟩),   Δℓ_l ≈ η(c_w⟨ĝ_w, ĝ_l⟩ − c_l‖ĝ_l‖²).

  For c > 0 the chosen log-prob rises iff ⟨⟩ < (c_w/c_l)‖ĝ_w‖², and the rejected one falls iff
  ⟨⟩ < (c_l/c_w)‖ĝ_l‖²; with equal coefficients both move as intended iff
  ⟨⟩ / min(‖ĝ_w‖², ‖ĝ_l‖²) < 1.
* **Gradient conflict** between two losses on shared parameters (e.g. cross-entropy and logit
  distillation, which conflict in the head, not the backbone; DHKD, arXiv:2411.08937).
* **Plasticity / stability** decomposition of the stability gap (De Lange et al., 2023): the
  gradient of the new-task term against that of the replay term.

All inner products and norms are accumulated in float64, per tensor, per group and globally.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from diagnostics._params import named_tensors
from diagnostics.monitors import Monitor
from metrics.core.errors import InputError
from metrics.core.report import Report
from metrics.core.validation import check_bool, check_option, check_positive

__all__ = [
    "AlignmentRecord",
    "ConflictResult",
    "PlasticityStabilityResult",
    "gradient_cosine",
    "plasticity_stability",
    "sequence_logps",
    "preference_coefficients",
    "EntanglementPair",
    "EntanglementReport",
    "gradient_entanglement",
    "GradientAlignmentMonitor",
]


# ---------------------------------------------------------------------------------------------
# parameters and gradients
# ---------------------------------------------------------------------------------------------

def _loss_gradients(loss: Any, params: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
        raise InputError(f"{name} must be a scalar loss tensor that requires grad (or a mapping of gradients)")
    grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
    return {n: (torch.zeros_like(p) if g is None else g) for (n, p), g in zip(params.items(), grads)}


def _as_gradients(value: Any, params: dict[str, torch.Tensor] | None, name: str) -> dict[str, torch.Tensor]:
    """A loss (differentiated w.r.t. ``params``) or a gradient mapping/sequence, as float64 tensors."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.requires_grad:
        if params is None:
            raise InputError(f"params is required when {name} is a loss tensor")
        grads = _loss_gradients(value, params, name)
    else:
        grads = named_tensors(value, name)
        missing_grad = [n for n, g in grads.items() if g is None]
        if missing_grad:
            raise InputError(f"{name} has no gradient (None) for {missing_grad[:5]}")
        if params is not None:
            missing = [n for n in params if n not in grads]
            if missing:
                raise InputError(f"{name} has no gradient for parameter(s) {missing[:5]}")
            grads = {n: grads[n] for n in params}
    for n, g in grads.items():
        if params is not None and g.shape != params[n].shape:
            raise InputError(f"{name}[{n!r}] has shape {tuple(g.shape)}, but the parameter has "
                             f"{tuple(params[n].shape)}")
        if not bool(torch.isfinite(g).all()):
            raise InputError(f"{name}[{n!r}] must be finite; found NaN or inf")
    return {n: g.detach().to(torch.float64) for n, g in grads.items()}


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

    def to_frame(self):
        import pandas as pd

        rows = [{"scope": "tensor", "name": n, **dataclasses.asdict(r)} for n, r in self.per_tensor.items()]
        rows += [{"scope": "group", "name": n, **dataclasses.asdict(r)} for n, r in self.per_group.items()]
        rows.append({"scope": "global", "name": "all", "inner": self.global_inner, "cos": self.global_cos,
                     "norm_a": self.global_norm_a, "norm_b": self.global_norm_b, "conflict": self.global_conflict})
        return pd.DataFrame(rows)


@dataclasses.dataclass(frozen=True)
class PlasticityStabilityResult(ConflictResult):
    """:class:`ConflictResult` of (plastic, stable) gradients plus ‖g_S‖/(‖g_P‖ + ‖g_S‖)."""

    share_stable: float | None = None


def _alignment(ga: dict[str, torch.Tensor], gb: dict[str, torch.Tensor],
               groups: Mapping[str, Sequence[str]] | None) -> dict[str, Any]:
    sums = {n: (float((ga[n] * gb[n]).sum()), float((ga[n] ** 2).sum()), float((gb[n] ** 2).sum())) for n in ga}
    per_tensor = {n: AlignmentRecord.from_sums(*s) for n, s in sums.items()}
    per_group = {}
    for group, names in (groups or {}).items():
        unknown = [n for n in names if n not in sums]
        if unknown:
            raise InputError(f"groups[{group!r}] names unknown parameter(s) {unknown[:5]}")
        per_group[group] = AlignmentRecord.from_sums(*(math.fsum(sums[n][i] for n in names) for i in range(3)))
    total = AlignmentRecord.from_sums(*(math.fsum(s[i] for s in sums.values()) for i in range(3)))
    return dict(per_tensor=per_tensor, per_group=per_group, global_inner=total.inner, global_cos=total.cos,
                global_norm_a=total.norm_a, global_norm_b=total.norm_b, global_conflict=total.conflict)


def gradient_cosine(a: Any, b: Any, *, params: Any = None,
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
    named = named_tensors(params, "params", trainable_only=True) if params is not None else None
    ga, gb = _as_gradients(a, named, "a"), _as_gradients(b, named, "b")
    if ga.keys() != gb.keys():
        raise InputError("a and b must have gradients for the same parameters")
    return ConflictResult(**_alignment(ga, gb, groups))


def plasticity_stability(loss_plastic: Any, loss_stable: Any, params: Any, *,
                         groups: Mapping[str, Sequence[str]] | None = None) -> PlasticityStabilityResult:
    """Plasticity / stability decomposition of a continual-learning update.

    ``loss_plastic`` is the weighted new-task term (e.g. λ·CE(new)) and ``loss_stable`` the
    weighted retention term (e.g. (1 − λ)·CE(replay)). Returns the alignment records of
    g_P and g_S (a = plastic, b = stable) plus ``share_stable`` = ‖g_S‖/(‖g_P‖ + ‖g_S‖)
    (None when both are 0). Right after a task switch g_S ≈ 0: the update is all plasticity,
    which is when the stability gap opens.
    """
    named = named_tensors(params, "params", trainable_only=True)
    fields = _alignment(_as_gradients(loss_plastic, named, "loss_plastic"),
                        _as_gradients(loss_stable, named, "loss_stable"), groups)
    total = fields["global_norm_a"] + fields["global_norm_b"]
    return PlasticityStabilityResult(**fields, share_stable=fields["global_norm_b"] / total if total > 0 else None)


# ---------------------------------------------------------------------------------------------
# gradient entanglement
# ---------------------------------------------------------------------------------------------

_LOSS_REDUCTION = {"dpo": "sum", "ipo": "sum", "simpo": "mean"}


def _logits_of(output: Any) -> torch.Tensor:
    logits = getattr(output, "logits", output)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 3:
        raise InputError("model must return (B, T, V) logits or an object with a .logits attribute")
    return logits


def _check_sequences(batch: Any, name: str) -> dict[str, torch.Tensor]:
    if not isinstance(batch, Mapping) or "input_ids" not in batch or "response_mask" not in batch:
        raise InputError(f"{name} must be a mapping with 'input_ids' and 'response_mask' (and optionally "
                         "'attention_mask')")
    out = {k: torch.as_tensor(v) for k, v in batch.items() if k in ("input_ids", "response_mask", "attention_mask")}
    ids = out["input_ids"]
    if ids.ndim != 2 or ids.shape[0] == 0 or ids.shape[1] < 2:
        raise InputError(f"{name}['input_ids'] must be (B, T) with B ≥ 1 and T ≥ 2; got {tuple(ids.shape)}")
    for key in ("response_mask", "attention_mask"):
        if key in out and out[key].shape != ids.shape:
            raise InputError(f"{name}[{key!r}] must have the shape of input_ids {tuple(ids.shape)}; "
                             f"got {tuple(out[key].shape)}")
    mask = out["response_mask"].to(torch.bool)
    if mask[:, 0].any():
        raise InputError(f"{name}['response_mask'] must be 0 at position 0 (token t is scored by the logits "
                         "at t − 1)")
    empty = ~mask.any(dim=1)
    if empty.any():
        raise InputError(f"{name}['response_mask'] is empty for pair {int(empty.nonzero()[0])}: every pair needs "
                         "at least one response token")
    out["response_mask"] = mask
    return out


def _token_logps(model: Callable, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities (B, T−1) of the targets and the shifted response mask."""
    kwargs = {"input_ids": batch["input_ids"]}
    if "attention_mask" in batch:
        kwargs["attention_mask"] = batch["attention_mask"]
    logits = _logits_of(model(**kwargs))
    logp = torch.log_softmax(logits[:, :-1].float() if logits.dtype in (torch.float16, torch.bfloat16)
                             else logits[:, :-1], dim=-1)
    target = batch["input_ids"][:, 1:]
    tok = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return tok, batch["response_mask"][:, 1:]


def sequence_logps(model: Callable, batch: Mapping[str, Any], *, reduction: str = "sum") -> torch.Tensor:
    """Response log-probabilities ℓ (B,) of a causal LM: Σ (or mean) of log p(y_t | y_<t) over
    the response tokens (``response_mask``; token t is scored by the logits at t − 1)."""
    check_option(reduction, "reduction", ("sum", "mean"))
    tok, mask = _token_logps(model, _check_sequences(batch, "batch"))
    total = (tok * mask).sum(dim=1)
    return total / mask.sum(dim=1) if reduction == "mean" else total


def preference_coefficients(loss: str | Callable, logp_w: torch.Tensor, logp_l: torch.Tensor,
                            ref_w: torch.Tensor, ref_l: torch.Tensor, *, beta: float = 0.1,
                            gamma: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient coefficients (c_w, c_l) with ∇L = −(c_w ĝ_w − c_l ĝ_l), per pair.

    With m = (ℓ_w − ℓ_w^ref) − (ℓ_l − ℓ_l^ref):

    * DPO: c_w = c_l = β σ(−β m);
    * SimPO (mean log-probs ℓ̄): c_w = c_l = β σ(−u), u = β(ℓ̄_w − ℓ̄_l) − γ;
    * IPO: c_w = c_l = 2(1/(2β) − m) (negative past the target margin);
    * a callable ``loss(logp_w, logp_l, ref_w, ref_l)``: c_w = −∂L/∂ℓ_w, c_l = ∂L/∂ℓ_l by
      autograd of the sum of its output.
    """
    lw, ll = logp_w.detach().double(), logp_l.detach().double()
    rw, rl = ref_w.detach().double(), ref_l.detach().double()
    if callable(loss):
        lw, ll = lw.clone().requires_grad_(True), ll.clone().requires_grad_(True)
        value = loss(lw, ll, rw, rl)
        gw, gl = torch.autograd.grad(value.sum(), (lw, ll), allow_unused=True)
        gw = torch.zeros_like(lw) if gw is None else gw
        gl = torch.zeros_like(ll) if gl is None else gl
        return -gw, gl
    if loss == "dpo":
        c = beta * torch.sigmoid(-beta * ((lw - rw) - (ll - rl)))
    elif loss == "simpo":
        c = beta * torch.sigmoid(-(beta * (lw - ll) - gamma))
    else:  # ipo
        c = 2.0 * (1.0 / (2.0 * beta) - ((lw - rw) - (ll - rl)))
    return c, c.clone()


@dataclasses.dataclass(frozen=True)
class EntanglementPair:
    """Per-pair entanglement record (η = 1 in the predicted changes)."""

    inner: float
    cos: float | None
    norm_w: float
    norm_l: float
    c_w: float
    c_l: float
    delta_chosen: float
    delta_rejected: float
    ratio_chosen: float | None
    ratio_rejected: float | None
    ratio_min: float | None
    token_matrix: Any = dataclasses.field(default=None, repr=False)


_PAIR_FIELDS = ("inner", "cos", "norm_w", "norm_l", "c_w", "c_l", "delta_chosen", "delta_rejected",
                "ratio_chosen", "ratio_rejected", "ratio_min")


@dataclasses.dataclass(frozen=True)
class EntanglementReport(Report):
    """Gradient entanglement of a batch of preference pairs.

    ``per_pair`` holds one :class:`EntanglementPair` per pair; ``mean`` averages each field over
    pairs (fields that are None for some pair are averaged over the others). The authors'
    released condition is ``mean["ratio_chosen"]``.
    """

    per_pair: list[EntanglementPair]
    mean: dict[str, float | None]
    loss: str
    method: str

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{f: getattr(p, f) for f in _PAIR_FIELDS} for p in self.per_pair])


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _pair_record(inner: float, sq_w: float, sq_l: float, c_w: float, c_l: float, matrix=None) -> EntanglementPair:
    nw, nl = math.sqrt(sq_w), math.sqrt(sq_l)
    return EntanglementPair(
        inner=inner, cos=inner / (nw * nl) if nw > 0 and nl > 0 else None, norm_w=nw, norm_l=nl,
        c_w=c_w, c_l=c_l, delta_chosen=c_w * sq_w - c_l * inner, delta_rejected=c_w * inner - c_l * sq_l,
        ratio_chosen=_ratio(inner, sq_w), ratio_rejected=_ratio(inner, sq_l),
        ratio_min=_ratio(inner, min(sq_w, sq_l)), token_matrix=matrix)


def _flat_grads(outputs: torch.Tensor, params: list[torch.Tensor], grad_outputs=None, batched=False) -> torch.Tensor:
    grads = torch.autograd.grad(outputs, params, grad_outputs=grad_outputs, retain_graph=True,
                                allow_unused=True, is_grads_batched=batched)
    lead = (outputs.shape[0],) if batched else ()
    return torch.cat([(torch.zeros(*lead, p.numel(), dtype=p.dtype, device=p.device) if g is None
                       else g.reshape(*lead, -1)).double() for g, p in zip(grads, params)], dim=-1)


def _entangle_loop(model, cw_batch, cl_batch, params, reduction, token_matrix):
    """Two autograd.grad calls per pair on one shared forward pass; ``.grad`` untouched."""
    tok_w, mask_w = _token_logps(model, cw_batch)
    tok_l, mask_l = _token_logps(model, cl_batch)
    plist = list(params.values())
    out = []
    for i in range(tok_w.shape[0]):  # one pair at a time: never a batch-summed gradient
        sel_w, sel_l = tok_w[i][mask_w[i]], tok_l[i][mask_l[i]]
        scale_w = 1.0 / sel_w.numel() if reduction == "mean" else 1.0
        scale_l = 1.0 / sel_l.numel() if reduction == "mean" else 1.0
        if token_matrix:
            eye_w = torch.eye(sel_w.numel(), dtype=sel_w.dtype)
            eye_l = torch.eye(sel_l.numel(), dtype=sel_l.dtype)
            gw = _flat_grads(sel_w, plist, eye_w, batched=True) * scale_w
            gl = _flat_grads(sel_l, plist, eye_l, batched=True) * scale_l
            out.append((gw.sum(0), gl.sum(0), gw @ gl.T))
        else:
            out.append((_flat_grads(sel_w.sum() * scale_w, plist), _flat_grads(sel_l.sum() * scale_l, plist), None))
    return out


def _entangle_vmap(model, cw_batch, cl_batch, params, reduction):
    """Per-sequence gradients with torch.func (functional_call + vmap(grad)); B×P memory."""
    from torch.func import functional_call, grad, vmap

    if not isinstance(model, torch.nn.Module):
        raise InputError("method='vmap' needs model to be a torch.nn.Module")
    buffers = dict(model.named_buffers())
    frozen = {n: p.detach() for n, p in model.named_parameters() if n not in params}
    names = list(params)

    def seq_logp(p, ids, resp, attn):
        batch = {"input_ids": ids.unsqueeze(0), "response_mask": resp.unsqueeze(0)}
        if attn is not None:
            batch["attention_mask"] = attn.unsqueeze(0)
        tok, mask = _token_logps(lambda **kw: functional_call(model, ({**p, **frozen}, buffers), kwargs=kw), batch)
        total = (tok * mask).sum()
        return total / mask.sum() if reduction == "mean" else total

    def per_sample(batch):
        attn = batch.get("attention_mask")
        p = {n: params[n].detach() for n in names}
        g = vmap(grad(seq_logp), in_dims=(None, 0, 0, None if attn is None else 0))(
            p, batch["input_ids"], batch["response_mask"], attn)
        return torch.cat([g[n].reshape(g[n].shape[0], -1).double() for n in names], dim=1)

    gw, gl = per_sample(cw_batch), per_sample(cl_batch)
    return [(gw[i], gl[i], None) for i in range(gw.shape[0])]


def _output_layer(model) -> torch.nn.Module:
    layer = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else getattr(model, "lm_head", None)
    if not isinstance(layer, torch.nn.Linear):
        raise InputError("method='last_layer' needs the unembedding as a torch.nn.Linear, found through "
                         "model.get_output_embeddings() or model.lm_head")
    return layer


def _entangle_last_layer(model, cw_batch, cl_batch, reduction):
    """Closed form on the unembedding W (and bias): ∂ℓ/∂W = Σ_t (e_{y_t} − p_t) h_tᵀ, so
    ⟨ĝ_w, ĝ_l⟩ = Σ_{t,s} ⟨e_{y_t} − p_t, e_{y′_s} − p′_s⟩ (⟨h_t, h′_s⟩ + [bias]). No backward pass."""
    layer = _output_layer(model)
    bias = 1.0 if layer.bias is not None else 0.0

    def parts(batch):
        captured = {}
        handle = layer.register_forward_hook(lambda _m, inp, _o: captured.__setitem__("h", inp[0].detach()))
        try:
            with torch.no_grad():
                kwargs = {"input_ids": batch["input_ids"]}
                if "attention_mask" in batch:
                    kwargs["attention_mask"] = batch["attention_mask"]
                logits = _logits_of(model(**kwargs)).double()
        finally:
            handle.remove()
        probs = torch.softmax(logits[:, :-1], dim=-1)
        onehot = torch.nn.functional.one_hot(batch["input_ids"][:, 1:], probs.shape[-1]).double()
        return onehot - probs, captured["h"][:, :-1].double(), batch["response_mask"][:, 1:]

    uw, hw, mw = parts(cw_batch)
    ul, hl, ml = parts(cl_batch)
    out = []
    for i in range(uw.shape[0]):  # per pair; the token dimension is vectorised
        a_u, a_h = uw[i][mw[i]], hw[i][mw[i]]
        b_u, b_h = ul[i][ml[i]], hl[i][ml[i]]
        sw = 1.0 / a_u.shape[0] if reduction == "mean" else 1.0
        sl = 1.0 / b_u.shape[0] if reduction == "mean" else 1.0
        cross = (a_u @ b_u.T) * (a_h @ b_h.T + bias) * (sw * sl)
        sq_w = float(((a_u @ a_u.T) * (a_h @ a_h.T + bias)).sum()) * sw * sw
        sq_l = float(((b_u @ b_u.T) * (b_h @ b_h.T + bias)).sum()) * sl * sl
        out.append((float(cross.sum()), sq_w, sq_l, cross))
    return out


def gradient_entanglement(model: Callable, chosen: Mapping[str, Any], rejected: Mapping[str, Any], *,
                          loss: str | Callable = "dpo", beta: float = 0.1, gamma: float = 0.0,
                          logp_reduction: str | None = None, ref_model: Callable | None = None,
                          ref_logps: tuple[Any, Any] | None = None, params: Any = None, method: str = "loop",
                          token_matrix: bool = False) -> EntanglementReport:
    """Gradient entanglement of margin-based preference losses, pair by pair.

    Parameters
    ----------
    model : callable
        Causal LM called as ``model(input_ids=..., attention_mask=...)`` returning (B, T, V)
        logits or an object with ``.logits`` (Hugging Face models work as they are).
    chosen, rejected : mapping
        ``input_ids`` (B, T), ``response_mask`` (B, T) — 1 on response targets; token t is
        scored by the logits at t − 1 — and optionally ``attention_mask``. Pair i is
        (chosen[i], rejected[i]); padding is excluded by the masks.
    loss : {"dpo", "simpo", "ipo"} or callable
        Fixes the coefficients (see :func:`preference_coefficients`). A callable
        ``loss(logp_w, logp_l, ref_w, ref_l)`` gets its coefficients from autograd.
    beta, gamma : float
        Loss hyper-parameters (γ only for SimPO).
    logp_reduction : {"sum", "mean"}, optional
        How token log-probs make ℓ; None takes the loss's own (sum for DPO / IPO / callables,
        mean for SimPO).
    ref_model, ref_logps : optional
        The frozen reference: a model, or a pair of (B,) tensors (chosen, rejected). DPO
        without one uses 0 for both; IPO requires one.
    params : Module, mapping or sequence, optional
        Parameters the gradients are taken w.r.t. (default: the model's trainable ones; for
        LoRA pass the adapters).
    method : {"loop", "vmap", "last_layer"}
        ``loop``: two ``autograd.grad`` per pair on one forward pass, exact, ``.grad`` untouched.
        ``vmap``: ``functional_call`` + ``vmap(grad)``, B×P memory. ``last_layer``: closed form on
        the unembedding only, no backward pass (our suggestion; a cheap proxy).
    token_matrix : bool
        Also give each pair's (n_w, n_l) matrix of per-token gradient inner products (rows =
        chosen), which sums to the pair's inner product (``loop`` and ``last_layer``).
    """
    if not (callable(loss) or loss in _LOSS_REDUCTION):
        raise InputError(f"loss must be one of 'dpo', 'simpo', 'ipo' or a callable; got {loss!r}")
    loss_name = loss if isinstance(loss, str) else "callable"
    check_option(method, "method", ("loop", "vmap", "last_layer"))
    token_matrix = check_bool(token_matrix, "token_matrix")
    if token_matrix and method == "vmap":
        raise InputError("token_matrix=True needs method='loop' or 'last_layer'")
    beta = check_positive(beta, "beta")
    reduction = logp_reduction if logp_reduction is not None else _LOSS_REDUCTION.get(loss_name, "sum")
    check_option(reduction, "logp_reduction", ("sum", "mean"))
    cw_batch, cl_batch = _check_sequences(chosen, "chosen"), _check_sequences(rejected, "rejected")
    n_pairs = cw_batch["input_ids"].shape[0]
    if cl_batch["input_ids"].shape[0] != n_pairs:
        raise InputError(f"chosen and rejected must hold the same number of pairs; got {n_pairs} and "
                         f"{cl_batch['input_ids'].shape[0]}")
    if loss_name == "ipo" and ref_model is None and ref_logps is None:
        raise InputError("loss='ipo' needs a reference: pass ref_model or ref_logps")
    if ref_model is not None and ref_logps is not None:
        raise InputError("pass ref_model or ref_logps, not both")

    with torch.no_grad():
        lw = sequence_logps(model, cw_batch, reduction=reduction)
        ll = sequence_logps(model, cl_batch, reduction=reduction)
        if ref_model is not None:
            rw = sequence_logps(ref_model, cw_batch, reduction=reduction)
            rl = sequence_logps(ref_model, cl_batch, reduction=reduction)
        elif ref_logps is not None:
            if len(ref_logps) != 2:
                raise InputError("ref_logps must be a pair (chosen, rejected) of (B,) tensors")
            rw, rl = (torch.as_tensor(r, dtype=torch.float64).reshape(-1) for r in ref_logps)
            if rw.shape[0] != n_pairs or rl.shape[0] != n_pairs:
                raise InputError(f"ref_logps must hold {n_pairs} values each; got {rw.shape[0]} and {rl.shape[0]}")
        else:
            rw = rl = torch.zeros(n_pairs, dtype=torch.float64)
    c_w, c_l = preference_coefficients(loss, lw, ll, rw, rl, beta=beta, gamma=gamma)

    pairs = []
    if method == "last_layer":
        for i, (inner, sq_w, sq_l, matrix) in enumerate(_entangle_last_layer(model, cw_batch, cl_batch, reduction)):
            pairs.append(_pair_record(inner, sq_w, sq_l, float(c_w[i]), float(c_l[i]),
                                      matrix.numpy() if token_matrix else None))
    else:
        named = named_tensors(params if params is not None else model, "params", trainable_only=True)
        with torch.enable_grad():
            grads = (_entangle_loop(model, cw_batch, cl_batch, named, reduction, token_matrix) if method == "loop"
                     else _entangle_vmap(model, cw_batch, cl_batch, named, reduction))
        for i, (gw, gl, matrix) in enumerate(grads):
            pairs.append(_pair_record(float(gw @ gl), float(gw @ gw), float(gl @ gl), float(c_w[i]), float(c_l[i]),
                                      matrix.numpy() if matrix is not None else None))
    mean = {}
    for f in _PAIR_FIELDS:
        values = [getattr(p, f) for p in pairs if getattr(p, f) is not None]
        mean[f] = math.fsum(values) / len(values) if values else None
    return EntanglementReport(per_pair=pairs, mean=mean, loss=loss_name, method=method)


# ---------------------------------------------------------------------------------------------
# monitor
# ---------------------------------------------------------------------------------------------

class GradientAlignmentMonitor(Monitor):
    """Run a gradient-alignment probe every n steps and log its scalars.

    Parameters
    ----------
    probe_fn : callable
        Called with the keyword inputs of ``on_step`` (e.g. ``model``, ``batch``) and
        returning the probe's arguments:

        * ``kind="conflict"``: ``(a, b)`` or ``(a, b, params)`` for :func:`gradient_cosine`;
        * ``kind="plasticity_stability"``: ``(loss_plastic, loss_stable, params)``;
        * ``kind="entanglement"``: a dict of keyword arguments of
          :func:`gradient_entanglement` (``model``, ``chosen``, ``rejected``, ...).
    kind : {"conflict", "plasticity_stability", "entanglement"}
    every_n_steps : int
    groups : mapping, optional
        Parameter groups for the conflict kinds; each group's cosine is logged as
        ``cos/<group>``.
    **kwargs
        ``thresholds``, ``on_alert``, ``log_fn`` of :class:`~diagnostics.Monitor`.

    Records: ``global_inner``, ``global_cos``, ``global_conflict`` (and ``share_stable``)
    for the conflict kinds; for entanglement the pair means of ``inner``, ``cos``,
    ``ratio_chosen``, ``ratio_min``, ``delta_chosen``, ``delta_rejected``, plus
    ``frac_entangled`` (pairs with ``ratio_min`` ≥ 1, where equal-coefficient losses cannot
    raise the chosen and lower the rejected log-probability at once) and
    ``frac_chosen_falls`` (pairs whose predicted Δℓ_w < 0). The ``.latest_result`` attribute
    keeps the full result object of the last probe.

    Cost per logged step: one extra backward pass for the conflict kinds, two per pair for
    entanglement (``method="loop"``); nothing on other steps.
    """

    name = "gradient_alignment"

    def __init__(self, probe_fn: Callable[..., Any], *, kind: str = "conflict", every_n_steps: int = 100,
                 groups: Mapping[str, Sequence[str]] | None = None, **kwargs: Any):
        if not callable(probe_fn):
            raise InputError(f"probe_fn must be callable; got {probe_fn!r}")
        self.probe_fn = probe_fn
        self.kind = check_option(kind, "kind", ("conflict", "plasticity_stability", "entanglement"))
        self.groups = groups
        self.latest_result: Any = None
        super().__init__(every_n_steps=every_n_steps, **kwargs)

    def compute(self, **inputs: Any) -> dict[str, Any]:
        args = self.probe_fn(**inputs)
        if self.kind == "entanglement":
            if not isinstance(args, Mapping):
                raise InputError("probe_fn must return a dict of gradient_entanglement arguments for "
                                 "kind='entanglement'")
            result = gradient_entanglement(**args)
            self.latest_result = result
            record = {f"mean_{f}": result.mean[f] for f in
                      ("inner", "cos", "ratio_chosen", "ratio_min", "delta_chosen", "delta_rejected")}
            n = len(result.per_pair)
            record["frac_entangled"] = sum((p.ratio_min or 0.0) >= 1.0 for p in result.per_pair) / n
            record["frac_chosen_falls"] = sum(p.delta_chosen < 0 for p in result.per_pair) / n
            return record
        if not isinstance(args, (tuple, list)) or len(args) not in (2, 3):
            raise InputError("probe_fn must return (a, b) or (a, b, params) for the conflict kinds")
        if self.kind == "conflict":
            a, b, *rest = args
            result = gradient_cosine(a, b, params=rest[0] if rest else None, groups=self.groups)
        else:
            if len(args) != 3:
                raise InputError("probe_fn must return (loss_plastic, loss_stable, params) for "
                                 "kind='plasticity_stability'")
            result = plasticity_stability(*args, groups=self.groups)
        self.latest_result = result
        record = {"global_inner": result.global_inner, "global_cos": result.global_cos,
                  "global_conflict": result.global_conflict}
        record.update({f"cos/{g}": r.cos for g, r in result.per_group.items()})
        if isinstance(result, PlasticityStabilityResult):
            record["share_stable"] = result.share_stable
        return record
