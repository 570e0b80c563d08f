"""``metricprobe detection-ece TABLE``: detection calibration error (D-ECE) of a saved detection table.

The table holds one labelled detection per row: a confidence score, a TP / FP label and,
optionally, box-feature columns (for example the ``cx, cy, w, h`` columns that
``metrics.label_detections`` writes). D-ECE (Küppers et al. 2020) bins the detections
jointly by confidence and by the features and compares each bin's precision with its
mean confidence.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

COMMAND = "detection-ece"
HELP = "detection calibration error (D-ECE, D-MCE) of a saved table of labelled detections"
EXAMPLE = ("metricprobe detection-ece labels.csv                      # columns score, matched\n"
           "  metricprobe detection-ece labels.parquet --features cx,cy --feature-bins 4 --json\n"
           "  metricprobe detection-ece dets.jsonl --score-col conf --label-col is_tp --plot reliability.png\n"
           "  (a table with these columns: metrics.label_detections(gt, results).to_csv('labels.csv'))")
PARAM_FLAGS = {"scores": "--score-col", "matched": "--label-col", "features": "--features", "n_bins": "--n-bins",
               "min_bin_count": "--min-bin-count"}

_TRUE = {"tp", "true", "1", "yes"}
_FALSE = {"fp", "false", "0", "no"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli.common import add_output_options

    parser.add_argument("table", metavar="TABLE",
                        help="CSV/TSV, Parquet, JSON or JSON Lines with one labelled detection per row")
    parser.add_argument("--score-col", default="score",
                        help="column of confidence scores in [0, 1] (default: score)")
    parser.add_argument("--label-col", default="matched",
                        help="column of TP / FP labels: true/false, 1/0, or the strings TP/FP "
                             "(default: matched, as metrics.label_detections writes it)")
    parser.add_argument("--features", default="",
                        help="comma-separated columns of box features in [0, 1] binned jointly with the score, "
                             "e.g. cx,cy (default: none, confidence bins only)")
    parser.add_argument("--n-bins", type=int, default=20, help="equal-width confidence bins (default: 20)")
    parser.add_argument("--feature-bins", type=int, default=4, help="bins per feature column (default: 4)")
    parser.add_argument("--binning", default="uniform", choices=("uniform", "quantile"),
                        help="uniform: equal-width bins per dimension; quantile: equal-count bins per dimension "
                             "(default: uniform)")
    parser.add_argument("--min-bin-count", type=int, default=None,
                        help="leave out joint bins with fewer detections; N counts only the kept bins "
                             "(default: 1, or 10 with --features)")
    parser.add_argument("--compat", default=None, choices=("netcal",),
                        help="netcal: reproduce netcal 1.4 ECE/MCE/ACE(detection=True) exactly, its edge and "
                             "sample-threshold conventions included (default: ours)")
    add_output_options(parser)


def _column(frame: pd.DataFrame, name: str, flag: str, path: Path) -> pd.Series:
    from metrics.core.errors import InputError

    if name not in frame.columns:
        raise InputError(f"{flag}: column {name!r} not found in {path.name}; available: "
                         f"{', '.join(map(str, frame.columns[:20]))}")
    return frame[name]


def parse_labels(column: pd.Series, flag: str) -> np.ndarray:
    """TP / FP labels as 0/1: booleans, the integers 0 and 1, or the strings TP/FP, true/false, yes/no."""
    import numpy as np

    from metrics.core.errors import InputError

    values = column.to_numpy()
    if values.dtype == bool:
        return values.astype(np.int64)
    if values.dtype.kind in "iuf":
        bad = ~np.isin(values, (0, 1))
        if bad.any():
            raise InputError(f"{flag}: column {column.name!r} must hold TP/FP labels (1/0, true/false or TP/FP); "
                             f"row {int(np.flatnonzero(bad)[0])} holds {values[bad][0]!r}")
        return values.astype(np.int64)
    text = [str(v).strip().lower() if v is not None else "" for v in values.tolist()]
    out = np.fromiter((1 if t in _TRUE else 0 if t in _FALSE else -1 for t in text), np.int64, len(text))
    if (out < 0).any():
        i = int(np.flatnonzero(out < 0)[0])
        raise InputError(f"{flag}: column {column.name!r} must hold TP/FP labels (1/0, true/false or TP/FP); "
                         f"row {i} holds {values[i]!r}")
    return out


def load(path: str, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """(scores, 0/1 labels, features or None, the columns used) from the table."""
    import numpy as np

    from metrics.core.errors import InputError
    from metrics.core.io import read_table

    p = Path(path)
    frame = read_table(p, arg="TABLE")
    if len(frame) == 0:
        raise InputError(f"TABLE: {p.name} has no rows; expected one labelled detection per row")
    scores = _column(frame, args.score_col, "--score-col", p)
    if scores.to_numpy().dtype.kind not in "iuf":
        raise InputError(f"--score-col: column {args.score_col!r} must hold numbers; found {scores.dtype}")
    labels = parse_labels(_column(frame, args.label_col, "--label-col", p), "--label-col")
    names = [c.strip() for c in args.features.split(",") if c.strip()]
    if len(set(names)) != len(names):
        raise InputError(f"--features: a column is named twice in {args.features!r}")
    features = None
    if names:
        cols = [_column(frame, n, "--features", p) for n in names]
        for n, c in zip(names, cols):
            if c.to_numpy().dtype.kind not in "iuf":
                raise InputError(f"--features: column {n!r} must hold numbers in [0, 1]; found {c.dtype}")
        features = np.column_stack([c.to_numpy(dtype=np.float64) for c in cols])
    columns = {"score": args.score_col, "label": args.label_col, "features": names}
    return scores.to_numpy(dtype=np.float64), labels, features, columns


def evaluate(scores: np.ndarray, labels: np.ndarray, features: np.ndarray | None,
             args: argparse.Namespace) -> dict:
    """The JSON payload: D-ECE, D-MCE and the mean gap (ACE), with the confidence-only reliability bins."""
    from metrics.detection.audit import detection_ece, reliability_bins

    n_features = 0 if features is None else features.shape[1]
    min_bin_count = args.min_bin_count if args.min_bin_count is not None else (10 if n_features else 1)
    n_bins = [args.n_bins] + [args.feature_bins] * n_features
    norms: dict[str, Literal["l1", "max", "average"]] = {"d_ece": "l1", "d_mce": "max", "d_ace": "average"}
    values = {name: detection_ece(scores, labels, features=features, n_bins=n_bins, binning=args.binning,
                                  norm=norm, min_bin_count=min_bin_count, compat=args.compat)
              for name, norm in norms.items()}
    rel = reliability_bins(scores, labels, n_bins=args.n_bins)
    edges = rel["edges"]
    bins = [{"bin": k, "lower": float(edges[k]), "upper": float(edges[k + 1]), "count": int(rel["counts"][k]),
             "mean_confidence": float(rel["mean_confidence"][k]), "precision": float(rel["precision"][k])}
            for k in range(args.n_bins)]
    params = {"n_bins": n_bins, "binning": args.binning, "min_bin_count": min_bin_count, "compat": args.compat}
    return {"n_detections": int(len(scores)), "n_matched": int(labels.sum()), "params": params, "metrics": values,
            "bins": bins, "_reliability": rel}


def format_report(payload: dict, title: str) -> str:
    from metricprobe.cli.common import format_table

    labels = {"d_ece": "D-ECE (weighted mean gap)", "d_mce": "D-MCE (largest gap)", "d_ace": "mean gap over bins"}
    text = format_table([[labels[k], v] for k, v in payload["metrics"].items()], ["metric", "value"], title=title)
    rows = [[f"[{b['lower']:.3f}, {b['upper']:.3f}{']' if i == len(payload['bins']) - 1 else ')'}", b["count"],
             b["mean_confidence"], b["precision"], abs(b["precision"] - b["mean_confidence"])]
            for i, b in enumerate(payload["bins"]) if b["count"]]
    return text + "\n\n" + format_table(rows, ["confidence bin", "count", "confidence", "precision", "gap"],
                                        title="reliability table (confidence bins with detections)")


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import emit, save_figure

    scores, labels, features, columns = load(args.table, args)
    payload = evaluate(scores, labels, features, args)
    rel = payload.pop("_reliability")
    payload = {"file": str(args.table), "columns": columns, **payload}
    dims = f"{args.n_bins} confidence bins" + (
        f" x {args.feature_bins} bins per feature ({', '.join(columns['features'])})" if columns["features"] else "")
    title = (f"detection calibration of {Path(args.table).name}: {payload['n_detections']} detections, "
             f"{payload['n_matched']} TP; {args.binning} {dims}; min bin count {payload['params']['min_bin_count']}"
             f"{'; netcal conventions' if args.compat else ''}\n"
             f"score column {columns['score']!r}, label column {columns['label']!r}")
    emit(args, payload, format_report(payload, title))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from metrics.detection.audit import DetectionCalibrationReport

        report = DetectionCalibrationReport(metrics={"ece-overall": payload["metrics"]["d_ece"]}, per_category={},
                                            reliability={"overall": rel}, n_detections=payload["n_detections"],
                                            n_matched=payload["n_matched"])
        save_figure(report.plot(group="overall").figure, args.plot)
    return 0
