"""The ``--calibration`` part of ``metricprobe lvis`` and ``metricprobe coco``.

Interface used by ``metricprobe/cli/lvis.py`` and ``metricprobe/cli/coco.py``:

- ``add_calibration_arguments(parser)`` adds ``--calibration``, ``--calibrate-on
  TRAIN_RESULTS``, ``--method``, ``--per``, ``--iou-threshold``, ``--n-bins``,
  ``--features``, ``--min-bin-count`` and ``--plot-dir DIR`` (``--plot FILE.png`` is the
  common option for the AP figure, so the reliability diagrams, several files, go to a
  directory). ``--calibrate-on`` and ``--plot-dir`` imply ``--calibration``.
- ``calibration_section(args, gt_path, results_path) -> (json_payload, text_table)``.
- ``calibration_demo_text()``: the audit on the bundled sample, for the demo.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from metrics.detection.audit import DetectionCalibrationReport

Method = Literal["histogram", "platt", "isotonic", "temperature"]

_METHODS: dict[str, Method] = {"histogram": "histogram", "histogram_binning": "histogram", "platt": "platt",
            "isotonic": "isotonic", "temperature": "temperature"}


class _ImpliesCalibration(argparse.Action):
    """Store the value and switch ``--calibration`` on."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.calibration = True


def add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("calibration audit")
    group.add_argument("--calibration", action="store_true",
                       help="add the detector calibration audit: D-ECE / MCE overall, per frequency group "
                            "and per class, TP/FP labels at --iou-threshold")
    group.add_argument("--calibrate-on", metavar="TRAIN_RESULTS", action=_ImpliesCalibration,
                       help="fit a DetectionCalibrator on these results (same GT) and report ECE, AP, AP-Fixed "
                            "and AP-Pool before and after calibrating RESULTS")
    group.add_argument("--method", default="histogram", choices=tuple(_METHODS),
                       help="calibrator of --calibrate-on (default histogram, 20 bins)")
    group.add_argument("--per", default="class", choices=("class", "frequency", "overall"),
                       help="one calibrator per class (default), per frequency group, or overall")
    group.add_argument("--iou-threshold", type=float, default=0.75,
                       help="IoU threshold of the TP/FP labels (default 0.75)")
    group.add_argument("--n-bins", type=int, default=20, help="confidence bins of D-ECE (default 20)")
    group.add_argument("--features", default="",
                       help="box features binned jointly with the confidence, comma-separated subset of "
                            "cx,cy,w,h (default none)")
    group.add_argument("--min-bin-count", type=int, default=None,
                       help="leave out joint bins with fewer detections (default 1, or 10 with --features)")
    group.add_argument("--plot-dir", metavar="DIR", action=_ImpliesCalibration,
                       help="write reliability diagrams (PNG) per frequency group to DIR")


def _features(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def _table(report: DetectionCalibrationReport) -> str:
    from metricprobe.cli.common import format_table

    after = report.metrics_after
    calibrated = after is not None
    headers = ["metric", "value"] + (["calibrated"] if calibrated else [])
    rows: list[list[object]] = []
    for key, value in report.metrics.items():
        rows.append([key, value, *([after.get(key)] if after is not None else [])])
    for key, value in (report.ap_before or {}).items():
        rows.append([key, value, (report.ap_after or {}).get(key)])
    title = (f"calibration audit: {report.n_detections} labelled detections, {report.n_matched} TP "
             f"at IoU {report.params['iou_threshold']:g}")
    if calibrated:
        title += f"; calibrated with {report.params['calibrator']}"
    return format_table(rows, headers, title=title, digits=3)


def _save_plots(report: DetectionCalibrationReport, directory: str) -> list[str]:
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from metricprobe.cli.common import save_figure
    from metrics.core.errors import InputError

    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--plot-dir: cannot create {directory!r} ({exc.strerror})") from None
    written = []
    for name, calibrated in (("reliability.png", False), ("reliability_calibrated.png", True)):
        if calibrated and report.reliability_after is None:
            continue
        drawn = report.plot(calibrated=calibrated)
        figure = drawn if isinstance(drawn, Figure) else drawn.figure
        path = str(out / name)
        save_figure(figure, path)
        written.append(path)
    return written


def calibration_section(args: argparse.Namespace, gt_path: str, results_path: str) -> tuple[dict[str, object], str]:
    """Run the audit (and the calibrator with ``--calibrate-on``); return (JSON payload, text)."""
    from metrics.core.errors import InputError
    from metrics.detection.audit import detection_calibration_report

    iou_type: Literal["bbox", "segm"] = "segm" if getattr(args, "iou_type", "bbox") == "segm" else "bbox"
    dets_per_cat = getattr(args, "dets_per_cat", None)
    dets_per_cat = 10000 if dets_per_cat is None else dets_per_cat
    calibrator = None
    if getattr(args, "calibrate_on", None):
        from reference_models.detection_calibration import DetectionCalibrator

        calibrator = DetectionCalibrator(method=_METHODS[args.method], per=args.per).fit(
            gt_path, args.calibrate_on, iou_threshold=args.iou_threshold, iou_type=iou_type,
            dets_per_cat=dets_per_cat)
    elif args.method != "histogram" or args.per != "class":
        raise InputError("--method and --per need --calibrate-on TRAIN_RESULTS")
    report = detection_calibration_report(
        gt_path, results_path, iou_threshold=args.iou_threshold, n_bins=args.n_bins, iou_type=iou_type,
        dets_per_cat=dets_per_cat, features=_features(args.features), min_bin_count=args.min_bin_count,
        calibrator=calibrator)
    payload = report.to_dict()
    payload["calibrate_on"] = getattr(args, "calibrate_on", None)
    text = _table(report)
    if getattr(args, "plot_dir", None):
        payload["plots"] = _save_plots(report, args.plot_dir)
        if not getattr(args, "json", False):
            text += "\n" + "\n".join(f"wrote {p}" for p in payload["plots"])
    return payload, text


def calibration_demo_text() -> str:
    """The audit of the bundled sample, calibrated per class on the bundled train split."""
    from reference_models.data import sample_path

    args = argparse.Namespace(calibrate_on=str(sample_path("lvis_sample_results_train.json")), method="platt",
                              per="class", iou_threshold=0.75, n_bins=20, features="", min_bin_count=None,
                              plot_dir=None, iou_type="bbox", dets_per_cat=10000, json=False)
    _, text = calibration_section(args, str(sample_path("lvis_sample_gt.json")),
                                  str(sample_path("lvis_sample_results.json")))
    return text
