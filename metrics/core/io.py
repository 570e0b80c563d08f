"""Reading saved predictions: NPZ, NPY, CSV/TSV, Parquet, JSON and JSON Lines.

Every reader turns a missing, truncated, malformed or wrongly named file into an
:class:`~metrics.core.errors.InputError` that names the file, so that the command-line
interface can print one line and exit with status 2.

Bad files are rejected early and with bounded memory:

- text files (CSV, TSV, JSON, JSON Lines, also gzip-compressed) are first streamed in
  1 MiB chunks; a NUL byte (binary data, or a file of zeros) or a line longer than
  :data:`MAX_LINE_BYTES` (for example JSON Lines with no line breaks) is refused before
  any parser holds the file in memory;
- NumPy files are checked from their headers: the claimed shape and dtype must fit in the
  bytes that follow, object arrays are refused (they are never unpickled:
  ``allow_pickle=False``), and a file that is not an NPY/NPZ file is called so.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from metrics.core.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TABLE_SUFFIXES", "MAX_LINE_BYTES", "read_arrays", "read_table", "read_json", "select_columns",
           "numeric_matrix", "vector_column"]

TABLE_SUFFIXES = (".npz", ".npy", ".csv", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson")

#: Longest line accepted in a CSV/TSV or JSON Lines file (bytes).
MAX_LINE_BYTES = 256 * 2**20

_CHUNK = 2**20
_ZLIB_MAX_RATIO = 1100  # deflate never expands more than ~1032:1


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in (".csv.gz", ".jsonl.gz", ".tsv.gz", ".ndjson.gz", ".json.gz"):
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


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def _scan_text(p: Path, arg: str, kind: str, *, max_line: int | None) -> None:
    """Stream over a text file once: refuse NUL bytes and (if ``max_line``) over-long lines."""
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    offset = 0
    line_len = 0  # bytes of the current (unfinished) line
    line_no = 1
    try:
        with opener(p, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                nul = chunk.find(b"\0")
                if nul >= 0:
                    raise InputError(f"{arg}: {p.name} holds binary data (a NUL byte at byte {offset + nul}), "
                                     f"not {kind} text; is it the wrong file, or a file of zeros?")
                if max_line is not None:
                    first = chunk.find(b"\n")
                    if first < 0:
                        line_len += len(chunk)
                    else:
                        lines = chunk.split(b"\n")
                        lengths = [line_len + len(lines[0])] + [len(s) for s in lines[1:-1]]
                        longest = max(lengths)
                        if longest > max_line:
                            at = line_no + lengths.index(longest)
                            raise InputError(f"{arg}: line {at} of {p.name} is longer than {_size(max_line)}; "
                                             f"{kind} needs one record per line")
                        line_no += len(lines) - 1
                        line_len = len(lines[-1])
                    if line_len > max_line:
                        raise InputError(f"{arg}: line {line_no} of {p.name} is longer than {_size(max_line)} "
                                         f"(no line break in {_size(line_len)}); {kind} needs one record per line")
                offset += len(chunk)
    except (OSError, EOFError) as exc:
        raise InputError(f"{arg}: could not read {p.name} ({exc}); is the file truncated or not gzip?") from None


def read_json(path: str | os.PathLike, *, arg: str = "file") -> Any:
    """Parse a whole JSON document, raising InputError on malformed or truncated files.

    The file is first streamed once (bounded memory) to refuse binary data and files
    that do not start like a JSON document. msgspec parses it (a few times faster than
    the ``json`` module, with the same values); what msgspec refuses (``NaN``, a
    byte-order mark, UTF-16, a lone surrogate, malformed text) goes to the ``json``
    module, which accepts or names the fault as before.
    """
    import msgspec

    p = _existing(path, arg)
    with open(p, "rb") as fh:
        head = fh.read(4096).lstrip(b" \t\r\n\xef\xbb\xbf")
    if head[:1] not in (b"{", b"["):
        found = "is empty" if not head else f"starts with {head[:12]!r}"
        raise InputError(f"{arg}: {p.name} is not a JSON document: expected '{{' or '[' first, the file {found}")
    _scan_text(p, arg, "JSON", max_line=None)
    with open(p, "rb") as fh:
        raw = fh.read()
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        pass
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{arg}: {p.name} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}); is the file truncated?") from None
    except UnicodeDecodeError:
        raise InputError(f"{arg}: {p.name} is not UTF-8 text JSON") from None


def _npy_header(fh: IO[bytes], name: str, arg: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header bytes) of an NPY stream positioned at its start."""
    magic = fh.read(6)
    fh.seek(0)
    if magic != b"\x93NUMPY":
        raise InputError(f"{arg}: {name} is not a NumPy .npy array (it starts with {magic!r}, not the "
                         "'\\x93NUMPY' magic string)")
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"{arg}: {name} has a corrupt .npy header ({exc})") from None
    if dtype.hasobject:
        raise InputError(f"{arg}: {name} holds an object array, which cannot be read without unpickling; "
                         "object arrays are never unpickled")
    return tuple(int(s) for s in shape), dtype, fh.tell()


