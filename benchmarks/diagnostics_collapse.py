"""Softmax Collapse and z-loss against what they ride on.

* ``softmax_collapse_fraction`` (label-free and label-relative), ``softmax_collapse_report``
  and ``z_loss`` against one ``F.cross_entropy`` forward on the same logits, bfloat16 and
  float32: 2,048 x 8,192, and a GPT-2 vocabulary batch of 16,384 x 50,257 (``--rows``
  sets its rows; ``--quick`` runs the small size only). NLM alignment is measured in
  ``benchmarks.diagnostics_alignment``.

A run on a device other than the CPU writes its own page, ``diagnostics_collapse_<device
type>`` (``diagnostics_collapse_cuda``), so it never replaces the CPU page; there the GPU is
synchronised before each timer starts and stops, and memory is not measured (the harness
reads host memory).

Run: ``python -m benchmarks.diagnostics_collapse [--quick] [--rows N] [--device cuda] [--threads N]``.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from benchmarks._harness import Bench
from diagnostics import softmax_collapse_fraction, softmax_collapse_report, z_loss


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _timed(sync, fn):
    def run():
        out = fn()
        sync()
        return out
    return run


def _logit_cases(bench: Bench, z: torch.Tensor, y: torch.Tensor, sync) -> None:
    ce = {"F.cross_entropy forward (torch)": _timed(sync, lambda: F.cross_entropy(z, y))}
    name = f"{z.shape[0]:,} x {z.shape[1]:,} {str(z.dtype).replace('torch.', '')} logits on {z.device.type}"
    memory = z.device.type == "cpu"
    bench.compare(f"softmax_collapse_fraction, label-free, {name}",
                  ours=_timed(sync, lambda: softmax_collapse_fraction(z)), anchors=ce, memory=memory)
    bench.compare(f"softmax_collapse_fraction, label-relative, {name}",
                  ours=_timed(sync, lambda: softmax_collapse_fraction(z, y)), anchors=ce, memory=memory)
    bench.compare(f"z_loss, {name}", ours=_timed(sync, lambda: z_loss(z, y)), anchors=ce, memory=memory)
    bench.compare(f"softmax_collapse_report, {name}", ours=_timed(sync, lambda: softmax_collapse_report(z, y)),
                  anchors=ce, memory=memory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=None, help="rows of the GPT-2-vocabulary case (default 16,384)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    a = parser.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    sync = _sync(a.device)
    sizes = [(2048, 8192)] if a.quick else [(2048, 8192), (a.rows or 16384, 50257)]
    on_cpu = a.device == "cpu"
    suffix = "" if on_cpu else f"_{a.device.split(':')[0]}"
    bench = Bench("diagnostics_collapse" + suffix, "Softmax Collapse and z-loss" + ("" if on_cpu else f" ({a.device})"),
                  device=a.device)
    g = torch.Generator(device=a.device).manual_seed(0)  # drawn on the device: a GPU draws 0.8e9 logits at once
    for rows, vocab in sizes:
        for dtype in (torch.bfloat16, torch.float32):
            z = (torch.randn(rows, vocab, generator=g, device=a.device) * 8).to(dtype)
            y = torch.randint(0, vocab, (rows,), generator=g, device=a.device)
            _logit_cases(bench, z, y, sync)
            del z
    bench.note("SC runs one `log_softmax` per chunk (the kernel `F.cross_entropy` runs; half logits with "
               "dtype=float32 run the half kernel, no float32 copy) and two row reductions (max and min: collapse "
               "and finiteness), with one host read at the end; on the CPU a chunk holds at most 2^22 logits. "
               "`z_loss` computes log Z in float32 at least (the precision a loss term needs): per chunk of "
               "2^18 logits on the CPU (2^26 on an accelerator) the half logits' row maxima, the float32 cast and "
               "its `log_softmax`, and the row maximum and minimum of that output (log Z and the finiteness "
               "test); the float32 temporaries are one chunk, in cache on the CPU. `softmax_collapse_report` "
               "needs the float32 values too (chunks of 2^20 logits on the CPU, 2^26 on an accelerator) and "
               "copies per-row arrays to the host." + (" The shared machine makes every ratio noisy." if on_cpu else ""))
    bench.write()


if __name__ == "__main__":
    main()
