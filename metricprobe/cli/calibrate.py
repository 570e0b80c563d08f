"""``metricprobe calibrate fit|apply``: fit a post-hoc calibrator on saved scores, apply it to others.

The fitted parameters are saved as JSON (never pickled), so they can be read, diffed and
reused anywhere.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

COMMAND = "calibrate"
HELP = "fit a calibrator (temperature, Platt, histogram binning) on saved scores, or apply a fitted one"
EXAMPLE = ("metricprobe calibrate fit val.npz --method temperature --params temp.json\n"
           "  metricprobe calibrate apply test.npz --params temp.json --write calibrated.npz")

#: method -> (class name in reference_models, fitted attributes saved, input kind)
_METHODS = {"temperature": ("TemperatureScaling", ("temperature_", "n_classes_"), "logits"),
            "platt": ("PlattScaling", ("slope_", "intercept_", "n_classes_"), "probabilities"),
            "histogram": ("HistogramBinning", ("edges_", "values_", "n_classes_"), "probabilities")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli.common import add_class_options

    parser.add_argument("action", choices=("fit", "apply"),
                        help="fit: learn the calibrator from scores and labels; apply: calibrate new scores")
    parser.add_argument("preds", metavar="PREDS",
                        help="NPZ (arrays --scores-key, --labels-key) or a table (CSV/TSV, Parquet, JSON, JSON Lines)")
    parser.add_argument("--method", choices=tuple(_METHODS), default="temperature",
                        help="temperature: one temperature on logits (multi-class); platt: logistic map of a "
                             "binary positive-class probability; histogram: per-bin frequencies of the "
                             "probabilities (default: temperature)")
    parser.add_argument("--params", metavar="FILE.json", required=True,
                        help="fit: where to write the fitted parameters; apply: the parameters to use")
    parser.add_argument("--scores-key", default="logits",
                        help="NPZ array of scores (default: logits; probabilities for platt/histogram)")
    parser.add_argument("--labels-key", default="labels", help="NPZ array of labels (default: labels)")
    parser.add_argument("--score-cols", default="logit_*",
                        help="table columns of scores in class order: a comma list, a prefix* or a vector field "
                             "(default: logit_*)")
    parser.add_argument("--label-col", default="label", help="table column of labels (default: label)")
    parser.add_argument("--n-bins", type=int, default=15, help="histogram: number of bins (default: 15)")
    parser.add_argument("--write", metavar="FILE.npz",
                        help="apply: write the calibrated probabilities (array probs) to this NPZ file")
    add_class_options(parser, logits=False)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a table")


def _read(args: argparse.Namespace, need_labels: bool) -> tuple[Any, Any]:
    import numpy as np

    from metricprobe.cli.common import encode_labels, table_matrix
    from metrics.core.errors import InputError
    from metrics.core.io import read_arrays, read_table

    path = Path(args.preds)
    labels = None
    if path.suffix.lower() in (".npz", ".npy"):
        arrays = read_arrays(path, arg="PREDS")
        if args.scores_key not in arrays:
            raise InputError(f"--scores-key: {path.name} has no array {args.scores_key!r} "
                             f"(arrays: {', '.join(arrays) or 'none'})")
        scores = arrays[args.scores_key]
        if args.labels_key in arrays:
            labels = arrays[args.labels_key]
    else:
        frame = read_table(path, arg="PREDS")
        rest = frame.drop(columns=[args.label_col]) if args.label_col in frame.columns else frame
        scores, _ = table_matrix(rest, args.score_cols, arg="--score-cols")
        if scores.shape[1] == 1:
            scores = scores[:, 0]
        if args.label_col in frame.columns:
            labels = frame[args.label_col].to_numpy()
    if need_labels and labels is None:
        raise InputError("PREDS: fitting needs labels (--labels-key for NPZ, --label-col for tables)")
    if labels is not None:
        labels, _ = encode_labels(labels, args.classes, arg="labels")
    return np.asarray(scores), labels


def _fit(args: argparse.Namespace) -> dict:
    import reference_models

    scores, labels = _read(args, need_labels=True)
    name, fields, kind = _METHODS[args.method]
    cls = getattr(reference_models, name)
    calibrator = cls(n_bins=args.n_bins) if args.method == "histogram" else cls()
    calibrator.fit(scores, labels)
    params = {"method": args.method, "input": kind}
    for field in fields:
        value = getattr(calibrator, field)
        params[field.rstrip("_")] = _plain(value)
    if args.method == "histogram":
        params["n_bins"] = args.n_bins
    try:
        Path(args.params).write_text(json.dumps(params, indent=2) + "\n")
    except OSError as exc:
        from metrics.core.errors import InputError

        raise InputError(f"--params: cannot write {args.params!r} ({exc.strerror})") from None
    return {"action": "fit", "file": str(args.preds), "n_samples": int(len(labels)), "params_file": args.params,
            "params": params}


def _plain(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _load_params(path: str) -> dict:
    from metrics.core.errors import InputError
    from metrics.core.io import read_json

    params = read_json(path, arg="--params")
    if not isinstance(params, dict) or params.get("method") not in _METHODS:
        raise InputError(f"--params: {Path(path).name} is not a parameter file written by 'metricprobe calibrate "
                         "fit' (no known 'method')")
    missing = [f.rstrip("_") for f in _METHODS[params["method"]][1] if f.rstrip("_") not in params]
    if missing:
        raise InputError(f"--params: {Path(path).name} lacks {', '.join(missing)}")
    return params


def _apply(args: argparse.Namespace) -> dict:
    import numpy as np

    import reference_models

    params = _load_params(args.params)
    name, fields, _ = _METHODS[params["method"]]
    cls = getattr(reference_models, name)
    calibrator = cls(n_bins=params.get("n_bins", 15)) if params["method"] == "histogram" else cls()
    for field in fields:
        value = params[field.rstrip("_")]
        if field in ("edges_", "values_"):
            value = (np.asarray(value, dtype=np.float64) if value and not isinstance(value[0], list)
                     else [np.asarray(v, dtype=np.float64) for v in value])
        setattr(calibrator, field, value)
    scores, labels = _read(args, need_labels=False)
    probs = np.asarray(calibrator.transform(scores), dtype=np.float64)
    if args.write:
        try:
            arrays = {"probs": probs} if labels is None else {"probs": probs, "labels": labels}
            np.savez(args.write, **arrays)
        except OSError as exc:
            from metrics.core.errors import InputError

            raise InputError(f"--write: cannot write {args.write!r} ({exc.strerror})") from None
    return {"action": "apply", "file": str(args.preds), "method": params["method"], "n_samples": int(len(probs)),
            "written": args.write, "probs_head": probs[:3].tolist()}


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import emit, format_table

    args.out = None
    payload = _fit(args) if args.action == "fit" else _apply(args)
    if args.action == "fit":
        rows = [[k, v if not isinstance(v, list) else f"{len(v)} values"] for k, v in payload["params"].items()]
        table = format_table(rows, ["parameter", "value"],
                             title=f"fitted {args.method} on {Path(args.preds).name} (N = {payload['n_samples']}); "
                                   f"saved to {args.params}")
    else:
        table = (f"applied {payload['method']} from {args.params} to {Path(args.preds).name} "
                 f"(N = {payload['n_samples']})" + (f"; wrote {args.write}" if args.write else
                                                     "; give --write FILE.npz to save the probabilities"))
    emit(args, payload, table)
    return 0
