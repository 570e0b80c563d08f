"""Cost of NLM alignment, of the gradient-alignment probes and of the continual-evaluation bookkeeping.

0. ``nlm_alignment`` (the same float64 sums as the ``SoftmaxCollapseMonitor`` NLM probe)
   on bias-free MLPs of a few sizes, against one gradient-norm pass over the same
   parameters (``torch._foreach_norm`` of the gradients, then the norm of the norms, as
   ``clip_grad_norm_`` does) and against the float64 cast of weights and gradients alone
   (the floor of any exact-product method built from eager torch kernels);
1. ``GradientAlignmentMonitor(kind="conflict")`` on a logged step of an MLP training loop,
   against the training step itself (forward, backward);
2. ``gradient_entanglement`` per batch of pairs on a small causal LM, ``method="loop"``
   against ``"vmap"`` and ``"last_layer"``;
3. ``ContinualEvaluationMonitor`` bookkeeping over P evaluation points (``eval_fn``
   excluded: it reads a table) against recomputing ``continual_eval_report`` on the whole
   accuracy matrix at every point (the naive anchor, O(P) per point).

``--device`` moves part 0 to that device and runs part 0 alone (parts 1-3 are small models
and tables that run on the CPU whatever the device: they are on the CPU page); a run on a
device other than the CPU writes its own page,
``diagnostics_alignment_<device type>`` (``diagnostics_alignment_cuda``), so it never replaces
the CPU page, synchronises the GPU before each timer starts and stops, and measures no memory
for part 0 (the harness reads host memory). ``--widths`` sets part 0's MLP widths (depth 8;
the default 512, 1792, 3968 is 2.1M, 25.7M and 126M parameters).

Run: ``python -m benchmarks.diagnostics_alignment [--quick] [--threads N] [--device cuda] [--widths 3968]``.
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
    nlm_alignment,
)
from reference_models.alignment_experiments import TinyCausalLM


def nlm(bench: Bench, width: int, depth: int, device: str) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(*[torch.nn.Linear(width, width, bias=False, device=device) for _ in range(depth)])
    net(torch.randn(4, width, device=device)).square().mean().backward()
    params = [p.detach() for p in net.parameters()]
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    block = 1 << 17 if device == "cpu" else 1 << 23
    staging = torch.empty(2, block, dtype=torch.float64, device=device)

    def grad_norm() -> float:  # what clip_grad_norm_ computes, read on the host
        return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))

    def cast_only() -> float:  # the float64 copies of w and g, slice by slice, nothing else
        for w, g in zip(params, grads):
            w, g = w.reshape(-1), g.reshape(-1)
            for s in range(0, w.numel(), block):
                c = min(block, w.numel() - s)
                torch._foreach_copy_([staging[0, :c], staging[1, :c]], [w[s:s + c], g[s:s + c]])
        return float(staging[0, 0])

    n = sum(p.numel() for p in params)
    bench.compare(f"nlm_alignment, bias-free MLP {depth} x {width} x {width} ({n / 1e6:.1f}M float32 parameters, "
                  f"{device})",
                  ours=lambda: nlm_alignment(net),
                  anchors={"one gradient-norm pass: _foreach_norm + norm of norms (torch)": grad_norm,
                           "float64 cast of weights and gradients alone (torch copy, the floor)": cast_only},
                  repeat=3, memory=device == "cpu")


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
        monitor = ContinualEvaluationMonitor(lambda m, t, i: float(table[m, t]),  # type: ignore[index]
                                             windows=(10, 100), subsample=None)
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
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--widths", type=int, nargs="+", default=None,
                        help="widths of the depth-8 MLPs of the NLM case (default 512 1792 3968; --quick 512 1024)")
    a = parser.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    on_cpu = a.device == "cpu"
    suffix = "" if on_cpu else f"_{a.device.split(':')[0]}"
    title = "NLM alignment, gradient-alignment probes and continual-evaluation bookkeeping"
    bench = Bench("diagnostics_alignment" + suffix, title if on_cpu else f"NLM alignment ({a.device})",
                  device=a.device)
    widths = a.widths or ((512, 1024) if a.quick else (512, 1792, 3968))  # 2.1M, 25.7M, 126M parameters
    for width in widths:
        nlm(bench, width, 8, a.device)
    if on_cpu:
        conflict_probe(bench)
        entanglement(bench, 4 if a.quick else 16)
        continual(bench, 300 if a.quick else 3000)
    bench.note("NLM alignment reads each float32 weight and gradient once, casts them slice by slice into a "
               "float64 staging buffer of two rows (2 x 1 MiB on the CPU, inside the L2 cache; 2 x 64 MiB on an "
               "accelerator) with one fused copy, and takes three float64 dot products per slice while the slice is "
               "in cache (products of float32 numbers are exact in float64); one host read at the end. The "
               "gradient-norm pass reads the gradients alone in float32. On the CPU the cast itself (third row) is "
               "most of the cost: the eager kernels cannot multiply float32 values in float64 as they read them.")
    if not on_cpu:
        bench.note("The gradient-alignment probes and the continual-evaluation bookkeeping run on the CPU; "
                   "they are on the CPU page (`python -m benchmarks.diagnostics_alignment`).")
        bench.write()
        return
    bench.note("The conflict probe costs two forward and two backward passes (one per loss) plus one "
               "float64 pass over the gradients, on logged steps only (every_n_steps=100 amortises it). "
               "The continual monitor keeps running minima and monotone deques, O(1) amortised per point; "
               "the naive anchor is O(P) per point. The shared machine makes every ratio noisy.")
    bench.write()


if __name__ == "__main__":
    main()
