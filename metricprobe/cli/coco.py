"""``metricprobe coco``: COCO AP / AR (pycocotools' numbers), AP-Fixed and AP-Pool of a results file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metrics.detection.coco_report import COCOReport

COMMAND = "coco"
HELP = "COCO detection AP / AR (exact pycocotools COCOeval numbers), AP-Fixed and AP-Pool"
EXAMPLE = ("metricprobe coco instances_val2017.json detections.json --mode all --calibration\n"
           "  metricprobe coco instances_val2017.json 'dets/part-*.parquet' --engine dask --workers 4")
DEMO_ORDER = 21

_FLAGS = {"max_dets": "--max-dets", "dets_per_cat": "--dets-per-cat", "iou_type": "--iou-type", "mode": "--mode",
          "use_cats": "--no-use-cats"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli._lvis_calibration import add_calibration_arguments
    from metricprobe.cli.common import add_output_options
    from metricprobe.cli.lvis import add_dask_detection_options

    parser.add_argument("gt", metavar="GT.json", help="COCO ground-truth JSON (instances or person keypoints)")
    parser.add_argument("results", metavar="RESULTS.json",
                        help="detections: a JSON list or JSON Lines (image_id, category_id, score, and bbox, "
                             "segmentation or keypoints); with --engine dask a path glob of Parquet / JSON Lines "
                             "shards (image_id, category_id, score and a bbox list or x, y, w, h columns)")
    parser.add_argument("--iou-type", default="bbox", choices=("bbox", "segm", "keypoints"), help="default bbox")
    parser.add_argument("--mode", default="standard", choices=("standard", "fixed", "pooled", "all"),
                        help="standard (pycocotools COCOeval), fixed (AP-Fixed), pooled (AP-Pool) or all "
                             "(default standard)")
    parser.add_argument("--max-dets", default=None,
                        help="maxDets of standard mode, comma-separated (default 1,10,100; keypoints 20)")
    parser.add_argument("--dets-per-cat", type=int, default=None,
                        help="per-category budget K of fixed / pooled (default 10000; -1 = no limit)")
    parser.add_argument("--no-use-cats", action="store_true",
                        help="class-agnostic evaluation (pycocotools useCats = 0)")
    add_calibration_arguments(parser)
    add_dask_detection_options(parser)
    add_output_options(parser)


def _max_dets(text: str | None) -> tuple[int, ...] | None:
    from metrics.core.errors import InputError

    if text is None:
        return None
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"--max-dets must be comma-separated integers; got {text!r}") from None


def evaluate(args: argparse.Namespace) -> COCOReport:
    import sys

    from metricprobe.cli.lvis import dask_engine, flag_message
    from metrics.core.errors import InputError
    from metrics.detection import evaluate_coco

    quiet = getattr(args, "json", False) or getattr(args, "no_progress", False)
    try:
        options = dict(iou_type=args.iou_type, mode=args.mode, max_dets=_max_dets(args.max_dets),
                       dets_per_cat=args.dets_per_cat, use_cats=not args.no_use_cats)
        if dask_engine(args):
            from metricprobe.cli.common import dask_session
            from metrics.distributed import evaluate_coco as evaluate_on_dask

            with dask_session(args, "coco") as scheduler:
                return evaluate_on_dask(args.gt, args.results, sharded_by_image=args.sharded_by_image,
                                        scheduler=scheduler, **options)
        return evaluate_coco(args.gt, args.results, progress=not quiet and sys.stderr.isatty(), **options)
    except InputError as exc:
        raise InputError(flag_message(str(exc), {**_FLAGS, "sharded_by_image": "--sharded-by-image"})) from None


def format_report(report: COCOReport, *, title: str | None = None) -> str:
    """One row per statistic, one column per mode, 3 decimals."""
    from metricprobe.cli.common import format_table

    reports = report.by_mode or {report.mode: report}
    keys: list[str] = []
    for rep in reports.values():
        keys += [k for k in rep.stats if k not in keys]
    rows = [[k] + [rep.stats.get(k) for rep in reports.values()] for k in keys]
    return format_table(rows, ["metric", *reports], title=title, digits=3)


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import emit, save_figure

    if getattr(args, "calibration", False) and args.iou_type == "keypoints":
        from metrics.core.errors import InputError

        raise InputError("--calibration needs --iou-type bbox or segm")
    report = evaluate(args)
    payload = {"gt": args.gt, "results": args.results, **report.to_dict()}
    if getattr(args, "engine", "memory") == "dask":
        payload["engine"] = "dask"
    payload.pop("by_mode", None)
    text = format_report(report, title=f"COCO {args.iou_type} evaluation of {args.results}")
    if report.mode in ("standard", "all"):
        text += "\n\n" + "\n".join(report.summary_lines())
    if report.warnings and not args.json:
        text += "\n" + "\n".join(f"warning: {w}" for w in report.warnings)
    if getattr(args, "calibration", False):
        from metricprobe.cli._lvis_calibration import calibration_section

        payload["calibration"], cal_text = calibration_section(args, args.gt, args.results)
        text += "\n\n" + cal_text
    if getattr(args, "plot", None):
        import matplotlib

        matplotlib.use("Agg")
        ax = report.plot()
        save_figure(ax.figure, args.plot)
    emit(args, payload, text)
    return 0


def sample_paths() -> tuple[str, str]:
    """Paths of the bundled COCO sample GT and results."""
    from reference_models.data import sample_path

    return str(sample_path("coco_sample_gt.json")), str(sample_path("coco_sample_results.json"))


def demo_section() -> str:
    from metrics.detection import evaluate_coco

    gt, res = sample_paths()
    report = evaluate_coco(gt, res, mode="all")
    return format_report(report, title="bundled COCO sample, bbox, all modes (standard = pycocotools COCOeval)")
