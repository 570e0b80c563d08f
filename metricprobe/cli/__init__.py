"""The ``metricprobe`` command line.

Each public module in this package (no leading underscore) is one command. A
command module defines:

``COMMAND``
    the sub-command name (``"calibration"``);
``HELP``
    one line for ``metricprobe --help``;
``EXAMPLE``
    an example invocation shown by ``metricprobe COMMAND --help``;
``add_arguments(parser)``
    declares its options (use :func:`metricprobe.cli.common.add_output_options`);
``run(args) -> int``
    does the work, printing through :func:`metricprobe.cli.common.emit`;

and optionally ``demo_section() -> str | None`` plus ``DEMO_ORDER`` (int) to add a
section to ``metricprobe demo``. Commands are discovered, so adding a metric family
never edits this file.

Exit codes: 0 success; 2 bad usage or bad input (one line on stderr, no traceback);
1 an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from types import ModuleType

from metrics.core.errors import InputError

__all__ = ["main", "commands"]


def commands() -> dict[str, ModuleType]:
    """Command name → module, for every public module of this package."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in ("common", "demo"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "COMMAND") and hasattr(module, "run"):
            found[module.COMMAND] = module
    from metricprobe.cli import demo

    found[demo.COMMAND] = demo
    return dict(sorted(found.items()))


def build_parser() -> argparse.ArgumentParser:
    from metricprobe.cli.common import OneLineParser

    parser = OneLineParser(
        prog="metricprobe",
        description="Evaluation metrics and training diagnostics: score saved predictions.",
        epilog="Run 'metricprobe COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"metricprobe {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks of internal errors (allowed anywhere on the line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, module in commands().items():
        example = getattr(module, "EXAMPLE", "")
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=f"example:\n  {example}" if example else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.prog = f"metricprobe {name}"
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p, _param_flags=getattr(module, "PARAM_FLAGS", {}))
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("metricprobe")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def cli_message(message: str, parser: argparse.ArgumentParser | None, param_flags: dict[str, str]) -> str:
    """``message`` with the Python parameter names of the command's options written as CLI flags.

    ``n_bins must be >= 1`` becomes ``--n-bins must be >= 1``; names inside quotes (column
    names, values) are left alone.
    """
    flags = dict(param_flags)
    for action in parser._actions if parser is not None else ():
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in flags and "_" in action.dest:
            flags[action.dest] = longs[0]
    for name in sorted(flags, key=len, reverse=True):
        message = re.sub(rf"(?<![\w'\"-]){re.escape(name)}(?![\w'\"])", flags[name], message)
    return message


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metricprobe`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[: argv.index("--") if "--" in argv else len(argv)]
    if debug:
        argv.remove("--debug")
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors exit with status 2 and one line
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        from metricprobe.cli.common import check_output_paths

        check_output_paths(args)
        return int(args._run(args) or 0)
    except InputError as exc:
        text = cli_message(str(exc), args._parser, args._param_flags).replace("\n", " ")
        print(f"metricprobe {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metricprobe: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if debug:
            raise
        print(f"metricprobe {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
