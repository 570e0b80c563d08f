"""Streaming detection results (COCO / LVIS format) into column arrays.

Results come as a list of dicts, a JSON array file, a JSON Lines file or an (N, 7)
array ``[image_id, x, y, w, h, score, category_id]`` (as pycocotools' ``loadRes``
takes it). Files are parsed a few megabytes at a time, so a results file of millions
of detections never exists as one list of Python dicts, and a file that holds no
record boundary for ``MAX_RECORD_CHARS`` characters (a hole, a binary file, one
endless line) is refused early with bounded memory. Every problem raises
:class:`~metrics.core.errors.InputError` naming the record.

Box results from files take a fast route: msgspec decodes each chunk straight into
typed records (integer ids, a number score, four number box; no dict per record, no
work for the garbage collector), refusing strings, booleans and missing fields while
it parses. A chunk it refuses, or whose numbers fail a check (a negative width, an id
beyond int64), is parsed again by the standard ``json`` module and checked record by
record, so every error message, and every value, is the same on both routes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from metrics.core.errors import InputError
from metrics.detection._columns import bbox_column, field, float_column, int_column, vector_column

__all__ = ["iter_detection_chunks"]

_CHUNK_CHARS = 1 << 23  # 8 Mi characters of JSON per parsed chunk
MAX_RECORD_CHARS = 1 << 26  # no single detection record is longer than 64 Mi characters
_LIST_CHUNK = 200_000


@dataclasses.dataclass
class Results:
    """Column view of a detection results list (internal); row i = input position i."""

    image_id: np.ndarray  # int64
    category_id: np.ndarray  # int64
    score: np.ndarray  # float64
    bbox: np.ndarray | None  # (n, 4) float64; None when the records carry no boxes
    segmentation: list | None  # segm: one object per record (None where absent and a box stands in)
    keypoints: np.ndarray | None = None  # (n, 3K) float64 for keypoints
    first_has_bbox: bool = False  # pycocotools' loadRes decides the area rule on the first record
    _score_rank: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.score)

    @property
    def score_rank(self) -> np.ndarray:
        """Dense rank of each score, descending (computed once, shared by every sort of every mode)."""
        if self._score_rank is None:
            from metrics.detection._selection import score_rank

            self._score_rank = score_rank(self.score)
        return self._score_rank


# ----------------------------------------------------------------------------- chunked reading


def _json_chunks(path: Path, parse: Callable[[str], Any] = json.loads) -> Iterator[Any]:
    """Lists of records from a JSON array file, a few MB of text at a time.

    Each chunk is cut after a ``}``; ``parse('[' + piece + ']')`` succeeds only when
    the cut falls between two top-level records (a cut inside a record leaves an
    unclosed brace or string), so a failed parse (``json.JSONDecodeError``) just
    moves the cut back. ``parse`` is ``json.loads`` or :func:`_parse_boxes`.
    """
    with open(path, encoding="utf-8") as fh:
        buf = ""
        started = False
        while True:
            more = fh.read(_CHUNK_CHARS)
            done = not more
            if "\0" in more:
                raise InputError(f"results: {path.name} holds binary data (a NUL character), not JSON; "
                                 f"is it the wrong file, or a file of zeros?")
            buf += more
            if not started:
                stripped = buf.lstrip()
                if not stripped:
                    if done:
                        raise InputError(f"results: {path.name} is empty; expected a JSON list of detections")
                    continue
                if stripped[0] != "[":
                    raise InputError(f"results: {path.name} must hold a JSON list of detections "
                                     f"(or be a .jsonl file); it starts with {stripped[:20]!r}")
                buf = stripped[1:]
                started = True
            if done:
                body = buf.rstrip()
                if not body.endswith("]"):
                    raise InputError(f"results: {path.name} is not valid JSON (the list is not closed); "
                                     f"is the file truncated?")
                body = body[:-1].strip()
                if body.startswith(","):
                    body = body[1:]
                if body:
                    yield _loads_list(body, path, parse)
                return
            cut = len(buf)
            lowest = max(0, len(buf) - len(more) - MAX_RECORD_CHARS)  # never rescan old text without end
            while True:
                cut = buf.rfind("}", lowest, cut)
                if cut < 0:
                    break  # no complete record yet: read more
                piece = buf[:cut + 1].strip()
                if piece.startswith(","):
                    piece = piece[1:]
                try:
                    records = parse("[" + piece + "]")
                except json.JSONDecodeError:
                    continue
                yield records
                buf = buf[cut + 1:]
                break
            if len(buf) > MAX_RECORD_CHARS + _CHUNK_CHARS:
                raise InputError(f"results: {path.name} holds no complete detection record in "
                                 f"{len(buf) // 2 ** 20} MiB of text; is it a JSON list of detections?")


def _loads_list(text: str, path: Path, parse: Callable[[str], Any] = json.loads) -> Any:
    try:
        return parse("[" + text + "]")
    except json.JSONDecodeError as exc:
        raise InputError(f"results: {path.name} is not valid JSON ({exc.msg}); is the file truncated?") from None


def _jsonl_chunks(path: Path, parse: Callable[[str], Any] = json.loads) -> Iterator[Any]:
    """Lists of records from a JSON Lines file; lines are cut from fixed-size reads (bounded memory)."""
    with open(path, encoding="utf-8") as fh:
        tail = ""
        lineno = 0
        while True:
            more = fh.read(_CHUNK_CHARS)
            if "\0" in more:
                raise InputError(f"results: {path.name} holds binary data (a NUL character), not JSON Lines")
            text = tail + more
            if more:
                cut = text.rfind("\n")
                if cut < 0:
                    if len(text) > MAX_RECORD_CHARS:
                        raise InputError(f"results: line {lineno + 1} of {path.name} is longer than "
                                         f"{MAX_RECORD_CHARS // 2 ** 20} MiB; JSON Lines needs one detection "
                                         f"per line")
                    tail = text
                    continue
                text, tail = text[:cut], text[cut + 1:]
            lines = text.split("\n")
            body = [s for s in (line.strip() for line in lines) if s]
            if body:
                try:
                    yield parse("[" + ",".join(body) + "]")
                except json.JSONDecodeError:
                    for k, line in enumerate(lines):  # find the bad line for the message
                        if line.strip():
                            try:
                                json.loads(line)
                            except json.JSONDecodeError as exc:
                                raise InputError(f"results: {path.name} line {lineno + k + 1} is not valid JSON "
                                                 f"({exc.msg}); is the file truncated?") from None
                    raise InputError(f"results: {path.name} is not valid JSON Lines") from None
            lineno += len(lines)
            if not more:
                return


def iter_detection_chunks(results: str | os.PathLike[str] | Sequence[dict]) -> Iterator[list[dict]]:
    """Detection records of ``results`` as successive lists (streamed from files).

    Parameters
    ----------
    results : str, path or sequence of dict
        A JSON array file, a JSON Lines file (``.jsonl`` / ``.ndjson``) or a list of dicts.

    Yields
    ------
    list of dict
        Consecutive records, a few megabytes of text (or 200,000 list items) at a time.
    """
    return _record_chunks(results, json.loads)


def _record_chunks(results: str | os.PathLike[str] | Sequence[dict], parse: Callable[[str], Any]) -> Iterator[Any]:
    """:func:`iter_detection_chunks` with the parser of file chunks as a parameter."""
    if isinstance(results, (str, os.PathLike)):
        p = Path(results)
        if not p.exists():
            raise InputError(f"results: file {str(p)!r} does not exist")
        if p.is_dir():
            raise InputError(f"results: {str(p)!r} is a directory, expected a file")
        try:
            if p.name.lower().endswith((".jsonl", ".ndjson")):
                yield from _jsonl_chunks(p, parse)
            else:
                yield from _json_chunks(p, parse)
        except UnicodeDecodeError:
            raise InputError(f"results: {p.name} is not UTF-8 JSON text") from None
        return
    if isinstance(results, (list, tuple)):
        for start in range(0, len(results), _LIST_CHUNK):
            yield list(results[start:start + _LIST_CHUNK])
        return
    raise InputError(f"results must be a path or a list of detection dicts; got {type(results).__name__}")


# ----------------------------------------------------------------------------- typed box records


class _BoxRecord(msgspec.Struct, gc=False):
    """One box detection as msgspec decodes it (other fields of the record are skipped)."""

    image_id: int
    category_id: int
    score: float
    bbox: tuple[float, float, float, float]


_BOX_DECODER = msgspec.json.Decoder(list[_BoxRecord])


@dataclasses.dataclass
class _BoxChunk:
    """A chunk decoded into typed records, with its text for the record-by-record route."""

    records: list[_BoxRecord]
    text: str

    def __len__(self) -> int:
        return len(self.records)


def _parse_boxes(text: str) -> _BoxChunk | list:
    """Typed records of a JSON array of box detections, else what ``json.loads`` makes of it.

    msgspec refuses what the typed records cannot hold (a string score, a boolean, a
    missing field, an object that is not a record) and text that is not JSON (also a
    chunk cut inside a record); ``json.loads`` then decides, exactly as without the
    fast route: it raises ``JSONDecodeError`` for text that is not JSON and returns the
    dicts, whose faults the column checks name.
    """
    try:
        return _BoxChunk(_BOX_DECODER.decode(text), text)
    except msgspec.DecodeError:
        return json.loads(text)


def _box_columns(chunk: _BoxChunk) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(image_id, category_id, score, bbox) of typed records; None if any value fails a check."""
    records = chunk.records
    n = len(records)
    try:
        img = np.fromiter(map(attrgetter("image_id"), records), np.int64, n)
        cat = np.fromiter(map(attrgetter("category_id"), records), np.int64, n)
    except OverflowError:  # an id beyond int64: the record-by-record route names it
        return None
    score = np.fromiter(map(attrgetter("score"), records), np.float64, n)
    box = np.fromiter(chain.from_iterable(map(attrgetter("bbox"), records)), np.float64, 4 * n).reshape(n, 4)
    if not (np.isfinite(score).all() and np.isfinite(box).all()) or (box[:, 2:] < 0).any():
        return None
    return img, cat, score, box


