"""Reference experiments for the gradient-alignment and continual-evaluation diagnostics.

* :func:`run_dpo_entanglement` — a tiny causal LM trained with DPO one preference pair per
  step. Before each step the entanglement probe predicts, from ⟨ĝ_w, ĝ_l⟩ and the norms,
  whether the chosen and the rejected log-probabilities will rise or fall; after the step
  the actual changes are measured. Yuan et al. (arXiv:2410.13828) predict that pairs with
  strongly entangled gradients see *both* log-probabilities fall.
* :func:`run_split_digits_continual` — class-incremental split digits (scikit-learn's
  digits: task 0 = digits 0–4, task 1 = digits 5–9) with experience replay, evaluated
  every step by :class:`diagnostics.ContinualEvaluationMonitor`. Right after the task
  switch the accuracy on task 0 collapses and then recovers: the stability gap of De Lange
  et al. (ICLR 2023), visible in the monitor's curve and its min-ACC.

Both run on a CPU in seconds.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from metrics.core.progress import Progress, track
from metrics.core.report import Report
from metrics.core.validation import check_int, check_positive

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "TinyCausalLM",
    "DPOEntanglementResult",
    "run_dpo_entanglement",
    "SplitDigitsResult",
    "run_split_digits_continual",
]


class TinyCausalLM(torch.nn.Module):
    """A minimal causal language model: embedding → causal running mean → tanh layer → unembedding.

    Called as ``model(input_ids=..., attention_mask=None)`` and returning (B, T, V) logits, like a
    Hugging Face causal LM; ``lm_head`` is the unembedding. Position t sees tokens ≤ t only.
    """

    def __init__(self, vocab_size: int = 16, width: int = 16, *, seed: int = 0, dtype: torch.dtype = torch.float64):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embed = torch.nn.Embedding(vocab_size, width)
        self.mix = torch.nn.Linear(width, width)
        self.lm_head = torch.nn.Linear(width, vocab_size)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.7)
        self.to(dtype)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(input_ids)
        steps = torch.arange(1, input_ids.shape[1] + 1, dtype=x.dtype, device=x.device).reshape(1, -1, 1)
        return self.lm_head(torch.tanh(self.mix(x.cumsum(dim=1) / steps)))


@dataclasses.dataclass(frozen=True)
class DPOEntanglementResult(Report):
    """Per step: the probe's predicted and the measured changes of ℓ_w and ℓ_l (one pair per step).

    ``predicted_*`` are first-order predictions η(c_w‖ĝ_w‖² − c_l⟨⟩) and η(c_w⟨⟩ − c_l‖ĝ_l‖²);
    ``actual_*`` the measured changes after the SGD step. ``sign_agreement`` is the fraction of
    steps whose predicted signs of both changes are right; ``both_fall_precision`` /
    ``both_fall_recall`` score the probe as a detector of "both log-probabilities fall".
    """

    ratio_min: np.ndarray
    predicted_chosen: np.ndarray
    predicted_rejected: np.ndarray
    actual_chosen: np.ndarray
    actual_rejected: np.ndarray
    sign_agreement: float
    both_fall_fraction: float
    both_fall_precision: float | None
    both_fall_recall: float | None

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({k: getattr(self, k) for k in ("ratio_min", "predicted_chosen", "predicted_rejected",
                                                         "actual_chosen", "actual_rejected")})

    def plot(self, ax: Axes | None = None) -> Axes:
        """Measured against predicted Δℓ (chosen and rejected); red marks steps where both fell."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4))
        both = (self.actual_chosen < 0) & (self.actual_rejected < 0)
        for pred, act, marker, label in ((self.predicted_chosen, self.actual_chosen, "o", "chosen"),
                                         (self.predicted_rejected, self.actual_rejected, "x", "rejected")):
            ax.scatter(pred[~both], act[~both], marker=marker, s=14, color="tab:blue", label=f"{label}")
            ax.scatter(pred[both], act[both], marker=marker, s=14, color="tab:red", label=f"{label}, both fell")
        lim = float(np.abs(np.concatenate([self.predicted_chosen, self.actual_chosen, self.predicted_rejected,
                                           self.actual_rejected])).max())
        ax.plot([-lim, lim], [-lim, lim], color="grey", lw=0.8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("predicted Δ log-prob (probe, first order)")
        ax.set_ylabel("measured Δ log-prob after the SGD step")
        ax.legend(fontsize=7)
        return ax


def _preference_pairs(n_pairs: int, vocab: int, prompt_len: int, response_len: int, rng: np.random.Generator):
    """Pairs sharing a prompt whose responses differ only in their last token (entangled by design)."""
    prompts = rng.integers(0, vocab, size=(n_pairs, prompt_len))
    responses = rng.integers(0, vocab, size=(n_pairs, response_len))
    rejected = responses.copy()
    rejected[:, -1] = (responses[:, -1] + rng.integers(1, vocab, size=n_pairs)) % vocab
    ids_w = torch.as_tensor(np.concatenate([prompts, responses], 1))
    ids_l = torch.as_tensor(np.concatenate([prompts, rejected], 1))
    mask = torch.zeros_like(ids_w)
    mask[:, prompt_len:] = 1
    return {"input_ids": ids_w, "response_mask": mask}, {"input_ids": ids_l, "response_mask": mask.clone()}


def run_dpo_entanglement(*, steps: int = 200, n_pairs: int = 64, beta: float = 0.5, lr: float = 0.05,
                         vocab_size: int = 16, seed: int = 0, progress: Progress = False) -> DPOEntanglementResult:
    """Train :class:`TinyCausalLM` with DPO, one pair per SGD step, checking the probe's predictions.

    Each step takes pair ``step % n_pairs``, runs :func:`diagnostics.gradient_entanglement` on it
    (the reference model is the frozen initial model), takes one SGD step of size ``lr`` on its
    DPO loss and measures Δℓ_w and Δℓ_l. ``progress``: ``True`` for a bar over the steps, or
    a callable ``progress(steps_done, steps)``.
    """
    from diagnostics.entanglement import gradient_entanglement, sequence_logps

    steps, n_pairs = check_int(steps, "steps", min_value=1), check_int(n_pairs, "n_pairs", min_value=1)
    beta, lr = check_positive(beta, "beta"), check_positive(lr, "lr")
    rng = np.random.default_rng(seed)
    chosen, rejected = _preference_pairs(n_pairs, vocab_size, 3, 4, rng)
    model = TinyCausalLM(vocab_size, seed=seed)
    reference = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    rows = []
    for step in track(range(steps), progress=progress, desc="DPO entanglement"):  # one optimizer step each
        i = step % n_pairs
        pair_w = {k: v[i: i + 1] for k, v in chosen.items()}
        pair_l = {k: v[i: i + 1] for k, v in rejected.items()}
        probe = gradient_entanglement(model, pair_w, pair_l, loss="dpo", beta=beta, ref_model=reference).per_pair[0]
        with torch.no_grad():
            before = (float(sequence_logps(model, pair_w)), float(sequence_logps(model, pair_l)))
            ref = (sequence_logps(reference, pair_w), sequence_logps(reference, pair_l))
        margin = (sequence_logps(model, pair_w) - ref[0]) - (sequence_logps(model, pair_l) - ref[1])
        optimizer.zero_grad()
        (-torch.nn.functional.logsigmoid(beta * margin)).sum().backward()
        optimizer.step()
        with torch.no_grad():
            after = (float(sequence_logps(model, pair_w)), float(sequence_logps(model, pair_l)))
        rows.append((probe.ratio_min if probe.ratio_min is not None else np.nan, lr * probe.delta_chosen,
                     lr * probe.delta_rejected, after[0] - before[0], after[1] - before[1]))
    ratio, pw, pl, aw, al = (np.array(c) for c in zip(*rows))
    agree = float(np.mean((np.sign(pw) == np.sign(aw)) & (np.sign(pl) == np.sign(al))))
    predicted_both, actual_both = (pw < 0) & (pl < 0), (aw < 0) & (al < 0)
    hits = int((predicted_both & actual_both).sum())
    return DPOEntanglementResult(
        ratio_min=ratio, predicted_chosen=pw, predicted_rejected=pl, actual_chosen=aw, actual_rejected=al,
        sign_agreement=agree, both_fall_fraction=float(actual_both.mean()),
        both_fall_precision=hits / int(predicted_both.sum()) if predicted_both.any() else None,
        both_fall_recall=hits / int(actual_both.sum()) if actual_both.any() else None)


@dataclasses.dataclass(frozen=True)
class SplitDigitsResult(Report):
    """The monitor's history of a two-task split-digits run.

    ``history`` is the :class:`~diagnostics.ContinualEvaluationMonitor` frame (one row per
    evaluation); ``switch_step`` the first step of task 1; ``gap`` = accuracy on task 0 just
    before the switch minus its minimum after it; ``recovery`` = final task-0 accuracy minus
    that minimum.
    """

    history: pd.DataFrame = dataclasses.field(repr=False)
    switch_step: int
    acc_before_switch: float
    min_acc_after_switch: float
    final_acc_task_0: float
    final_acc_task_1: float
    gap: float
    recovery: float

    def to_frame(self) -> pd.DataFrame:
        return self.history.copy()

    def plot(self, ax: Axes | None = None) -> Axes:
        """Accuracy on each task over steps, with the task switch and min-ACC marked."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        frame = self.history
        for column in [c for c in frame.columns if c.startswith("acc_task_")]:
            ax.plot(frame["step"], frame[column], label=column.replace("acc_task_", "task "))
        ax.plot(frame["step"], frame["min_acc"], "k--", lw=1, label="min-ACC")
        ax.axvline(self.switch_step, color="grey", lw=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"stability gap {self.gap:.2f} (recovers {self.recovery:.2f})")
        ax.legend(loc="lower right", fontsize=8)
        return ax


def run_split_digits_continual(*, steps_per_task: int = 150, batch_size: int = 32, replay: int = 16,
                               lr: float = 1.0, every_n_steps: int = 1, seed: int = 0,
                               progress: Progress = False) -> SplitDigitsResult:
    """Class-incremental split digits with experience replay, evaluated every n steps.

    An MLP (64 → 64 → 10, shared head) trains on digits 0–4 for ``steps_per_task`` SGD steps,
    then on digits 5–9 with ``replay`` task-0 examples mixed into every batch (from a buffer of
    100). :class:`diagnostics.ContinualEvaluationMonitor` evaluates both tasks' held-out sets
    (30 %) every ``every_n_steps`` steps. ``progress``: ``True`` for a bar over the steps, or a
    callable ``progress(steps_done, steps)``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from diagnostics.continual import ContinualEvaluationMonitor

    steps_per_task = check_int(steps_per_task, "steps_per_task", min_value=2)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    task_of = lambda labels: (labels >= 5).astype(int)  # noqa: E731
    train = [(torch.as_tensor(x_tr[task_of(y_tr) == t]), torch.as_tensor(y_tr[task_of(y_tr) == t])) for t in (0, 1)]
    test = [(torch.as_tensor(x_te[task_of(y_te) == t]), torch.as_tensor(y_te[task_of(y_te) == t])) for t in (0, 1)]
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def evaluate(net, task, indices):
        xs, ys = test[task]
        if indices is not None:
            xs, ys = xs[indices], ys[indices]
        with torch.no_grad():
            return float((net(xs).argmax(1) == ys).float().mean())

    monitor = ContinualEvaluationMonitor(evaluate, every_n_steps=every_n_steps, windows=(10,), subsample=None,
                                         task_sizes=[len(test[0][1]), len(test[1][1])], seed=seed)
    buffer = rng.choice(len(train[0][1]), size=min(100, len(train[0][1])), replace=False)
    for step in track(range(2 * steps_per_task), progress=progress, desc="split digits"):  # one optimizer step each
        task = step // steps_per_task
        monitor.on_step(step, model=model, current_task=task)
        xs, ys = train[task]
        idx = rng.integers(0, len(ys), size=batch_size)
        bx, by = xs[idx], ys[idx]
        if task == 1 and replay:
            r = buffer[rng.integers(0, len(buffer), size=replay)]
            bx, by = torch.cat([bx, train[0][0][r]]), torch.cat([by, train[0][1][r]])
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(bx), by).backward()
        optimizer.step()
    monitor.on_step(2 * steps_per_task, model=model, current_task=1)
    frame = monitor.to_frame()
    before = float(frame.loc[frame["step"] < steps_per_task, "acc_task_0"].iloc[-1])
    after = frame.loc[frame["step"] >= steps_per_task, "acc_task_0"]
    low, final = float(after.min()), float(after.iloc[-1])
    return SplitDigitsResult(history=frame, switch_step=steps_per_task, acc_before_switch=before,
                             min_acc_after_switch=low, final_acc_task_0=final,
                             final_acc_task_1=float(frame["acc_task_1"].iloc[-1]), gap=before - low,
                             recovery=final - low)
