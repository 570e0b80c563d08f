"""Strict conversion of JSON record fields into numpy columns.

JSON numbers arrive as Python ``int`` / ``float``; anything else (a string ``"0.9"``,
a boolean, a nested list) is refused with an :class:`InputError` naming the record,
instead of being coerced by numpy. The type check is one pass over the set of value
types, so the common all-numbers case costs a single C-level ``map``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from operator import itemgetter

import numpy as np

from metrics.core.errors import InputError

__all__: list[str] = []

_NUMBER_TYPES = (int, float, np.integer, np.floating)
_NOT_NUMBERS = (bool, np.bool_)


def _is_number_type(t: type) -> bool:
    return issubclass(t, _NUMBER_TYPES) and not issubclass(t, _NOT_NUMBERS)


def _first_bad(values: Sequence[object], ok: Callable[[object], bool]) -> int:
    for i, v in enumerate(values):
        if not ok(v):
            return i
    return -1


def _is_number(v: object) -> bool:
    return _is_number_type(type(v))


def int_column(values: Sequence[object], what: str) -> np.ndarray:
    """int64 column of integer ids (integral floats accepted); ``what`` has ``{i}``."""
    if not all(_is_number_type(t) for t in set(map(type, values))):
        i = _first_bad(values, _is_number)
        raise InputError(f"{what.format(i=i)} must be an integer id; got {values[i]!r}")
    arr = np.asarray(values)
    if arr.dtype.kind == "i":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind in "uO":  # integers beyond int64 (numpy keeps them as uint64 or Python objects)
        i = _first_bad(values, lambda v: -2 ** 63 <= v < 2 ** 63)  # type: ignore[operator]
        if i >= 0:
            raise InputError(f"{what.format(i=i)} must be an integer id within int64; got {values[i]!r}")
        arr = arr.astype(np.int64) if arr.dtype.kind == "u" else np.asarray(values, dtype=np.float64)
        if arr.dtype.kind == "i":
            return arr
    if arr.size == 0:
        return np.zeros(0, np.int64)
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) > 2.0 ** 62)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what.format(i=i)} must be an integer id; got {values[i]!r}")
    return arr.astype(np.int64)


def float_column(values: Sequence[object], what: str, *, finite: bool = True) -> np.ndarray:
    """float64 column of numbers (no strings, no booleans); finite unless told."""
    if not all(_is_number_type(t) for t in set(map(type, values))):
        i = _first_bad(values, _is_number)
        raise InputError(f"{what.format(i=i)} must be a number; got {values[i]!r}")
    arr = np.asarray(values, dtype=np.float64)
    if finite and arr.size and not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputError(f"{what.format(i=i)} must be a finite number; got {values[i]!r}")
    return arr


def vector_column(values: Sequence[object], what: str, length: int | None, label: str) -> np.ndarray:
    """(n, length) float64 of fixed-length number lists (boxes, keypoints); finite."""
    n = len(values)
    if not set(map(type, values)) <= {list, tuple}:
        i = _first_bad(values, lambda v: isinstance(v, (list, tuple)))
        raise InputError(f"{what.format(i=i)} must be {label}; got {values[i]!r}")
    rows: Sequence[Sequence[object]] = values  # type: ignore[assignment]  # checked just above
    lengths = np.fromiter(map(len, rows), np.int64, n)
    if length is None:
        length = int(lengths[0]) if n else 0
    if n and (lengths != length).any():
        i = int(np.flatnonzero(lengths != length)[0])
        raise InputError(f"{what.format(i=i)} must be {label}; got {values[i]!r}")
    if not all(_is_number_type(t) for t in set(map(type, chain.from_iterable(rows)))):
        i = _first_bad(values, lambda v: all(map(_is_number, v)))  # type: ignore[call-overload]
        raise InputError(f"{what.format(i=i)} must be {label}; got {values[i]!r}")
    arr = np.fromiter(chain.from_iterable(rows), np.float64, n * length).reshape(n, length)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what.format(i=i)} must hold finite numbers; got {values[i]!r}")
    return arr


def bbox_column(values: Sequence[object], what: str) -> np.ndarray:
    """(n, 4) xywh boxes: 4 finite numbers each, width and height ≥ 0."""
    arr = vector_column(values, what, 4, "a box [x, y, w, h] of 4 numbers")
    bad = (arr[:, 2] < 0) | (arr[:, 3] < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what.format(i=i)} must have width and height ≥ 0; got {values[i]!r}")
    return arr


def field(records: Sequence[Mapping[str, object]], key: str, what: str) -> list[object]:
    """``[r[key] for r in records]``, with an InputError naming the first record that lacks it."""
    try:
        return list(map(itemgetter(key), records))
    except (KeyError, TypeError, IndexError):
        for i, r in enumerate(records):
            if not isinstance(r, dict):
                raise InputError(f"{what.format(i=i)} must be a JSON object; got {type(r).__name__}") from None
            if key not in r:
                raise InputError(f"{what.format(i=i)} lacks the field {key!r}") from None
        raise


def optional_field(records: Sequence[Mapping[str, object]], key: str, default: object) -> list[object]:
    """``[r.get(key, default) for r in records]``."""
    return [r.get(key, default) for r in records]
