"""Cost of Softmax Collapse monitoring, side by side with what it rides on.

1. The monitor's overhead per training step on the reference grokking task (p = 53,
   bias-free MLP 106-200-200-53, full batch of 1966 pairs, AdamW, float32): the median
   time of one training step, of one due ``SoftmaxCollapseMonitor.on_step`` (SC over
   the batch logits + NLM cosine over the parameters), and the amortised overhead at
   ``every_n_steps=10``.
2. ``softmax_collapse_fraction`` against its anchor ``F.cross_entropy`` (forward) on the
   same logits, and ``nlm_alignment`` against one pass over the parameters
   (``sum(p.grad.norm())``).

Run: ``.venv/bin/python benchmarks/diagnostics_collapse.py [--threads N]`` (default 1
thread: on a shared, oversubscribed machine torch's parallel kernels wait on busy
cores and every timing becomes noise).
"""

from __future__ import annotations

import resource
import statistics
import time

import torch
import torch.nn.functional as F

from diagnostics import SoftmaxCollapseMonitor, nlm_alignment, softmax_collapse_fraction
from reference_models import GrokkingMLP, ModularAdditionTask


def median_time(fn, repeats: int = 15, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    torch.set_num_threads(parser.parse_args().threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    task = ModularAdditionTask()
    model = GrokkingMLP(task.p)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.0)
    x, y = task.x_train, task.y_train
    state = {}

    def train_step():
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["logits"] = logits

    step_s = median_time(train_step, repeats=30)
    monitor = SoftmaxCollapseMonitor(every_n_steps=1, on_alert="ignore")
    counter = iter(range(10**9))
    logits = state["logits"]
    mon_s = median_time(lambda: monitor.on_step(next(counter), logits=logits, labels=y, model=model), repeats=30)
    sc_only = median_time(lambda: softmax_collapse_fraction(logits), repeats=30)
    nlm_only = median_time(lambda: nlm_alignment(model), repeats=30)
    print("\n1. monitor overhead on the reference grokking task (p=53, 1966 x 53 logits, 62.6k parameters)")
    print(f"   training step (fwd+bwd+AdamW)         {step_s * 1e3:8.3f} ms")
    print(f"   monitor due call (SC+zero-loss+NLM)    {mon_s * 1e3:8.3f} ms   = {mon_s / step_s:6.2%} of a step")
    print(f"     of which softmax_collapse_fraction   {sc_only * 1e3:8.3f} ms")
    print(f"     of which nlm_alignment               {nlm_only * 1e3:8.3f} ms")
    print(f"   amortised at every_n_steps=10          {mon_s / 10 / step_s:8.3%} of a training step")
    print(f"   amortised at every_n_steps=100         {mon_s / 100 / step_s:8.3%} of a training step")

    print("\n2. against the anchors (median wall time, ratio = ours / anchor)")
    print(f"   {'case':34s} {'ours ms':>9s} {'anchor ms':>10s} {'ratio':>7s}")
    for n, c in [(1966, 53), (4096, 8192)]:
        z = torch.randn(n, c) * 10
        t = torch.randint(0, c, (n,))
        ours = median_time(lambda: softmax_collapse_fraction(z), repeats=10)
        ours_l = median_time(lambda: softmax_collapse_fraction(z, t), repeats=10)
        anchor = median_time(lambda: F.cross_entropy(z, t), repeats=10)
        print(f"   {f'SC label-free {n}x{c}':34s} {ours * 1e3:9.3f} {anchor * 1e3:10.3f} {ours / anchor:7.2f}")
        print(f"   {f'SC label-relative {n}x{c}':34s} {ours_l * 1e3:9.3f} {anchor * 1e3:10.3f} {ours_l / anchor:7.2f}")
    big = torch.nn.Sequential(torch.nn.Linear(1024, 1024, bias=False), torch.nn.ReLU(),
                              torch.nn.Linear(1024, 1024, bias=False))
    big(torch.randn(8, 1024)).sum().backward()
    ours = median_time(lambda: nlm_alignment(big), repeats=10)
    anchor = median_time(lambda: sum(float(p.grad.norm()) for p in big.parameters()), repeats=10)
    print(f"   {'NLM alignment, 2.1M parameters':34s} {ours * 1e3:9.3f} {anchor * 1e3:10.3f} {ours / anchor:7.2f}"
          "   (anchor: one pass, grad norms)")
    print(f"\npeak RSS {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
