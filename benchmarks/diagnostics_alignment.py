"""Cost of the gradient-alignment probes and of the continual-evaluation bookkeeping.

1. ``GradientAlignmentMonitor(kind="conflict")`` on a logged step of an MLP training loop,
   against the training step itself (forward, backward);
2. ``gradient_entanglement`` per batch of pairs on a small causal LM, ``method="loop"``
   against ``"vmap"`` and ``"last_layer"``;
3. ``ContinualEvaluationMonitor`` bookkeeping over P evaluation points (``eval_fn``
   excluded: it reads a table) against recomputing ``continual_eval_report`` on the whole
   accuracy matrix at every point (the naive anchor, O(P) per point).

Run: ``python -m benchmarks.diagnostics_alignment [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks._harness import Bench
from diagnostics import (
    ContinualEvaluationMonitor,
    GradientAlignmentMonitor,
    continual_eval_report,
    gradient_entanglement,
)
from reference_models.alignment_experiments import TinyCausalLM


def conflict_probe(bench: Bench) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    x, y = torch.randn(256, 256), torch.randint(0, 10, (256,))
    replay_x, replay_y = torch.randn(256, 256), torch.randint(0, 10, (256,))
    ce = torch.nn.functional.cross_entropy

    def probe(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.nn.Module]:
        return ce(model(x), y), ce(model(replay_x), replay_y), model

    monitor = GradientAlignmentMonitor(probe, kind="conflict", every_n_steps=1)

    def training_step() -> None:
        model.zero_grad()
        ce(model(x), y).backward()

    bench.compare("GradientAlignmentMonitor conflict probe, one logged step (MLP 256-512-10, batch 256)",
                  ours=lambda: monitor.on_step(None, model=model),
                  anchors={"one training step: forward + backward (torch)": training_step}, repeat=5)


def entanglement(bench: Bench, pairs: int) -> None:
    model = TinyCausalLM(vocab_size=64, width=64, seed=0)
    g = torch.Generator().manual_seed(0)
    ids_w = torch.randint(0, 64, (pairs, 24), generator=g)
    ids_l = ids_w.clone()
    ids_l[:, 12:] = torch.randint(0, 64, (pairs, 12), generator=g)
    mask = torch.zeros_like(ids_w)
    mask[:, 12:] = 1
    chosen, rejected = {"input_ids": ids_w, "response_mask": mask}, {"input_ids": ids_l, "response_mask": mask}

    def run(method: str):
        return lambda: gradient_entanglement(model, chosen, rejected, method=method)  # type: ignore[arg-type]

    bench.compare(f"gradient_entanglement, {pairs} pairs, tiny causal LM (V=64, d=64, T=24), method='loop'",
                  ours=run("loop"), anchors={"method='vmap' (ours)": run("vmap"),
                                             "method='last_layer' (ours, head only)": run("last_layer")})


def continual(bench: Bench, points: int, tasks: int = 5) -> None:
    rng = np.random.default_rng(0)
    current = np.minimum(np.arange(points) * tasks // points, tasks - 1)
    table = rng.random((points, tasks))

    def ours() -> None:
        monitor = ContinualEvaluationMonitor(lambda m, t, i: float(table[m, t]), windows=(10, 100), subsample=None)
        for n in range(points):
            monitor.on_step(n, model=n, current_task=int(current[n]))

    acc = np.where(np.arange(tasks)[None, :] <= current[:, None], table, np.nan)

    def naive() -> None:
        for n in range(points):
            continual_eval_report(acc[: n + 1], current[: n + 1], windows=(10, 100))

    bench.compare(f"continual evaluation bookkeeping, {points} evaluation points, K={tasks}, windows 10/100",
                  ours=ours, anchors={"continual_eval_report recomputed at every point (naive)": naive},
                  repeat=3, memory=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    a = parser.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    bench = Bench("diagnostics_alignment", "Gradient-alignment probes and continual-evaluation bookkeeping")
    conflict_probe(bench)
    entanglement(bench, 4 if a.quick else 16)
    continual(bench, 300 if a.quick else 3000)
    bench.note("The conflict probe costs two forward and two backward passes (one per loss) plus one "
               "float64 pass over the gradients, on logged steps only (every_n_steps=100 amortises it). "
               "The continual monitor keeps running minima and monotone deques, O(1) amortised per point; "
               "the naive anchor is O(P) per point. The shared machine makes every ratio noisy.")
    bench.write()


if __name__ == "__main__":
    main()
