"""``metricprobe opis``: OPIS, ε-OPIS and retrieval metrics of saved embeddings."""

from __future__ import annotations

import argparse
from pathlib import Path

from metricprobe.cli.common import (
    add_output_options,
    emit,
    format_table,
    parse_demo_args,
    save_plot,
)
from metrics.core.errors import InputError

COMMAND = "opis"
HELP = "threshold consistency (OPIS, ε-OPIS) and Recall@k / MAP@R of embeddings"
EXAMPLE = "metricprobe opis emb.npz --k 1,5 --epsilon 0.05 --plot utility.png"
DEMO_ORDER = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("embeddings", metavar="EMBEDDINGS",
                        help="NPZ (keys --embeddings-key / --labels-key), Parquet/CSV (columns), or a 2-D .npy")
    parser.add_argument("--labels", metavar="FILE",
                        help="labels file (.npy, .npz, Parquet, CSV) when they are not in EMBEDDINGS")
    parser.add_argument("--embeddings-key", default="embeddings",
                        help="NPZ key of the (N, d) embeddings; for tables a field holding one vector per "
                             "row, a column list or a prefix* (default: embeddings; tables: an 'embeddings' or "
                             "'embedding' field, else the columns emb_*)")
    parser.add_argument("--labels-key", default="labels", help="NPZ key or column of the labels (default: labels)")
    parser.add_argument("--k", default="1,2,4,8", help="Recall@k values, comma-separated (default: 1,2,4,8)")
    parser.add_argument("--epsilon", type=float, action="append",
                        help="ε of ε-OPIS; repeat for several (default: 0.1)")
    parser.add_argument("--far-range", default="0.01,0.1",
                        help="the threshold range: quantiles f_lo,f_hi of the negative-pair distances "
                             "(default: 0.01,0.1)")
    parser.add_argument("--n-thresholds", type=int, default=101,
                        help="thresholds evenly spaced over the range (default: 101)")
    parser.add_argument("--beta", type=float, default=1.0,
                        help="beta of the F-beta utility at each threshold; > 1 weighs recall more (default: 1)")
    parser.add_argument("--distance", choices=("cosine", "l2"), default="cosine",
                        help="cosine (1 - cosine similarity) or l2 (Euclidean) distance (default: cosine)")
    parser.add_argument("--reference", choices=("class_mean", "pooled"), default="class_mean",
                        help="each class's utility is compared with the mean over classes (class_mean) or with "
                             "the utility of all pairs pooled (default: class_mean)")
    parser.add_argument("--min-class-size", type=int, default=2,
                        help="classes with fewer samples are left out of OPIS (default: 2)")
    parser.add_argument("--rank", choices=("per_threshold", "once"), default="per_threshold",
                        help="per_threshold: the utility is read at every threshold; once: at the single "
                             "threshold that is best overall (default: per_threshold)")
    parser.add_argument("--mode", choices=("exact", "approx"), default="exact",
                        help="exact pair counts, or approx (distances binned to a fixed resolution, faster on "
                             "large sets; the resolution is printed) (default: exact)")
    parser.add_argument("--ties", choices=("index", "optimistic", "pessimistic"), default="index",
                        help="retrieval metrics: how items at equal distance are ordered: by index, correct "
                             "ones first (optimistic) or last (pessimistic) (default: index)")
    parser.add_argument("--device", default=None, help="torch device to compute on (default: cpu)")
    add_output_options(parser)


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{name} must be comma-separated numbers; got {text!r}") from None


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{name} must be comma-separated integers; got {text!r}") from None


def _load_labels(path: str, key: str, arg: str):
    from metrics.core.io import read_arrays

    arrays = read_arrays(path, arg=arg)
    if Path(path).suffix.lower() == ".npy":
        return arrays["array"]
    if key not in arrays:
        raise InputError(f"{arg}: {Path(path).name} has no key or column {key!r}; available: "
                         + ", ".join(sorted(arrays)))
    return arrays[key]


def load_inputs(args: argparse.Namespace):
    """(embeddings, labels) from the command's files."""
    import numpy as np

    from metricprobe.cli.common import table_matrix
    from metrics.core.io import read_arrays, read_table

    path = Path(args.embeddings)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        arrays = read_arrays(path, arg="EMBEDDINGS")
        if suffix == ".npy":
            emb = arrays["array"]
        elif args.embeddings_key in arrays:
            emb = arrays[args.embeddings_key]
        else:
            raise InputError(f"EMBEDDINGS: {path.name} has no key {args.embeddings_key!r}; available: "
                             + ", ".join(sorted(arrays)))
        if args.labels:
            labels = _load_labels(args.labels, args.labels_key, "--labels")
        elif suffix == ".npy":
            raise InputError("--labels: a .npy EMBEDDINGS file needs its labels in a second file (--labels FILE)")
        elif args.labels_key in arrays:
            labels = arrays[args.labels_key]
        else:
            raise InputError(f"--labels-key: {path.name} has no key {args.labels_key!r}; available: "
                             + ", ".join(sorted(arrays)))
        return emb, labels
    frame = read_table(path, arg="EMBEDDINGS")
    spec = args.embeddings_key
    if spec == "embeddings" and spec not in frame.columns and "embedding" not in frame.columns:
        spec = "emb_*"
    elif spec == "embeddings" and spec not in frame.columns:
        spec = "embedding"
    emb, _ = table_matrix(frame, spec, arg="--embeddings-key")
    if args.labels:
        labels = _load_labels(args.labels, args.labels_key, "--labels")
    else:
        if args.labels_key not in frame.columns:
            raise InputError(f"--labels-key: {path.name} has no column {args.labels_key!r}")
        labels = frame[args.labels_key].to_numpy()
    return np.asarray(emb), np.asarray(labels)


