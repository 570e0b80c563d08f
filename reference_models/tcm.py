"""Threshold-Consistent Margin (TCM) loss and a small OPIS reference experiment.

Zhang, Xu, Tang, Fang, Wu, Tighe & Xing, "Threshold-Consistent Margin Loss for
Open-World Deep Metric Learning", ICLR 2024 (arXiv 2307.04047).

With s the cosine similarity of a pair of normalised embeddings,

    L_TCM = λ⁺ · mean{ m⁺ − s : positive pair, s ≤ m⁺ } + λ⁻ · mean{ s − m⁻ : negative pair, s ≥ m⁻ },

each mean over the *hard* pairs only (an empty set contributes 0). The loss is added
to a base metric-learning loss; :class:`TCMLoss` returns the TCM term alone.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metrics.core.errors import InputError
from metrics.core.report import Report

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["TCMLoss", "OPISExperimentResult", "run_opis_experiment"]


def _check_real(value: object, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise InputError(f"{name} must be a finite real number; got {value!r}")
    value = float(value)
    if not lo <= value <= hi:
        raise InputError(f"{name} must lie in [{lo:g}, {hi:g}]; got {value}")
    return value


class TCMLoss(nn.Module):
    """TCM regulariser: penalises only hard positive and hard negative pairs.

    Parameters
    ----------
    margin_plus : float in [-1, 1]
        Positive pairs with cosine similarity s ≤ m⁺ are hard; they add m⁺ − s.
    margin_minus : float in [-1, 1]
        Negative pairs with s ≥ m⁻ are hard; they add s − m⁻.
    lambda_plus, lambda_minus : float ≥ 0
        Weights of the two means.

    Defaults (0.9, 0.5, 1, 1) follow pytorch-metric-learning's
    ``ThresholdConsistentMarginLoss``, which cites Sec. 5.2 of the paper.

    ``forward(embeddings, labels)`` uses the unordered pairs a < b of the batch and
    returns a 0-dim tensor; gradients flow through the normalisation. A batch without
    hard pairs returns ``embeddings.sum() * 0`` (zero, graph kept).
    """

    def __init__(self, margin_plus: float = 0.9, margin_minus: float = 0.5, lambda_plus: float = 1.0,
                 lambda_minus: float = 1.0) -> None:
        super().__init__()
        self.margin_plus = _check_real(margin_plus, "margin_plus", -1.0, 1.0)
        self.margin_minus = _check_real(margin_minus, "margin_minus", -1.0, 1.0)
        self.lambda_plus = _check_real(lambda_plus, "lambda_plus", 0.0, np.inf)
        self.lambda_minus = _check_real(lambda_minus, "lambda_minus", 0.0, np.inf)

    def extra_repr(self) -> str:
        return (f"margin_plus={self.margin_plus}, margin_minus={self.margin_minus}, "
                f"lambda_plus={self.lambda_plus}, lambda_minus={self.lambda_minus}")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2 or not embeddings.is_floating_point():
            shape = tuple(getattr(embeddings, "shape", ()))
            raise InputError(f"embeddings must be a 2-D floating-point tensor; got shape {shape}")
        labels = torch.as_tensor(labels, device=embeddings.device)
        if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
            raise InputError(f"labels must be 1-D with one label per embedding row ({embeddings.shape[0]}); "
                             f"got shape {tuple(labels.shape)}")
        if not bool(torch.isfinite(embeddings).all()):
            raise InputError("embeddings must be finite; found NaN or inf")
        x = F.normalize(embeddings, p=2.0, dim=1, eps=1e-12)  # x / max(‖x‖, 1e-12)
        a, b = torch.triu_indices(x.shape[0], x.shape[0], offset=1, device=x.device)
        s = (x[a] * x[b]).sum(dim=1)
        same = labels[a] == labels[b]
        hard_pos = same & (s <= self.margin_plus)
        hard_neg = ~same & (s >= self.margin_minus)
        loss = embeddings.sum() * 0.0
        if bool(hard_pos.any()):
            loss = loss + self.lambda_plus * (self.margin_plus - s[hard_pos]).mean()
        if bool(hard_neg.any()):
            loss = loss + self.lambda_minus * (s[hard_neg] - self.margin_minus).mean()
        return loss


# ----------------------------------------------------------------------------------------
# reference experiment


@dataclasses.dataclass(frozen=True)
class OPISExperimentResult(Report):
    """OPIS, ε-OPIS and Recall@1 on unseen digit classes, base loss alone and with TCM."""

    base: dict[str, float]
    tcm: dict[str, float]
    train_classes: tuple[int, ...]
    test_classes: tuple[int, ...]
    params: dict[str, object]

    def to_frame(self) -> pd.DataFrame:
        """One row per training loss: OPIS, ε-OPIS and Recall@1 on the unseen classes."""
        import pandas as pd

        return pd.DataFrame([{"loss": "base", **self.base}, {"loss": "base + TCM", **self.tcm}])

    def plot(self, ax: Axes | None = None) -> Axes:
        """Grouped bars: each score for the base loss and for base + TCM."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        names = [k for k in self.base if k in self.tcm]
        pos = np.arange(len(names))
        ax.bar(pos - 0.2, [self.base[k] for k in names], width=0.4, label="base", color="0.6")
        ax.bar(pos + 0.2, [self.tcm[k] for k in names], width=0.4, label="base + TCM", color="tab:blue")
        ax.set_xticks(pos, names)
        ax.set_ylabel("score on unseen classes")
        ax.set_title("TCM reference experiment (lower OPIS is better, higher R@1 is better)")
        ax.legend(fontsize=8)
        return ax


