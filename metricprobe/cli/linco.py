"""``metricprobe linco``: LInCo of a saved (K groups × N cases) matrix, or end to end from cases."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

COMMAND = "linco"
HELP = "LInCo: how differently per-group judgment models decide the same cases"
EXAMPLE = ("metricprobe linco preds.npz --predictions P --baseline B   |   "
           "metricprobe linco --data cases.csv --group-col region --target-col term --text-col facts   |   "
           "metricprobe linco 'preds-*.parquet' --columns 'judge_*' --engine dask --workers 4")
DEMO_ORDER = 50

_REGRESSION = ("var_pop", "std_pop", "std_log1p", "cv_pop", "mean_abs_pairwise")
_CLASSIFICATION = ("pairwise_disagreement", "one_minus_majority_fraction")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli.common import add_engine_options, add_output_options

    parser.add_argument("predictions", nargs="?", metavar="PREDICTIONS",
                        help="matrix file: NPZ/NPY hold a (K, N) array (K group models × N cases); "
                             "CSV/TSV/Parquet/JSON tables hold one column per group model, one row per case; with "
                             "--engine dask a path glob of Parquet / JSON Lines / CSV shards of such a table")
    parser.add_argument("--predictions", dest="predictions_key", metavar="KEY",
                        help="NPZ key of the (K, N) matrix (default: 'predictions', or the only array)")
    parser.add_argument("--baseline", metavar="KEY",
                        help="NPZ key of a (K', N) or (R, K', N) random-split baseline to correct by")
    parser.add_argument("--columns", metavar="SPEC",
                        help="table columns holding the group models (judges), one per group: a comma list "
                             "or a prefix* such as 'judge_*' (numbered suffixes in numeric order, named ones in "
                             "file order); required for tables, so that an id column is never taken as a judge")
    parser.add_argument("--baseline-columns", action="append", metavar="SPEC",
                        help="table columns of one random-split baseline's group models (a comma list or a "
                             "prefix*); repeat the option once per split")
    parser.add_argument("--transpose", action="store_true", help="the file holds the matrix as (N, K)")
    data = parser.add_argument_group("end to end from cases (--data)")
    data.add_argument("--data", metavar="CASES", help="table of cases (CSV/TSV/Parquet/JSON)")
    data.add_argument("--group-col", metavar="COL", help="column with each case's group (region, gender, ...)")
    data.add_argument("--target-col", metavar="COL", help="column with the judgment (term or charge)")
    data.add_argument("--text-col", metavar="COL", help="column of fact descriptions (TF-IDF model)")
    data.add_argument("--feature-cols", metavar="SPEC",
                      help="numeric feature columns, comma-separated or a prefix* (ridge / logistic)")
    data.add_argument("--test-size", type=float, default=0.2, help="fraction held out per group (default 0.2)")
    data.add_argument("--n-repeats", type=int, default=5, help="random splits for the baseline (default 5)")
    data.add_argument("--no-baseline", action="store_true", help="skip the random-split baseline")
    data.add_argument("--target-transform", choices=("log1p", "none"), default=None,
                      help="regression target scale (default: log1p)")
    data.add_argument("--seed", type=int, default=0, help="seed of the split, baseline and models (default 0)")
    parser.add_argument("--task", choices=("regression", "classification"), default="regression",
                        help="regression (prison terms) or classification (charges); default regression")
    parser.add_argument("--dispersion", choices=_REGRESSION + _CLASSIFICATION,
                        help="per-case dispersion (default std_log1p / pairwise_disagreement)")
    parser.add_argument("--baseline-mode", choices=("subtract", "ratio"), default="subtract",
                        help="how the baseline corrects the raw value (default subtract)")
    parser.add_argument("--ci-level", type=float, default=0.95, help="interval level (default 0.95)")
    parser.add_argument("--per-case", action="store_true", help="include the per-case values in the JSON")
    add_output_options(parser)
    add_engine_options(parser)


def _matrix_from_file(args: argparse.Namespace):
    import numpy as np

    from metrics.core.errors import InputError
    from metrics.core.io import read_arrays, read_table, select_columns

    path = args.predictions
    suffix = path.lower().rsplit(".", 1)[-1]
    baseline: Any = None
    if suffix in ("npz", "npy"):
        arrays = read_arrays(path, arg="PREDICTIONS")
        key = args.predictions_key
        if key is None:
            key = "predictions" if "predictions" in arrays else (next(iter(arrays)) if len(arrays) == 1 else None)
        if key is None or key not in arrays:
            raise InputError(f"--predictions: key {key!r} not in {path}; available: {', '.join(arrays)}"
                             if key else f"--predictions: {path} holds several arrays ({', '.join(arrays)}); "
                                         "name one with --predictions KEY")
        matrix = arrays[key]
        if args.baseline is not None:
            if args.baseline not in arrays:
                raise InputError(f"--baseline: key {args.baseline!r} not in {path}; available: {', '.join(arrays)}")
            baseline = arrays[args.baseline]
            if args.transpose:
                baseline = np.swapaxes(baseline, -1, -2)
    else:
        if args.baseline is not None or args.predictions_key is not None:
            raise InputError("--baseline / --predictions KEY need an NPZ file; tables hold one matrix "
                             "(name a baseline's columns with --baseline-columns)")
        frame = read_table(path, arg="PREDICTIONS")
        if not args.columns:
            shown = ", ".join(map(str, frame.columns[:12])) + (" ..." if len(frame.columns) > 12 else "")
            raise InputError(f"--columns: name the judge (group-model) columns of {Path(path).name}, as a comma "
                             f"list or a prefix* (columns: {shown})")
        cols = select_columns(frame.columns, args.columns, arg="--columns")
        args.judge_columns = cols
        matrix = frame[cols].to_numpy().T  # columns are group models → rows of the (K, N) matrix
        splits = _baseline_columns(frame.columns, args)
        if splits:
            baseline = [frame[c].to_numpy().T for c in splits]
    if args.transpose:
        matrix = np.asarray(matrix).T
    return matrix, baseline


def _baseline_columns(columns, args: argparse.Namespace) -> list[list[str]]:
    """One column list per ``--baseline-columns`` (empty without the option)."""
    from metrics.core.errors import InputError
    from metrics.core.io import select_columns

    specs = getattr(args, "baseline_columns", None) or []
    if specs and args.transpose:
        raise InputError("--baseline-columns names table columns; it does not combine with --transpose")
    splits = [select_columns(columns, spec, arg="--baseline-columns") for spec in specs]
    args.baseline_column_lists = splits
    return splits


def _report_on_dask(args: argparse.Namespace):
    """The report of a path glob of shards scored on Dask (every field but the per-case values)."""
    from metricprobe.cli.common import dask_session
    from metrics.core.errors import InputError
    from metrics.core.io import select_columns
    from metrics.distributed import as_dask_frame, linco_report

    frame = as_dask_frame(args.predictions, "PREDICTIONS")
    if not args.columns:
        shown = ", ".join(map(str, frame.columns[:12])) + (" ..." if len(frame.columns) > 12 else "")
        raise InputError(f"--columns: name the judge (group-model) columns of the shards, as a comma list or a "
                         f"prefix* (columns: {shown})")
    cols = select_columns(frame.columns, args.columns, arg="--columns")
    args.judge_columns = cols
    splits = _baseline_columns(frame.columns, args)
    with dask_session(args, "linco") as scheduler:
        return linco_report(frame, model_columns=cols, task=args.task, dispersion=args.dispersion,
                            baseline_columns=splits or None, baseline_mode=args.baseline_mode,
                            ci_level=args.ci_level, scheduler=scheduler)


def _report_from_data(args: argparse.Namespace):
    import numpy as np

    from metrics.core.errors import InputError
    from metrics.core.io import read_table, select_columns
    from reference_models import linco_from_data
    from reference_models.group_models import make_text_model

    missing = [o for o, v in (("--group-col", args.group_col), ("--target-col", args.target_col)) if not v]
    if missing:
        raise InputError(f"--data needs {' and '.join(missing)}")
    if bool(args.text_col) == bool(args.feature_cols):
        raise InputError("--data needs exactly one of --text-col (fact descriptions) or --feature-cols")
    frame = read_table(args.data, arg="--data")
    needed = [args.group_col, args.target_col] + ([args.text_col] if args.text_col else [])
    select_columns(frame.columns, ",".join(needed), arg="--data")
    if args.text_col:
        texts = frame[args.text_col]
        if texts.isna().any():
            raise InputError(f"--text-col: column {args.text_col!r} has {int(texts.isna().sum())} empty cells")
        X = texts.astype(str).to_numpy()
        model = make_text_model(args.task)
    else:
        cols = select_columns(frame.columns, args.feature_cols, arg="--feature-cols")
        X = frame[cols].to_numpy()
        model = None
    groups = frame[args.group_col].to_numpy()
    if frame[args.group_col].isna().any():
        raise InputError(f"--group-col: column {args.group_col!r} has empty cells")
    y = frame[args.target_col].to_numpy()
    if args.task == "classification" and y.dtype == object:
        y = y.astype(str)
    transform = args.target_transform
    if transform is None and args.task == "regression":
        transform = "log1p"
    return linco_from_data(
        X, y, np.asarray(groups), task=args.task, model=model, dispersion=args.dispersion,
        test_size=args.test_size, baseline=None if args.no_baseline else "random_split",
        baseline_mode=args.baseline_mode, n_repeats=args.n_repeats, target_transform=transform,
        seed=args.seed, ci_level=args.ci_level)


def _table(report, judges: list[str] | None = None) -> str:
    from metricprobe.cli.common import format_table

    rows = [("LInCo (corrected)" if report.baseline is not None else "LInCo", report.value),
            ("raw", report.raw),
            ("baseline mean", report.baseline)]
    if report.ci_low is not None:
        rows.append((f"{report.ci_level:.0%} interval", (report.ci_low, report.ci_high)))
    rows += [("dispersion", report.dispersion), ("task", report.task), ("groups (K)", len(report.groups)),
             ("evaluation cases", report.n_eval), ("skipped cases", report.n_skipped),
             ("status", report.status)]
    title = "LInCo" + (f" of judge columns {', '.join(judges)}" if judges else "")
    text = format_table(rows, ["quantity", "value"], title=title)
    if report.group_train_sizes is not None:
        text += "\n\n" + format_table(list(zip(map(str, report.groups), report.group_train_sizes)),
                                      ["group", "training cases"])
    return text


def _payload(report, per_case: bool) -> dict:
    payload = report.to_dict()
    if not per_case:
        payload.pop("per_case", None)
    return payload


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import check_engine, emit, save_plot
    from metrics.core.errors import InputError
    from metrics.group_consistency import linco_report

    if (args.predictions is None) == (args.data is None):
        raise InputError("give either PREDICTIONS (a matrix file) or --data CASES (end to end), not both or neither")
    if getattr(args, "baseline_columns", None) and args.data is not None:
        raise InputError("--baseline-columns applies to a PREDICTIONS table; --data builds its own baseline")
    dask_engine = check_engine(args, {"--data": args.data is not None, "--baseline KEY": args.baseline,
                                      "--predictions KEY": args.predictions_key, "--transpose": args.transpose,
                                      "--per-case": args.per_case, "--plot": args.plot})
    if dask_engine:
        report = _report_on_dask(args)
    elif args.data is not None:
        report = _report_from_data(args)
    else:
        data_only = [o for o, v in (("--group-col", args.group_col), ("--target-col", args.target_col),
                                    ("--text-col", args.text_col), ("--feature-cols", args.feature_cols)) if v]
        if data_only:
            raise InputError(f"{', '.join(data_only)} only apply with --data")
        matrix, baseline = _matrix_from_file(args)
        report = linco_report(matrix, task=args.task, dispersion=args.dispersion, baseline=baseline,
                              baseline_mode=args.baseline_mode, ci_level=args.ci_level)
    judges = getattr(args, "judge_columns", None)
    payload = _payload(report, args.per_case)
    if judges:
        payload["judge_columns"] = judges
    if getattr(args, "baseline_column_lists", None):
        payload["baseline_columns"] = args.baseline_column_lists
    table = _table(report, judges)
    if dask_engine:
        payload.pop("per_case", None)
        payload["engine"] = "dask"
        table += "\n(scored on Dask; the per-case values stay on the workers)"
    emit(args, payload, table)
    if args.plot:
        save_plot(report, args.plot)
    return 0


def demo_section() -> str:
    """End to end on the bundled sample: TF-IDF ridge per region on fact descriptions."""
    import pandas as pd

    from reference_models import linco_from_data
    from reference_models.group_models import linco_sample_path, make_text_model

    frame = pd.read_csv(linco_sample_path())
    report = linco_from_data(frame["facts"].to_numpy(), frame["term"].to_numpy(), frame["region"].to_numpy(),
                             model=make_text_model("regression"), target_transform="log1p", n_repeats=3, seed=0)
    return ("Bundled sample: 1200 generated cases, 4 regions, prison terms in months, text facts;\n"
            "one TF-IDF + ridge model per region, judged on shared held-out cases.\n\n" + _table(report))
