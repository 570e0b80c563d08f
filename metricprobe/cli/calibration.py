"""``metricprobe calibration PREDS``: calibration error of saved predictions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

COMMAND = "calibration"
HELP = "calibration error (ECE, MCE, ACE, L2, debiased L2, smooth ECE, Brier) of saved probabilities"
EXAMPLE = ("metricprobe calibration preds.npz --n-bins 15 --bootstrap 1000 --plot reliability.png\n"
           "  metricprobe calibration preds.csv --prob-cols 'prob_*' --label-col label --json\n"
           "  metricprobe calibration preds.jsonl --prob-cols probs --logits   # {\"probs\": [...], \"label\": 1}\n"
           "  metricprobe calibration 'shards/preds-*.parquet' --engine dask --workers 4")
DEMO_ORDER = 10
PARAM_FLAGS = {"n_bootstrap": "--bootstrap"}

_NPZ_SUFFIXES = (".npz", ".npy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli.common import add_class_options, add_engine_options, add_output_options

    parser.add_argument("preds", metavar="PREDS",
                        help="NPZ (arrays probs (N,K) or (N,), labels), CSV/TSV, Parquet, JSON or JSON Lines")
    parser.add_argument("--probs-key", default="probs", help="NPZ array of probabilities (default: probs)")
    parser.add_argument("--labels-key", default="labels", help="NPZ array of labels (default: labels)")
    parser.add_argument("--prob-cols", default="prob_*",
                        help="table columns of probabilities, in class order: a comma list, a 'prefix*' "
                             "(numbered suffixes in numeric order, named suffixes in file order), or a field "
                             "holding one vector per row such as 'probs' (default: 'prob_*', which also finds "
                             "a 'probs' vector field); one column means the positive-class probability")
    parser.add_argument("--label-col", default="label",
                        help="table column of labels: integers 0..K-1, or strings with --classes (default: label)")
    add_class_options(parser)
    parser.add_argument("--n-bins", type=int, default=15, help="number of bins M (default: 15)")
    parser.add_argument("--binning", default="uniform", choices=("uniform", "quantile"),
                        help="uniform: M equal-width bins on [0, 1]; quantile: M bins of equal count "
                             "(default: uniform)")
    parser.add_argument("--scope", default="top_label", choices=("top_label", "positive_class", "classwise"),
                        help="top_label: confidence of the predicted class; positive_class: P(class 1) of a "
                             "binary problem; classwise: mean over classes of one-vs-rest errors "
                             "(default: top_label)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="bootstrap replicates for confidence intervals (default: 0 = none)")
    parser.add_argument("--ci-level", "--confidence", dest="ci_level", type=float, default=0.95,
                        help="level of the bootstrap intervals (default: 0.95)")
    parser.add_argument("--ci-method", default="percentile", choices=("percentile", "basic"),
                        help="percentile: quantiles of the replicates; basic: reflected around the estimate "
                             "(default: percentile)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    add_engine_options(parser)
    add_output_options(parser)


def load(path: str, args: argparse.Namespace) -> tuple[Any, Any, dict]:
    """(probs, labels, source) from an NPZ archive or a table; ``source`` names the columns used."""
    import numpy as np

    from metricprobe.cli.common import apply_logits, encode_labels, table_matrix
    from metrics.core.errors import InputError
    from metrics.core.io import read_arrays, read_table

    p = Path(path)
    if p.suffix.lower() in _NPZ_SUFFIXES:
        arrays = read_arrays(p, arg="PREDS")
        missing = [k for k in (args.probs_key, args.labels_key) if k not in arrays]
        if missing:
            raise InputError(f"PREDS: {p.name} has no array {missing[0]!r} (arrays: {', '.join(arrays) or 'none'}); "
                             "choose them with --probs-key / --labels-key")
        probs, labels = arrays[args.probs_key], arrays[args.labels_key]
        source: dict[str, Any] = {"probs": args.probs_key, "labels": args.labels_key}
    else:
        frame = read_table(p, arg="PREDS")
        if args.label_col not in frame.columns:
            raise InputError(f"--label-col: column {args.label_col!r} not found in {p.name}; "
                             f"available: {', '.join(map(str, frame.columns[:20]))}")
        rest = frame.drop(columns=[args.label_col])
        probs, cols = table_matrix(rest, args.prob_cols, arg="--prob-cols")
        if probs.shape[1] == 1:
            probs = probs[:, 0]
        labels = frame[args.label_col].to_numpy()
        source = {"probs": cols, "labels": args.label_col}
    probs = np.asarray(probs)
    if getattr(args, "logits", False):
        probs = apply_logits(probs)
    n_cols = 1 if probs.ndim == 1 else probs.shape[1]
    labels, classes = encode_labels(labels, getattr(args, "classes", None), arg="labels", n_classes=n_cols)
    if classes is not None:
        source["classes"] = classes
    if getattr(args, "logits", False):
        source["transform"] = "sigmoid" if probs.ndim == 1 else "softmax"
    return probs, labels, source


def load_predictions(path: str, args: argparse.Namespace):
    """(probs, labels) from an NPZ archive or a table with probability and label columns."""
    probs, labels, _ = load(path, args)
    return probs, labels


def evaluate(probs: Any, labels: Any, args: argparse.Namespace, progress: Any = False) -> tuple[dict, Any]:
    """JSON payload and the CalibrationReport."""
    from metrics.calibration import brier_score, calibration_report, smooth_ece

    report = calibration_report(probs, labels, n_bins=args.n_bins, binning=args.binning, scope=args.scope,
                                n_bootstrap=args.bootstrap, ci_level=args.ci_level, ci_method=args.ci_method,
                                seed=args.seed, progress=progress)
    smooth = smooth_ece(probs, labels, scope=args.scope) if args.scope != "classwise" else None
    k = 2 if getattr(probs, "ndim", 2) == 1 else probs.shape[1]
    values = {"ece": report.ece, "mce": report.mce, "ace": report.ace, "l2": report.l2,
              "l2_debiased": report.l2_debiased, "smooth_ece": smooth, "brier": brier_score(probs, labels)}
    payload = {"n_samples": report.n_samples, "n_classes": k, "params": report.params, "metrics": values,
               "ci": report.ci, "bins": _bin_records(report)}
    return payload, report


def _bin_records(report: Any) -> list[dict]:
    """One record per bin (and class for classwise), as ``report.to_frame()`` rows, without pandas."""
    import numpy as np

    counts = np.atleast_2d(report.counts)
    edges = np.atleast_2d(report.edges)
    conf = np.atleast_2d(report.mean_confidence)
    acc = np.atleast_2d(report.accuracy)
    per_class = counts.shape[0] > 1 or report.params.get("scope") == "classwise"
    rows = []
    for k in range(counts.shape[0]):
        for m in range(counts.shape[1]):
            row = {"bin": m, "lower": float(edges[k, m]), "upper": float(edges[k, m + 1]),
                   "count": int(counts[k, m]), "mean_confidence": float(conf[k, m]), "accuracy": float(acc[k, m]),
                   "gap": float(abs(acc[k, m] - conf[k, m]))}
            rows.append({"class": k, **row} if per_class else row)
    return rows


_LABELS = {"ece": "ECE", "mce": "MCE", "ace": "ACE (mean over bins)", "l2": "L2 (RMS CE)",
           "l2_debiased": "L2 debiased", "smooth_ece": "smooth ECE", "brier": "Brier"}


def format_report(payload: dict, title: str) -> str:
    from metricprobe.cli.common import format_table

    ci = payload["ci"] or {}
    rows = []
    for key, label in _LABELS.items():
        lo, hi = ci.get(key, (None, None))
        rows.append([label, payload["metrics"][key], lo, hi] if ci else [label, payload["metrics"][key]])
    level = payload["params"].get("ci_level", payload["params"].get("confidence"))
    headers = ["metric", "value"] + ([f"CI lo ({level:g})", "CI hi"] if ci else [])
    text = format_table(rows, headers, title=title)
    if payload["params"]["scope"] != "classwise":
        bins = [[f"[{b['lower']:.3f}, {b['upper']:.3f}{']' if i == len(payload['bins']) - 1 else ')'}", b["count"],
                 b["mean_confidence"], b["accuracy"], b["gap"]]
                for i, b in enumerate(payload["bins"])]
        text += "\n\n" + format_table(bins, ["bin", "count", "confidence", "accuracy", "gap"], title="reliability table")
    return text


def _source_lines(source: dict) -> str:
    probs = source["probs"]
    lines = [f"probabilities: {probs if isinstance(probs, str) else ', '.join(probs)} (class 0, 1, ... in this order)"
             if not isinstance(probs, str) else f"probabilities: array {probs!r}"]
    if "transform" in source:
        lines.append(f"logits turned into probabilities by {source['transform']}")
    if "classes" in source:
        lines.append("class order: " + ", ".join(f"{i} = {c}" for i, c in enumerate(source["classes"])))
    return "\n".join(lines)


def run_dask(args: argparse.Namespace) -> tuple[dict, Any]:
    """JSON payload and report of a path glob of shards scored on Dask (uniform bins, no bootstrap)."""
    from metricprobe.cli.common import dask_session
    from metrics.core.errors import InputError
    from metrics.core.io import select_columns
    from metrics.distributed import as_dask_frame, calibration_report

    frame = as_dask_frame(args.preds, "PREDS")
    if args.label_col not in frame.columns:
        raise InputError(f"--label-col: column {args.label_col!r} not found in {args.preds}; "
                         f"available: {', '.join(map(str, list(frame.columns)[:20]))}")
    columns = select_columns([c for c in frame.columns if c != args.label_col], args.prob_cols, arg="--prob-cols")
    with dask_session(args, "calibration") as scheduler:
        report = calibration_report(frame, prob_columns=columns, label_column=args.label_col, n_bins=args.n_bins,
                                    scope=args.scope, scheduler=scheduler)
    values = {"ece": report.ece, "mce": report.mce, "ace": report.ace, "l2": report.l2,
              "l2_debiased": report.l2_debiased, "smooth_ece": None, "brier": None}
    payload = {"n_samples": report.n_samples, "n_classes": max(2, len(columns)), "params": report.params,
               "metrics": values, "ci": None, "bins": _bin_records(report), "engine": "dask"}
    return {**payload, "source": {"probs": columns, "labels": args.label_col}}, report


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import check_engine, emit, progress_callback, save_plot

    if check_engine(args, {"--bootstrap": args.bootstrap, "--binning quantile": args.binning == "quantile",
                           "--classes": args.classes, "--logits": args.logits}):
        payload, report = run_dask(args)
        source = payload.pop("source")
        payload = {"file": str(args.preds), "columns": source, **payload}
        title = (f"calibration of {args.preds} on Dask: N = {payload['n_samples']}, {args.scope}, uniform bins, "
                 f"M = {args.n_bins}\n{_source_lines(source)}")
        emit(args, payload, format_report(payload, title))
        if args.plot:
            save_plot(report, args.plot)
        return 0
    probs, labels, source = load(args.preds, args)
    bar = progress_callback(args, "bootstrap", min_total=200)
    payload, report = evaluate(probs, labels, args, progress=bar)
    payload = {"file": str(args.preds), "columns": source, **payload}
    title = (f"calibration of {Path(args.preds).name}: N = {payload['n_samples']}, K = {payload['n_classes']}, "
             f"{args.scope}, {args.binning} bins, M = {args.n_bins}\n{_source_lines(source)}")
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
             f"15 uniform bins, 95% bootstrap intervals")
    return format_report(payload, title)
