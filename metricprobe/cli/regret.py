"""``metricprobe regret``: regrets of a logged online-learning run and the no-regret test."""

from __future__ import annotations

import argparse
from pathlib import Path

from reference_models.data import sample_path

COMMAND = "regret"
HELP = "external / dynamic / swap regret of a logged run of rounds, and the no-regret test"
EXAMPLE = ("metricprobe regret rounds.jsonl --losses losses --policy policy --eval-points 10 --plot regret.png   |   "
           "metricprobe regret 'rounds-*.parquet' --losses 'loss_*' --actions action --round-col t --engine dask")
DEMO_ORDER = 60

SAMPLE = sample_path("regret_sample.jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli.common import add_engine_options, add_output_options

    parser.add_argument("log", metavar="LOG",
                        help="rounds as JSON Lines / JSON / Parquet (one row per round, vector-valued fields, "
                             "or prefix columns like 'loss_*'), or NPZ (2-D arrays by key); with --engine dask a "
                             "path glob of Parquet / JSON Lines / CSV shards with one column per action")
    parser.add_argument("--losses", default="losses", metavar="FIELD",
                        help="loss vector per round (default: losses); 'loss_*' selects wide columns")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--policy", metavar="FIELD", help="policy vector per round (expected regret)")
    group.add_argument("--actions", metavar="FIELD", help="played action per round (realised regret)")
    parser.add_argument("--rewards", action="store_true", help="the loss field holds rewards: use -rewards")
    parser.add_argument("--eval-points", type=_eval_points, default="log", metavar="K|log|all",
                        help="rounds at which the no-regret test reads the regret curve (default: log): 'log' "
                             "(up to 20 well-separated log-spaced rounds), 'all' (every round: neighbouring rounds are "
                             "strongly dependent, so p-values are far too small), or K for rounds K, 2K, ...; "
                             "the rounds used are printed with the result")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the trend test (default: 0.05)")
    parser.add_argument("--norm", default="inf", choices=("inf", "1", "2"),
                        help="norm of the per-round loss change in the variation budget V_T (default: inf)")
    parser.add_argument("--simplex-atol", type=float, default=1e-6,
                        help="how far a policy row may be from summing to 1 (default: 1e-6)")
    parser.add_argument("--round-col", metavar="COL",
                        help="with --engine dask: the round number column; Dask sorts the rows by it (default: "
                             "the rows are in order, shard after shard in sorted file-name order)")
    add_output_options(parser)
    add_engine_options(parser)


def _eval_points(text: str) -> int | str:
    if text in ("log", "all"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'log', 'all' or an integer K; got {text!r}") from None


#: Actions columns of the last log read, for the output ("losses" -> names).
_COLUMNS: dict[str, list[str]] = {}


def _matrix(table, field: str, arg: str):
    """A (T, K) float matrix from a column of vectors, or from wide columns ('loss_*' or 'a,b,c')."""
    from metricprobe.cli.common import table_matrix
    from metrics.core.errors import InputError

    if field in table.columns and table[field].dtype == object:
        values = table[field].to_list()
        bad = next((i for i, v in enumerate(values) if not hasattr(v, "__len__") or isinstance(v, str)), None)
        if bad is not None:
            raise InputError(f"{arg}: field {field!r} must hold a vector per round; row {bad} holds {values[bad]!r}")
    matrix, names = table_matrix(table, field, arg=arg)
    _COLUMNS[arg] = names
    return matrix


def read_log(path: str, losses: str, policy: str | None, actions: str | None):
    """Return (losses (T, A), {"policy": (T, A)} or {"actions": (T,)}) from a log file."""

    from metrics.core.errors import InputError
    from metrics.core.io import read_arrays, read_table

    if Path(path).suffix.lower() == ".npz":
        arrays = read_arrays(path, arg="LOG")

        def get(key: str, arg: str):
            if key not in arrays:
                raise InputError(f"{arg}: key {key!r} not in {Path(path).name}; available: {', '.join(arrays)}")
            return arrays[key]

        if policy is None and actions is None:
            policy, actions = ("policy", None) if "policy" in arrays else (None, "actions")
        chosen = {"policy": get(policy, "--policy")} if policy else {"actions": get(actions or "actions", "--actions")}
        return get(losses, "--losses"), chosen
    table = read_table(path, arg="LOG")
    if policy is None and actions is None:
        if "policy" in table.columns:
            policy = "policy"
        elif "action" in table.columns or "actions" in table.columns:
            actions = "action" if "action" in table.columns else "actions"
        else:
            raise InputError("LOG: give --policy FIELD or --actions FIELD (no 'policy' or 'action' field found); "
                             f"available: {', '.join(map(str, table.columns[:20]))}")
    loss_matrix = _matrix(table, losses, "--losses")
    if policy:
        return loss_matrix, {"policy": _matrix(table, policy, "--policy")}
    if actions not in table.columns:
        raise InputError(f"--actions: field {actions!r} not found; available: {', '.join(map(str, table.columns[:20]))}")
    return loss_matrix, {"actions": table[actions].to_numpy()}


def _table(report, columns: dict[str, list[str]] | None = None) -> str:
    from metricprobe.cli.common import format_table

    t = report.test
    columns = columns or {}
    rows = [
        ["rounds T / actions A", f"{report.n_rounds} / {report.n_actions}"],
        ["regret of", "sampled actions (realised)" if report.realized else "policies (expected)"],
        ["external regret", report.external_regret],
        ["external regret / T", report.external_regret / report.n_rounds],
        ["dynamic regret", report.dynamic_regret],
        ["swap regret", report.swap_regret],
        ["learner loss", report.learner_loss],
        ["best fixed action (loss)", f"{report.best_fixed_action} ({report.best_fixed_loss:.4f})"],
        ["sum of per-round min loss", report.sum_min_loss],
        ["variation budget V_T", report.variation_budget],
        ["best-action switches", report.best_action_switches],
        ["trend test s / n (p)", f"{t.trend_statistic} / {t.trend_n} (p = {t.trend_p_value:.4g})"],
        ["log-log slope (points)", f"{'-' if t.slope is None else f'{t.slope:.4f}'} ({t.n_points} with R_t > 0)"],
        ["p(slope >= 1)", t.slope_p_value],
        ["evaluation points", f"{len(t.eval_points)} rounds from {t.eval_points[0]} to {t.eval_points[-1]}"],
    ]
    points = [str(int(v)) for v in t.eval_points]
    shown = ", ".join(points if len(points) <= 12 else points[:6] + ["..."] + points[-3:])
    rule = getattr(t, "eval_points_rule", None)
    text = format_table(rows, ["quantity", "value"])
    text += f"\nno-regret test read at {rule + ' ' if rule else ''}rounds: {shown}"
    for arg, names in columns.items():
        text += f"\n{arg.lstrip('-')}: actions 0, 1, ... are {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
    return text + f"\nverdict: {t.verdict}"


def _report(args: argparse.Namespace):
    import numpy as np

    _COLUMNS.clear()
    from metrics.core.errors import InputError
    from metrics.regret import regret_report

    losses, chosen = read_log(args.log, args.losses, args.policy, args.actions)
    if args.rewards:
        losses = -np.asarray(losses, dtype=np.float64)
    ((kind, played),) = chosen.items()  # the (T, A) policies or the (T,) actions
    try:
        return regret_report(played, losses, eval_points=args.eval_points, alpha=args.alpha, norm=args.norm,
                             simplex_atol=args.simplex_atol)
    except InputError as exc:
        raise _named_for_the_command_line(exc, kind) from None


def _named_for_the_command_line(exc: Exception, kind: str) -> Exception:
    """The library calls what the learner played ``preds``; the command line calls it --policy / --actions."""
    from metrics.core.errors import InputError

    message = str(exc)
    if message.startswith("preds"):
        return InputError(f"--{kind}{message[len('preds'):]}")
    return exc


def _wide_columns(frame, spec: str, arg: str) -> list[str]:
    """Columns of a Dask frame named by ``spec`` (a comma list or a prefix*), one per action."""
    from metrics.core.errors import InputError
    from metrics.core.io import select_columns

    if not spec.endswith("*") and "," not in spec and spec in frame.columns:
        if frame[spec].dtype == object:
            raise InputError(f"{arg}: field {spec!r} holds a vector per round; with --engine dask name one column "
                             f"per action (a comma list or a prefix* such as '{spec}_*')")
    return select_columns(frame.columns, spec, arg=arg)


def _report_on_dask(args: argparse.Namespace):
    """The report of a path glob of shards, one row per round, scored on Dask."""
    from metricprobe.cli.common import dask_session
    from metrics.core.errors import InputError
    from metrics.distributed import as_dask_frame, regret_report

    _COLUMNS.clear()
    frame = as_dask_frame(args.log, "LOG")
    losses = _wide_columns(frame, args.losses, "--losses")
    _COLUMNS["--losses"] = losses
    actions = args.actions
    if args.policy is None and actions is None:
        actions = next((c for c in ("action", "actions") if c in frame.columns), None)
        if actions is None:
            raise InputError("LOG: give --policy SPEC or --actions COL (no 'action' column found); "
                             f"available: {', '.join(map(str, frame.columns[:20]))}")
    policy = None
    if args.policy is not None:
        policy = _COLUMNS["--policy"] = _wide_columns(frame, args.policy, "--policy")
        actions = None
    elif actions not in frame.columns:
        raise InputError(f"--actions: column {actions!r} not found; "
                         f"available: {', '.join(map(str, frame.columns[:20]))}")
    if args.round_col is not None and args.round_col not in frame.columns:
        raise InputError(f"--round-col: column {args.round_col!r} not found; "
                         f"available: {', '.join(map(str, frame.columns[:20]))}")
    if args.rewards:
        frame = frame.assign(**{c: -frame[c].astype("float64") for c in losses})
    kind = "policy" if args.policy is not None else "actions"
    with dask_session(args, "regret") as scheduler:
        try:
            return regret_report(frame, loss_columns=losses, round_column=args.round_col,
                                 eval_points=args.eval_points, alpha=args.alpha, norm=args.norm,
                                 simplex_atol=args.simplex_atol, scheduler=scheduler, policy_columns=policy,
                                 action_column=actions)
        except InputError as exc:
            raise _named_for_the_command_line(exc, kind) from None


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import check_engine, emit, save_plot
    from metrics.core.errors import InputError

    dask_engine = check_engine(args, {})
    if getattr(args, "round_col", None) is not None and not dask_engine:
        raise InputError("--round-col applies to --engine dask only (a log read in memory is in round order)")
    report = _report_on_dask(args) if dask_engine else _report(args)
    columns = dict(_COLUMNS)
    payload = report.to_dict()
    if columns:
        payload["columns"] = {arg.lstrip("-"): names for arg, names in columns.items()}
    if dask_engine:
        payload["engine"] = "dask"
    emit(args, payload, _table(report, columns))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        save_plot(report, args.plot)
    return 0


def demo_section() -> str:
    """Hedge's log on drifting Bernoulli losses (bundled sample), tested every 20 rounds."""
    args = argparse.Namespace(log=str(SAMPLE), losses="losses", policy="policy", actions=None, rewards=False,
                              eval_points=20, alpha=0.05, norm="inf", simplex_atol=1e-6)
    return f"{SAMPLE.name}: Hedge (tuned eta), A = 3, means drift at t = 200\n" + _table(_report(args))
