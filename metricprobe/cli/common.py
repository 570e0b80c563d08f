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
    "OneLineParser",
    "add_output_options",
    "check_output_paths",
    "progress_callback",
    "call_with_progress",
    "add_class_options",
    "encode_labels",
    "apply_logits",
    "table_matrix",
    "emit",
    "format_table",
    "format_value",
    "progress",
    "save_figure",
    "save_plot",
    "parse_demo_args",
    "add_engine_options",
    "check_engine",
    "dask_session",
]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line plus a pointer to ``--help``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


#: Formats matplotlib can write, by file suffix.
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp",
                 ".pgf", ".raw", ".rgba")


def _check_writable(path: str, flag: str) -> None:
    import os

    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise InputError(f"{flag}: {path!r} is a directory, expected a file name")
    if not parent.is_dir():
        raise InputError(f"{flag}: cannot write {path!r}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"{flag}: cannot write {path!r}: permission denied")


def check_output_paths(args: argparse.Namespace) -> None:
    """Fail before any work when ``--plot`` or ``--out`` cannot be written."""
    plot = getattr(args, "plot", None)
    if plot:
        if Path(plot).suffix.lower() not in PLOT_SUFFIXES:
            raise InputError(f"--plot: unsupported image type {Path(plot).suffix or '(none)'!r} for {plot!r}; "
                             f"use one of {', '.join(PLOT_SUFFIXES[:6])}")
        _check_writable(plot, "--plot")
    if getattr(args, "out", None):
        _check_writable(args.out, "--out")


def _quiet(args: argparse.Namespace | None) -> bool:
    return args is not None and (getattr(args, "json", False) or getattr(args, "no_progress", False))


class _Bar:
    """A progress bar on stderr for a library function's ``progress=`` argument.

    Works with both forms a function may take: called with ``(done, total)`` it moves
    the bar; called with one iterable it returns the iterable wrapped in the bar. When
    ``enabled`` is False it shows nothing (and returns iterables unchanged).
    """

    def __init__(self, desc: str, min_total: int = 1, enabled: bool = True):
        self.desc = desc
        self.min_total = min_total
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, *args: Any) -> Any:
        if len(args) == 1:
            iterable = args[0]
            total = len(iterable) if hasattr(iterable, "__len__") else None
            if not self.enabled or (total is not None and total < self.min_total):
                return iterable
            from tqdm.auto import tqdm

            return tqdm(iterable, total=total, desc=self.desc, leave=False, file=sys.stderr)
        done, total = int(args[0]), (None if args[1] is None else int(args[1]))
        if not self.enabled or (total is not None and total < self.min_total):
            return None
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=self.desc, leave=False, file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()
        if total is not None and done >= total:
            self.close()
        return None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_callback(args: argparse.Namespace | None, desc: str, *, min_total: int = 1) -> _Bar:
    """A ``progress=`` value for a library function: a bar on a terminal.

    Never a bar in ``--json`` mode, with ``--no-progress``, or when stderr is not a
    terminal (the callable then does nothing).
    """
    return _Bar(desc, min_total, enabled=not _quiet(args) and sys.stderr.isatty())


def call_with_progress(function: Any, *args: Any, progress: Any = None, **kwargs: Any) -> Any:
    """Call ``function``, passing ``progress=`` only when it accepts that keyword."""
    import inspect

    if progress is not None and progress is not False:
        try:
            accepts = "progress" in inspect.signature(function).parameters
        except (TypeError, ValueError):
            accepts = False
        if accepts:
            kwargs["progress"] = progress
    return function(*args, **kwargs)


def add_class_options(parser: argparse.ArgumentParser, *, logits: bool = True) -> None:
    """``--classes`` (order of string class labels) and ``--logits`` (softmax / sigmoid)."""
    parser.add_argument("--classes", metavar="A,B,...",
                        help="class order when labels are strings: label A is class 0, B class 1, ... "
                             "(default: sorted order of the labels found, printed with the result)")
    if logits:
        parser.add_argument("--logits", action="store_true",
                            help="the scores are logits: apply softmax over classes (sigmoid for one column)")


def encode_labels(labels: Any, classes: str | None, *, arg: str, n_classes: int | None = None):
    """Integer class indices and the class names (None for integer labels).

    String labels map to their position in ``classes`` (comma-separated) or, without it,
    to their sorted order; the order is returned so that the command can print it.
    """
    import numpy as np

    values = np.asarray(labels)
    if classes is None and values.dtype.kind in "iub":
        return values, None
    if classes is None and values.dtype.kind == "f":
        return values, None  # the metric checks that they are integral
    names = [str(v) for v in values.tolist()]
    order = [c.strip() for c in classes.split(",")] if classes else sorted(set(names))
    if classes and len(set(order)) != len(order):
        raise InputError(f"--classes: {classes!r} lists a class twice")
    index = {c: i for i, c in enumerate(order)}
    unknown = sorted(set(names) - index.keys())
    if unknown:
        raise InputError(f"{arg}: label {unknown[0]!r} is not in the class order "
                         f"({', '.join(order[:10])}{' ...' if len(order) > 10 else ''}); set it with --classes")
    if n_classes is not None and len(order) != n_classes and not (n_classes == 1 and len(order) == 2):
        raise InputError(f"--classes: {len(order)} classes ({', '.join(order[:10])}) but the scores have "
                         f"{n_classes} columns; list every class in column order with --classes")
    return np.array([index[n] for n in names], dtype=np.int64), order


