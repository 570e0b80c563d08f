"""``metricprobe concordance``: Harrell's, Uno's or time-dependent C of saved survival predictions."""

from __future__ import annotations

import argparse
from typing import Any

from metricprobe.cli.common import (
    add_engine_options,
    add_output_options,
    call_with_progress,
    emit,
    format_table,
    parse_demo_args,
    progress_callback,
    table_matrix,
)
from reference_models.data import sample_path

COMMAND = "concordance"
HELP = "concordance index (Harrell, Uno, or Antolini's time-dependent C) of scores against censored times"
EXAMPLE = ("metricprobe concordance preds.csv --time-col time --event-col event --risk-col risk "
           "--bootstrap 200\n"
           "  metricprobe concordance curves.csv --survival-cols 'surv_*'   # S_i(t) per column, t from the name\n"
           "  metricprobe concordance 'subjects-*.parquet' --uno --tau 700 --engine dask --workers 4")
DEMO_ORDER = 40
SAMPLE = sample_path("concordance_sample.csv")
PARAM_FLAGS = {"n_bootstrap": "--bootstrap", "risk": "--risk-col", "time": "--time-col", "event": "--event-col"}

#: (direction, tie tolerance) that each ``--compat`` fixes; the default is the scikit-survival one.
_CONVENTIONS = {None: ("risk", 1e-8), "lifelines": ("survival", 0.0), "sksurv": ("risk", 1e-8)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV/TSV, Parquet, JSON, JSON Lines or NPZ table")
    parser.add_argument("--time-col", "--time", dest="time_col", default="time", help="time column (default: time)")
    parser.add_argument("--event-col", "--event", dest="event_col", default="event",
                        help="event column, 1/0 (default: event; 'none' = every subject had the event)")
    parser.add_argument("--risk-col", "--risk", dest="risk_col", default="risk", help="score column (default: risk)")
    parser.add_argument("--higher-is", choices=("risk", "survival"), default=None,
                        help="what a higher score means: risk (earlier failure) or survival (a predicted time "
                             "or survival probability, negated); default risk")
    parser.add_argument("--compat", choices=("lifelines", "sksurv"), default=None,
                        help="reproduce a library exactly: lifelines reads the score as a survival time "
                             "(--higher-is survival) with exact risk ties; sksurv is the default convention")
    parser.add_argument("--tied-tol", type=float, default=None,
                        help="risk scores closer than this count as tied, scoring 1/2 (default: 1e-8)")
    parser.add_argument("--uno", action="store_true", help="Uno's IPCW concordance as well as Harrell's")
    parser.add_argument("--tau", type=float, default=None, help="Uno's truncation time (default: none)")
    parser.add_argument("--train", metavar="FILE",
                        help="Uno: table whose time/event columns fit the censoring Kaplan-Meier (default: FILE)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="bootstrap replicates for a confidence interval (default: 0 = none)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    td = parser.add_argument_group("time-dependent concordance (Antolini's C_td) of survival curves")
    td.add_argument("--survival-cols", metavar="SPEC",
                    help="columns S_i(t_1), S_i(t_2), ... of predicted survival, as a comma list, a prefix* or "
                         "a field holding one curve per row; giving it switches to C_td")
    td.add_argument("--time-grid", metavar="T1,T2,...",
                    help="the times of the survival columns (default: the number after the prefix in each "
                         "column name, e.g. surv_12.5 -> 12.5)")
    td.add_argument("--td-method", choices=("antolini", "adj_antolini"), default="antolini",
                    help="antolini: the paper's definition; adj_antolini: pycox's default concordance_td "
                         "(default: antolini)")
    add_engine_options(parser)
    add_output_options(parser, plot=False)


def _columns(path: str, args: argparse.Namespace, arg: str, need_risk: bool = True):
    from metrics.core.io import numeric_matrix, read_table, select_columns

    frame = read_table(path, arg=arg)
    names = [args.time_col] + ([args.risk_col] if need_risk else [])
    if args.event_col.lower() != "none":
        names.append(args.event_col)
    select_columns(frame.columns, ",".join(names), arg=arg)
    event = None if args.event_col.lower() == "none" else frame[args.event_col].to_numpy()
    risk = numeric_matrix(frame, [args.risk_col], arg="--risk-col")[:, 0] if need_risk else None
    return risk, numeric_matrix(frame, [args.time_col], arg="--time-col")[:, 0], event, frame


def conventions(args: argparse.Namespace, report: Any = None) -> dict:
    """The direction and tie conventions of this run (from the report when it states them)."""
    direction, tol = _CONVENTIONS[args.compat]
    if args.higher_is is not None:
        direction = args.higher_is
    if args.tied_tol is not None:
        tol = args.tied_tol
    stated = report.to_dict() if report is not None else {}
    direction = stated.get("higher_is", direction)
    tol = stated.get("tied_tol", tol)
    return {
        "higher_is": direction,
        "tied_tol": tol,
        "compat": args.compat,
        "direction": ("a higher score means earlier failure (risk)" if direction == "risk" else
                      "a higher score means longer survival (scores negated)"),
        "ties": (f"scores within {tol:g} of each other are tied and count 1/2; an event and a censoring at the "
                 "same time form a comparable pair; two events at the same time are not compared"),
    }


def _time_grid(args: argparse.Namespace, names: list[str]):
    import numpy as np

    from metrics.core.errors import InputError

    if args.time_grid:
        try:
            return np.array([float(v) for v in args.time_grid.split(",") if v.strip()])
        except ValueError:
            raise InputError(f"--time-grid must be comma-separated numbers; got {args.time_grid!r}") from None
    spec = args.survival_cols
    prefix = spec[:-1] if spec.endswith("*") else ""
    try:
        return np.array([float(n[len(prefix):]) for n in names])
    except ValueError:
        raise InputError("--time-grid: give the times of the survival columns (their names "
                         f"{', '.join(names[:4])} do not end in numbers after {prefix!r})") from None


def compute_td(args: argparse.Namespace) -> dict:
    """Antolini's time-dependent concordance of per-subject survival curves."""
    from metrics.concordance import time_dependent_concordance

    _, time, event, frame = _columns(args.file, args, "FILE", need_risk=False)
    curves, names = table_matrix(frame, args.survival_cols, arg="--survival-cols")
    grid = _time_grid(args, names)
    value = time_dependent_concordance(curves, grid, time, event if event is not None else [1] * len(time),
                                       method=args.td_method)
    return {"file": str(args.file), "n": int(len(time)), "ctd": value, "method": args.td_method,
            "survival_columns": names, "time_grid": grid.tolist()}


def compute_dask(args: argparse.Namespace) -> dict:
    """Harrell's (and Uno's) C of a path glob of shards, on Dask."""
    from metricprobe.cli.common import dask_session
    from metrics.core.errors import InputError
    from metrics.distributed import as_dask_frame, concordance_report, uno_concordance_index

    event_col = None if args.event_col.lower() == "none" else args.event_col
    frame = as_dask_frame(args.file, "FILE")
    options = dict(risk_column=args.risk_col, time_column=args.time_col, higher_is=args.higher_is,
                   tied_tol=args.tied_tol, compat=args.compat)
    if (args.tau is not None or args.train) and not args.uno:
        raise InputError("--tau and --train apply to --uno only")
    if args.uno and event_col is None:
        raise InputError("--uno needs --event-col (censoring weights need event indicators)")
    train_time = train_event = None
    if args.train:
        _, train_time, train_event, _ = _columns(args.train, args, "--train", need_risk=False)
    with dask_session(args, "concordance") as scheduler:
        report = concordance_report(frame, event_column=event_col, scheduler=scheduler, **options)
        n = int(frame[args.time_col].shape[0].compute(scheduler=scheduler))
        payload = {"file": str(args.file), "n": n, **report.to_dict(), "conventions": conventions(args, report),
                   "engine": "dask"}
        if args.uno:
            assert event_col is not None
            payload["uno_cindex"] = uno_concordance_index(frame, event_column=event_col, train_time=train_time,
                                                          train_event=train_event, tau=args.tau,
                                                          scheduler=scheduler, **options)
            payload["tau"] = args.tau
    return payload


def compute(args: argparse.Namespace) -> dict:
    """The JSON payload of one invocation (shared by ``run`` and the demo)."""
    from metrics.concordance import concordance_report, uno_concordance_index
    from metrics.core.errors import InputError

    risk, time, event, _ = _columns(args.file, args, "FILE")
    options = dict(higher_is=args.higher_is, tied_tol=args.tied_tol, compat=args.compat)
    report = call_with_progress(concordance_report, risk, time, event, n_bootstrap=args.bootstrap,
                                seed=args.seed, progress=progress_callback(args, "bootstrap", min_total=50),
                                **options)
    payload = {"file": str(args.file), "n": int(len(time)), **report.to_dict(),
               "conventions": conventions(args, report)}
    if args.uno:
        if event is None:
            raise InputError("--uno needs --event-col (censoring weights need event indicators)")
        train_time = train_event = None
        if args.train:
            _, train_time, train_event, _ = _columns(args.train, args, "--train", need_risk=False)
        payload["uno_cindex"] = uno_concordance_index(risk, time, event, train_time=train_time,
                                                      train_event=train_event, tau=args.tau, **options)
        payload["tau"] = args.tau
    elif args.tau is not None or args.train:
        raise InputError("--tau and --train apply to --uno only")
    return payload


def _table(payload: dict) -> str:
    rows = [["Harrell C", payload["cindex"]]]
    if payload["n_bootstrap"]:
        level = payload.get("ci_level", payload.get("confidence", 0.95))
        rows.append([f"{level:.0%} bootstrap CI ({payload['n_bootstrap']} replicates)",
                     (payload["ci_low"], payload["ci_high"])])
    if "uno_cindex" in payload:
        rows.append([f"Uno C (tau={payload['tau']})" if payload["tau"] is not None else "Uno C",
                     payload["uno_cindex"]])
    for key in ("comparable", "concordant", "discordant", "tied_risk", "tied_time"):
        rows.append([key.replace("_", " ") + " pairs", payload[key]])
    conv = payload["conventions"]
    compat = f" (--compat {conv['compat']})" if conv["compat"] else ""
    return (format_table(rows, ["quantity", "value"], title=f"{payload['file']}: n = {payload['n']}")
            + f"\ndirection{compat}: {conv['direction']}\nties: {conv['ties']}")


def _td_table(payload: dict) -> str:
    grid = payload["time_grid"]
    rows = [["C_td", payload["ctd"]], ["method", payload["method"]],
            ["survival columns", f"{len(grid)}: {', '.join(payload['survival_columns'][:4])}"
                                 f"{' ...' if len(grid) > 4 else ''}"],
            ["time grid", f"{grid[0]:g} to {grid[-1]:g}"]]
    return (format_table(rows, ["quantity", "value"], title=f"{payload['file']}: n = {payload['n']}")
            + "\ndirection: higher survival S_i(T_i) means longer survival; ties of predictions score "
            + ("0" if payload["method"] == "antolini" else "1/2"))


def run(args: argparse.Namespace) -> int:
    if args.survival_cols:
        if getattr(args, "engine", "memory") == "dask":
            from metrics.core.errors import InputError

            raise InputError("--survival-cols (C_td) is not available with --engine dask")
        payload = compute_td(args)
        emit(args, payload, _td_table(payload))
        return 0
    from metricprobe.cli.common import check_engine

    if check_engine(args, {"--bootstrap": args.bootstrap}):
        payload = compute_dask(args)
    else:
        payload = compute(args)
    emit(args, payload, _table(payload))
    return 0


def demo_section() -> str:
    args = parse_demo_args(add_arguments, [str(SAMPLE), "--uno", "--tau", "700", "--bootstrap", "100"])
    text = _table(compute(args))
    surv = parse_demo_args(add_arguments, [str(SAMPLE), "--risk-col", "pred_time", "--compat", "lifelines"])
    pred = compute(surv)
    return (text.replace(str(SAMPLE), SAMPLE.name)
            + f"\npredicted median times (--risk-col pred_time --compat lifelines, a higher score means longer "
              f"survival): C = {pred['cindex']:.4f}")
