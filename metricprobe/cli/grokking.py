"""``metricprobe grokking``: the reference grokking task with Softmax Collapse monitoring."""

from __future__ import annotations

import argparse
from typing import Literal

from metricprobe.cli.common import add_output_options, emit, format_table, progress_callback, save_plot

COMMAND = "grokking"
HELP = "train the modular-addition grokking task and log softmax collapse, NLM cosine and accuracy"
EXAMPLE = "metricprobe grokking --loss stablemax --steps 4000 --plot grokking.png"

_LOSSES: dict[str, tuple[Literal["softmax_ce", "stablemax_ce"], Literal["adamw", "perp_adamw"]]] = {
    "softmax": ("softmax_ce", "adamw"), "stablemax": ("stablemax_ce", "adamw"),
    "perpgrad": ("softmax_ce", "perp_adamw")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loss", choices=sorted(_LOSSES), default="softmax",
                        help="softmax: float32 softmax CE + AdamW (collapses); stablemax: StableMax CE; "
                             "perpgrad: softmax CE + AdamW wrapped in PerpGrad (default: softmax)")
    parser.add_argument("--steps", type=int, default=4000, help="full-batch training steps (default 4000)")
    parser.add_argument("--log-every", type=int, default=100, help="log every N steps (default 100)")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default 0)")
    parser.add_argument("--p", type=int, default=53, help="modulus of the addition task (default 53)")
    parser.add_argument("--width", type=int, default=200, help="hidden width of the MLP (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the init (default 0)")
    add_output_options(parser)


def run(args: argparse.Namespace) -> int:
    from metrics.core.errors import InputError
    from reference_models.grokking import run_grokking

    loss, optimizer = _LOSSES[args.loss]
    if args.steps < 1 or args.log_every < 1:
        raise InputError(f"--steps and --log-every must be ≥ 1; got {args.steps} and {args.log_every}")
    history = run_grokking(loss, optimizer=optimizer, steps=args.steps, lr=args.lr,
                           weight_decay=args.weight_decay, log_every=args.log_every, seed=args.seed,
                           p=args.p, width=args.width,
                           progress=progress_callback(args, "grokking", min_total=2))
    if args.plot:
        save_plot(history, args.plot)
    payload = history.to_dict()
    rows = [[r["step"], r["loss"], r["train_accuracy"], r["test_accuracy"], r["sc_fraction"],
             r["zero_loss_fraction"], r["nlm_cos"]] for r in history.to_frame().to_dict("records")]
    title = (f"grokking: p={args.p}, loss={loss}, optimizer={optimizer}, weight_decay={args.weight_decay}, "
             f"{history.seconds:.1f} s (monitor {history.monitor_seconds:.2f} s)")
    table = format_table(rows, ["step", "loss", "train acc", "test acc", "SC frac (f32)", "zero-loss frac",
                                "NLM cos"], title=title)
    emit(args, payload, table)
    return 0
