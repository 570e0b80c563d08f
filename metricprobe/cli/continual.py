"""``metricprobe continual``: continual-evaluation metrics of a saved accuracy matrix."""

from __future__ import annotations

import argparse

from metricprobe.cli.common import add_output_options, emit, format_table, save_plot

COMMAND = "continual"
HELP = "min-ACC, WC-ACC and windowed forgetting / plasticity of a per-evaluation accuracy matrix"
EXAMPLE = "metricprobe continual evals.csv --task-col current_task --acc-cols 'acc_task_*' --windows 10,100"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("FILE", help="CSV / Parquet / JSON Lines / NPZ: one row per evaluation point")
    parser.add_argument("--task-col", default="current_task", help="column of the task being trained (default: %(default)s)")
    parser.add_argument("--acc-cols", default="acc_task_*",
                        help="accuracy columns, one per task, in task order: a comma list, a prefix* (numbered "
                             "suffixes in numeric order, named ones in file order) or a field holding one vector "
                             "per row (default: %(default)s)")
    parser.add_argument("--windows", default="10,100", help="windows of WF^w / WP^w in evaluation points (default: %(default)s)")
    parser.add_argument("--all-rows", action="store_true", help="print every evaluation point, not only the last")
    add_output_options(parser)


def _windows(text: str) -> tuple[int, ...]:
    from metrics.core.errors import InputError

    try:
        return tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise InputError(f"--windows must be comma-separated integers; got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from diagnostics.continual import continual_eval_report
    from metricprobe.cli.common import table_matrix
    from metrics.core.io import numeric_matrix, read_table, select_columns

    table = read_table(args.FILE, arg="FILE")
    task_col = select_columns(table.columns, args.task_col, arg="--task-col")[0]
    accuracy, acc_cols = table_matrix(table, args.acc_cols, arg="--acc-cols")
    tasks = numeric_matrix(table, [task_col], arg="--task-col")[:, 0]
    report = continual_eval_report(accuracy, tasks, windows=_windows(args.windows))
    frame = report.to_frame()
    rows = frame if args.all_rows else frame.iloc[-1:]
    text = format_table([tuple(r) for r in rows.itertuples(index=False)], list(frame.columns),
                        title=f"continual evaluation of {args.FILE} ({len(frame)} evaluation points, {len(acc_cols)} tasks)\n"
                              f"tasks 0, 1, ... are columns {', '.join(acc_cols)}")
    emit(args, {"accuracy_columns": acc_cols, "last": frame.iloc[-1].to_dict(), "rows": frame.to_dict(orient="list")},
         text)
    if args.plot:
        save_plot(report, args.plot)
    return 0
