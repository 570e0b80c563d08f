"""Helpers every command shares: output options, tables, JSON, plots, progress bars."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from metrics.core.errors import InputError
from metrics.core.report import json_ready

__all__ = [
    "add_output_options",
    "emit",
    "format_table",
    "format_value",
    "progress",
    "save_figure",
    "save_plot",
    "parse_demo_args",
]


def add_output_options(parser: argparse.ArgumentParser, *, plot: bool = True) -> None:
    """Add ``--json``, ``--out FILE`` and (optionally) ``--plot FILE.png``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a table")
    parser.add_argument("--out", metavar="FILE", help="also write the JSON result to FILE")
    if plot:
        parser.add_argument("--plot", metavar="FILE.png", help="save the figure to FILE.png")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def format_value(value: Any, digits: int = 4) -> str:
    """Format a cell: floats with ``digits`` significant decimals, NaN as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e6):
            return f"{value:.{digits}e}"
        return f"{value:.{digits}f}"
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{format_value(value[0], digits)}, {format_value(value[1], digits)}]"
    return str(value)


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], *, title: str | None = None,
                 digits: int = 4) -> str:
    """A plain aligned text table (first column left-aligned, the rest right-aligned)."""
    cells = [[format_value(v, digits) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [values[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(values[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    out = []
    if title:
        out.append(title)
    out.append(line([str(h) for h in headers]))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def emit(args: argparse.Namespace, payload: dict[str, Any], table: str) -> None:
    """Print the table, or the JSON object with ``--json``; write JSON to ``--out``."""
    data = json_ready(payload)
    text = json.dumps(data, indent=None if args.json else 2, allow_nan=False)
    if getattr(args, "out", None):
        try:
            Path(args.out).write_text(text + "\n")
        except OSError as exc:
            raise InputError(f"--out: cannot write {args.out!r} ({exc.strerror})") from None
    if args.json:
        print(text)
    else:
        print(table)


def progress(iterable: Iterable, *, total: int | None, desc: str, args: argparse.Namespace | None = None,
             min_total: int = 1):
    """Wrap ``iterable`` in a tqdm bar on a terminal; plain iterable otherwise.

    No bar in ``--json`` mode, with ``--no-progress``, when stderr is not a terminal,
    or when ``total`` is below ``min_total``.
    """
    quiet = args is not None and (getattr(args, "json", False) or getattr(args, "no_progress", False))
    if quiet or not sys.stderr.isatty() or (total is not None and total < min_total):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr)


def save_figure(fig, path: str) -> None:
    """Save a matplotlib figure, raising InputError for unwritable paths."""
    try:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise InputError(f"--plot: cannot write {path!r} ({exc})") from None
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def save_plot(result, path: str) -> None:
    """Draw ``result.plot()`` (a report's figure) and save it to ``path``."""
    save_figure(result.plot().figure, path)


def parse_demo_args(add_arguments, argv: list[str]) -> argparse.Namespace:
    """A command's options parsed from ``argv``, for its ``demo_section``."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)