def apply_logits(scores: Any):
    """Softmax over the last axis of a (N, K) array; sigmoid of a 1-D array (float64)."""
    import numpy as np

    z = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(z)):
        raise InputError("--logits: the logits must be finite")
    if z.ndim == 1:
        out = np.empty_like(z)
        pos = z >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
        ez = np.exp(z[~pos])
        out[~pos] = ez / (1.0 + ez)
        return out
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def table_matrix(frame: Any, spec: str, *, arg: str):
    """(matrix, column names) from a vector-valued field or from wide columns.

    ``spec`` names a field holding one vector per row (JSON / JSON Lines / Parquet lists:
    the names are ``spec[0], spec[1], ...``), or is a comma list or a ``prefix*`` of
    columns (see :func:`metrics.core.io.select_columns`).
    """
    from metrics.core.io import numeric_matrix, select_columns, vector_column

    field = spec[:-1].rstrip("_") if spec.endswith("*") else spec
    for name in dict.fromkeys((spec, field, field + "s")):
        matrix = vector_column(frame, name, arg=arg)
        if matrix is not None:
            return matrix, [f"{name}[{i}]" for i in range(matrix.shape[1])]
    columns = select_columns(frame.columns, spec, arg=arg)
    return numeric_matrix(frame, columns, arg=arg), columns


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


# ----------------------------------------------------------------------------- Dask engine
#: ``--scheduler`` values that name one of Dask's local schedulers instead of a cluster address.
LOCAL_SCHEDULERS = ("synchronous", "threads", "processes")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--engine {memory,dask}``, ``--scheduler ADDRESS`` and ``--workers N``."""
    group = parser.add_argument_group("scoring on Dask (extra metricprobe[dask])")
    group.add_argument("--engine", choices=("memory", "dask"), default="memory",
                       help="memory: read the file into this process (default); dask: FILE is a path glob of "
                            "Parquet / JSON Lines / CSV shards scored on a Dask cluster")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="with --engine dask: a running scheduler (tcp://host:8786), or one of Dask's local "
                            "schedulers: synchronous, threads, processes (default: a LocalCluster)")
    group.add_argument("--workers", type=int, default=2, metavar="N",
                       help="with --engine dask and no --scheduler: workers of the LocalCluster started on "
                            "127.0.0.1 (default: 2)")


def check_engine(args: argparse.Namespace, unsupported: dict[str, object]) -> bool:
    """True for ``--engine dask``; rejects engine options without it and ``unsupported`` options with it."""
    dask_engine = getattr(args, "engine", "memory") == "dask"
    if not dask_engine:
        if getattr(args, "scheduler", None) or getattr(args, "workers", 2) != 2:
            raise InputError("--scheduler / --workers apply to --engine dask only")
        return False
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1; got {args.workers}")
    for flag, given in unsupported.items():
        if given:
            raise InputError(f"{flag} is not available with --engine dask")
    return True


class _DaskProgress:
    """A tqdm bar fed by the distributed scheduler's task counts (polled twice a second)."""

    def __init__(self, client: Any, desc: str):
        import threading

        self.client, self.desc = client, desc
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    @staticmethod
    def _counts(dask_scheduler: Any) -> tuple[int, int]:
        states = [ts.state for ts in dask_scheduler.tasks.values()]
        return sum(s in ("memory", "released", "forgotten", "erred") for s in states), len(states)

    def _poll(self) -> None:
        from tqdm.auto import tqdm

        bar = tqdm(total=0, desc=self.desc, leave=False, file=sys.stderr)
        try:
            while not self.stop.wait(0.5):
                try:
                    done, total = self.client.run_on_scheduler(self._counts)
                except Exception:  # the bar is best effort; never fail the computation
                    break
                bar.total, bar.n = max(total, bar.total or 0), min(done, max(total, 1))
                bar.refresh()
        finally:
            bar.close()

    def __enter__(self) -> _DaskProgress:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=2)


class dask_session:  # noqa: N801 - used as a context manager, like a function
    """Connect to ``--scheduler``, or start a ``LocalCluster`` of ``--workers`` on 127.0.0.1.

    ``with dask_session(args, "scoring") as scheduler:`` yields the ``scheduler=`` value to
    pass to :mod:`metrics.distributed` (None: the client just created). On a terminal and
    outside ``--json`` / ``--no-progress`` a progress bar follows the cluster's tasks
    (Dask's own ``ProgressBar`` for the local schedulers).
    """

    def __init__(self, args: argparse.Namespace, desc: str):
        self.args, self.desc = args, desc
        self._stack: Any = None

    def __enter__(self) -> str | None:
        import contextlib

        try:
            import dask  # noqa: F401
            from dask import distributed
        except ImportError:  # pragma: no cover - only without the extra
            raise InputError("--engine dask needs the dask extra: pip install 'metricprobe[dask]'") from None
        show = not _quiet(self.args) and sys.stderr.isatty()
        stack = contextlib.ExitStack()
        self._stack = stack
        address = self.args.scheduler
        if address in LOCAL_SCHEDULERS:
            if show:
                from dask.diagnostics import ProgressBar

                stack.enter_context(ProgressBar(out=sys.stderr))
            return address
        try:
            if address:
                client = stack.enter_context(distributed.Client(address, timeout="20s"))
            else:
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=self.args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    # no dashboard; the scheduler's own HTTP endpoint on a free loopback port (not 8787)
                    dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}))
                client = stack.enter_context(distributed.Client(cluster))
        except (OSError, TimeoutError) as exc:
            stack.close()
            raise InputError(f"--scheduler: cannot connect to {address!r} ({exc})") from None
        if show:
            stack.enter_context(_DaskProgress(client, self.desc))
        return None

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