def evaluate(embeddings, labels, args: argparse.Namespace):
    """The payload dict and the report for the parsed options."""
    import sys

    from metrics.threshold_consistency.functional import opis_report, retrieval_scores

    far = _floats(args.far_range, "--far-range")
    epsilons = tuple(args.epsilon) if args.epsilon else (0.1,)
    ks = _ints(args.k, "--k")
    quiet = getattr(args, "json", False) or getattr(args, "no_progress", False)
    report = opis_report(
        embeddings, labels, epsilons=epsilons, rank=args.rank,
        far_range=far,  # type: ignore[arg-type]  # its length is checked by OPISOptions
        n_thresholds=args.n_thresholds, beta=args.beta, distance=args.distance, reference=args.reference,
        min_class_size=args.min_class_size, mode=args.mode, device=args.device,
        progress=not quiet and sys.stderr.isatty())
    retrieval = retrieval_scores(embeddings, labels, ks=ks, r_metrics=True, ties=args.ties, device=args.device)
    payload = {
        "opis": report.opis,
        "eps_opis": {str(e): v for e, v in report.eps_opis.items()},
        "recall_at_k": {str(k): v for k, v in retrieval["recall"].items()},
        "map_at_r": retrieval["map_at_r"],
        "r_precision": retrieval["r_precision"],
        "n_samples": report.n_samples,
        "n_classes": report.n_classes,
        "n_queries": retrieval["n_queries"],
        "d_min": report.d_min,
        "d_max": report.d_max,
        "n_thresholds": int(report.thresholds.size),
        "mode": args.mode,
        "resolution": report.resolution,
        "params": {k: v for k, v in report.params.items() if k != "block_size"},
        "ties": args.ties,
        "worst_classes": [
            {"class": int(c), "per_class_opis": float(v)}
            for c, v in sorted(zip(report.classes, report.per_class_opis), key=lambda t: -t[1])[:5]
        ],
    }
    return payload, report


def format_report(payload: dict, title: str) -> str:
    rows = [["OPIS", payload["opis"]]]
    rows += [[f"ε-OPIS (ε = {e})", v] for e, v in payload["eps_opis"].items()]
    rows += [[f"Recall@{k}", v] for k, v in payload["recall_at_k"].items()]
    rows += [["MAP@R", payload["map_at_r"]], ["R-precision", payload["r_precision"]]]
    rows += [["classes T (n_c ≥ 2)", payload["n_classes"]], ["samples N", payload["n_samples"]],
             ["calibration range", (payload["d_min"], payload["d_max"])]]
    table = format_table(rows, ["metric", "value"], title=title)
    worst = ", ".join(f"{w['class']} ({w['per_class_opis']:.4f})" for w in payload["worst_classes"])
    note = (f"\nthresholds: {payload['n_thresholds']} from the {payload['params']['far_range'][0]:g}–"
            f"{payload['params']['far_range'][1]:g} quantiles of negative {payload['params']['distance']} "
            f"distances; classes furthest from the mean utility: {worst}")
    if payload["mode"] == "approx":
        note += f"\napprox mode: distances resolved to {payload['resolution']:.2g}"
    return table + note


def run(args: argparse.Namespace) -> int:
    embeddings, labels = load_inputs(args)
    payload, report = evaluate(embeddings, labels, args)
    title = f"{Path(args.embeddings).name}: N = {payload['n_samples']}, T = {payload['n_classes']}"
    emit(args, payload, format_report(payload, title))
    if args.plot:
        save_plot(report, args.plot)
    return 0


def sample_path() -> Path:
    from reference_models.data import sample_path as bundled

    return bundled("opis_sample.npz")


def demo_section() -> str:
    """The bundled 24-class embeddings with unequal spreads."""
    args = parse_demo_args(add_arguments, [str(sample_path()), "--no-progress"])
    embeddings, labels = load_inputs(args)
    payload, _ = evaluate(embeddings, labels, args)
    title = (f"bundled sample: 24 classes of 32-dim embeddings with unequal spreads "
             f"(N = {payload['n_samples']}), cosine distance")
    return format_report(payload, title)
