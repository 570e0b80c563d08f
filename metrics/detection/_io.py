"""Reading LVIS ground truth and detection results into column arrays.

Ground truth comes as a path, a dict or an ``lvis.LVIS`` object (duck-typed through
its ``.dataset``; ``lvis`` is never imported). Results come as a list of dicts or a
JSON / JSON Lines path; files are parsed in chunks of a few megabytes so that a
results file of millions of detections never exists as one list of Python dicts.
Every problem raises :class:`~metrics.core.errors.InputError` naming the record.
"""

from __future__ import annotations

import dataclasses
import json
import os
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from metrics.core.errors import InputError

FREQUENCIES = ("r", "c", "f")
_CHUNK_CHARS = 1 << 23  # 8 Mi characters of JSON per parsed chunk


@dataclasses.dataclass
class GroundTruth:
    """Column view of an LVIS ground-truth dataset (internal).

    Images and categories are sorted by id (the order lvis-api evaluates in);
    annotations keep file order. ``*_index`` columns index into the sorted arrays.
    """

    image_ids: np.ndarray  # (n_img,) sorted
    image_width: np.ndarray
    image_height: np.ndarray
    category_ids: np.ndarray  # (n_cat,) sorted
    category_freq: np.ndarray  # (n_cat,) int 0=r, 1=c, 2=f
    neg_pairs: np.ndarray  # sorted unique keys img_index * n_cat + cat_index
    not_exhaustive_pairs: np.ndarray  # same encoding
    ann_ids: np.ndarray
    ann_image: np.ndarray  # image index
    ann_category: np.ndarray  # category index
    ann_area: np.ndarray
    ann_bbox: np.ndarray  # (n_ann, 4)
    ann_ignore: np.ndarray  # bool
    ann_segmentation: list | None  # raw segmentation objects (segm only)
    n_zero_area: int = 0  # annotations dropped for area <= 0 (lvis-api drops them silently)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def n_categories(self) -> int:
        return len(self.category_ids)


@dataclasses.dataclass
class Results:
    """Column view of a detection results list (internal); row i = input position i."""

    image_id: np.ndarray  # int64
    category_id: np.ndarray  # int64
    score: np.ndarray  # float64
    bbox: np.ndarray | None  # (n, 4) float64, None when no record has one
    segmentation: list | None  # RLE dicts (segm only)

    def __len__(self) -> int:
        return len(self.score)


# ----------------------------------------------------------------------------- helpers


def _int_column(values: list, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f" and arr.ndim == 1 and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) and not (
                isinstance(v, float) and float(v).is_integer()):
            raise InputError(f"{what.format(i=i)} must be an integer id; got {v!r}")
    raise InputError(f"{what.format(i='?')} must be integer ids")  # pragma: no cover