def _check_extent(name: str, arg: str, shape: tuple[int, ...], dtype: np.dtype, available: int,
                  what: str = "follow the header") -> None:
    need = math.prod(shape) * dtype.itemsize
    if need > available:
        raise InputError(f"{arg}: {name} is truncated or corrupt: its header claims shape {shape} of "
                         f"{dtype} ({_size(need)}) but only {_size(available)} {what}")


def _read_npy(p: Path, arg: str) -> np.ndarray:
    size = p.stat().st_size
    with open(p, "rb") as fh:
        shape, dtype, offset = _npy_header(fh, p.name, arg)
        _check_extent(p.name, arg, shape, dtype, size - offset)
        fh.seek(0)
        return np.lib.format.read_array(fh, allow_pickle=False)


def _read_npz(p: Path, arg: str) -> dict[str, np.ndarray]:
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] != b"PK":
        found = "is empty" if not magic else (
            "starts with zero bytes (a file of zeros?)" if magic.strip(b"\0") == b"" else f"starts with {magic!r}")
        raise InputError(f"{arg}: {p.name} is not an NPZ archive (a zip file of .npy arrays): the file {found}")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(p) as archive:
            for info in archive.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                where = f"{p.name}[{key!r}]"
                limit = info.file_size
                if info.compress_type != zipfile.ZIP_STORED:
                    limit = min(limit, info.compress_size * _ZLIB_MAX_RATIO)
                with archive.open(info) as fh:
                    shape, dtype, offset = _npy_header(fh, where, arg)
                    _check_extent(where, arg, shape, dtype, max(limit - offset, 0), "are stored in the archive")
                with archive.open(info) as fh:
                    out[key] = np.lib.format.read_array(fh, allow_pickle=False)
    except InputError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise InputError(f"{arg}: {p.name} is not a readable NPZ archive ({exc}); is it truncated?") from None
    return out


def read_arrays(path: str | os.PathLike, *, arg: str = "file") -> dict[str, np.ndarray]:
    """Read a file into a mapping of name → numpy array.

    NPZ files keep their arrays as stored (2-D allowed); a ``.npy`` file gives one
    entry ``"array"``; tabular formats give one 1-D array per column. Object arrays
    are refused (``allow_pickle=False``); headers are checked before any allocation.
    """
    p = _existing(path, arg)
    suffix = _suffix(p)
    try:
        if suffix == ".npz":
            return _read_npz(p, arg)
        if suffix == ".npy":
            return {"array": _read_npy(p, arg)}
    except MemoryError:
        raise InputError(f"{arg}: {p.name} is too large to load into memory") from None
    frame = read_table(p, arg=arg)
    return {str(c): frame[c].to_numpy() for c in frame.columns}


