"""Cost of the issue-10 diagnostics: gradient-alignment probes and continual-evaluation bookkeeping.

Run: .venv/bin/python benchmarks/diagnostics_alignment.py

1. GradientAlignmentMonitor (kind="conflict") on an MLP training loop, every 100 steps:
   wall time per logged step and amortised overhead against the plain training step.
2. Entanglement probe per pair on a small causal LM: method="loop" vs "vmap" vs "last_layer".
3. ContinualEvaluationMonitor bookkeeping (eval_fn excluded) against the naive anchor that
   recomputes continual_eval_report on the whole accuracy matrix at every evaluation.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from diagnostics import (
    ContinualEvaluationMonitor,
    GradientAlignmentMonitor,
    continual_eval_report,
    gradient_entanglement,
)
from reference_models.alignment_experiments import TinyCausalLM


def timed(fn, repeat=1):
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def training_loop_overhead(steps=300, every=100):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(256, 256), torch.randint(0, 10, (256,))
    replay_x, replay_y = torch.randn(256, 256), torch.randint(0, 10, (256,))

    def probe(model):
        ce = torch.nn.functional.cross_entropy
        return ce(model(x), y), ce(model(replay_x), replay_y), model

    def run(monitor):
        start = time.perf_counter()
        for step in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            if monitor is not None:
                monitor.on_step(step, model=model)
            opt.step()
        return time.perf_counter() - start

    run(None)  # warm-up
    plain = min(run(None) for _ in range(3))
    monitor = GradientAlignmentMonitor(probe, kind="conflict", every_n_steps=every)
    run(monitor)
    per_logged = monitor.seconds / monitor.n_runs
    # the monitor's own time (measured inside on_step) over the plain loop's time: wall-clock
    # differences between two whole loops are noisier than the quantity being measured
    return plain / steps, per_logged, monitor.seconds / plain


def entanglement_methods(pairs=16):
    model = TinyCausalLM(vocab_size=64, width=64, seed=0)
    g = torch.Generator().manual_seed(0)
    ids_w = torch.randint(0, 64, (pairs, 24), generator=g)
    ids_l = ids_w.clone()
    ids_l[:, 12:] = torch.randint(0, 64, (pairs, 12), generator=g)
    mask = torch.zeros_like(ids_w)
    mask[:, 12:] = 1
    chosen, rejected = {"input_ids": ids_w, "response_mask": mask}, {"input_ids": ids_l, "response_mask": mask}
    out = {}
    for method in ("loop", "vmap", "last_layer"):
        gradient_entanglement(model, chosen, rejected, method=method)  # warm-up
        out[method] = timed(lambda: gradient_entanglement(model, chosen, rejected, method=method), repeat=3) / pairs
    return out


def continual_bookkeeping(points=3000, tasks=5):
    rng = np.random.default_rng(0)
    current = np.minimum(np.arange(points) * tasks // points, tasks - 1)
    table = rng.random((points, tasks))
    monitor = ContinualEvaluationMonitor(lambda m, t, i: table[m, t], windows=(10, 100), subsample=None)
    start = time.perf_counter()
    for n in range(points):
        monitor.on_step(n, model=n, current_task=int(current[n]))
    ours = (time.perf_counter() - start) / points
    acc = monitor.acc_matrix()
    sample = range(0, points, points // 30)  # the anchor is O(P) per point: time a sample of points
    start = time.perf_counter()
    for n in sample:
        continual_eval_report(acc[: n + 1], current[: n + 1], windows=(10, 100))
    naive_mean = (time.perf_counter() - start) / len(sample)
    return ours, naive_mean


def main():
    lines = ["| measurement | value |", "|---|---|"]
    step, logged, overhead = training_loop_overhead()
    lines += [f"| MLP training step (256×256 → 512 → 10, batch 256) | {step * 1e3:.2f} ms |",
              f"| GradientAlignmentMonitor conflict probe, per logged step | {logged * 1e3:.2f} ms "
              f"({logged / step:.2f} training steps) |",
              f"| time inside the monitor / training time, every_n_steps=100 | {overhead * 100:.2f} % |"]
    for method, seconds in entanglement_methods().items():
        lines.append(f"| entanglement per pair, method={method} (V=64, d=64, T=24) | {seconds * 1e3:.2f} ms |")
    ours, naive = continual_bookkeeping()
    lines += [f"| ContinualEvaluationMonitor bookkeeping per evaluation (K=5, windows 10/100) | {ours * 1e6:.0f} µs |",
              f"| naive anchor: continual_eval_report on the whole matrix, mean over P ≤ 3000 | {naive * 1e6:.0f} µs "
              f"({naive / ours:.1f}× ours, growing with P) |"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
