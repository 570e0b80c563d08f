"""Detections on Dask as validated columns, each row with its global input position.

A partition's rows become ``image_id, category_id, score``, the box as ``x, y, w, h``
(float64; from a ``bbox`` list column or from four columns), the mask as JSON text in
``segmentation`` (segm only; ``""`` where a row has none and its box stands in) and
``_position = partition · 2³² + row``: the order of the concatenated input, which breaks
score ties as the results file's order does in memory.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from metrics.core.errors import InputError
from metrics.distributed._frames import as_dask_frame

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = ["BOX_COLUMNS", "POSITION", "ROW_BITS", "detection_frame", "where"]

ID_COLUMNS = ("image_id", "category_id", "score")
BOX_COLUMNS = ("x", "y", "w", "h")
POSITION = "_position"
ROW_BITS = 32  # position = partition << 32 | row


def where(position: int) -> str:
    """``results (partition p, row r)`` of a global input position."""
    return f"results (partition {position >> ROW_BITS}, row {position & ((1 << ROW_BITS) - 1)})"


def _read(data: dd.DataFrame | str) -> dd.DataFrame:
    import dask

    with dask.config.set({"dataframe.convert-string": False}):  # keep JSON Lines lists and dicts as they are
        return as_dask_frame(data, "results")


def detection_frame(data: dd.DataFrame | str, iou_type: str = "bbox") -> dd.DataFrame:
    """The detections as validated columns (lazily; each partition is checked when it is read).

    bbox needs a box on every row; segm needs a ``segmentation`` column (RLE dicts or
    polygons, or their JSON text) and takes a box where there is one.
    """
    import dask
    import dask.dataframe as dd
    import pandas as pd

    frame = _read(data)
    box = "list" if "bbox" in frame.columns else "columns" if set(BOX_COLUMNS) <= set(frame.columns) else None
    missing = [c for c in ID_COLUMNS if c not in frame.columns]
    if iou_type == "segm" and "segmentation" not in frame.columns:
        missing.append("segmentation")
    if box is None and iou_type == "bbox":
        missing.append("bbox")
    if missing:
        raise InputError(f"results: no column {missing[0]!r} (expected image_id, category_id, score, the box as a "
                         f"bbox column of [x, y, w, h] lists or x, y, w, h columns, and segmentation for segm; "
                         f"found {list(frame.columns)})")
    columns = [*ID_COLUMNS, *(["bbox"] if box == "list" else BOX_COLUMNS if box else [])]
    columns += ["segmentation"] if iou_type == "segm" else []
    meta = {"image_id": pd.Series(dtype=np.int64), "category_id": pd.Series(dtype=np.int64),
            "score": pd.Series(dtype=np.float64)}
    if box:
        meta.update({c: pd.Series(dtype=np.float64) for c in BOX_COLUMNS})
    if iou_type == "segm":
        meta["segmentation"] = pd.Series(dtype=object)
    meta[POSITION] = pd.Series(dtype=np.int64)
    rows = [dask.delayed(_normalise)(p, i, box) for i, p in enumerate(frame[columns].to_delayed())]
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(rows, meta=pd.DataFrame(meta), verify_meta=False)


def _at(partition: int, row: int) -> str:
    return where((partition << ROW_BITS) + row)


def _ids(values: np.ndarray, name: str, partition: int) -> np.ndarray:
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2.0 ** 62)
        if not bad.any():
            return values.astype(np.int64)
        r = int(np.flatnonzero(bad)[0])
        raise InputError(f"{_at(partition, r)}: {name} must be an integer id; got {values[r]!r}")
    raise InputError(f"results: column {name!r} must hold integer ids; found dtype {values.dtype}")


def _numbers(values: np.ndarray, name: str, partition: int) -> np.ndarray:
    if values.dtype.kind not in "iuf":
        raise InputError(f"results: column {name!r} must hold numbers; found dtype {values.dtype}")
    out = values.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(f"{_at(partition, r)}: {name} must be a finite number; got {values[r]!r}")
    return out


def _is_box(cell: object) -> bool:
    try:
        values = np.asarray(cell, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return values.shape == (4,)


def _boxes(part: pd.DataFrame, box: str, partition: int) -> np.ndarray:
    n = len(part)
    if box == "columns":
        return np.stack([_numbers(part[c].to_numpy(), c, partition) for c in BOX_COLUMNS], axis=1).reshape(n, 4)
    cells = part["bbox"].to_numpy()
    out = None
    try:  # C-level passes over the cells: their lengths, then one concatenation
        if not {str, bytes} & set(map(type, cells)):
            lengths = np.fromiter(map(len, cells), np.int64, n)
            if (lengths == 4).all():
                out = (np.concatenate(list(cells)).astype(np.float64) if n else np.zeros(0)).reshape(n, 4)
    except (TypeError, ValueError):
        out = None
    if out is None:  # find the first bad cell for the message
        r = next(i for i, c in enumerate(cells) if isinstance(c, (str, bytes)) or not _is_box(c))
        if isinstance(cells[r], (str, bytes)):
            raise InputError(f"{_at(partition, r)}: bbox must be a list of 4 numbers; got the text {cells[r]!r} "
                             f"(store boxes as a list column in Parquet / JSON Lines, or as x, y, w, h columns; "
                             f"dask.dataframe.from_pandas turns list cells into text unless the Dask option "
                             f"dataframe.convert-string is False)")
        raise InputError(f"{_at(partition, r)}: bbox must be a box [x, y, w, h] of 4 numbers; got {cells[r]!r}")
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(f"{_at(partition, r)}: bbox must hold finite numbers; got {cells[r]!r}")
    return out


def _plain(value: object) -> object:
    """Arrow / numpy values inside a mask (arrays of sizes or polygon points) as JSON values."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _masks(cells: np.ndarray, partition: int, has_box: bool) -> list[str]:
    """Each mask as JSON text (one per row: pycocotools takes one Python object per mask)."""
    out = []
    for r, cell in enumerate(cells.tolist()):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            if not has_box:
                raise InputError(f"{_at(partition, r)}: segmentation is missing and there is no box to stand in")
            out.append("")
        elif isinstance(cell, str):
            try:
                json.loads(cell)
            except json.JSONDecodeError:
                raise InputError(f"{_at(partition, r)}: segmentation must be an RLE dict, a polygon list or their "
                                 f"JSON text; got the text {cell[:60]!r}") from None
            out.append(cell)
        else:
            try:
                out.append(json.dumps(cell, default=_plain))
            except (TypeError, ValueError):
                raise InputError(f"{_at(partition, r)}: segmentation must be an RLE dict or a polygon list; got "
                                 f"{type(cell).__name__}") from None
    return out


def _normalise(part: pd.DataFrame, partition: int, box: str | None) -> pd.DataFrame:
    import pandas as pd

    n = len(part)
    if n >= 1 << ROW_BITS:
        raise InputError(f"results: partition {partition} holds {n} rows; at most 2**32 per partition")
    out: dict[str, object] = {"image_id": _ids(part["image_id"].to_numpy(), "image_id", partition),
                              "category_id": _ids(part["category_id"].to_numpy(), "category_id", partition),
                              "score": _numbers(part["score"].to_numpy(), "score", partition)}
    if box:
        boxes = _boxes(part, box, partition)
        bad = (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise InputError(f"{_at(partition, r)}: bbox must have width and height ≥ 0; got {boxes[r].tolist()}")
        out.update({c: boxes[:, k].copy() for k, c in enumerate(BOX_COLUMNS)})
    if "segmentation" in part.columns:
        out["segmentation"] = pd.Series(_masks(part["segmentation"].to_numpy(), partition, box is not None),
                                        dtype=object)
    out[POSITION] = (np.int64(partition) << ROW_BITS) + np.arange(n, dtype=np.int64)
    return pd.DataFrame(out)
