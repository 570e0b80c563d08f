"""Reading saved predictions: NPZ, NPY, CSV/TSV, Parquet, JSON and JSON Lines.

Every reader turns a missing, truncated, malformed or wrongly named file into an
:class:`~metrics.core.errors.InputError` that names the file, so that the command-line
interface can print one line and exit with status 2. NumPy files are always read
with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from metrics.core.errors import InputError

__all__ = ["TABLE_SUFFIXES", "read_arrays", "read_table", "read_json", "select_columns"]

TABLE_SUFFIXES = (".npz", ".npy", ".csv", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in (".csv.gz", ".jsonl.gz", ".tsv.gz"):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _existing(path: str | os.PathLike, arg: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{arg}: file {str(p)!r} does not exist")
    if p.is_dir():
        raise InputError(f"{arg}: {str(p)!r} is a directory, expected a file")
    return p


def read_json(path: str | os.PathLike, *, arg: str = "file"):
    """Parse a whole JSON document, raising InputError on malformed or truncated files."""
    p = _existing(path, arg)
    try:
        with open(p, "rb") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{arg}: {p.name} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}); is the file truncated?") from None
    except UnicodeDecodeError:
        raise InputError(f"{arg}: {p.name} is not UTF-8 text JSON") from None


def read_arrays(path: str | os.PathLike, *, arg: str = "file") -> dict[str, np.ndarray]:
    """Read a file into a mapping of name → numpy array.

    NPZ files keep their arrays as stored (2-D allowed); a ``.npy`` file gives one
    entry ``"array"``; tabular formats give one 1-D array per column. Object arrays
    are refused (``allow_pickle=False``).
    """
    p = _existing(path, arg)
    suffix = _suffix(p)
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise InputError(f"{arg}: {p.name} is not a readable NPZ archive ({exc}); is it truncated?") from None
        except ValueError as exc:
            raise InputError(f"{arg}: {p.name} holds object arrays, which are never unpickled ({exc})") from None
    if suffix == ".npy":
        try:
            return {"array": np.load(p, allow_pickle=False)}
        except (EOFError, OSError) as exc:
            raise InputError(f"{arg}: {p.name} is not a readable .npy file ({exc}); is it truncated?") from None
        except ValueError as exc:
            raise InputError(f"{arg}: {p.name} could not be read without unpickling ({exc})") from None
    frame = read_table(p, arg=arg)
    return {str(c): frame[c].to_numpy() for c in frame.columns}


def read_table(path: str | os.PathLike, *, arg: str = "file"):
    """Read CSV/TSV, Parquet, JSON (records or columns) or JSON Lines into a DataFrame.

    NPZ files whose arrays are all 1-D of one length are read as columns too.
    """
    import pandas as pd

    p = _existing(path, arg)
    suffix = _suffix(p)
    try:
        if suffix in (".csv", ".csv.gz", ".tsv", ".tsv.gz"):
            frame = pd.read_csv(p, sep="\t" if suffix.startswith(".tsv") else ",")
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        elif suffix in (".jsonl", ".ndjson", ".jsonl.gz"):
            frame = pd.read_json(p, lines=True)
        elif suffix == ".json":
            data = read_json(p, arg=arg)
            if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
                frame = pd.DataFrame(data)
            elif isinstance(data, list) and all(isinstance(r, dict) for r in data):
                frame = pd.DataFrame.from_records(data)
            else:
                raise InputError(f"{arg}: {p.name} must hold a list of records or an object of "
                                 "equal-length columns")
        elif suffix in (".npz", ".npy"):
            arrays = read_arrays(p, arg=arg)
            lengths = {a.shape[0] if a.ndim else -1 for a in arrays.values()}
            if any(a.ndim != 1 for a in arrays.values()) or len(lengths) != 1:
                raise InputError(f"{arg}: {p.name} must hold 1-D arrays of equal length to be read as a table")
            frame = pd.DataFrame(arrays)
        else:
            raise InputError(f"{arg}: unsupported file type {p.suffix!r} for {p.name}; expected one of "
                             + ", ".join(TABLE_SUFFIXES))
    except InputError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as exc:
        # pandas ParserError / EmptyDataError and pyarrow's ArrowInvalid are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{arg}: could not read {p.name} ({first}); is the file malformed or truncated?") from None
    if len(frame) == 0:
        raise InputError(f"{arg}: {p.name} has no rows")
    return frame


def select_columns(columns: Sequence[str], spec: str, *, arg: str) -> list[str]:
    """Resolve a column specification against available column names.

    ``spec`` is a comma-separated list of names, or a prefix ending in ``*``
    (``prob_*`` selects ``prob_0, prob_1, ...`` in natural order).
    """
    columns = [str(c) for c in columns]
    if spec.endswith("*"):
        prefix = spec[:-1]
        chosen = [c for c in columns if c.startswith(prefix)]

        def natural(c: str):
            rest = c[len(prefix):]
            return (0, int(rest), "") if rest.isdigit() else (1, 0, rest)

        chosen.sort(key=natural)
    else:
        chosen = [s.strip() for s in spec.split(",") if s.strip()]
        missing = [c for c in chosen if c not in columns]
        if missing:
            raise InputError(f"{arg}: column(s) {', '.join(map(repr, missing))} not found; "
                             f"available: {', '.join(columns[:20])}{' ...' if len(columns) > 20 else ''}")
    if not chosen:
        raise InputError(f"{arg}: no column matches {spec!r}; available: {', '.join(columns[:20])}")
    return chosen


