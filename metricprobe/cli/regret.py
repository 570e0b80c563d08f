"""``metricprobe regret``: regrets of a logged online-learning run and the no-regret test."""

from __future__ import annotations

import argparse
from pathlib import Path

from reference_models.data import sample_path

COMMAND = "regret"
HELP = "external / dynamic / swap regret of a logged run of rounds, and the no-regret test"
EXAMPLE = "metricprobe regret rounds.jsonl --losses losses --policy policy --eval-points 10 --plot regret.png"
DEMO_ORDER = 60

SAMPLE = sample_path("regret_sample.jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from metricprobe.cli.common import add_output_options

    parser.add_argument("log", metavar="LOG",
                        help="rounds as JSON Lines / JSON / Parquet (one row per round, vector-valued fields, "
                             "or prefix columns like 'loss_*'), or NPZ (2-D arrays by key)")
    parser.add_argument("--losses", default="losses", metavar="FIELD",
                        help="loss vector per round (default: losses); 'loss_*' selects wide columns")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--policy", metavar="FIELD", help="policy vector per round (expected regret)")
    group.add_argument("--actions", metavar="FIELD", help="played action per round (realised regret)")
    parser.add_argument("--rewards", action="store_true", help="the loss field holds rewards: use -rewards")
    parser.add_argument("--eval-points", type=int, default=None, metavar="K",
                        help="test at rounds K, 2K, ... (default: every round)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the trend test")
    parser.add_argument("--norm", default="inf", choices=("inf", "1", "2"), help="norm of the variation budget")
    parser.add_argument("--simplex-atol", type=float, default=1e-6, help="tolerance of policy rows")
    add_output_options(parser)


def _matrix(table, field: str, arg: str):
    """A (T, K) float matrix from a column of vectors, or from wide columns ('loss_*' or 'a,b,c')."""
    import numpy as np

    from metrics.core.errors import InputError
    from metrics.core.io import select_columns

    if field in table.columns and table[field].dtype == object:
        values = table[field].to_list()
        lengths = [len(v) if hasattr(v, "__len__") and not isinstance(v, str) else -1 for v in values]
        if any(n < 0 for n in lengths):
            i = next(i for i, n in enumerate(lengths) if n < 0)
            raise InputError(f"{arg}: field {field!r} must hold a vector per round; row {i} holds {values[i]!r}")
        if len(set(lengths)) > 1:
            i = next(i for i, n in enumerate(lengths) if n != lengths[0])
            raise InputError(f"{arg}: field {field!r} must hold vectors of one length (a ragged log); "
                             f"row 0 has {lengths[0]} entries, row {i} has {lengths[i]}")
        try:
            return np.array([np.asarray(v, dtype=np.float64) for v in values])
        except (TypeError, ValueError):
            raise InputError(f"{arg}: field {field!r} must hold numeric vectors") from None
    columns = select_columns(table.columns, field, arg=arg)
    return table[columns].to_numpy(dtype=np.float64, na_value=np.nan)


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
        chosen = {"policy": get(policy, "--policy")} if policy else {"actions": get(actions, "--actions")}
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


def _table(report) -> str:
    from metricprobe.cli.common import format_table

    t = report.test
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
    return format_table(rows, ["quantity", "value"]) + f"\nverdict: {t.verdict}"


def _report(args: argparse.Namespace):
    import numpy as np

    from metrics.regret import regret_report

    losses, chosen = read_log(args.log, args.losses, args.policy, args.actions)
    if args.rewards:
        losses = -np.asarray(losses, dtype=np.float64)
    return regret_report(losses, **chosen, eval_points=args.eval_points, alpha=args.alpha, norm=args.norm,
                         simplex_atol=args.simplex_atol)


def run(args: argparse.Namespace) -> int:
    from metricprobe.cli.common import emit, save_plot

    report = _report(args)
    emit(args, report.to_dict(), _table(report))
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