# ----------------------------------------------------------------------------- columns


def _from_array(arr: np.ndarray) -> Results:
    """pycocotools' ``loadNumpyAnnotations`` layout: [image_id, x, y, w, h, score, category_id]."""
    if arr.ndim != 2 or arr.shape[1] != 7:
        raise InputError(f"results as an array must have shape (N, 7) [image_id, x, y, w, h, score, category_id]; "
                         f"got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise InputError(f"results as an array must be numeric; got dtype {arr.dtype}")
    a = np.array(arr, dtype=np.float64)  # a copy: never a view of the caller's array
    if not np.isfinite(a).all():
        i = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
        raise InputError(f"results[{i}] must hold finite numbers; got {a[i].tolist()}")
    for col, name in ((0, "image_id"), (6, "category_id")):
        bad = a[:, col] != np.round(a[:, col])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"results[{i}].{name} (column {col}) must be an integer id; got {a[i, col]}")
    if ((a[:, 3] < 0) | (a[:, 4] < 0)).any():
        i = int(np.flatnonzero((a[:, 3] < 0) | (a[:, 4] < 0))[0])
        raise InputError(f"results[{i}].bbox must have width and height ≥ 0; got {a[i, 1:5].tolist()}")
    return Results(image_id=a[:, 0].astype(np.int64), category_id=a[:, 6].astype(np.int64), score=a[:, 5].copy(),
                   bbox=a[:, 1:5].copy(), segmentation=None, first_has_bbox=True)


