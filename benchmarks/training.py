"""Training-time update throughput: ``CalibrationError`` next to torchmetrics, on CPU or a GPU.

Each workload feeds the same batches of probabilities to ``metrics.CalibrationError``
and to torchmetrics' ``MulticlassCalibrationError`` / ``BinaryCalibrationError`` (both
with their default argument validation), alternated, best of ``--repeat``; the timed
call is ``update()`` over every batch followed by ``compute()``, with the device
synchronised before the clock stops. Values are checked to agree where the two
definitions coincide (continuous scores, no score exactly 1.0).

1. top-label ECE, batches of 100,000 x 1,000 float32 (``--batches`` of them);
2. positive-class ECE, batches of 100,000 float32 probabilities;
each with the default validation and with ``validate_args=False`` on both sides;
3. on a GPU (on the CPU only with ``--functional-rows N``): the functional
   ``calibration_error`` on 1,000,000 x 1,000 float32 tensors of the device against
   torchmetrics' ``multiclass_calibration_error``, and its value against the numpy path
   on the same numbers copied to the host.

A run on a device other than the CPU writes its own page, ``training_<device type>``
(``training_cuda``), so it never replaces the CPU page.

Run:  python -m benchmarks.training                 (CPU; ``--quick`` for small batches)
      python -m benchmarks.training --device cuda --batches 50   (a GPU)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from benchmarks._harness import Bench


def make_batches(n: int, k: int, batches: int, device: str, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Probabilities and labels drawn on ``device`` itself (no host-to-device copy of the batches)."""
    g = torch.Generator(device=device).manual_seed(seed)
    out = []
    for _ in range(batches):
        logits = torch.randn(n, k, generator=g, device=device) * 2.0
        probs = torch.softmax(logits, dim=1)
        labels = torch.multinomial(torch.softmax(logits / 1.5, dim=1), 1, generator=g).squeeze(1)
        out.append((probs, labels))
        del logits
    return out


def stream(metric_factory, batches, device: str):  # type: ignore[no-untyped-def]
    def run() -> float:
        metric = metric_factory().to(device)
        for probs, labels in batches:
            metric.update(probs, labels)
        value = float(metric.compute())
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return value

    return run


