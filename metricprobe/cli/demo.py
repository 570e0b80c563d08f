"""``metricprobe demo``: every metric family's main job on the bundled sample data."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

COMMAND = "demo"
HELP = "run every metric on the bundled sample data and print the report"
EXAMPLE = "metricprobe demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", metavar="COMMAND", help="run only this command's section")


def _sections():
    import metricprobe.cli as cli

    modules = []
    for info in pkgutil.iter_modules(cli.__path__):
        if info.name.startswith("_") or info.name in ("common", "demo"):
            continue
        module = importlib.import_module(f"metricprobe.cli.{info.name}")
        if hasattr(module, "demo_section"):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "DEMO_ORDER", 100), m.COMMAND))


def run(args: argparse.Namespace) -> int:
    from metrics.core.errors import InputError

    sections = _sections()
    if args.only:
        sections = [m for m in sections if m.COMMAND == args.only]
        if not sections:
            raise InputError(f"--only: no demo section for {args.only!r}")
    print("metricprobe demo: bundled sample data\n")
    for module in sections:
        text = module.demo_section()
        if text:
            bar = "=" * 78
            print(f"{bar}\n{module.COMMAND}: {module.HELP}\n{bar}\n{text}\n")
    return 0