def _shift_position(message: str, base: int) -> str:
    """Rewrite the first ``results[i]`` of a chunk-local message to the global position."""
    return re.sub(r"results\[(\d+)\]", lambda m: f"results[{int(m.group(1)) + base}]", message, count=1)


def load_results(results: object, *, iou_type: str, n_keypoints: int | None = None) -> Results:
    """Stream results into columns, validating every record.

    bbox needs ``bbox`` on every record; segm needs ``segmentation`` on every record
    unless every record has a ``bbox`` (then a missing mask is the box, as ``loadRes``
    does); keypoints needs ``keypoints`` (3 numbers per keypoint).
    """
    if isinstance(results, np.ndarray):
        if iou_type != "bbox":
            raise InputError(f"results as an (N, 7) array hold boxes only; iou_type {iou_type!r} needs "
                             f"a list of detection dicts")
        return _from_array(results)
    img_parts: list[np.ndarray] = []
    cat_parts: list[np.ndarray] = []
    score_parts: list[np.ndarray] = []
    bbox_parts: list[np.ndarray] = []
    kp_parts: list[np.ndarray] = []
    segm: list | None = [] if iou_type == "segm" else None
    n = 0
    first_has_bbox: bool | None = None
    all_have_bbox = True
    what = "results[{i}]"
    parse = _parse_boxes if iou_type == "bbox" else json.loads
    for chunk in _record_chunks(results, parse):  # type: ignore[arg-type]
        base = n
        if isinstance(chunk, _BoxChunk):
            columns = _box_columns(chunk)
            if columns is not None:
                if first_has_bbox is None and len(chunk):
                    first_has_bbox = True  # every typed record has a box
                for part, column in zip((img_parts, cat_parts, score_parts, bbox_parts), columns):
                    part.append(column)
                n += len(chunk)
                continue
            chunk = json.loads(chunk.text)  # the record-by-record checks name the fault
        try:
            img = int_column(field(chunk, "image_id", what), what + ".image_id")
            cat = int_column(field(chunk, "category_id", what), what + ".category_id")
            score = float_column(field(chunk, "score", what), what + ".score")
            if first_has_bbox is None and chunk:
                first = chunk[0]
                first_has_bbox = isinstance(first, dict) and first.get("bbox") not in (None, [])
            have = [isinstance(r, dict) and "bbox" in r for r in chunk]
            if iou_type == "bbox" or (all_have_bbox and all(have)):
                box = bbox_column(field(chunk, "bbox", what), what + ".bbox")
                bbox_parts.append(box)
            else:
                all_have_bbox = False
                if first_has_bbox:
                    i = have.index(False)
                    raise InputError(f"results[{i}] lacks the field 'bbox' (the first detection has one, so "
                                     f"every detection needs one, as pycocotools' loadRes assumes)")
            if iou_type == "segm":
                if all_have_bbox:
                    segm.extend(r.get("segmentation") for r in chunk)  # type: ignore[union-attr]
                else:
                    segm.extend(field(chunk, "segmentation", what))  # type: ignore[union-attr]
            if iou_type == "keypoints":
                kp = vector_column(field(chunk, "keypoints", what), what + ".keypoints", n_keypoints,
                                   f"a list of {n_keypoints} (x, y, v) triples" if n_keypoints else "a keypoint list")
                if n_keypoints is None:
                    n_keypoints = kp.shape[1]
                if kp.shape[1] % 3 or kp.shape[1] == 0:
                    raise InputError(f"results[{base}].keypoints must hold (x, y, v) triples; "
                                     f"got {kp.shape[1]} numbers")
                kp_parts.append(kp)
        except InputError as exc:
            raise InputError(_shift_position(str(exc), base)) from None
        img_parts.append(img)
        cat_parts.append(cat)
        score_parts.append(score)
        n += len(chunk)

    def cat_(parts: list, dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    bbox = None
    if iou_type == "bbox" or (all_have_bbox and n):
        bbox = np.concatenate(bbox_parts) if bbox_parts else np.zeros((0, 4))
    keypoints = None
    if iou_type == "keypoints":
        keypoints = np.concatenate(kp_parts) if kp_parts else np.zeros((0, 3 * (n_keypoints or 1)))
    return Results(image_id=cat_(img_parts, np.int64), category_id=cat_(cat_parts, np.int64),
                   score=cat_(score_parts, np.float64), bbox=bbox, segmentation=segm, keypoints=keypoints,
                   first_has_bbox=bool(first_has_bbox))