def _float_column(values: list, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            try:
                float(v)
                if isinstance(v, (bool, str)):
                    raise TypeError
            except (TypeError, ValueError):
                raise InputError(f"{what.format(i=i)} must be a number; got {v!r}") from None
        raise
    return arr


def _bbox_column(values: list, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
        ok = arr.ndim == 2 and arr.shape[1] == 4
    except (TypeError, ValueError):
        ok = False
    if not ok:
        for i, v in enumerate(values):
            good = isinstance(v, (list, tuple)) and len(v) == 4
            if good:
                try:
                    [float(x) for x in v]
                    good = not any(isinstance(x, (bool, str)) for x in v)
                except (TypeError, ValueError):
                    good = False
            if not good:
                raise InputError(f"{what.format(i=i)} must be a box [x, y, w, h] of 4 numbers; got {v!r}")
        if len(values) == 0:
            return np.zeros((0, 4))
        raise InputError(f"{what.format(i='?')} must be boxes [x, y, w, h]")  # pragma: no cover
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what.format(i=i)} must be a finite box [x, y, w, h]; got {values[i]!r}")
    bad = (arr[:, 2] < 0) | (arr[:, 3] < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what.format(i=i)} must have width and height ≥ 0; got {values[i]!r}")
    return arr


def _field(records: list, key: str, what: str) -> list:
    try:
        return list(map(itemgetter(key), records))
    except (KeyError, TypeError):
        for i, r in enumerate(records):
            if not isinstance(r, dict):
                raise InputError(f"{what.format(i=i)} must be a JSON object; got {type(r).__name__}") from None
            if key not in r:
                raise InputError(f"{what.format(i=i)} lacks the field {key!r}") from None
        raise


# ----------------------------------------------------------------------------- ground truth


def load_gt(gt: Any, *, need_segmentation: bool = False) -> GroundTruth:
    """Parse and validate LVIS ground truth (path, dict or object with ``.dataset``)."""
    if isinstance(gt, (str, os.PathLike)):
        from metrics.core.io import read_json

        data = read_json(gt, arg="gt")
    elif isinstance(gt, dict):
        data = gt
    elif hasattr(gt, "dataset") and isinstance(gt.dataset, dict):
        data = gt.dataset
    else:
        raise InputError(f"gt must be a path, a dict or an lvis.LVIS object; got {type(gt).__name__}")
    if not isinstance(data, dict):
        raise InputError(f"gt must be an LVIS JSON object with images, categories and annotations; "
                         f"got a {type(data).__name__}")
    for key in ("images", "categories", "annotations"):
        if not isinstance(data.get(key), list):
            raise InputError(f"gt must have a list {key!r}; found {type(data.get(key)).__name__}")
    images, cats, anns = data["images"], data["categories"], data["annotations"]
    if not images:
        raise InputError("gt.images must not be empty")
    if not cats:
        raise InputError("gt.categories must not be empty")

    # categories
    cat_ids_raw = _int_column(_field(cats, "id", "gt.categories[{i}]"), "gt.categories[{i}].id")
    freq_raw = _field(cats, "frequency", "gt.categories[{i}]")
    freq_code = np.empty(len(cats), dtype=np.int8)
    for i, f in enumerate(freq_raw):  # one small loop over categories (~1,200)
        if f not in FREQUENCIES:
            raise InputError(f"gt.categories[{i}].frequency must be one of 'r', 'c', 'f'; got {f!r}")
        freq_code[i] = FREQUENCIES.index(f)
    order = np.argsort(cat_ids_raw, kind="stable")
    cat_ids = cat_ids_raw[order]
    if len(cat_ids) > 1 and np.any(cat_ids[1:] == cat_ids[:-1]):
        dup = cat_ids[1:][cat_ids[1:] == cat_ids[:-1]][0]
        raise InputError(f"gt.categories ids must be unique; id {dup} appears more than once")
    cat_freq = freq_code[order]
    n_cat = len(cat_ids)

    # images
    img_ids_raw = _int_column(_field(images, "id", "gt.images[{i}]"), "gt.images[{i}].id")
    width = _float_column(_field(images, "width", "gt.images[{i}]"), "gt.images[{i}].width")
    height = _float_column(_field(images, "height", "gt.images[{i}]"), "gt.images[{i}].height")
    neg = _field(images, "neg_category_ids", "gt.images[{i}]")
    nel = _field(images, "not_exhaustive_category_ids", "gt.images[{i}]")
    order = np.argsort(img_ids_raw, kind="stable")
    img_ids = img_ids_raw[order]
    if len(img_ids) > 1 and np.any(img_ids[1:] == img_ids[:-1]):
        dup = img_ids[1:][img_ids[1:] == img_ids[:-1]][0]
        raise InputError(f"gt.images ids must be unique; id {dup} appears more than once")
    img_pos = np.empty(len(images), dtype=np.int64)
    img_pos[order] = np.arange(len(images))

    def pair_keys(lists: list, field: str) -> np.ndarray:
        lens = np.fromiter((len(x) if isinstance(x, list) else -1 for x in lists), np.int64, len(lists))
        if (lens < 0).any():
            i = int(np.flatnonzero(lens < 0)[0])
            raise InputError(f"gt.images[{i}].{field} must be a list of category ids; got {lists[i]!r}")
        flat = [c for x in lists for c in x]
        if not flat:
            return np.zeros(0, dtype=np.int64)
        ids = _int_column(flat, f"gt.images[*].{field}[{{i}}]")
        cidx = np.searchsorted(cat_ids, ids)
        cidx = np.minimum(cidx, n_cat - 1)
        bad = cat_ids[cidx] != ids
        owner = np.repeat(np.arange(len(lists)), lens)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise InputError(f"gt.images[{owner[j]}].{field} lists category id {ids[j]}, "
                             f"which is not in gt.categories")
        return np.unique(img_pos[owner] * n_cat + cidx)

    neg_pairs = pair_keys(neg, "neg_category_ids")
    ne_pairs = pair_keys(nel, "not_exhaustive_category_ids")

    # annotations
    if anns:
        ann_ids = _int_column(_field(anns, "id", "gt.annotations[{i}]"), "gt.annotations[{i}].id")
        if (ann_ids <= 0).any():
            i = int(np.flatnonzero(ann_ids <= 0)[0])
            raise InputError(f"gt.annotations[{i}].id must be a positive integer (lvis-api treats id 0 as "
                             f"'unmatched'); got {ann_ids[i]}")
        s = np.sort(ann_ids)
        if np.any(s[1:] == s[:-1]):
            raise InputError(f"gt.annotations ids must be unique; id {s[1:][s[1:] == s[:-1]][0]} "
                             f"appears more than once")
        a_img = _int_column(_field(anns, "image_id", "gt.annotations[{i}]"), "gt.annotations[{i}].image_id")
        a_cat = _int_column(_field(anns, "category_id", "gt.annotations[{i}]"),
                            "gt.annotations[{i}].category_id")
        area = _float_column(_field(anns, "area", "gt.annotations[{i}]"), "gt.annotations[{i}].area")
        bbox = _bbox_column(_field(anns, "bbox", "gt.annotations[{i}]"), "gt.annotations[{i}].bbox")
        ignore = np.fromiter((bool(a.get("ignore", 0)) for a in anns), bool, len(anns))
        segm = _field(anns, "segmentation", "gt.annotations[{i}]") if need_segmentation else None
    else:
        ann_ids = a_img = a_cat = np.zeros(0, np.int64)
        area = np.zeros(0)
        bbox = np.zeros((0, 4))
        ignore = np.zeros(0, bool)
        segm = [] if need_segmentation else None
    if len(anns) and not np.isfinite(area).all():
        i = int(np.flatnonzero(~np.isfinite(area))[0])
        raise InputError(f"gt.annotations[{i}].area must be finite; got {area[i]}")
    iidx = np.minimum(np.searchsorted(img_ids, a_img), len(img_ids) - 1)
    bad = img_ids[iidx] != a_img
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"gt.annotations[{i}].image_id {a_img[i]} is not in gt.images")
    cidx = np.minimum(np.searchsorted(cat_ids, a_cat), n_cat - 1)
    bad = cat_ids[cidx] != a_cat
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"gt.annotations[{i}].category_id {a_cat[i]} is not in gt.categories")
    # lvis-api's get_ann_ids keeps only 0 < area < inf: other annotations do not exist for it.
    keep = area > 0
    n_zero = int((~keep).sum())
    if n_zero:
        ann_ids, iidx, cidx, area, bbox, ignore = (x[keep] for x in (ann_ids, iidx, cidx, area, bbox, ignore))
        if segm is not None:
            segm = [s for s, k in zip(segm, keep) if k]
    return GroundTruth(
        image_ids=img_ids, image_width=width[order], image_height=height[order],
        category_ids=cat_ids, category_freq=cat_freq, neg_pairs=neg_pairs, not_exhaustive_pairs=ne_pairs,
        ann_ids=ann_ids, ann_image=iidx.astype(np.int64), ann_category=cidx.astype(np.int64),
        ann_area=area, ann_bbox=bbox, ann_ignore=ignore, ann_segmentation=segm, n_zero_area=n_zero,
    )


