"""Calibration-error benchmark, one process, same data for everyone.

1. Top-label ECE of N x K float32 probabilities (default 1e6 x 100, 15 bins):
   metricprobe ``calibration_error`` vs netcal ``ECE(bins=15).measure`` vs torchmetrics
   ``multiclass_calibration_error`` (with its validation), alternated, best of ``--repeat``.
2. The kernel's limit: one read of the input, measured as one ``torch.amin`` over the
   same N x K array (a reduction that reads every element once and writes nothing);
   the kernel needs about three such reads.
3. With more than one torch thread, ours, torchmetrics and the one-read limit again at
   one thread (a busy machine penalises multi-threaded passes).

Run:  python -m benchmarks.calibration           (``--quick``: 1e5 x 100)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks._harness import Bench


def make_probs(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g) * 3.0
    probs = torch.softmax(logits, dim=1)
    labels = torch.multinomial(torch.softmax(logits / 2.0, dim=1), 1, generator=g).squeeze(1)
    return probs.numpy(), labels.numpy()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads for every implementation (default: torch's own choice)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.rows = 100_000
    from netcal.metrics import ECE
    from torchmetrics.functional.classification import multiclass_calibration_error

    from metrics import calibration_error

    probs, labels = make_probs(args.rows, args.classes, 0)
    tprobs, tlabels = torch.from_numpy(probs), torch.from_numpy(labels)
    bench = Bench("calibration", "Calibration error")

    def agree(ours: object, anchor: object) -> None:
        assert abs(float(ours) - float(anchor)) < 1e-6, (ours, anchor)  # type: ignore[arg-type]

    res = bench.compare(
        f"top-label ECE, {args.rows:,} x {args.classes} float32, 15 bins",
        ours=lambda: calibration_error(probs, labels, n_bins=15),
        anchors={"netcal 1.4 ECE(bins=15).measure": lambda: ECE(bins=15).measure(probs, labels),
                 "torchmetrics multiclass_calibration_error":
                 lambda: float(multiclass_calibration_error(tprobs, tlabels, num_classes=args.classes, n_bins=15))},
        anchor_packages={"netcal 1.4 ECE(bins=15).measure": "netcal",
                         "torchmetrics multiclass_calibration_error": "torchmetrics"},
        repeat=args.repeat, check=agree)
    limit = bench.compare(f"limit: one read of the {args.rows:,} x {args.classes} float32 input (torch.amin)",
                          ours=lambda: float(tprobs.amin()), anchors={}, repeat=args.repeat, memory=False)
    ratio = res[0].seconds / limit[0].seconds
    threads = torch.get_num_threads()
    lines = [f"Limit: the kernel reads the input three times (row maxima, row sums, global minimum; the validation "
             f"shares the top-label pass), then picks p[i, y_i] and bins N float64 scores, so its limit is about "
             f"three reads of the input. Measured with {threads} torch thread(s): {ratio:.1f}x one read, "
             f"{ratio / 3:.1f}x the three-read limit."]
    if threads > 1:  # the same at one thread: no waiting for a busy second core between passes
        torch.set_num_threads(1)
        single = bench.compare(
            "the same with 1 torch thread (netcal is numpy, single-threaded either way)",
            ours=lambda: calibration_error(probs, labels, n_bins=15),
            anchors={"torchmetrics multiclass_calibration_error":
                     lambda: float(multiclass_calibration_error(tprobs, tlabels, num_classes=args.classes, n_bins=15)),
                     "limit: one read (torch.amin)": lambda: float(tprobs.amin())},
            repeat=args.repeat, memory=False)
        torch.set_num_threads(threads)
        ratio1 = single[0].seconds / single[2].seconds
        lines.append(f"With 1 thread: {ratio1:.1f}x one read, {ratio1 / 3:.1f}x the three-read limit; netcal / ours = "
                     f"{res[1].seconds / single[0].seconds:.1f}x.")
    lines.append("The machine may have been shared while this ran: each pass of a multi-threaded torch "
                 "operation waits for every thread, so a busy machine slows the multi-threaded runs most.")
    bench.note(" ".join(lines))
    bench.write()


if __name__ == "__main__":
    main()