def read_table(path: str | os.PathLike, *, arg: str = "file") -> pd.DataFrame:
    """Read CSV/TSV, Parquet, JSON (records or columns) or JSON Lines into a DataFrame.

    NPZ files whose arrays are all 1-D of one length are read as columns too. JSON and
    JSON Lines fields may hold vectors (``{"probs": [0.1, 0.9], "label": 1}``); such a
    column holds one list per row (see :func:`numeric_matrix`).
    """
    import pandas as pd

    p = _existing(path, arg)
    suffix = _suffix(p)
    try:
        if suffix in (".csv", ".csv.gz", ".tsv", ".tsv.gz"):
            _scan_text(p, arg, "CSV", max_line=MAX_LINE_BYTES)
            frame = pd.read_csv(p, sep="\t" if suffix.startswith(".tsv") else ",")
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        elif suffix in (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"):
            _scan_text(p, arg, "JSON Lines", max_line=MAX_LINE_BYTES)
            frame = pd.read_json(p, lines=True, dtype=False)
        elif suffix in (".json", ".json.gz"):
            data = read_json(p, arg=arg) if suffix == ".json" else _read_json_gz(p, arg)
            if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
                if len({len(v) for v in data.values()}) != 1:
                    raise InputError(f"{arg}: the columns of {p.name} have different lengths")
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
    except MemoryError:
        raise InputError(f"{arg}: {p.name} is too large to load into memory") from None
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as exc:
        # pandas ParserError / EmptyDataError and pyarrow's ArrowInvalid are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{arg}: could not read {p.name} ({first}); is the file malformed or truncated?") from None
    if len(frame) == 0:
        raise InputError(f"{arg}: {p.name} has no rows")
    return frame


def _read_json_gz(p: Path, arg: str) -> Any:
    _scan_text(p, arg, "JSON", max_line=None)
    try:
        with gzip.open(p, "rb") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{arg}: {p.name} is not valid JSON ({exc.msg}); is the file truncated?") from None


def _is_number(text: str) -> bool:
    """True for a plain non-negative decimal such as ``12``, ``0.5`` or ``007``."""
    whole, _, frac = text.partition(".")
    return text.isascii() and (whole + frac).isdigit() and (whole.isdigit() or whole == "") and (
        frac.isdigit() or "." not in text)


def _available(columns: Sequence[str]) -> str:
    return ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")


def select_columns(columns: Iterable[Any], spec: str, *, arg: str) -> list[str]:
    """Resolve a column specification against available column names, in a stated order.

    ``spec`` is either a comma-separated list of names (taken in the order given) or a
    prefix ending in ``*``. A prefix selects the matching columns

    - in numeric order of their suffixes when every suffix is a non-negative number
      (``prob_0, prob_1, ..., prob_10``; ``surv_0.5, surv_2, surv_10``);
    - in file order when no suffix is an integer (``prob_zebra, prob_yak, ...``).

    A prefix whose matches mix numbered and named suffixes (``prob_0, prob_max``), or whose
    numbers repeat (``prob_1, prob_01``), has no clear order and is
    refused: name the columns in order instead. Callers should show the resolved list.
    """
    names = [str(c) for c in columns]
    if spec.endswith("*"):
        prefix = spec[:-1]
        chosen = [c for c in names if c.startswith(prefix)]
        suffixes = [c[len(prefix):] for c in chosen]
        numeric = [_is_number(s) for s in suffixes]
        if chosen and all(numeric):
            values = [float(s) for s in suffixes]
            if len(set(values)) < len(values):
                dup = next(v for v in values if values.count(v) > 1)
                same = [c for c, v in zip(chosen, values) if v == dup]
                raise InputError(f"{arg}: {spec!r} is ambiguous: {', '.join(same)} all have number {dup:g}; "
                                 "list the columns in order, comma-separated")
            chosen = [c for _, c in sorted(zip(values, chosen))]
        elif any(numeric):
            shown = ", ".join(chosen[:6]) + (" ..." if len(chosen) > 6 else "")
            raise InputError(f"{arg}: {spec!r} matches columns with numbered and named suffixes ({shown}), so "
                             "their order is ambiguous; list the columns in order, comma-separated")
    else:
        chosen = [s.strip() for s in spec.split(",") if s.strip()]
        missing = [c for c in chosen if c not in names]
        if missing:
            raise InputError(f"{arg}: column(s) {', '.join(map(repr, missing))} not found; "
                             f"available: {_available(names)}")
        repeated = [c for c in dict.fromkeys(chosen) if chosen.count(c) > 1]
        if repeated:
            raise InputError(f"{arg}: column {repeated[0]!r} is listed twice")
    if not chosen:
        raise InputError(f"{arg}: no column matches {spec!r}; available: {_available(names)}")
    return chosen


def numeric_matrix(frame: pd.DataFrame, columns: Sequence[str], *, arg: str) -> np.ndarray:
    """The (N, len(columns)) float64 matrix of ``frame[columns]``.

    Missing cells become NaN (the metric then decides whether NaN is allowed); a cell
    that is not a number (``"n/a"`` in JSON, ``"x"``, a list) raises an InputError naming
    the column, the row and the value.
    """
    import pandas as pd

    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        column = frame[name]
        if column.dtype == bool:
            out[:, j] = column.to_numpy(dtype=np.float64)
            continue
        converted = pd.to_numeric(column, errors="coerce")
        bad = converted.isna().to_numpy() & column.notna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{arg}: column {name!r} must hold numbers; row {i} holds {column.iloc[i]!r}")
        out[:, j] = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def vector_column(frame: pd.DataFrame, name: str, *, arg: str) -> np.ndarray | None:
    """The (N, K) float64 matrix of a column holding one vector per row, or None.

    None when ``name`` is not a column or its cells are scalars; an InputError when the
    vectors are ragged or hold non-numbers.
    """
    if name not in frame.columns or frame[name].dtype != object:
        return None
    values = frame[name].to_list()
    if not any(isinstance(v, (list, tuple, np.ndarray)) for v in values):
        return None
    lengths = [len(v) if isinstance(v, (list, tuple, np.ndarray)) else -1 for v in values]
    if min(lengths) < 0:
        i = lengths.index(-1)
        raise InputError(f"{arg}: field {name!r} must hold a vector in every row; row {i} holds {values[i]!r}")
    if len(set(lengths)) > 1:
        i = next(i for i, n in enumerate(lengths) if n != lengths[0])
        raise InputError(f"{arg}: field {name!r} must hold vectors of one length (the log is ragged); row 0 has {lengths[0]} "
                         f"entries, row {i} has {lengths[i]}")
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{arg}: field {name!r} must hold vectors of numbers") from None