# ----------------------------------------------------------------------------- results


def _json_chunks(path: Path):
    """Yield lists of records from a JSON array file, a few MB of text at a time.

    Each chunk is cut after a ``}``; ``json.loads('[' + piece + ']')`` succeeds only
    when the cut falls between two top-level records (a cut inside a record leaves
    an unclosed brace or string), so a failed parse just moves the cut back.
    """
    arg = "results"
    with open(path, encoding="utf-8") as fh:
        buf = ""
        started = False
        done = False
        while not done:
            more = fh.read(_CHUNK_CHARS)
            if not more:
                done = True
            buf += more
            if not started:
                stripped = buf.lstrip()
                if not stripped:
                    if done:
                        raise InputError(f"{arg}: {path.name} is empty; expected a JSON list of detections")
                    continue
                if stripped[0] != "[":
                    raise InputError(f"{arg}: {path.name} must hold a JSON list of detections "
                                     f"(or be a .jsonl file); it starts with {stripped[:20]!r}")
                buf = stripped[1:]
                started = True
            if done:
                body = buf.rstrip()
                if not body.endswith("]"):
                    raise InputError(f"{arg}: {path.name} is not valid JSON (the list is not closed); "
                                     f"is the file truncated?")
                body = body[:-1].strip()
                if body.startswith(","):
                    body = body[1:]
                if body:
                    yield _loads_list(body, path)
                return
            cut = len(buf)
            while True:
                cut = buf.rfind("}", 0, cut)
                if cut < 0:
                    break  # no complete record yet: read more
                piece = buf[:cut + 1].strip()
                if piece.startswith(","):
                    piece = piece[1:]
                try:
                    records = json.loads("[" + piece + "]")
                except json.JSONDecodeError:
                    continue
                yield records
                buf = buf[cut + 1:]
                break


