"""Detection evaluation on Dask: whole images per task, then per-category accumulation of compact rows.

1. **Read** (:mod:`._detection_frame`). Each partition's rows get a global input
   position ``partition · 2³² + row`` (the order of the concatenated input: score ties
   are broken by it, as the in-memory evaluators break them by file order), validated.
2. **Whole images.** Dask's shuffle on ``image_id`` puts every image in one partition
   (skipped when the caller says the shards already hold whole images; then checked).
3. **Top-K** (AP-Fixed / AP-Pool only): a shuffle of (category, score, position) by
   category gives, per category, the key of its K-th detection; a shard keeps the rows
   at or above it, exactly the in-memory top-K.
4. **Per shard** the in-memory selection and matching stage runs on the shard's rows in
   position order, with the ground truth of its images (the per-image cap, the federated
   filter and the greedy matching need only the image). Out come compact rows: category,
   image, score, position, rank in pair and the TP / FP bits per area range × threshold.
5. **Accumulate.** The rows of a bucket of categories (category index mod B), put back in
   position order, rebuild the in-memory matching order of those categories, and the
   in-memory accumulation stage turns them into their precision / recall arrays on a
   worker; the client puts the arrays together. AP-Pool ranks all categories of a pool
   together (and COCO's ``use_cats=False`` has one segment), so for those the rows go
   to the client, which accumulates them the same way.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np

from metrics.core.errors import InputError
from metrics.detection._gt_io import GroundTruth
from metrics.detection._pipeline import Prepared
from metrics.detection._results_io import Results
from metrics.detection._selection import score_rank, stable_order
from metrics.distributed._detection_frame import BOX_COLUMNS, POSITION, where
from metrics.distributed._frames import local_shuffle

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

    from metrics.detection._coco_options import COCOOptions
    from metrics.detection._options import LVISOptions

__all__ = ["Shard", "StageRows", "assemble_rows", "by_image", "run_shards", "stage_counts", "top_k_table"]

Options = Union["LVISOptions", "COCOOptions"]
_PARTITIONS_PER_BUCKET = 8


def by_image(frame: dd.DataFrame, scheduler: str | None) -> dd.DataFrame:
    """``frame`` with every image in one partition (Dask's hash shuffle on ``image_id``)."""
    with local_shuffle(scheduler):
        return frame.shuffle("image_id", npartitions=frame.npartitions)


# ----------------------------------------------------------------------------- the per-category top-K


def _top_k_rows(part: pd.DataFrame, category_ids: np.ndarray | None, image_ids: np.ndarray | None
                ) -> pd.DataFrame:
    """The rows that compete in the top-K: all (LVIS), or known categories of evaluated images (COCO)."""
    keep = np.ones(len(part), bool)
    if category_ids is not None:
        keep &= np.isin(part["category_id"].to_numpy(), category_ids)
    if image_ids is not None:
        keep &= np.isin(part["image_id"].to_numpy(), image_ids)
    return part.loc[keep, ["category_id", "score", POSITION]]


def _thresholds(part: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per category: its detection count and the (score, position) of its K-th detection."""
    import pandas as pd

    cat = part["category_id"].to_numpy()
    score = part["score"].to_numpy()
    pos = part[POSITION].to_numpy()
    order = np.lexsort((pos, -score, cat))
    cat, score, pos = cat[order], score[order], pos[order]
    starts = np.flatnonzero(np.r_[True, cat[1:] != cat[:-1]]) if len(cat) else np.zeros(0, np.int64)
    count = np.diff(np.r_[starts, len(cat)])
    cut = starts + np.minimum(count, k) - 1
    return pd.DataFrame({"category_id": cat[starts], "count": count,
                         "score": np.where(count > k, score[cut], -np.inf),
                         POSITION: np.where(count > k, pos[cut], np.iinfo(np.int64).max)})


def top_k_table(frame: dd.DataFrame, k: int, scheduler: str | None, *, category_ids: np.ndarray | None = None,
                image_ids: np.ndarray | None = None) -> pd.DataFrame:
    """Per category id (sorted): ``count`` and the key (``score``, ``_position``) of its K-th detection."""
    import pandas as pd

    meta = pd.DataFrame({"category_id": pd.Series(dtype=np.int64), "count": pd.Series(dtype=np.int64),
                         "score": pd.Series(dtype=np.float64), POSITION: pd.Series(dtype=np.int64)})
    rows_meta = meta.drop(columns="count")
    with local_shuffle(scheduler):
        rows = frame.map_partitions(_top_k_rows, category_ids, image_ids, meta=rows_meta)
        table = rows.shuffle("category_id", npartitions=frame.npartitions).map_partitions(_thresholds, k, meta=meta)
        out = table.compute(scheduler=scheduler)
    return out.sort_values("category_id", kind="stable").reset_index(drop=True)


def _preselected(table: pd.DataFrame | None, category_id: np.ndarray, score: np.ndarray, position: np.ndarray
                 ) -> np.ndarray | None:
    """The rows a data-set-wide top-K keeps (rows of categories not in ``table`` are kept)."""
    if table is None:
        return None
    ids = table["category_id"].to_numpy()
    if len(ids) == 0:
        return np.ones(len(score), bool)
    at = np.minimum(np.searchsorted(ids, category_id), len(ids) - 1)
    known = ids[at] == category_id
    cut_score, cut_pos = table["score"].to_numpy()[at], table[POSITION].to_numpy()[at]
    return ~known | (score > cut_score) | ((score == cut_score) & (position <= cut_pos))


# ----------------------------------------------------------------------------- per shard


@dataclasses.dataclass
class StageRows:
    """One selection's detections in a shard (or all shards): compact rows, TP / FP bits packed."""

    cat: np.ndarray  # int32 category index
    img: np.ndarray  # int32 image index
    score: np.ndarray
    position: np.ndarray  # int64 global input position
    rank: np.ndarray | None  # int32 rank in pair (COCO)
    tp: np.ndarray  # uint8 (ceil(A·T / 8), N): np.packbits of (A·T, N)
    fp: np.ndarray
    counts: dict[str, int]
    unknown_ids: np.ndarray


@dataclasses.dataclass
class Shard:
    """What one partition sends back: one :class:`StageRows` per selection, and its image ids."""

    stages: dict[str, StageRows]
    image_ids: np.ndarray | None


def _images_only(gt: GroundTruth, image_index: np.ndarray) -> tuple[GroundTruth, np.ndarray]:
    """gt with only the annotations (and federated lists) of the images ``image_index``; the annotation mask."""
    on = np.zeros(gt.n_images, bool)
    on[image_index] = True
    keep = on[gt.ann_image]
    changes: dict[str, object] = {}
    for f in dataclasses.fields(gt):
        value = getattr(gt, f.name)
        if not f.name.startswith("ann_") or value is None:
            continue
        changes[f.name] = ([v for v, k in zip(value, keep.tolist()) if k] if isinstance(value, list)
                           else value[keep])
    n_cat = max(gt.n_categories, 1)
    for name in ("neg_pairs", "not_exhaustive_pairs"):  # keys image index · n_cat + category index
        pairs = getattr(gt, name)
        changes[name] = pairs[on[pairs // n_cat]]
    return dataclasses.replace(gt, **changes), keep  # type: ignore[arg-type]


def _check_images(gt: GroundTruth, image_id: np.ndarray, position: np.ndarray) -> np.ndarray:
    if len(image_id) == 0:
        return np.zeros(0, np.int64)
    idx = np.minimum(np.searchsorted(gt.image_ids, image_id), gt.n_images - 1)
    bad = gt.image_ids[idx] != image_id
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where(int(position[r]))}: image_id {image_id[r]} is not "
                         f"an image of gt ({int(bad.sum())} detections of this shard have image ids absent from gt)")
    return idx


def _pack(flags: np.ndarray) -> np.ndarray:
    a, t, n = flags.shape
    return np.packbits(flags.reshape(a * t, n), axis=0)


def _unpack(packed: np.ndarray, a: int, t: int) -> np.ndarray:
    n = packed.shape[1]
    return np.unpackbits(packed, axis=0, count=a * t).view(bool).reshape(a, t, n)  # 0 / 1 bytes: valid bools


def evaluate_shard(part: pd.DataFrame, gt: GroundTruth, family: str, options: Options, stages: Sequence[str],
                   table: pd.DataFrame | None, report_images: bool) -> Shard:
    """Selection and matching of one partition holding whole images (``stages``: standard and / or fixed)."""
    from metrics.detection.coco import coco_matches
    from metrics.detection.evaluate import lvis_matches

    order = np.argsort(part[POSITION].to_numpy(), kind="stable")
    image_id = part["image_id"].to_numpy()[order]
    category_id = part["category_id"].to_numpy()[order]
    score = part["score"].to_numpy()[order]
    position = part[POSITION].to_numpy()[order]
    has_box = BOX_COLUMNS[0] in part.columns
    box = np.ascontiguousarray(part[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)[order]) if has_box else None
    masks = None
    if "segmentation" in part.columns:  # JSON text, one Python object per mask for pycocotools
        masks = [json.loads(t) if t else None for t in part["segmentation"].to_numpy()[order].tolist()]
    img_idx = _check_images(gt, image_id, position)
    local_gt, ann_keep = _images_only(gt, img_idx)
    res = Results(image_id=image_id.copy(), category_id=category_id.copy(), score=score.copy(), bbox=box,
                  segmentation=masks, first_has_bbox=has_box)
    out: dict[str, StageRows] = {}
    for stage in stages:
        pre = _preselected(table, category_id, score, position) if stage == "fixed" else None
        try:
            if family == "lvis":
                prep, m = lvis_matches(local_gt, res, stage, options, preselected=pre)  # type: ignore[arg-type]
            else:
                o = options if options.gt_keep is None else dataclasses.replace(  # type: ignore[union-attr]
                    options, gt_keep=options.gt_keep[ann_keep])  # type: ignore[union-attr, type-var]
                prep, m = coco_matches(local_gt, res, stage, o, preselected=pre)  # type: ignore[arg-type]
        except InputError as exc:  # name the row of the input, not of this shard
            raise InputError(re.sub(r"results\[(\d+)\]", lambda g: where(int(position[int(g.group(1))])),
                                    str(exc), count=1)) from None
        rows = prep.file_index
        out[stage] = StageRows(cat=prep.cat.astype(np.int32), img=prep.img.astype(np.int32), score=prep.score,
                               position=position[rows],
                               rank=None if prep.rank is None else prep.rank.astype(np.int32),
                               tp=_pack(m.tp), fp=_pack(m.fp), counts=prep.counts,
                               unknown_ids=np.asarray(prep.unknown_category_ids, np.int64))
    return Shard(stages=out, image_ids=np.unique(image_id) if report_images else None)


def _ship(value: object, scheduler: str | None) -> object:
    """``value`` sent to the workers once: scattered to every worker of the active client, else one graph key."""
    import uuid

    import dask

    if scheduler is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            client = None
        if client is not None:
            return client.scatter(value, broadcast=True, hash=False)
    return dask.delayed(value, name=f"detection-input-{uuid.uuid4().hex}", traverse=False)


def _take(rows: StageRows, keep: np.ndarray) -> StageRows:
    return dataclasses.replace(rows, cat=rows.cat[keep], img=rows.img[keep], score=rows.score[keep],
                               position=rows.position[keep], rank=None if rows.rank is None else rows.rank[keep],
                               tp=rows.tp[:, keep], fp=rows.fp[:, keep])


def _meta(shard: Shard) -> Shard:
    """The shard without its rows: counts, unknown category ids and image ids."""
    return Shard({k: _take(v, np.zeros(0, np.int64)) for k, v in shard.stages.items()}, shard.image_ids)


def _stage(shard: Shard, stage: str) -> StageRows:
    return shard.stages[stage]


def _split(shard: Shard, stage: str, n_buckets: int) -> list[StageRows]:
    """The rows of one selection by category bucket (category index mod ``n_buckets``)."""
    rows = shard.stages[stage]
    bucket = rows.cat % n_buckets
    return [_take(rows, np.flatnonzero(bucket == b)) for b in range(n_buckets)]


def _category_arrays(pieces: Sequence[StageRows], bucket: int, n_buckets: int, gt: GroundTruth, family: str,
                     options: Options, mode: str, n_gt: np.ndarray, n_area: int, n_thr: int
                     ) -> tuple[np.ndarray, ...]:
    """The accumulation of the categories ``bucket::n_buckets`` (the in-memory arrays for those categories)."""
    prep, tp, fp, srank = assemble_rows(gt, pieces, n_area=n_area, n_thr=n_thr, family=family)
    n_local = len(range(bucket, gt.n_categories, n_buckets))
    local = dataclasses.replace(prep, cat=prep.cat // n_buckets)  # categories b + B·j → j, order kept
    if family == "lvis":
        from metrics.detection.evaluate import per_category_arrays

        return per_category_arrays(local, srank, tp, fp, n_gt[:, bucket::n_buckets], n_local)
    from metrics.detection.coco import coco_arrays

    return coco_arrays(local, srank, tp, fp, n_gt[:, bucket::n_buckets], n_local, mode, options)  # type: ignore


def _fill(parts: Sequence[tuple[np.ndarray, ...]], n_cat: int) -> tuple[np.ndarray, ...]:
    """Per-bucket arrays (category axis 2, or 1 for recall) put together over all categories."""
    n_buckets = len(parts)
    out = []
    for j, first in enumerate(parts[0]):
        axis = 1 if j == 1 else 2
        shape = list(first.shape)
        shape[axis] = n_cat
        full = -np.ones(shape)
        for b, part in enumerate(parts):
            full[(slice(None),) * axis + (slice(b, None, n_buckets),)] = part[j]
        out.append(full)
    return tuple(out)


def run_shards(frame: dd.DataFrame, gt: GroundTruth, family: str, options: Options, stages: Sequence[str],
               table: pd.DataFrame | None, scheduler: str | None, *, check_images: bool,
               by_category: dict[str, str], n_gt: np.ndarray, n_area: int, n_thr: int
               ) -> tuple[list[Shard], dict[str, list[StageRows]], dict[str, tuple[np.ndarray, ...]]]:
    """:func:`evaluate_shard` on every partition of ``frame`` (which holds whole images), in one graph.

    Returns the shards' counts (rows left out), the rows of each selection not in
    ``by_category`` (for the client to rank), and for each selection in ``by_category``
    (selection → mode) the accumulated arrays over every category: the rows are sent to
    category buckets, each accumulated on a worker, so the client never holds them.
    """
    import dask

    gt_ref = _ship(gt, scheduler)
    table_ref = None if table is None else _ship(table, scheduler)
    # compact rows are about a third of a partition's size: a bucket takes the rows of ~8 partitions' worth
    n_buckets = max(1, min(-(-frame.npartitions // _PARTITIONS_PER_BUCKET), gt.n_categories))
    with local_shuffle(scheduler):
        shards = [dask.delayed(evaluate_shard)(p, gt_ref, family, options, tuple(stages), table_ref, check_images)
                  for p in frame.to_delayed()]
        metas = [dask.delayed(_meta)(s) for s in shards]
        rows = {st: [dask.delayed(_stage)(s, st) for s in shards] for st in stages if st not in by_category}
        arrays = {}
        for st, mode in by_category.items():
            pieces = [dask.delayed(_split, nout=n_buckets)(s, st, n_buckets) for s in shards]
            arrays[st] = [dask.delayed(_category_arrays)([p[b] for p in pieces], b, n_buckets, gt_ref, family,
                                                         options, mode, n_gt, n_area, n_thr)
                          for b in range(n_buckets)]
        metas, rows, arrays = dask.compute(metas, rows, arrays, scheduler=scheduler)
    if check_images:
        ids = np.concatenate([s.image_ids for s in metas]) if metas else np.zeros(0, np.int64)
        uniq, n = np.unique(ids, return_counts=True)
        if (n > 1).any():
            raise InputError(f"sharded_by_image: image_id {uniq[n > 1][0]} has detections in {n[n > 1][0]} "
                             f"partitions, so the shards do not hold whole images; pass sharded_by_image=False "
                             f"to let Dask shuffle the detections by image")
    return metas, rows, {st: _fill(parts, gt.n_categories) for st, parts in arrays.items()}


# ----------------------------------------------------------------------------- client


def stage_counts(rows: Sequence[StageRows], family: str, gt: GroundTruth) -> tuple[dict[str, int], np.ndarray]:
    """The counts of one selection over every shard, and the unknown category ids (sorted)."""
    counts: dict[str, int] = {}
    for r in rows:
        for key, value in r.counts.items():
            counts[key] = counts.get(key, 0) + int(value)
    if family == "lvis":
        counts["gt_zero_area"] = gt.n_zero_area
    unknown = [r.unknown_ids for r in rows]
    return counts, (np.unique(np.concatenate(unknown)) if unknown else np.zeros(0, np.int64))


def assemble_rows(gt: GroundTruth, rows: Sequence[StageRows], *, n_area: int, n_thr: int, family: str,
                  use_cats: bool = True) -> tuple[Prepared, np.ndarray, np.ndarray, np.ndarray]:
    """(prepared, tp, fp, score rank): one selection's rows of every shard in the in-memory matching order.

    The rows are put in input order; the stable sort of the in-memory selection — by
    (category, image, −score), or for COCO without categories (image, −score,
    category) — then gives the order the in-memory evaluator matches in, ties in input
    order. ``counts`` add up; ``Prepared.warnings`` is left empty for the caller.
    """

    def cat(name: str, dtype: type) -> np.ndarray:
        parts = [getattr(r, name) for r in rows]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    position = cat("position", np.int64)
    by_position = np.argsort(position, kind="stable")
    c, i, s = cat("cat", np.int64)[by_position], cat("img", np.int64)[by_position], cat("score", np.float64)[by_position]
    rank = None if family == "lvis" else cat("rank", np.int64)[by_position]
    n = len(position)
    n_bytes = -(-n_area * n_thr // 8)
    tp = np.concatenate([r.tp for r in rows], axis=1) if rows else np.zeros((n_bytes, 0), np.uint8)
    fp = np.concatenate([r.fp for r in rows], axis=1) if rows else np.zeros((n_bytes, 0), np.uint8)
    srank = score_rank(s)
    n_img, n_cat = gt.n_images, gt.n_categories
    if use_cats:
        order = stable_order([(c * n_img + i, n_img * n_cat), (srank, n + 1)])
    else:
        order = stable_order([(i, n_img), (srank, n + 1), (c, n_cat)])
    final = by_position[order]  # packed bits are reordered (1 byte per 8 flags), then unpacked once
    tp, fp = _unpack(tp[:, final], n_area, n_thr), _unpack(fp[:, final], n_area, n_thr)
    counts, unknown = stage_counts(rows, family, gt)
    # area and not_exhaustive served the matching, done on the workers: zero-stride placeholders
    prep = Prepared(file_index=order, img=i[order], cat=c[order], score=s[order], area=np.broadcast_to(0.0, n),
                    not_exhaustive=np.broadcast_to(False, n), counts=counts, warnings=[],
                    rank=None if rank is None else rank[order], unknown_category_ids=unknown)
    return prep, tp, fp, srank
