"""LVIS and COCO detection evaluation on Dask: the in-memory evaluators' reports, for detections on many shards.

Matching needs only one image's detections and ground truth, so every image is put in
one partition (Dask's shuffle on ``image_id``) and each partition runs the in-memory
selection and matching stage; out come a few bytes per detection (category, image,
score, input position and the TP / FP bits), which buckets of categories accumulate
with the in-memory accumulation stage. Score ties are broken by the input position of the
concatenated shards, as the in-memory evaluators break them by file order, so the
report is the in-memory one whatever the partitioning. See :mod:`._detection`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.validation import check_bool
from metrics.detection._pipeline import gt_counts

if TYPE_CHECKING:
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd

    from metrics.detection._gt_io import GroundTruth
    from metrics.detection.coco_report import COCOReport
    from metrics.detection.inputs import GroundTruthInput
    from metrics.detection.report import LVISReport

__all__ = ["evaluate_coco", "evaluate_lvis"]

def _no_keypoints(iou_type: str) -> None:
    if iou_type == "keypoints":
        raise InputError("iou_type: 'keypoints' is not evaluated on Dask (boxes and masks are); use "
                         "metrics.evaluate_coco in memory")


def _stages(mode: str) -> tuple[str, ...]:
    """The selections a mode needs: the per-image cap (standard) and / or the top-K (fixed and pooled)."""
    return {"standard": ("standard",), "fixed": ("fixed",), "pooled": ("fixed",)}.get(mode, ("standard", "fixed"))


def _by_mode(family: str, gt: GroundTruth, frame: dd.DataFrame, options: object, mode: str, *,
             table: pd.DataFrame | None, k: int, sharded_by_image: bool, scheduler: str | None, n_gt: np.ndarray,
             n_area: int, n_thr: int, use_cats: bool = True) -> dict[str, object]:
    """One report per mode. A selection used only by non-pooled modes is accumulated per category on the
    workers; the pooled ranking (and COCO without categories) needs every row on the client."""
    from metrics.distributed._detection import assemble_rows, by_image, run_shards, stage_counts

    if family == "lvis":
        from metrics.detection._lvis_select import lvis_warnings as warnings_of
        from metrics.detection.evaluate import EMPTY_RESULTS_WARNING as empty
        from metrics.detection.evaluate import lvis_mode_report as mode_report
        from metrics.detection.evaluate import lvis_report_from_arrays as from_arrays
    else:
        from metrics.detection._coco_select import coco_warnings as warnings_of  # type: ignore[assignment]
        from metrics.detection.coco import EMPTY_RESULTS_WARNING as empty
        from metrics.detection.coco import coco_mode_report as mode_report  # type: ignore[assignment]
        from metrics.detection.coco import coco_report_from_arrays as from_arrays  # type: ignore[assignment]
    modes = ("standard", "fixed", "pooled") if mode == "all" else (mode,)
    users: dict[str, list[str]] = {}
    for m in modes:
        users.setdefault(_stages(m)[0], []).append(m)
    by_category = {st: ms[0] for st, ms in users.items() if use_cats and "pooled" not in ms}
    whole = frame if sharded_by_image else by_image(frame, scheduler)
    metas, rows, arrays = run_shards(whole, gt, family, options, tuple(users), table, scheduler,  # type: ignore
                                     check_images=sharded_by_image, by_category=by_category, n_gt=n_gt,
                                     n_area=n_area, n_thr=n_thr)
    assembled = {st: assemble_rows(gt, r, n_area=n_area, n_thr=n_thr, family=family, use_cats=use_cats)
                 for st, r in rows.items()}
    del rows
    out: dict[str, object] = {}
    for m in modes:
        stage = _stages(m)[0]
        if stage in arrays:
            counts, unknown = stage_counts([s.stages[stage] for s in metas], family, gt)
        else:
            prep, tp, fp, srank = assembled[stage]
            counts, unknown = prep.counts, prep.unknown_category_ids  # type: ignore[assignment]
        n_short = int((table["count"].to_numpy() < k).sum()) if stage == "fixed" and table is not None else 0
        warns = warnings_of(counts, n_short=n_short, top_k=k if stage == "fixed" else -1, unknown_ids=unknown)
        if counts["read"] == 0:
            warns.append(empty)
        if stage in arrays:
            out[m] = from_arrays(gt, *arrays[stage], m, options, counts, warns)  # type: ignore[arg-type, call-arg]
        else:
            out[m] = mode_report(gt, prep, tp, fp, n_gt, srank, m, options, warns)  # type: ignore[arg-type]
    return out


@validate_options
def evaluate_lvis(gt: GroundTruthInput, results: dd.DataFrame | str, *, iou_type: Literal["bbox", "segm"] = "bbox",
                  mode: Literal["standard", "fixed", "pooled", "all"] = "standard",
                  max_dets_per_image: int | None = None, dets_per_cat: int | None = None,
                  pools: Sequence[str] | str | None = None, segm_area: Literal["mask", "lvis_api"] | None = None,
                  sharded_by_image: bool = False, scheduler: str | None = None) -> LVISReport:
    """LVIS evaluation (standard AP, AP-Fixed, AP-Pool) of detections stored on many shards.

    The same :class:`~metrics.detection.report.LVISReport` as :func:`metrics.evaluate_lvis`
    on the concatenated detections (every metric, per-category AP, count and warning),
    whatever the partitioning: lvis-api's numbers (Gupta et al., CVPR 2019) and Dave et
    al.'s AP-Fixed / AP-Pool (arXiv 2102.01066).

    Parameters
    ----------
    gt : str, path, dict or lvis.LVIS
        LVIS ground truth, read on the client and sent once to every worker.
    results : dask.dataframe.DataFrame or str
        One row per detection with columns ``image_id``, ``category_id``, ``score`` and
        the box, either a ``bbox`` column of ``[x, y, w, h]`` lists or four columns
        ``x``, ``y``, ``w``, ``h``; for segm a ``segmentation`` column (an RLE dict or a
        polygon list per row, or its JSON text), the box then optional (where a row has
        no mask, its box stands in, as pycocotools' ``loadRes`` does). A string is a
        path glob of Parquet (``*.parquet``) or JSON Lines (``*.jsonl``) shards. The
        input order (partitions in order, rows in order) plays the role of the file
        order: it breaks score ties.
    iou_type, mode, max_dets_per_image, dets_per_cat, pools, segm_area
        As :func:`metrics.evaluate_lvis`.
    sharded_by_image : bool
        True when every image's detections already lie in one partition: the shuffle
        by image is skipped (and the claim is checked; InputError if an image spans
        partitions). Default False: Dask shuffles the detections by ``image_id``.
    scheduler : str, optional
        A Dask scheduler name (``"synchronous"``, ``"threads"``, ``"processes"``); by
        default the active ``dask.distributed`` client, else Dask's default.

    Returns
    -------
    LVISReport

    Notes
    -----
    Per image: the per-image cap by score (ties in input order), the federated filter
    and the greedy matching at IoU 0.50:0.05:0.95 run in the partition that holds the
    image. AP-Fixed / AP-Pool first find, with a shuffle by category (a second pass
    over the input), the score and input position of each category's K-th detection;
    each partition keeps the detections at or above it, which is the data-set-wide
    top-K.
    Memory: a worker holds the ground truth (sent once per worker), one partition of
    detections and that partition's matching temporaries, or, accumulating, the compact
    rows of one bucket of categories (category, image, score, position, rank in pair and
    the TP / FP bits packed: at most 28 + 2·⌈A·T / 8⌉ bytes per evaluated detection, A
    area ranges × T thresholds). The client holds the ground truth and the per-category
    arrays (T × R × K × A floats). Only AP-Pool (its ranking spans all categories) and
    COCO's ``use_cats=False`` rank on the client: there it holds those compact rows for
    every evaluated detection and about 300 bytes each at the peak of the accumulation
    (measured: 39 MiB for 151,048 LVIS detections). More partitions lower a worker's share.

    Examples
    --------
    >>> import json, dask.dataframe as dd, pandas as pd, metrics
    >>> from reference_models.data import sample_path
    >>> records = json.loads(sample_path("lvis_sample_results.json").read_text())
    >>> rows = pd.DataFrame({k: [r[k] for r in records] for k in ("image_id", "category_id", "score")})
    >>> rows[["x", "y", "w", "h"]] = [r["bbox"] for r in records]
    >>> gt = sample_path("lvis_sample_gt.json")
    >>> report = evaluate_lvis(gt, dd.from_pandas(rows, npartitions=3, sort=False), scheduler="synchronous")
    >>> report.metrics == metrics.evaluate_lvis(gt, records).metrics
    True
    """
    from metrics.detection._accumulate import IOU_THRS
    from metrics.detection._gt_io import load_gt
    from metrics.detection._lvis_select import AREA_RANGES
    from metrics.detection._options import resolve_lvis_options
    from metrics.detection.evaluate import combine_modes
    from metrics.distributed._detection import top_k_table
    from metrics.distributed._detection_frame import detection_frame

    sharded_by_image = check_bool(sharded_by_image, "sharded_by_image")
    opts = resolve_lvis_options(mode=mode, iou_type=iou_type, max_dets_per_image=max_dets_per_image,
                                dets_per_cat=dets_per_cat, pools=pools, segm_area=segm_area)
    g = load_gt(gt, need_segmentation=iou_type == "segm")
    frame = detection_frame(results, iou_type)
    stages = _stages(mode)
    k = opts.dets_per_cat
    table = top_k_table(frame, k, scheduler) if "fixed" in stages and k > 0 else None
    n_gt = gt_counts(g, area_ranges=AREA_RANGES)
    by_mode = _by_mode("lvis", g, frame, opts, mode, table=table, k=k, sharded_by_image=sharded_by_image,
                       scheduler=scheduler, n_gt=n_gt, n_area=len(AREA_RANGES), n_thr=len(IOU_THRS))
    return by_mode[mode] if mode != "all" else combine_modes(by_mode, opts)  # type: ignore


@validate_options
def evaluate_coco(gt: GroundTruthInput, results: dd.DataFrame | str, *,
                  iou_type: Literal["bbox", "segm", "keypoints"] = "bbox",
                  mode: Literal["standard", "fixed", "pooled", "all"] = "standard",
                  max_dets: Sequence[int] | None = None, iou_thresholds: Sequence[float] | None = None,
                  recall_thresholds: Sequence[float] | None = None,
                  area_ranges: Mapping[str, Sequence[float]] | Sequence[Sequence[float]] | None = None,
                  use_cats: bool = True, img_ids: Sequence[int] | None = None, cat_ids: Sequence[int] | None = None,
                  dets_per_cat: int | None = None, sharded_by_image: bool = False,
                  scheduler: str | None = None) -> COCOReport:
    """COCO evaluation (pycocotools' AP / AR, AP-Fixed, AP-Pool) of detections stored on many shards.

    The same :class:`~metrics.detection.coco_report.COCOReport` as
    :func:`metrics.evaluate_coco` on the concatenated detections (every stat, the
    ``precision`` / ``recall`` / ``scores`` arrays, per-category AP, counts and
    warnings), whatever the partitioning; those equal pycocotools' ``COCOeval``.

    Parameters
    ----------
    gt : str, path, dict or pycocotools.coco.COCO
        COCO ground truth, read on the client and sent once to every worker.
    results : dask.dataframe.DataFrame or str
        As :func:`evaluate_lvis`: columns ``image_id``, ``category_id``, ``score``, a
        ``bbox`` list column or ``x``, ``y``, ``w``, ``h``, and ``segmentation`` for segm;
        or a Parquet / JSON Lines glob.
    iou_type : {"bbox", "segm"}
        ``"keypoints"`` is not offered on Dask (InputError).
    mode, max_dets, iou_thresholds, recall_thresholds, area_ranges, use_cats, img_ids, cat_ids, dets_per_cat
        As :func:`metrics.evaluate_coco`.
    sharded_by_image, scheduler
        As :func:`evaluate_lvis`.

    Returns
    -------
    COCOReport

    Notes
    -----
    The per-(image, category) cap of ``max(max_dets)`` (per image with
    ``use_cats=False``) and the matching run in the partition that holds the image;
    AP-Fixed / AP-Pool use the data-set-wide top-K found as in :func:`evaluate_lvis`,
    before matching (which matters with ``use_cats=False``).
    Memory: as :func:`evaluate_lvis`.

    Examples
    --------
    >>> import json, dask.dataframe as dd, pandas as pd, metrics
    >>> from reference_models.data import sample_path
    >>> records = json.loads(sample_path("coco_sample_results.json").read_text())
    >>> rows = pd.DataFrame({k: [r[k] for r in records] for k in ("image_id", "category_id", "score")})
    >>> rows[["x", "y", "w", "h"]] = [r["bbox"] for r in records]
    >>> gt = sample_path("coco_sample_gt.json")
    >>> report = evaluate_coco(gt, dd.from_pandas(rows, npartitions=2, sort=False), scheduler="synchronous")
    >>> report.stats == metrics.evaluate_coco(gt, records).stats
    True
    """
    from metrics.detection._coco_options import resolve_coco_options
    from metrics.detection._gt_io import load_coco_gt, read_dataset
    from metrics.detection.coco import combine_modes
    from metrics.distributed._detection import top_k_table
    from metrics.distributed._detection_frame import detection_frame

    _no_keypoints(iou_type)
    sharded_by_image = check_bool(sharded_by_image, "sharded_by_image")
    data = read_dataset(gt)
    o0 = resolve_coco_options(data, iou_type=iou_type, mode=mode, max_dets=max_dets, iou_thresholds=iou_thresholds,
                              recall_thresholds=recall_thresholds, area_ranges=area_ranges, use_cats=use_cats,
                              kpt_oks_sigmas=None, dets_per_cat=dets_per_cat)
    g = load_coco_gt(data, iou_type=iou_type, n_keypoints=None)
    o = o0.restricted(g, img_ids, cat_ids)
    assert o.cat_keep is not None and o.img_keep is not None  # set by restricted
    frame = detection_frame(results, iou_type)
    stages = _stages(mode)
    k = o.dets_per_cat
    table = (top_k_table(frame, k, scheduler, category_ids=g.category_ids[o.cat_keep],
                         image_ids=g.image_ids[o.img_keep]) if "fixed" in stages and k > 0 else None)
    n_gt = gt_counts(g, area_ranges=o.area_array, use_cats=o.use_cats, gt_keep=o.gt_keep)
    by_mode = _by_mode("coco", g, frame, o, mode, table=table, k=k, sharded_by_image=sharded_by_image,
                       scheduler=scheduler, n_gt=n_gt, n_area=len(o.area_array), n_thr=len(o.iou_thresholds),
                       use_cats=o.use_cats)
    return by_mode[mode] if mode != "all" else combine_modes(by_mode, o, g)  # type: ignore
