"""Survival losses (Cox partial likelihood, discrete-time hazard) and a small reference model.

The losses produce the risk scores that :mod:`metrics.concordance` evaluates; the
reference model fits a linear Cox model with :class:`CoxPHLoss` on a data set shipped
by a PyPI package (lifelines' Rossi or scikit-survival's GBSG2, optional test extras)
and reports its C-index.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.report import Report
from metrics.core.validation import check_fraction, check_int

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ArrayOrTensor = torch.Tensor | npt.ArrayLike

__all__ = [
    "CoxPHLoss",
    "DiscreteHazardLoss",
    "SurvivalModelResult",
    "fit_reference_survival_model",
    "load_survival_dataset",
]


def _vector(x: ArrayOrTensor, name: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    # a fresh C-ordered copy: any strides (negative ones too) and memory order
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x, order="C", copy=True))
    if t.ndim == 2 and 1 in t.shape:
        t = t.reshape(-1)
    if t.ndim != 1:
        raise InputError(f"{name} must be a 1-D tensor; got shape {tuple(t.shape)}")
    t = t.to(dtype)
    if dtype.is_floating_point and not torch.isfinite(t).all():
        i = int(torch.nonzero(~torch.isfinite(t))[0])
        raise InputError(f"{name} must be finite; element {i} is {t[i].item()}")
    return t


def _event_mask(event: ArrayOrTensor, n: int, device: torch.device) -> torch.Tensor:
    e = _vector(event, "event", torch.float64).to(device)
    if e.numel() != n:
        raise InputError(f"event must have the same length as time; got {e.numel()} and {n}")
    if not ((e == 0) | (e == 1)).all():
        raise InputError("event must hold 0/1 or bool event indicators")
    return e == 1


class CoxPHLoss(nn.Module):
    r"""Negative Cox partial log-likelihood with Breslow or Efron ties.

    With :math:`D_t` the events at time t, :math:`R_t=\{j: T_j\ge t\}`,
    :math:`A_t=\sum_{R_t}e^{\eta}`, :math:`B_t=\sum_{D_t}e^{\eta}`, :math:`d_t=|D_t|`:

    .. math::
        -\ell_{\text{Breslow}}=-\sum_t\Bigl[\sum_{D_t}\eta_i-d_t\log A_t\Bigr],\qquad
        -\ell_{\text{Efron}}=-\sum_t\Bigl[\sum_{D_t}\eta_i-\sum_{r=0}^{d_t-1}
            \log\bigl(A_t-\tfrac{r}{d_t}B_t\bigr)\Bigr]

    Cox, J. R. Stat. Soc. B 34:187 (1972); Breslow, Biometrics 30:89 (1974); Efron,
    JASA 72:557 (1977). Computed in float64 in O(n log n): sort by time descending,
    ``logcumsumexp`` of η, read each tie block's last value; Efron's correction uses
    ``log1p`` of the block's event mass relative to the risk set.

    Parameters
    ----------
    ties : {"efron", "breslow"}
    reduction : {"mean", "sum"}
        ``"mean"`` divides by the number of events; a batch without events returns
        0 (still attached to the graph).

    ``forward(risk, time, event)``: risk (n,) log-hazards η (higher = earlier failure).
    """

    @validate_options
    def __init__(self, ties: Literal["efron", "breslow"] = "efron", reduction: Literal["mean", "sum"] = "mean") -> None:
        super().__init__()
        self.ties = ties
        self.reduction = reduction

    def forward(self, risk: torch.Tensor, time: ArrayOrTensor, event: ArrayOrTensor) -> torch.Tensor:
        eta = _vector(risk, "risk", torch.float64)
        t = _vector(time, "time").to(eta.device)
        if t.numel() != eta.numel():
            raise InputError(f"risk, time must have the same length; risk has {eta.numel()}, time has {t.numel()}")
        e = _event_mask(event, t.numel(), eta.device)
        n_events = int(e.sum())
        if n_events == 0 or eta.numel() == 0:
            return eta.sum() * 0.0
        order = torch.argsort(t, descending=True, stable=True)
        eta_s, t_s, e_s = eta[order], t[order], e[order]
        log_cum = torch.logcumsumexp(eta_s, dim=0)
        _, block, counts = torch.unique_consecutive(t_s, return_inverse=True, return_counts=True)
        last = torch.cumsum(counts, 0) - 1
        log_a = log_cum[last][block]  # log A_t for each subject's time block
        if self.ties == "breslow":
            log_den = log_a
        else:
            n_blocks = counts.numel()
            ef = e_s.double()
            d = torch.zeros(n_blocks, dtype=torch.float64, device=eta.device).index_add_(0, block, ef)
            # rank r of each event inside its block: 0, 1, ..., d_t - 1
            cum_events = torch.cumsum(ef, 0)
            before_block = (torch.cumsum(d, 0) - d)[block]
            r = cum_events - 1.0 - before_block
            # log B_t = logsumexp of the block's events' η (max-shifted for stability)
            masked = torch.where(e_s, eta_s, torch.full_like(eta_s, -torch.inf))
            m = torch.full((n_blocks,), -torch.inf, dtype=torch.float64, device=eta.device)
            m = m.scatter_reduce(0, block, masked, reduce="amax", include_self=True)
            m = torch.where(torch.isfinite(m), m, torch.zeros_like(m)).detach()
            b = torch.zeros(n_blocks, dtype=torch.float64, device=eta.device).index_add_(
                0, block, torch.where(e_s, torch.exp(eta_s - m[block]), torch.zeros_like(eta_s)))
            log_b = torch.log(b.clamp_min(torch.finfo(torch.float64).tiny)) + m
            frac = torch.where(e_s, r / d[block].clamp_min(1.0), torch.zeros_like(r))
            log_den = log_a + torch.log1p(-frac * torch.exp(log_b[block] - log_a))
        nll = -(torch.where(e_s, eta_s - log_den, torch.zeros_like(eta_s))).sum()
        return nll / n_events if self.reduction == "mean" else nll


class DiscreteHazardLoss(nn.Module):
    r"""Discrete-time hazard loss (reference form, not verified against the paper).

    ``hazard[i, l] = h_il = P(z = l | z ≥ l)`` (logits with ``from_logits``),
    :math:`S_i(l)=\prod_{m\le l}(1-h_{im})`, :math:`p_i(z)=h_{iz}S_i(z-1)`. For an
    event at step z: :math:`L_z=-\log p_i(z)`, :math:`L_c=-\log(1-S_i(z))`; censored
    after step z: :math:`L_z=0`, :math:`L_c=-\log S_i(z)`. Per sample
    :math:`\alpha L_z+(1-\alpha)L_c`.

    Provenance: the ad-creative paper (Kitada, Iyatomi & Seki, Appl. Sci. 12:3594,
    2022) describes a hazard-based loss with CTR sample weights; its equation was not
    read, so this is the discrete-time form of Deep Recurrent Survival Analysis (Ren
    et al., AAAI 2019) — α, the reductions and summing two heads are our choice.

    Parameters
    ----------
    alpha : float in [0, 1]
    reduction : {"mean", "sum", "none", "drsa"}
        ``"mean"`` Σwℓ/Σw, ``"sum"`` Σwℓ, ``"none"`` (N,), ``"drsa"``
        α·mean over events of L_z + (1 − α)·mean over all of L_c (weighted means).
    from_logits : bool

    ``forward(hazard, step, event, weight=None)``: hazard (N, L); step (N,) 1-based
    event step or last observed step; event (N,) 0/1; weight (N,) ≥ 0 (e.g. CTR).
    """

    @validate_options
    def __init__(self, alpha: float = 0.5, reduction: Literal["mean", "sum", "none", "drsa"] = "mean",
                 from_logits: bool = False) -> None:
        super().__init__()
        self.alpha = check_fraction(alpha, "alpha", closed=True)
        self.reduction = reduction
        self.from_logits = bool(from_logits)

    def forward(self, hazard: torch.Tensor, step: ArrayOrTensor, event: ArrayOrTensor,
                weight: ArrayOrTensor | None = None) -> torch.Tensor:
        h = hazard if isinstance(hazard, torch.Tensor) else torch.from_numpy(np.array(hazard, order="C", copy=True))
        if h.ndim != 2 or h.shape[1] == 0:
            raise InputError(f"hazard must be a 2-D (N, L) tensor; got shape {tuple(h.shape)}")
        h = h.double()
        if not torch.isfinite(h).all():
            raise InputError("hazard must be finite")
        n, n_steps = h.shape
        if self.from_logits:
            log_h, log_1mh = F.logsigmoid(h), F.logsigmoid(-h)
        else:
            if ((h < 0) | (h > 1)).any():
                raise InputError("hazard must hold probabilities in [0, 1] (pass from_logits=True for logits)")
            log_h, log_1mh = torch.log(h), torch.log1p(-h)
        z = _vector(step, "step", torch.float64)
        if z.numel() != n or not (z == torch.round(z)).all() or ((z < 1) | (z > n_steps)).any():
            raise InputError(f"step must hold N={n} integers in [1, {n_steps}] (1-based)")
        z = z.long().to(h.device) - 1  # 0-based column of the step
        e = _event_mask(event, n, h.device)
        log_s = torch.cumsum(log_1mh, dim=1)  # log S(l) at column l
        rows = torch.arange(n, device=h.device)
        log_s_z = log_s[rows, z]
        log_s_prev = torch.where(z > 0, log_s[rows, (z - 1).clamp_min(0)], torch.zeros_like(log_s_z))
        loss_z = torch.where(e, -(log_h[rows, z] + log_s_prev), torch.zeros_like(log_s_z))
        loss_c = torch.where(e, -torch.log(-torch.expm1(log_s_z)), -log_s_z)
        if weight is None:
            w = torch.ones(n, dtype=torch.float64, device=h.device)
        else:
            w = _vector(weight, "weight").to(h.device)
            if w.numel() != n or (w < 0).any():
                raise InputError(f"weight must hold N={n} non-negative numbers")
        per_sample = self.alpha * loss_z + (1.0 - self.alpha) * loss_c
        if self.reduction == "none":
            return per_sample
        if self.reduction == "sum":
            return (w * per_sample).sum()
        if self.reduction == "mean":
            return (w * per_sample).sum() / w.sum()
        we = torch.where(e, w, torch.zeros_like(w))
        term_z = (we * loss_z).sum() / we.sum() if bool(e.any()) else loss_z.sum() * 0.0
        return self.alpha * term_z + (1.0 - self.alpha) * (w * loss_c).sum() / w.sum()


@validate_options
def load_survival_dataset(name: Literal["rossi", "gbsg2"]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(X, time, event, feature_names)`` of a data set shipped by a PyPI package.

    ``"rossi"`` (lifelines, 432 released prisoners, weeks to re-arrest) or
    ``"gbsg2"`` (scikit-survival, 686 breast-cancer patients, recurrence-free days;
    categorical columns one-hot encoded, drop-first). The package is imported lazily;
    both are test extras, not runtime dependencies.
    """
    import pandas as pd

    if name == "rossi":
        from lifelines.datasets import load_rossi

        df = load_rossi()
        time = df.pop("week").to_numpy(np.float64)
        event = df.pop("arrest").to_numpy() == 1
        X = df.astype(np.float64)
    else:
        from sksurv.datasets import load_gbsg2

        X, y = load_gbsg2()
        X = pd.get_dummies(X, drop_first=True).astype(np.float64)
        names = y.dtype.names
        event, time = np.asarray(y[names[0]], bool), np.asarray(y[names[1]], np.float64)
    return X.to_numpy(), time, event, list(X.columns)


