"""``metricprobe collapse LOGITS``: Softmax Collapse of saved logits."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = "collapse"
HELP = "Softmax Collapse: the fraction of rows whose softmax is exactly one-hot in a float dtype"
EXAMPLE = "metricprobe collapse logits.npz --logits-key logits --labels-key labels --dtype float32"

_DTYPES = ("float32", "float16", "bfloat16", "float64")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli.common import add_output_options

    parser.add_argument("logits", metavar="LOGITS",
                        help="NPZ / NPY (a (N, C) array) or a table (CSV/TSV, Parquet, JSON, JSON Lines)")
    parser.add_argument("--logits-key", default="logits", help="NPZ array of logits (default: logits)")
    parser.add_argument("--labels-key", default="labels",
                        help="NPZ array or table column of labels; optional: with labels the loss-based tests "
                             "are reported too (default: labels)")
    parser.add_argument("--logit-cols", default="logit_*",
                        help="table columns of logits in class order: a comma list, a prefix* or a vector field "
                             "(default: logit_*)")
    parser.add_argument("--dtype", choices=_DTYPES, default="float32",
                        help="the float type the softmax / loss is computed in during training (default: float32)")
    parser.add_argument("--ignore-index", type=int, default=-100,
                        help="label value of rows to leave out (default: -100)")
    add_output_options(parser, plot=False)


def _read(args: argparse.Namespace):
    from metricprobe.cli.common import table_matrix
    from metrics.core.errors import InputError
    from metrics.core.io import read_arrays, read_table

    path = Path(args.logits)
    if path.suffix.lower() in (".npz", ".npy"):
        arrays = read_arrays(path, arg="LOGITS")
        if path.suffix.lower() == ".npy":
            return arrays["array"], None
        if args.logits_key not in arrays:
            raise InputError(f"--logits-key: {path.name} has no array {args.logits_key!r} "
                             f"(arrays: {', '.join(arrays) or 'none'})")
        return arrays[args.logits_key], arrays.get(args.labels_key)
    frame = read_table(path, arg="LOGITS")
    labels = frame[args.labels_key].to_numpy() if args.labels_key in frame.columns else None
    rest = frame.drop(columns=[args.labels_key]) if labels is not None else frame
    logits, _ = table_matrix(rest, args.logit_cols, arg="--logit-cols")
    return logits, labels


def run(args: argparse.Namespace) -> int:
    import torch

    from diagnostics import softmax_collapse_report
    from metricprobe.cli.common import emit, format_table

    logits, labels = _read(args)
    report = softmax_collapse_report(logits, labels, dtype=getattr(torch, args.dtype),
                                     ignore_index=args.ignore_index)
    payload = {"file": str(args.logits), "dtype": args.dtype, "n_rows": int(report.collapsed.size),
               "collapse_fraction": report.collapse_fraction, "zero_loss_fraction": report.zero_loss_fraction}
    rows = [["rows", payload["n_rows"]], [f"softmax collapse fraction ({args.dtype})", report.collapse_fraction]]
    if report.zero_loss_fraction is not None:
        rows.append(["zero-loss fraction", report.zero_loss_fraction])
    table = format_table(rows, ["quantity", "value"], title=f"Softmax Collapse of {Path(args.logits).name}")
    emit(args, payload, table + "\na row collapses when sum_k exp(z_k - max z) rounds to exactly 1 in "
         f"{args.dtype}: its softmax is one-hot and its gradient vanishes")
    return 0
