"""Gradient entanglement of margin-based preference losses.

Yuan et al., "A Common Pitfall of Margin-based Language Model Alignment: Gradient
Entanglement", arXiv:2410.13828. For a preference pair, let ĝ_w, ĝ_l be the gradients
of the chosen / rejected response log-probabilities ℓ_w, ℓ_l. A margin loss has
∇L = −(c_w ĝ_w − c_l ĝ_l), so one SGD step of size η changes them by

    Δℓ_w ≈ η(c_w‖ĝ_w‖² − c_l⟨ĝ_w, ĝ_l⟩),   Δℓ_l ≈ η(c_w⟨ĝ_w, ĝ_l⟩ − c_l‖ĝ_l‖²).

For c > 0 the chosen log-prob rises iff ⟨⟩ < (c_w/c_l)‖ĝ_w‖², and the rejected one falls
iff ⟨⟩ < (c_l/c_w)‖ĝ_l‖²; with equal coefficients both move as intended iff
⟨⟩ / min(‖ĝ_w‖², ‖ĝ_l‖²) < 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from diagnostics._params import named_tensors
from diagnostics._tensors import as_tensor
from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.progress import Progress, ProgressReporter, progress_reporter
from metrics.core.report import Report
from metrics.core.validation import check_bool, check_positive

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["sequence_logps", "preference_coefficients", "EntanglementPair", "EntanglementReport",
           "gradient_entanglement"]

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


@validate_options
def sequence_logps(model: Callable[..., object], batch: Mapping[str, torch.Tensor],
                   *, reduction: Literal["sum", "mean"] = "sum") -> torch.Tensor:
    """Response log-probabilities ℓ (B,) of a causal LM: Σ (or mean) of log p(y_t | y_<t) over
    the response tokens (``response_mask``; token t is scored by the logits at t − 1)."""
    tok, mask = _token_logps(model, _check_sequences(batch, "batch"))
    total = (tok * mask).sum(dim=1)
    return total / mask.sum(dim=1) if reduction == "mean" else total


def preference_coefficients(loss: Literal["dpo", "simpo", "ipo"] | Callable[..., torch.Tensor],
                            logp_w: npt.ArrayLike | torch.Tensor, logp_l: npt.ArrayLike | torch.Tensor,
                            ref_w: npt.ArrayLike | torch.Tensor, ref_l: npt.ArrayLike | torch.Tensor, *, beta: float = 0.1,
                            gamma: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient coefficients (c_w, c_l) with ∇L = −(c_w ĝ_w − c_l ĝ_l), per pair.

    With m = (ℓ_w − ℓ_w^ref) − (ℓ_l − ℓ_l^ref):

    * DPO: c_w = c_l = β σ(−β m);
    * SimPO (mean log-probs ℓ̄): c_w = c_l = β σ(−u), u = β(ℓ̄_w − ℓ̄_l) − γ;
    * IPO: c_w = c_l = 2(1/(2β) − m) (negative past the target margin);
    * a callable ``loss(logp_w, logp_l, ref_w, ref_l)``: c_w = −∂L/∂ℓ_w, c_l = ∂L/∂ℓ_l by
      autograd of the sum of its output.
    """
    if not (callable(loss) or loss in _LOSS_REDUCTION):
        raise InputError(f"loss must be one of 'dpo', 'simpo', 'ipo' or a callable; got {loss!r}")
    beta = check_positive(beta, "beta")
    named = {"logp_w": logp_w, "logp_l": logp_l, "ref_w": ref_w, "ref_l": ref_l}
    values = {k: as_tensor(v, k) for k, v in named.items()}
    shape = values["logp_w"].shape
    for k, t in values.items():
        if t.shape != shape:
            raise InputError(f"{k} must have the shape of logp_w {tuple(shape)} (one value per pair); "
                             f"got {tuple(t.shape)}")
    device = values["logp_w"].device
    lw, ll, rw, rl = (t.to(device=device, dtype=torch.float64) for t in values.values())
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
    token_matrix: np.ndarray | None = dataclasses.field(default=None, repr=False)


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

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{f: getattr(p, f) for f in _PAIR_FIELDS} for p in self.per_pair])

    def plot(self, ax: Axes | None = None) -> Axes:
        """Predicted change of the chosen (x) against the rejected (y) log-probability per
        pair (η = 1); the intended quadrant (chosen up, rejected down) is shaded."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4.5))
        dx = np.array([p.delta_chosen for p in self.per_pair])
        dy = np.array([p.delta_rejected for p in self.per_pair])
        lim = 1.1 * max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-12)
        ax.axvspan(0, lim, ymin=0, ymax=0.5, color="tab:green", alpha=0.12, label="intended: chosen ↑, rejected ↓")
        ax.scatter(dx, dy, s=18, color="tab:blue", label=f"{len(dx)} pairs")
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel("predicted Δ log p(chosen)")
        ax.set_ylabel("predicted Δ log p(rejected)")
        ax.set_title(f"Gradient entanglement ({self.loss}, {self.method})")
        ax.legend(fontsize=8)
        return ax


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


def _entangle_loop(model, cw_batch, cl_batch, params, reduction, token_matrix, reporter: ProgressReporter):
    """Two autograd.grad calls per pair on one shared forward pass; ``.grad`` untouched."""
    tok_w, mask_w = _token_logps(model, cw_batch)
    tok_l, mask_l = _token_logps(model, cl_batch)
    plist = list(params.values())
    out: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
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
        reporter.update(1)
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


@validate_options
def gradient_entanglement(model: Callable[..., object], chosen: Mapping[str, torch.Tensor],
                          rejected: Mapping[str, torch.Tensor], *,
                          loss: Literal["dpo", "simpo", "ipo"] | Callable[..., torch.Tensor] = "dpo", beta: float = 0.1, gamma: float = 0.0,
                          logp_reduction: Literal["sum", "mean"] | None = None, ref_model: Callable | None = None,
                          ref_logps: tuple[torch.Tensor, torch.Tensor] | None = None,
                          params: torch.nn.Module | Mapping[str, torch.Tensor] | list[torch.Tensor] | None = None,
                          method: Literal["loop", "vmap", "last_layer"] = "loop",
                          token_matrix: bool = False, progress: Progress = False) -> EntanglementReport:
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
    progress : bool or callable
        ``True`` shows a progress bar over the pairs; a callable is called as
        ``progress(pairs_done, pairs)`` (per pair with ``loop``, once at the end otherwise).
    """
    if not (callable(loss) or loss in _LOSS_REDUCTION):
        raise InputError(f"loss must be one of 'dpo', 'simpo', 'ipo' or a callable; got {loss!r}")
    loss_name = loss if isinstance(loss, str) else "callable"
    token_matrix = check_bool(token_matrix, "token_matrix")
    if token_matrix and method == "vmap":
        raise InputError("token_matrix=True needs method='loop' or 'last_layer'")
    beta = check_positive(beta, "beta")
    reduction: Literal["sum", "mean"] = (logp_reduction if logp_reduction is not None
                                         else "mean" if _LOSS_REDUCTION.get(loss_name) == "mean" else "sum")
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
    reporter = progress_reporter(progress, n_pairs, "entanglement")
    if method == "last_layer":
        for i, (inner, sq_w, sq_l, matrix) in enumerate(_entangle_last_layer(model, cw_batch, cl_batch, reduction)):
            pairs.append(_pair_record(inner, sq_w, sq_l, float(c_w[i]), float(c_l[i]),
                                      matrix.numpy() if token_matrix else None))
    else:
        named = named_tensors(params if params is not None else model, "params", trainable_only=True)
        with torch.enable_grad():
            grads = (_entangle_loop(model, cw_batch, cl_batch, named, reduction, token_matrix, reporter)
                     if method == "loop" else _entangle_vmap(model, cw_batch, cl_batch, named, reduction))
        for i, (gw, gl, matrix) in enumerate(grads):
            pairs.append(_pair_record(float(gw @ gl), float(gw @ gw), float(gl @ gl), float(c_w[i]), float(c_l[i]),
                                      matrix.numpy() if matrix is not None else None))
    if reporter.done < n_pairs:
        reporter.update(n_pairs - reporter.done)
    reporter.close()
    mean = {}
    for f in _PAIR_FIELDS:
        values = [getattr(p, f) for p in pairs if getattr(p, f) is not None]
        mean[f] = math.fsum(values) / len(values) if values else None
    return EntanglementReport(per_pair=pairs, mean=mean, loss=loss_name, method=method)


