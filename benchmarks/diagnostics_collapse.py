"""Softmax Collapse, z-loss and NLM alignment against what they ride on.

* ``softmax_collapse_fraction`` (label-free and label-relative), ``softmax_collapse_report``
  and ``z_loss`` against one ``F.cross_entropy`` forward on the same logits (default
  16,384 x 50,257 bfloat16, a GPT-2 vocabulary batch);
* ``nlm_alignment`` against one gradient-norm pass (``torch.nn.utils.get_total_norm``) over
  the same parameters (default a 125M-parameter bias-free MLP).

Run: ``python -m benchmarks.diagnostics_collapse [--quick] [--device cuda] [--threads N]``.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from benchmarks._harness import Bench
from diagnostics import nlm_alignment, softmax_collapse_fraction, softmax_collapse_report, z_loss


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def _timed(sync, fn):
    def run():
        out = fn()
        sync()
        return out
    return run


def _logit_cases(bench: Bench, z: torch.Tensor, y: torch.Tensor, sync, quick: bool) -> None:
    ce = {"F.cross_entropy forward (torch)": _timed(sync, lambda: F.cross_entropy(z, y))}
    name = f"{z.shape[0]:,} x {z.shape[1]:,} {str(z.dtype).replace('torch.', '')} logits on {z.device.type}"
    bench.compare(f"softmax_collapse_fraction, label-free, {name}",
                  ours=_timed(sync, lambda: softmax_collapse_fraction(z)), anchors=ce)
    bench.compare(f"softmax_collapse_fraction, label-relative, {name}",
                  ours=_timed(sync, lambda: softmax_collapse_fraction(z, y)), anchors=ce)
    bench.compare(f"z_loss, {name}", ours=_timed(sync, lambda: z_loss(z, y)), anchors=ce)
    if quick:
        bench.compare(f"softmax_collapse_report, {name}", ours=_timed(sync, lambda: softmax_collapse_report(z, y)),
                      anchors=ce)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    a = parser.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    sync = _sync(a.device)
    rows, vocab = (2048, 8192) if a.quick else (16384, 50257)
    width, depth = (1024, 8) if a.quick else (4096, 8)  # 8.4M / 134M parameters
    bench = Bench("diagnostics_collapse", "Softmax Collapse, z-loss, NLM alignment")
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.bfloat16, torch.float32):
        z = (torch.randn(rows, vocab, generator=g) * 8).to(dtype).to(a.device)
        y = torch.randint(0, vocab, (rows,), generator=g).to(a.device)
        _logit_cases(bench, z, y, sync, a.quick)
        del z
    layers = []
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width, bias=False), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1]).to(a.device)
    net(torch.randn(4, width, device=a.device)).square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    n_params = sum(p.numel() for p in net.parameters())
    bench.compare(f"nlm_alignment, bias-free MLP {n_params / 1e6:.1f}M float32 parameters on {a.device}",
                  ours=_timed(sync, lambda: nlm_alignment(net)),
                  anchors={"get_total_norm of the gradients (torch)":
                           _timed(sync, lambda: float(torch.nn.utils.get_total_norm(grads)))})
    bench.note("SC runs one `log_softmax` per chunk (the kernel `F.cross_entropy` runs; half logits with "
               "dtype=float32 run the half kernel) and two row reductions (max and min: collapse and "
               "finiteness), with one host read at the end; on the CPU a chunk holds at most 2^22 logits. "
               "`z_loss` computes log Z in float32 at least (the precision a loss term needs), so on "
               "bfloat16 logits it runs the float32 `log_softmax`: that cast and the float32 output are "
               "most of its cost over the bfloat16 cross-entropy. `softmax_collapse_report` also needs "
               "the float32 values of S and copies per-row arrays to the host. NLM alignment copies "
               "weights and gradients into a float64 buffer (exact products; on the CPU a 2 x 2 MiB "
               "buffer reused chunk by chunk) and takes three float64 dot products per tensor (batched "
               "Gram matrices for runs of equal-sized small tensors): it reads the float32 data once, "
               "writes and reads the float64 copies, about ten times the bytes of a float32 norm pass. "
               "The shared machine makes every ratio noisy.")
    bench.write()


if __name__ == "__main__":
    main()