def functional(bench: Bench, rows: int, classes: int, dev: str, repeat: int,
               agree: Callable[[object, object], None]) -> float:
    """``calibration_error`` on the device's tensors vs torchmetrics' functional form, and vs the numpy path.

    Returns the relative difference between the device's value and the numpy path's.
    """
    from torchmetrics.functional.classification import multiclass_calibration_error

    from metrics import calibration_error

    ((probs, labels),) = make_batches(rows, classes, 1, dev, seed=2)
    anchor = "torchmetrics multiclass_calibration_error"
    results = bench.compare(
        f"calibration_error (functional, top-label, 15 bins), {rows:,} x {classes:,} float32 on {dev}",
        ours=lambda: calibration_error(probs, labels, n_bins=15),
        anchors={anchor: lambda: float(multiclass_calibration_error(probs, labels, num_classes=classes, n_bins=15))},
        anchor_packages={anchor: "torchmetrics"}, repeat=repeat, memory=dev == "cpu", check=agree)
    on_device = float(results[0].value)  # type: ignore[arg-type]
    on_host = calibration_error(probs.cpu().numpy(), labels.cpu().numpy(), n_bins=15)
    relative = abs(on_device - on_host) / max(abs(on_host), 1e-300)
    bench.note(f"calibration_error on the {dev} tensors: {on_device!r}; the numpy path on the same numbers copied "
               f"to the host: {on_host!r} (relative difference {relative:.1e}).")
    return relative


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads for every implementation (default: torch's own choice)")
    ap.add_argument("--functional-rows", type=int, default=None,
                    help="rows of the functional calibration_error case (classes: --classes); default 1,000,000 "
                         "on a GPU (100,000 with --quick) and none on the CPU, where benchmarks.calibration runs it")
    ap.add_argument("--quick", action="store_true", help="batches of 10,000 x 100, 2 batches")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.rows, args.classes, args.batches = 10_000, 100, 2
    from torchmetrics.classification import BinaryCalibrationError, MulticlassCalibrationError

    from metrics import CalibrationError

    dev = args.device
    suffix = "" if dev == "cpu" else f"_{dev.split(':')[0]}"
    bench = Bench("training" + suffix, f"Training-time update throughput ({dev})", device=dev)

    def agree(ours: object, anchor: object) -> None:
        assert abs(float(ours) - float(anchor)) < 1e-4, (ours, anchor)  # type: ignore[arg-type]

    batches = make_batches(args.rows, args.classes, args.batches, dev)
    bench.compare(f"top-label ECE, {args.batches} batches of {args.rows:,} x {args.classes:,} float32 on {dev} "
                  "(update per batch, then compute)",
                  ours=stream(lambda: CalibrationError(n_bins=15), batches, dev),
                  anchors={"torchmetrics MulticlassCalibrationError":
                           stream(lambda: MulticlassCalibrationError(num_classes=args.classes, n_bins=15), batches, dev)},
                  anchor_packages={"torchmetrics MulticlassCalibrationError": "torchmetrics"},
                  repeat=args.repeat, memory=dev == "cpu", check=agree)
    ours_no_check = stream(lambda: CalibrationError(n_bins=15, validate_args=False), batches, dev)
    bench.compare("the same, both with validate_args=False",
                  ours=ours_no_check,
                  anchors={"torchmetrics MulticlassCalibrationError(validate_args=False)":
                           stream(lambda: MulticlassCalibrationError(num_classes=args.classes, n_bins=15,
                                                                     validate_args=False), batches, dev)},
                  repeat=args.repeat, memory=False, check=agree)
    del batches
    binary = [(p[:, 1] / (p[:, 0] + p[:, 1]), (y == 1).long()) for p, y in
              make_batches(args.rows, 2, args.batches, dev, seed=1)]
    bench.compare(f"positive-class ECE, {args.batches} batches of {args.rows:,} float32 on {dev}",
                  ours=stream(lambda: CalibrationError(n_bins=15, scope="positive_class"), binary, dev),
                  anchors={"torchmetrics BinaryCalibrationError":
                           stream(lambda: BinaryCalibrationError(n_bins=15), binary, dev)},
                  repeat=args.repeat, memory=dev == "cpu", check=agree)
    bench.compare("the same, both with validate_args=False",
                  ours=stream(lambda: CalibrationError(n_bins=15, scope="positive_class", validate_args=False),
                              binary, dev),
                  anchors={"torchmetrics BinaryCalibrationError(validate_args=False)":
                           stream(lambda: BinaryCalibrationError(n_bins=15, validate_args=False), binary, dev)},
                  repeat=args.repeat, memory=False, check=agree)
    del binary
    functional_rows = args.functional_rows
    if functional_rows is None:
        functional_rows = 0 if dev == "cpu" else (100_000 if args.quick else 1_000_000)
    relative = functional(bench, functional_rows, args.classes, dev, args.repeat, agree) if functional_rows > 0 else 0.0
    bench.note("metricprobe's update reduces each batch on its device to per-bin sums (int64 counts, float64 "
               "score sums, scatter_add) with one host synchronisation for validation (none with "
               "validate_args=False); torchmetrics keeps every confidence in a list state and bins at compute(). "
               "Values agree to 1e-4 (torchmetrics bins in float32 and puts a score of exactly 1.0 in an extra "
               "bin; neither occurs here beyond float32 rounding).")
    bench.write()
    if relative > 1e-12:
        raise SystemExit(f"calibration_error on {dev} differs from the numpy path by {relative:.1e} relative")


if __name__ == "__main__":
    main()
