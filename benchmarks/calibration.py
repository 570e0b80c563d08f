"""Calibration-error benchmark (calibration.md §11), one process, same data for everyone.

1. Top-label ECE of N×K float32 probabilities (default 1e6×100, 15 bins):
   metricprobe ``calibration_error`` vs torchmetrics ``multiclass_calibration_error``
   (with its argument/tensor validation) vs netcal ``ECE().measure``; wall time
   (best of ``--repeat``), ratio, the values, and the peak resident-memory increase
   of each call (sampled from /proc/self/status).
2. Streaming through ``metrics.CalibrationError`` in chunks generated on the fly
   (default 1e6×1000 here; the spec's full size is ``--stream-rows 10000000``): the
   peak memory increase stays about one chunk.

Run:  .venv/bin/python benchmarks/calibration.py
Full: .venv/bin/python benchmarks/calibration.py --stream-rows 10000000 --stream-classes 1000
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np
import torch


class PeakRSS:
    """Peak resident set size above the level at entry, sampled every 2 ms."""

    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2 ** 20


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def make_probs(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g) * 3.0
    probs = torch.softmax(logits, dim=1)
    labels = torch.multinomial(torch.softmax(logits / 2.0, dim=1), 1, generator=g).squeeze(1)
    return probs.numpy(), labels.numpy()


def timed(fn, repeat: int):
    """Best wall time of ``repeat`` plain calls, then one call under the RSS sampler
    (kept apart: the sampling thread would compete for the CPU with the timed call)."""
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    with PeakRSS() as mem:
        fn()
    return best, float(value), mem.mib


def batch_benchmark(n: int, k: int, repeat: int) -> list[tuple]:
    from netcal.metrics import ECE
    from torchmetrics.functional.classification import multiclass_calibration_error

    from metrics import calibration_error

    probs, labels = make_probs(n, k, 0)
    tprobs, tlabels = torch.from_numpy(probs), torch.from_numpy(labels)
    rows = [("metricprobe calibration_error",) + timed(lambda: calibration_error(probs, labels, n_bins=15), repeat),
            ("torchmetrics multiclass_calibration_error",)
            + timed(lambda: multiclass_calibration_error(tprobs, tlabels, num_classes=k, n_bins=15), repeat),
            ("netcal ECE(bins=15).measure",) + timed(lambda: ECE(bins=15).measure(probs, labels), repeat)]
    return rows


def stream_benchmark(rows: int, k: int, chunk: int) -> tuple[float, float, float, float]:
    from metrics import CalibrationError

    metric = CalibrationError(n_bins=15)
    update_time = 0.0
    with PeakRSS() as mem:
        for start in range(0, rows, chunk):
            probs, labels = make_probs(min(chunk, rows - start), k, 1 + start // chunk)
            t0 = time.perf_counter()
            metric.update(probs, labels)
            update_time += time.perf_counter() - t0
            del probs, labels
        value = float(metric.compute())
    chunk_mib = chunk * k * 4 / 2 ** 20
    return update_time, value, mem.mib, chunk_mib


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stream-rows", type=int, default=1_000_000)
    ap.add_argument("--stream-classes", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=16384)
    args = ap.parse_args(argv)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"\n## top-label ECE, {args.rows:.0e} x {args.classes} float32, 15 bins (best of {args.repeat})")
    results = batch_benchmark(args.rows, args.classes, args.repeat)
    ours = results[0][1]
    print("| implementation | wall s | ratio vs metricprobe | peak extra RSS MiB | ECE |")
    print("|---|---|---|---|---|")
    for name, secs, value, mib in results:
        print(f"| {name} | {secs:.3f} | {secs / ours:.1f}x | {mib:.0f} | {value:.8f} |")
    print(f"\n## streaming CalibrationError, {args.stream_rows:.0e} x {args.stream_classes} float32, "
          f"chunks of {args.chunk} rows")
    secs, value, mib, chunk_mib = stream_benchmark(args.stream_rows, args.stream_classes, args.chunk)
    print(f"update time {secs:.1f} s ({args.stream_rows / secs:.3g} rows/s), ECE {value:.6f}, "
          f"peak extra RSS {mib:.0f} MiB (generator included) for a chunk of {chunk_mib:.0f} MiB")


if __name__ == "__main__":
    main()