def _loads_list(text: str, path: Path) -> list:
    try:
        return json.loads("[" + text + "]")
    except json.JSONDecodeError as exc:
        raise InputError(f"results: {path.name} is not valid JSON ({exc.msg}); is the file truncated?") from None


def _jsonl_chunks(path: Path):
    with open(path, encoding="utf-8") as fh:
        lineno = 0
        while True:
            lines = fh.readlines(_CHUNK_CHARS)
            if not lines:
                return
            records = []
            for line in lines:  # json decoding is per line by format; lines are records
                lineno += 1
                line = line.strip()
                if not line:
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"results: {path.name} line {lineno} is not valid JSON ({exc.msg}); "
                                     f"is the file truncated?") from None
            yield records


def _result_chunks(results: Any):
    if isinstance(results, (str, os.PathLike)):
        p = Path(results)
        if not p.exists():
            raise InputError(f"results: file {str(p)!r} does not exist")
        if p.is_dir():
            raise InputError(f"results: {str(p)!r} is a directory, expected a file")
        try:
            if p.name.lower().endswith((".jsonl", ".ndjson")):
                yield from _jsonl_chunks(p)
            else:
                yield from _json_chunks(p)
        except UnicodeDecodeError:
            raise InputError(f"results: {p.name} is not UTF-8 JSON text") from None
        return
    if isinstance(results, (list, tuple)):
        for start in range(0, len(results), 200_000):
            yield results[start:start + 200_000]
        return
    raise InputError(f"results must be a path or a list of detection dicts; got {type(results).__name__}")


def load_results(results: Any, *, iou_type: str) -> Results:
    """Stream results into columns, validating every record (see module docstring)."""
    img_parts, cat_parts, score_parts, bbox_parts = [], [], [], []
    segm: list | None = [] if iou_type == "segm" else None
    n = 0
    has_bbox_all = True
    for chunk in _result_chunks(results):
        what = "results[{i}]"
        base = n  # error messages give global positions
        try:
            img = _int_column(_field(chunk, "image_id", what), what + ".image_id")
            cat = _int_column(_field(chunk, "category_id", what), what + ".category_id")
            score = _float_column(_field(chunk, "score", what), what + ".score")
            if iou_type == "bbox":
                box = _bbox_column(_field(chunk, "bbox", what), what + ".bbox")
            else:
                have = [isinstance(r, dict) and "bbox" in r for r in chunk]
                if all(have) and has_bbox_all:
                    box = _bbox_column(_field(chunk, "bbox", what), what + ".bbox")
                else:
                    has_bbox_all = False
                    box = None
                segm.extend(_field(chunk, "segmentation", what))
        except InputError as exc:
            raise InputError(_shift_position(str(exc), base)) from None
        bad = ~np.isfinite(score)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"results[{base + i}].score must be a finite number; got {score[i]}")
        img_parts.append(img)
        cat_parts.append(cat)
        score_parts.append(score)
        if box is not None:
            bbox_parts.append(box)
        n += len(chunk)
    cat_ = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt))
    bbox = None
    if iou_type == "bbox" or (has_bbox_all and n):
        bbox = np.concatenate(bbox_parts) if bbox_parts else np.zeros((0, 4))
    return Results(image_id=cat_(img_parts, np.int64), category_id=cat_(cat_parts, np.int64),
                   score=cat_(score_parts, np.float64), bbox=bbox, segmentation=segm)


def _shift_position(message: str, base: int) -> str:
    """Rewrite the first ``results[i]`` of a chunk-local message to the global position."""
    import re

    def repl(m: re.Match) -> str:
        return f"results[{int(m.group(1)) + base}]"

    return re.sub(r"results\[(\d+)\]", repl, message, count=1)
