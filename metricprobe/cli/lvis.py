"""``metricprobe lvis``: LVIS AP (lvis-api), AP-Fixed and AP-Pool of a detection results file."""

from __future__ import annotations

import argparse

COMMAND = "lvis"
HELP = "LVIS detection AP, AP-Fixed and AP-Pool (exact lvis-api / Dave et al. numbers)"
EXAMPLE = "metricprobe lvis lvis_v1_val.json detections.json --mode all --iou-type segm"
DEMO_ORDER = 20

_MODES = ("standard", "fixed", "pooled")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli._lvis_calibration import add_calibration_arguments
    from metricprobe.cli.common import add_output_options

    parser.add_argument("gt", metavar="GT.json", help="LVIS ground-truth JSON")
    parser.add_argument("results", metavar="RESULTS.json",
                        help="detections: a JSON list or JSON Lines (image_id, category_id, score, bbox / "
                             "segmentation)")
    parser.add_argument("--mode", default="standard", choices=("standard", "fixed", "pooled", "all"),
                        help="standard (lvis-api), fixed (AP-Fixed), pooled (AP-Pool) or all (default standard)")
    parser.add_argument("--iou-type", default="bbox", choices=("bbox", "segm"), help="default bbox")
    parser.add_argument("--max-dets-per-image", type=int, default=300,
                        help="per-image cap of standard AP (default 300; -1 = off)")
    parser.add_argument("--dets-per-cat", type=int, default=10000,
                        help="per-category budget K of fixed / pooled (default 10000; -1 = no limit)")
    parser.add_argument("--pools", default="all,r,c,f", help="pools of AP-Pool, comma-separated (default all,r,c,f)")
    parser.add_argument("--segm-area", default="mask", choices=("mask", "lvis_api"),
                        help="segm detection area: mask area (default) or lvis-api's box area")
    add_calibration_arguments(parser)
    add_output_options(parser)


def _rows(report) -> tuple[list[list], list[str]]:
    reports = report.by_mode or {report.mode: report}
    keys: list[str] = []
    for rep in reports.values():
        for k in rep.metrics:
            if k not in keys:
                keys.append(k)
    rows = [[k] + [rep.metrics.get(k) for rep in reports.values()] for k in keys]
    return rows, list(reports)


def format_report(report, *, title: str | None = None) -> str:
    """The lvis table: one row per lvis-api key, one column per mode, 3 decimals."""
    from metricprobe.cli.common import format_table

    rows, modes = _rows(report)
    return format_table(rows, ["metric", *modes], title=title, digits=3)


def _evaluate(args, gt, results):
    from metricprobe.cli.common import progress
    from metrics.core.errors import InputError
    from metrics.core.validation import check_option
    from metrics.detection.evaluate import _check_limit, _check_pools, _evaluate

    pools = _check_pools(args.pools)
    mode = args.mode
    defaults = {"max_dets_per_image": 300, "dets_per_cat": 10000, "pools": ("all", "r", "c", "f")}
    given = {"max_dets_per_image": _check_limit(args.max_dets_per_image, "--max-dets-per-image"),
             "dets_per_cat": _check_limit(args.dets_per_cat, "--dets-per-cat"), "pools": pools}
    used = {"standard": ("max_dets_per_image",), "fixed": ("dets_per_cat",), "pooled": ("dets_per_cat", "pools"),
            "all": tuple(defaults)}[mode]
    for name, value in given.items():
        if name not in used and value != defaults[name]:
            raise InputError(f"--{name.replace('_', '-')} does not apply to --mode {mode}")
    if args.iou_type == "bbox" and args.segm_area != "mask":
        raise InputError("--segm-area applies to --iou-type segm only")
    check_option(args.segm_area, "--segm-area", ("mask", "lvis_api"))
    steps = 2 + (3 if mode == "all" else 1)
    bar = progress(range(steps), total=steps, desc="lvis", args=args)
    it = iter(bar)

    def on_step(name):
        next(it, None)
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(name)

    try:
        return _evaluate(gt, results, iou_type=args.iou_type, mode=mode, pools=pools, segm_area=args.segm_area,
                         on_step=on_step, **{k: given[k] for k in ("max_dets_per_image", "dets_per_cat")})
    finally:
        if hasattr(bar, "close"):
            bar.close()


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import emit, save_plot

    report = _evaluate(args, args.gt, args.results)
    payload = {"gt": args.gt, "results": args.results, **report.to_dict()}
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
        save_plot(report, args.plot)
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