@dataclasses.dataclass(frozen=True)
class SurvivalModelResult(Report):
    """A fitted linear Cox model and its C-index on the training and held-out subjects."""

    dataset: str
    feature_names: list[str]
    coef: list[float]
    n_train: int
    n_test: int
    cindex_train: float
    cindex_test: float
    neg_log_likelihood: float

    def plot(self, ax: Axes | None = None) -> Axes:
        """Hazard ratios exp(β) per unit of each feature (log scale), with the C-indices in the title."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 0.35 * len(self.coef) + 1.4))
        ratios = np.exp(np.asarray(self.coef, dtype=float))
        order = np.argsort(ratios)
        names = [self.feature_names[i] for i in order]
        ax.barh(names, ratios[order] - 1.0, left=1.0, color=["C3" if r > 1 else "C0" for r in ratios[order]])
        ax.axvline(1.0, color="0.3", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("hazard ratio per unit (> 1: higher risk)")
        ax.set_title(f"{self.dataset}: C = {self.cindex_train:.3f} train, {self.cindex_test:.3f} held out "
                     f"(n = {self.n_train} / {self.n_test})", fontsize="medium")
        return ax


@validate_options
def fit_reference_survival_model(dataset: Literal["rossi", "gbsg2"] = "rossi", *,
                                 ties: Literal["efron", "breslow"] = "efron", test_fraction: float = 0.3,
                                 seed: int = 0, max_iter: int = 100) -> SurvivalModelResult:
    """Fit a linear Cox model η = Xβ with :class:`CoxPHLoss` (L-BFGS) and score it.

    Features are standardised on the training split; the held-out C-index is
    :func:`metrics.concordance_index` of η on the test split. Runs in well under a
    second on Rossi or GBSG2.
    """
    from metrics.concordance import concordance_index

    test_fraction = check_fraction(test_fraction, "test_fraction")
    max_iter = check_int(max_iter, "max_iter", min_value=1)
    X, time, event, names = load_survival_dataset(dataset)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(time.size)
    n_test = int(round(test_fraction * time.size))
    test, train = perm[:n_test], perm[n_test:]
    mu, sd = X[train].mean(0), X[train].std(0)
    sd[sd == 0] = 1.0
    Z = torch.as_tensor((X - mu) / sd)
    beta = torch.zeros(Z.shape[1], dtype=torch.float64, requires_grad=True)
    loss_fn = CoxPHLoss(ties=ties, reduction="sum")
    t_train, e_train = torch.as_tensor(time[train]), torch.as_tensor(event[train])
    opt = torch.optim.LBFGS([beta], lr=1.0, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(Z[train] @ beta, t_train, e_train)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        eta = (Z @ beta).numpy()
        nll = float(loss_fn(Z[train] @ beta, t_train, e_train))
    return SurvivalModelResult(
        dataset=dataset, feature_names=names, coef=(beta.detach().numpy() / sd).tolist(),
        n_train=int(train.size), n_test=int(test.size),
        cindex_train=concordance_index(eta[train], time[train], event[train]),
        cindex_test=concordance_index(eta[test], time[test], event[test]),
        neg_log_likelihood=nll)
