"""``metricprobe concordance``: Harrell's (or Uno's) C of saved survival predictions."""

from __future__ import annotations

import argparse

from metricprobe.cli.common import add_output_options, emit, format_table, parse_demo_args
from reference_models.data import sample_path

COMMAND = "concordance"
HELP = "concordance index (Harrell or Uno) of risk scores against censored survival times"
EXAMPLE = ("metricprobe concordance preds.csv --time-col time --event-col event --risk-col risk "
           "--bootstrap 200")
DEMO_ORDER = 40
SAMPLE = sample_path("concordance_sample.csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV/TSV, Parquet, JSON, JSON Lines or NPZ table")
    parser.add_argument("--time-col", "--time", dest="time_col", default="time", help="time column (default: time)")
    parser.add_argument("--event-col", "--event", dest="event_col", default="event",
                        help="event column, 1/0 (default: event; 'none' = every subject had the event)")
    parser.add_argument("--risk-col", "--risk", dest="risk_col", default="risk", help="score column (default: risk)")
    parser.add_argument("--higher-is", choices=("risk", "survival"), default=None,
                        help="what a higher score means (default: risk)")
    parser.add_argument("--compat", choices=("lifelines", "sksurv"), default=None,
                        help="reproduce a library's convention exactly")
    parser.add_argument("--tied-tol", type=float, default=None, help="risk tie tolerance (default: 1e-8)")
    parser.add_argument("--uno", action="store_true", help="Uno's IPCW concordance instead of Harrell's")
    parser.add_argument("--tau", type=float, default=None, help="Uno's truncation time")
    parser.add_argument("--train", metavar="FILE", help="Uno: table whose time/event columns fit the censoring KM")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap replicates for a CI")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    add_output_options(parser, plot=False)


def _columns(path: str, args: argparse.Namespace, arg: str, need_risk: bool = True):
    from metrics.core.io import read_table, select_columns

    frame = read_table(path, arg=arg)
    names = [args.time_col] + ([args.risk_col] if need_risk else [])
    if args.event_col.lower() != "none":
        names.append(args.event_col)
    select_columns(frame.columns, ",".join(names), arg=arg)
    event = None if args.event_col.lower() == "none" else frame[args.event_col].to_numpy()
    risk = frame[args.risk_col].to_numpy() if need_risk else None
    return risk, frame[args.time_col].to_numpy(), event


def compute(args: argparse.Namespace) -> dict:
    """The JSON payload of one invocation (shared by ``run`` and the demo)."""
    from metrics.concordance import concordance_report, uno_concordance_index
    from metrics.core.errors import InputError

    risk, time, event = _columns(args.file, args, "FILE")
    options = dict(higher_is=args.higher_is, tied_tol=args.tied_tol, compat=args.compat)
    report = concordance_report(risk, time, event, n_bootstrap=args.bootstrap, seed=args.seed, **options)
    payload = {"file": str(args.file), "n": int(len(time)), **report.to_dict()}
    if args.uno:
        if event is None:
            raise InputError("--uno needs --event-col (censoring weights need event indicators)")
        train_time = train_event = None
        if args.train:
            _, train_time, train_event = _columns(args.train, args, "--train", need_risk=False)
        payload["uno_cindex"] = uno_concordance_index(risk, time, event, train_time=train_time,
                                                      train_event=train_event, tau=args.tau, **options)
        payload["tau"] = args.tau
    elif args.tau is not None or args.train:
        raise InputError("--tau and --train apply to --uno only")
    return payload


def _table(payload: dict) -> str:
    rows = [["Harrell C", payload["cindex"]]]
    if payload["n_bootstrap"]:
        rows.append([f"{payload['confidence']:.0%} bootstrap CI ({payload['n_bootstrap']} replicates)",
                     (payload["ci_low"], payload["ci_high"])])
    if "uno_cindex" in payload:
        rows.append([f"Uno C (tau={payload['tau']})" if payload["tau"] is not None else "Uno C",
                     payload["uno_cindex"]])
    for key in ("comparable", "concordant", "discordant", "tied_risk", "tied_time"):
        rows.append([key.replace("_", " ") + " pairs", payload[key]])
    return format_table(rows, ["quantity", "value"], title=f"{payload['file']}: n = {payload['n']}")


def run(args: argparse.Namespace) -> int:
    payload = compute(args)
    emit(args, payload, _table(payload))
    return 0


def demo_section() -> str:
    args = parse_demo_args(add_arguments, [str(SAMPLE), "--uno", "--tau", "700", "--bootstrap", "100"])
    text = _table(compute(args))
    surv = parse_demo_args(add_arguments, [str(SAMPLE), "--risk-col", "pred_time", "--compat", "lifelines"])
    pred = compute(surv)
    return (text.replace(str(SAMPLE), SAMPLE.name)
            + f"\npredicted median times (--risk-col pred_time --compat lifelines): C = {pred['cindex']:.4f}")
