"""The reference grokking task: modular addition with a small bias-free ReLU MLP on CPU.

Prieto et al., *Grokking at the Edge of Numerical Stability* (ICLR 2025,
arXiv:2501.04697), Sec. 3-6. Trained full batch in float32 with softmax cross-entropy
and no weight decay, the MLP fits the training pairs, its gradient aligns with the
weights (NLM cosine → 1), the logits grow until float32 softmax collapses, and test
accuracy stalls. With StableMax cross-entropy (or ⊥Grad) the trained loss never
becomes exactly 0 and the model keeps learning.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import nn

from metrics.core.errors import InputError
from metrics.core.progress import Progress, progress_reporter
from metrics.core.report import Report
from metrics.core.validation import check_fraction, check_int, check_option, check_positive

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ModularAdditionTask", "GrokkingMLP", "GrokkingHistory", "run_grokking"]


class ModularAdditionTask:
    """All pairs (a, b) of Z_p with label (a + b) mod p, split at random into train/test.

    Inputs are the one-hot codes of a and b concatenated (2p features, float32).
    ``x_train, y_train, x_test, y_test`` are tensors; the split is fixed by ``seed``.
    """

    def __init__(self, p: int = 53, train_fraction: float = 0.7, seed: int = 0):
        self.p = check_int(p, "p", min_value=2)
        self.train_fraction = check_fraction(train_fraction, "train_fraction")
        self.seed = check_int(seed, "seed", min_value=0)
        grid_a, grid_b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
        a, b = grid_a.ravel(), grid_b.ravel()
        x = np.zeros((p * p, 2 * p), dtype=np.float32)
        x[np.arange(p * p), a] = 1.0
        x[np.arange(p * p), p + b] = 1.0
        y = (a + b) % p
        order = np.random.default_rng(seed).permutation(p * p)
        n_train = int(round(train_fraction * p * p))
        if not 0 < n_train < p * p:
            raise InputError(f"train_fraction must leave both splits non-empty; got {train_fraction}")
        tr, te = order[:n_train], order[n_train:]
        self.x_train, self.y_train = torch.from_numpy(x[tr]), torch.from_numpy(y[tr]).long()
        self.x_test, self.y_test = torch.from_numpy(x[te]), torch.from_numpy(y[te]).long()

    def __repr__(self) -> str:
        return (f"ModularAdditionTask(p={self.p}, train_fraction={self.train_fraction}, seed={self.seed}; "
                f"{len(self.y_train)} train / {len(self.y_test)} test pairs)")


class GrokkingMLP(nn.Sequential):
    """ReLU MLP 2p → width (× ``depth`` hidden layers) → p, PyTorch's default init.

    Without biases (the default) it is positively homogeneous of degree ``depth + 1``
    in its parameters, so scaling θ only scales the logits (the NLM direction).
    """

    def __init__(self, p: int, width: int = 200, depth: int = 2, bias: bool = False):
        p = check_int(p, "p", min_value=2)
        width = check_int(width, "width", min_value=1)
        depth = check_int(depth, "depth", min_value=1)
        layers: list[nn.Module] = []
        fan_in = 2 * p
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width, bias=bias), nn.ReLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, p, bias=bias))
        super().__init__(*layers)
        self.p, self.width, self.depth = p, width, depth


@dataclasses.dataclass(frozen=True)
class GrokkingHistory(Report):
    """Logged signals of :func:`run_grokking`, one entry per logged step."""

    config: dict[str, object]
    step: list[int]
    loss: list[float]
    train_accuracy: list[float]
    test_accuracy: list[float]
    sc_fraction: list[float]
    zero_loss_fraction: list[float]
    nlm_cos: list[float | None]
    seconds: float
    monitor_seconds: float

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({k: getattr(self, k) for k in ("step", "loss", "train_accuracy", "test_accuracy",
                                                            "sc_fraction", "zero_loss_fraction", "nlm_cos")})

    def plot(self, ax: Axes | None = None) -> Axes | Figure:
        """Two panels: accuracies, Softmax Collapse / zero-loss fractions and the NLM cosine
        (all in [0, 1] or [-1, 1]) over steps; and the training loss on a log scale. With
        ``ax`` given, the first panel is drawn there and the loss on a twin log axis.
        Returns the Figure (``ax=None``) or ``ax``."""
        import matplotlib.pyplot as plt

        fig = None
        if ax is None:
            fig, (ax, ax_loss) = plt.subplots(2, 1, figsize=(7.5, 6.5), sharex=True,
                                              gridspec_kw={"height_ratios": [3, 2]})
        else:
            ax_loss = ax.twinx()
        nlm = [np.nan if v is None else v for v in self.nlm_cos]
        ax.plot(self.step, self.test_accuracy, label="test accuracy", lw=2, color="tab:green")
        ax.plot(self.step, self.train_accuracy, label="train accuracy", lw=1.2, ls=":", color="tab:green")
        ax.plot(self.step, self.sc_fraction, label="Softmax Collapse fraction (float32, label-free)", lw=2,
                color="tab:red")
        ax.plot(self.step, self.zero_loss_fraction, label="fraction of samples with loss exactly 0", lw=1.2,
                ls="--", color="tab:orange")
        ax.plot(self.step, nlm, label="NLM cosine cos(−∇L, θ)", lw=1.2, color="tab:purple")
        lo = -0.05 if all(v is None or v >= 0 for v in self.nlm_cos) else -1.05
        ax.set_ylim(lo, 1.05)
        ax.set_ylabel("accuracy / fraction / cosine")
        ax.axhline(0.0, color="grey", lw=0.5)
        cfg = self.config
        ax.set_title(f"modular addition p={cfg['p']}: {cfg['loss']}, {cfg['optimizer']}, "
                     f"weight decay {cfg['weight_decay']:g}")
        ax.legend(loc="center right", fontsize=8, framealpha=0.9)
        losses = np.asarray(self.loss, dtype=float)
        shown = np.where(losses > 0, losses, np.nan)  # an exactly-zero loss cannot be drawn on a log axis
        ax_loss.plot(self.step, shown, color="black", lw=1.5, label="training loss (mean)")
        ax_loss.set_yscale("log")
        ax_loss.set_ylabel("training loss (log scale)")
        ax_loss.set_xlabel("step")
        if fig is not None:
            ax_loss.legend(loc="upper right", fontsize=8)
            ax.set_xlabel("")
            fig.tight_layout()
            return fig
        ax.set_xlabel("step")
        return ax


def run_grokking(loss: Literal["softmax_ce", "stablemax_ce"] = "softmax_ce", *,
                 optimizer: Literal["adamw", "perp_adamw"] = "adamw", steps: int = 4000, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.98), weight_decay: float = 0.0, log_every: int = 100,
                 seed: int = 0, p: int = 53, train_fraction: float = 0.7, width: int = 200, depth: int = 2,
                 progress: Progress = False,
                 callback: Callable[[dict[str, object]], object] | None = None) -> GrokkingHistory:
    """Train the reference MLP on modular addition, full batch, float32, and log the signals.

    Parameters
    ----------
    loss : {"softmax_ce", "stablemax_ce"}
        Softmax cross-entropy in float32, or :class:`StableMaxCrossEntropy` (float64).
    optimizer : {"adamw", "perp_adamw"}
        AdamW, or AdamW wrapped in :class:`PerpGrad` (per tensor, rescaled).
    steps, lr, betas, weight_decay, seed
        Training settings (the paper's grokking-without-regularisation setting is
        ``weight_decay=0``).
    log_every : int
        Log every this many steps (and at the last step).
    p, train_fraction, width, depth
        The task and model (:class:`ModularAdditionTask`, :class:`GrokkingMLP`).
    progress : bool or callable
        ``True`` shows a progress bar over the steps; a callable is called as
        ``progress(steps_done, steps)`` after every step.
    callback : callable, optional
        Deprecated (use ``progress``): called with each logged row (a dict).

    Logged per step: the trained loss, train/test accuracy, the label-free float32
    Softmax Collapse fraction of the training logits (the model has no dropout or
    normalisation, so training-mode logits equal eval-mode ones), the fraction of
    training samples whose *trained* loss is exactly 0, and the NLM cosine of the raw
    gradient (before any ⊥ projection). SC and NLM come from
    :class:`diagnostics.SoftmaxCollapseMonitor`. StableMax logits reach the thousands,
    so their *softmax* SC fraction is 1 too: for StableMax "no collapse" means the
    trained loss is never exactly 0.
    """
    import time

    from diagnostics import SoftmaxCollapseMonitor, zero_loss_fraction
    from reference_models.perpgrad import PerpGrad
    from reference_models.stablemax_loss import StableMaxCrossEntropy

    if callback is not None:
        warnings.warn("run_grokking(callback=...) is deprecated; use progress= instead (a bar with True, or "
                      "progress(steps_done, steps)); the logged rows are in the returned history",
                      DeprecationWarning, stacklevel=2)
    check_option(loss, "loss", ("softmax_ce", "stablemax_ce"))
    check_option(optimizer, "optimizer", ("adamw", "perp_adamw"))
    steps = check_int(steps, "steps", min_value=1)
    log_every = check_int(log_every, "log_every", min_value=1)
    lr = check_positive(lr, "lr")
    weight_decay = check_positive(weight_decay, "weight_decay", allow_zero=True)
    if len(tuple(betas)) != 2 or not all(0 <= float(b) < 1 for b in betas):
        raise InputError(f"betas must be two numbers in [0, 1); got {betas!r}")
    task = ModularAdditionTask(p, train_fraction, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GrokkingMLP(task.p, width=width, depth=depth)
    opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(float(betas[0]), float(betas[1])),
                                                   weight_decay=weight_decay)
    if optimizer == "perp_adamw":
        opt = PerpGrad(opt)
    if loss == "softmax_ce":
        loss_fn: nn.Module = nn.CrossEntropyLoss(reduction="none")
    else:
        loss_fn = StableMaxCrossEntropy(reduction="none")
    monitor = SoftmaxCollapseMonitor(every_n_steps=log_every, dtype=torch.float32, on_alert="ignore")
    rows: dict[str, list] = {k: [] for k in ("step", "loss", "train_accuracy", "test_accuracy",
                                             "sc_fraction", "zero_loss_fraction", "nlm_cos")}
    start = time.perf_counter()
    x, y = task.x_train, task.y_train
    reporter = progress_reporter(progress, steps, "grokking")
    for step in range(steps):
        logits = model(x)
        losses = loss_fn(logits, y)
        total = losses.mean()
        opt.zero_grad(set_to_none=True)
        total.backward()
        last = step == steps - 1
        if step % log_every == 0 or last:
            record = monitor.on_step(step, logits=logits, model=model) if step % log_every == 0 else None
            if record is None:  # the last step, off the logging grid
                record = monitor.compute(logits=logits, model=model)
            with torch.no_grad():
                test_acc = float((model(task.x_test).argmax(1) == task.y_test).float().mean())
            row: dict[str, object] = {"step": step, "loss": float(total.detach()), "train_accuracy": float((logits.argmax(1) == y).float().mean()),
                   "test_accuracy": test_acc, "sc_fraction": record["collapse_fraction"],
                   "zero_loss_fraction": zero_loss_fraction(losses.detach()), "nlm_cos": record["nlm_cos"]}
            for k, v in row.items():
                rows[k].append(v)
            if callback is not None:
                callback(row)
        opt.step()
        reporter.update(1)
    reporter.close()
    config: dict[str, object] = {"loss": loss, "optimizer": optimizer, "steps": steps, "lr": lr, "betas": list(betas),
              "weight_decay": weight_decay, "log_every": log_every, "seed": seed, "p": task.p,
              "train_fraction": task.train_fraction, "width": width, "depth": depth}
    return GrokkingHistory(config, **rows, seconds=time.perf_counter() - start, monitor_seconds=monitor.seconds)
