"""``metricprobe lvis``: LVIS AP (lvis-api), AP-Fixed and AP-Pool of a detection results file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metrics.detection.report import LVISReport

COMMAND = "lvis"
HELP = "LVIS detection AP, AP-Fixed and AP-Pool (exact lvis-api / Dave et al. numbers)"
EXAMPLE = ("metricprobe lvis lvis_v1_val.json detections.json --mode all --iou-type segm\n"
           "  metricprobe lvis lvis_v1_val.json 'dets/part-*.parquet' --mode all --engine dask --workers 4")
DEMO_ORDER = 20

_MODES = ("standard", "fixed", "pooled")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli._lvis_calibration import add_calibration_arguments
    from metricprobe.cli.common import add_output_options

    parser.add_argument("gt", metavar="GT.json", help="LVIS ground-truth JSON")
    parser.add_argument("results", metavar="RESULTS.json",
                        help="detections: a JSON list or JSON Lines (image_id, category_id, score, bbox / "
                             "segmentation); with --engine dask a path glob of Parquet / JSON Lines shards "
                             "(image_id, category_id, score and a bbox list or x, y, w, h columns)")
    parser.add_argument("--mode", default="standard", choices=("standard", "fixed", "pooled", "all"),
                        help="standard (lvis-api), fixed (AP-Fixed), pooled (AP-Pool) or all (default standard)")
    parser.add_argument("--iou-type", default="bbox", choices=("bbox", "segm"), help="default bbox")
    parser.add_argument("--max-dets-per-image", type=int, default=None,
                        help="per-image cap of standard AP (default 300; -1 = off)")
    parser.add_argument("--dets-per-cat", type=int, default=None,
                        help="per-category budget K of fixed / pooled (default 10000; -1 = no limit)")
    parser.add_argument("--pools", default=None, help="pools of AP-Pool, comma-separated (default all,r,c,f)")
    parser.add_argument("--segm-area", default=None, choices=("mask", "lvis_api"),
                        help="segm detection area: mask area (default) or lvis-api's box area")
    add_calibration_arguments(parser)
    add_dask_detection_options(parser)
    add_output_options(parser)


def add_dask_detection_options(parser: argparse.ArgumentParser) -> None:
    """``--engine dask`` and friends, and ``--sharded-by-image`` (shared with ``metricprobe coco``)."""
    from metricprobe.cli.common import add_engine_options

    add_engine_options(parser)
    parser.add_argument("--sharded-by-image", action="store_true",
                        help="with --engine dask: every image's detections lie in one shard, so the shuffle by "
                             "image is skipped (checked)")


def dask_engine(args: argparse.Namespace) -> bool:
    """True for ``--engine dask`` (checking the engine flags); ``--calibration`` is in-memory only."""
    from metricprobe.cli.common import check_engine
    from metrics.core.errors import InputError

    if check_engine(args, {"--calibration": getattr(args, "calibration", False)}):
        return True
    if getattr(args, "sharded_by_image", False):
        raise InputError("--sharded-by-image applies to --engine dask only")
    return False


def _rows(report: LVISReport) -> tuple[list[list[object]], list[str]]:
    reports = report.by_mode or {report.mode: report}
    keys: list[str] = []
    for rep in reports.values():
        for k in rep.metrics:
            if k not in keys:
                keys.append(k)
    rows: list[list[object]] = [[k, *(rep.metrics.get(k) for rep in reports.values())] for k in keys]
    return rows, list(reports)


def format_report(report: LVISReport, *, title: str | None = None) -> str:
    """The lvis table: one row per lvis-api key, one column per mode, 3 decimals."""
    from metricprobe.cli.common import format_table

    rows, modes = _rows(report)
    return format_table(rows, ["metric", *modes], title=title, digits=3)


_FLAGS = {"max_dets_per_image": "--max-dets-per-image", "dets_per_cat": "--dets-per-cat", "pools": "--pools",
          "segm_area": "--segm-area", "iou_type": "--iou-type", "mode": "--mode"}


def flag_message(message: str, flags: dict[str, str]) -> str:
    """An error message with Python parameter names replaced by the CLI flags."""
    import re

    for name, flag in flags.items():
        message = re.sub(rf"(?<![\w-]){name}(?!\w)", flag, message)
    return message


def _evaluate(args: argparse.Namespace, gt: str, results: str) -> LVISReport:
    from metrics.core.errors import InputError
    from metrics.detection import evaluate_lvis

    quiet = getattr(args, "json", False) or getattr(args, "no_progress", False)
    options = dict(iou_type=args.iou_type, mode=args.mode, max_dets_per_image=args.max_dets_per_image,
                   dets_per_cat=args.dets_per_cat, pools=args.pools, segm_area=args.segm_area)
    try:
        if dask_engine(args):
            from metricprobe.cli.common import dask_session
            from metrics.distributed import evaluate_lvis as evaluate_on_dask

            with dask_session(args, "lvis") as scheduler:
                return evaluate_on_dask(gt, results, sharded_by_image=args.sharded_by_image, scheduler=scheduler,
                                        **options)
        return evaluate_lvis(gt, results, progress=_progress_flag(quiet), **options)
    except InputError as exc:
        raise InputError(flag_message(str(exc), {**_FLAGS, "sharded_by_image": "--sharded-by-image"})) from None


def _progress_flag(quiet: bool) -> bool:
    import sys

    return not quiet and sys.stderr.isatty()


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import emit

    report = _evaluate(args, args.gt, args.results)
    payload = {"gt": args.gt, "results": args.results, **report.to_dict()}
    if getattr(args, "engine", "memory") == "dask":
        payload["engine"] = "dask"
    payload.pop("by_mode", None)
    text = format_report(report, title=f"LVIS {args.iou_type} evaluation of {args.results}")
    if report.warnings and not args.json:
        text += "\n" + "\n".join(f"warning: {w}" for w in report.warnings)
    if getattr(args, "calibration", False):
        from metricprobe.cli._lvis_calibration import calibration_section

        payload["calibration"], cal_text = calibration_section(args, args.gt, args.results)
        text += "\n\n" + cal_text
    if getattr(args, "plot", None):
        import matplotlib

        matplotlib.use("Agg")
        from metricprobe.cli.common import save_figure

        save_figure(report.plot(), args.plot)
    emit(args, payload, text)
    return 0


def sample_paths() -> tuple[str, str]:
    """Paths of the bundled sample GT and results."""
    from reference_models.data import sample_path

    return str(sample_path("lvis_sample_gt.json")), str(sample_path("lvis_sample_results.json"))


def demo_section() -> str:
    from metricprobe.cli._lvis_calibration import calibration_demo_text
    from metrics.detection import evaluate_lvis

    gt, res = sample_paths()
    report = evaluate_lvis(gt, res, mode="all")
    table = format_report(report, title="bundled sample (240 images, 30 categories), bbox, all modes")
    return table + "\n\n" + calibration_demo_text()