def _base_loss(z: torch.Tensor, y: torch.Tensor, proxies: torch.Tensor, scale: float) -> torch.Tensor:
    """Normalised-softmax (cosine classifier) cross-entropy, the base metric loss."""
    logits = scale * F.normalize(z, dim=1) @ F.normalize(proxies, dim=1).T
    return F.cross_entropy(logits, y)


def _train(x: torch.Tensor, y: torch.Tensor, n_classes: int, *, use_tcm: bool, seed: int, epochs: int,
           dim: int, tcm: TCMLoss, batch_size: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, dim)).double()
    proxies = nn.Parameter(torch.randn(n_classes, dim, generator=gen, dtype=torch.float64))
    opt = torch.optim.Adam(list(head.parameters()) + [proxies], lr=3e-3)
    n = x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            z = head(x[idx])
            loss = _base_loss(z, y[idx], proxies, 16.0)
            if use_tcm:
                loss = loss + tcm(z, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head


def run_opis_experiment(*, seed: int = 0, epochs: int = 15, dim: int = 32, batch_size: int = 128,
                        tcm: TCMLoss | None = None, far_range: tuple[float, float] = (0.01, 0.1),
                        epsilon: float = 0.1) -> OPISExperimentResult:
    """Train an embedding head on scikit-learn's digits, with and without TCM; score unseen classes.

    Digits 0–4 train a two-layer head (base loss: normalised-softmax cross-entropy);
    digits 5–9 are the open-world test set, scored with :func:`metrics.opis`,
    :func:`metrics.epsilon_opis` and :func:`metrics.recall_at_k`. Both runs share the
    seed and the batch order. Runs in about a second on a CPU.
    """
    from sklearn.datasets import load_digits

    from metrics.core.validation import check_int
    from metrics.threshold_consistency import recall_at_k
    from metrics.threshold_consistency.functional import opis_report

    seed = check_int(seed, "seed", min_value=0)
    epochs = check_int(epochs, "epochs", min_value=1)
    dim = check_int(dim, "dim", min_value=2)
    batch_size = check_int(batch_size, "batch_size", min_value=2)
    tcm = TCMLoss() if tcm is None else tcm
    if not isinstance(tcm, TCMLoss):
        raise InputError(f"tcm must be a TCMLoss; got {type(tcm).__name__}")
    digits = load_digits()
    features = digits.data / 16.0
    labels = digits.target
    train = labels < 5
    x_tr = torch.tensor(features[train], dtype=torch.float64)
    y_tr = torch.tensor(labels[train])
    x_te = torch.tensor(features[~train], dtype=torch.float64)
    y_te = labels[~train]
    out = {}
    for name, use in (("base", False), ("tcm", True)):
        head = _train(x_tr, y_tr, 5, use_tcm=use, seed=seed, epochs=epochs, dim=dim, tcm=tcm,
                      batch_size=batch_size)
        with torch.no_grad():
            z = head(x_te)
        rep = opis_report(z, y_te, far_range=far_range, epsilons=(epsilon,))
        out[name] = {"opis": rep.opis, "eps_opis": rep.eps_opis[epsilon],
                     "recall_at_1": recall_at_k(z, y_te, k=1)[1]}
    return OPISExperimentResult(base=out["base"], tcm=out["tcm"], train_classes=tuple(range(5)),
                                test_classes=tuple(range(5, 10)),
                                params={"seed": seed, "epochs": epochs, "dim": dim, "batch_size": batch_size,
                                        "far_range": far_range, "epsilon": epsilon,
                                        "tcm": tcm.extra_repr()})
