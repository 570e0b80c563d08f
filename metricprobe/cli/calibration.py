"""``metricprobe calibration PREDS``: calibration error of saved predictions (calibration.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

COMMAND = "calibration"
HELP = "calibration error (ECE, MCE, ACE, L2, debiased L2, smooth ECE, Brier) of saved probabilities"
EXAMPLE = ("metricprobe calibration preds.npz --n-bins 15 --bootstrap 1000 --plot reliability.png\n"
           "  metricprobe calibration preds.csv --prob-cols 'prob_*' --label-col label --json")
DEMO_ORDER = 10

_NPZ_SUFFIXES = (".npz", ".npy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli.common import add_output_options

    parser.add_argument("preds", metavar="PREDS",
                        help="NPZ (arrays probs (N,K) or (N,), labels), CSV/TSV, Parquet, JSON or JSON Lines")
    parser.add_argument("--probs-key", default="probs", help="NPZ array of probabilities (default: probs)")
    parser.add_argument("--labels-key", default="labels", help="NPZ array of labels (default: labels)")
    parser.add_argument("--prob-cols", default="prob_*",
                        help="table columns of probabilities: 'prefix*' or a comma list (default: 'prob_*'); "
                             "one column means the positive-class probability")
    parser.add_argument("--label-col", default="label", help="table column of integer labels (default: label)")
    parser.add_argument("--n-bins", type=int, default=15, help="number of bins M (default: 15)")
    parser.add_argument("--binning", default="uniform", choices=("uniform", "quantile"))
    parser.add_argument("--scope", default="top_label", choices=("top_label", "positive_class", "classwise"))
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="bootstrap replicates for confidence intervals (default: 0 = none)")
    parser.add_argument("--confidence", type=float, default=0.9, help="interval level (default: 0.9)")
    parser.add_argument("--ci-method", default="percentile", choices=("percentile", "basic"))
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    add_output_options(parser)


def load_predictions(path: str, args: argparse.Namespace):
    """(probs, labels) from an NPZ archive or a table with probability and label columns."""
    import numpy as np

    from metrics.core.errors import InputError
    from metrics.core.io import read_arrays, read_table, select_columns

    p = Path(path)
    if p.suffix.lower() in _NPZ_SUFFIXES:
        arrays = read_arrays(p, arg="PREDS")
        missing = [k for k in (args.probs_key, args.labels_key) if k not in arrays]
        if missing:
            raise InputError(f"PREDS: {p.name} has no array {missing[0]!r} (arrays: {', '.join(arrays) or 'none'}); "
                             "choose them with --probs-key / --labels-key")
        return arrays[args.probs_key], arrays[args.labels_key]
    frame = read_table(p, arg="PREDS")
    if args.label_col not in frame.columns:
        raise InputError(f"--label-col: column {args.label_col!r} not found in {p.name}; "
                         f"available: {', '.join(map(str, frame.columns[:20]))}")
    cols = select_columns(frame.columns, args.prob_cols, arg="--prob-cols")
    cols = [c for c in cols if c != args.label_col]
    probs = frame[cols].to_numpy()
    if probs.dtype == object:
        raise InputError(f"--prob-cols: columns {', '.join(cols)} of {p.name} must hold numbers")
    labels = frame[args.label_col].to_numpy()
    return (probs[:, 0] if probs.shape[1] == 1 else probs), np.asarray(labels)


def evaluate(probs: Any, labels: Any, args: argparse.Namespace, progress=None) -> tuple[dict, Any]:
    """JSON payload and the CalibrationReport."""
    import numpy as np
    from sklearn.metrics import brier_score_loss

    from metrics.calibration import calibration_report, smooth_ece
    from metrics.calibration._inputs import validate_inputs

    p, y = validate_inputs(probs, labels)
    report = calibration_report(p, y, n_bins=args.n_bins, binning=args.binning, scope=args.scope,
                                n_bootstrap=args.bootstrap, confidence=args.confidence, ci_method=args.ci_method,
                                seed=args.seed, progress=progress)
    smooth = smooth_ece(p, y, scope=args.scope) if args.scope != "classwise" else None
    k = 2 if p.ndim == 1 else p.shape[1]
    p2 = np.stack([1 - p, p], axis=1) if p.ndim == 1 else p
    import warnings

    with warnings.catch_warnings():  # float32 rows sum to 1 only within ~1e-7; validated above (1e-3)
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        brier = float(brier_score_loss(y, p2.astype(np.float64), labels=list(range(k))))
    values = {"ece": report.ece, "mce": report.mce, "ace": report.ace, "l2": report.l2,
              "l2_debiased": report.l2_debiased, "smooth_ece": smooth, "brier": brier}
    payload = {"n_samples": report.n_samples, "n_classes": k, "params": report.params, "metrics": values,
               "ci": report.ci, "bins": report.to_frame().to_dict(orient="records")}
    return payload, report


_LABELS = {"ece": "ECE", "mce": "MCE", "ace": "ACE (mean over bins)", "l2": "L2 (RMS CE)",
           "l2_debiased": "L2 debiased", "smooth_ece": "smooth ECE", "brier": "Brier"}


def format_report(payload: dict, title: str) -> str:
    from metricprobe.cli.common import format_table

    ci = payload["ci"] or {}
    rows = []
    for key, label in _LABELS.items():
        lo, hi = ci.get(key, (None, None))
        rows.append([label, payload["metrics"][key], lo, hi] if ci else [label, payload["metrics"][key]])
    headers = ["metric", "value"] + ([f"CI lo ({payload['params']['confidence']:g})", "CI hi"] if ci else [])
    text = format_table(rows, headers, title=title)
    if payload["params"]["scope"] != "classwise":
        bins = [[f"[{b['lower']:.3f}, {b['upper']:.3f}{']' if i == len(payload['bins']) - 1 else ')'}", b["count"],
                 b["mean_confidence"], b["accuracy"], b["gap"]]
                for i, b in enumerate(payload["bins"])]
        text += "\n\n" + format_table(bins, ["bin", "count", "confidence", "accuracy", "gap"], title="reliability table")
    return text


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import emit, progress, save_plot

    probs, labels = load_predictions(args.preds, args)

    def bar(iterable):
        return progress(iterable, total=args.bootstrap, desc="bootstrap", args=args, min_total=200)

    payload, report = evaluate(probs, labels, args, progress=bar)
    payload = {"file": str(args.preds), **payload}
    title = (f"calibration of {Path(args.preds).name}: N = {payload['n_samples']}, K = {payload['n_classes']}, "
             f"{args.scope}, {args.binning} bins, M = {args.n_bins}")
    emit(args, payload, format_report(payload, title))
    if args.plot:
        save_plot(report, args.plot)
    return 0


def sample_path() -> Path:
    from reference_models.data import sample_path as bundled

    return bundled("calibration_sample.npz")


def demo_section() -> str:
    """The bundled over-confident 10-class model, with a 200-replicate bootstrap."""
    import numpy as np

    from metricprobe.cli.common import parse_demo_args

    args = parse_demo_args(add_arguments, [str(sample_path()), "--bootstrap", "200", "--no-progress"])
    with np.load(sample_path(), allow_pickle=False) as d:
        probs, labels = d["probs"], d["labels"]
    payload, _ = evaluate(probs, labels, args)
    title = (f"bundled sample: an over-confident 10-class model (N = {payload['n_samples']}), top-label, "
             f"15 uniform bins, 90% bootstrap intervals")
    return format_report(payload, title)
