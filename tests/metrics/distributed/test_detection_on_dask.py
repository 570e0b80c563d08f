"""LVIS / COCO evaluation on Dask equals the in-memory evaluators, whatever the partitioning.

The in-memory evaluators are themselves checked against lvis-api and pycocotools in
tests/metrics/detection; here every metric, array, count and warning must be identical
(``==``) to theirs on the same detections, for 1, 2 and 5 partitions that cut images apart.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
dask = pytest.importorskip("dask")

import metrics  # noqa: E402
from metrics import InputError  # noqa: E402
from metrics.distributed import evaluate_coco, evaluate_lvis  # noqa: E402
from reference_models.data import sample_path  # noqa: E402
from tests.metrics.detection.coco_synth import make_coco  # noqa: E402
from tests.metrics.detection.lvis_synth import make_lvis  # noqa: E402

SYNC = "synchronous"


def _frame(records, npartitions, *, box="columns"):
    """Detections as a Dask frame in record order; ``box``: x, y, w, h columns or a ``bbox`` list column."""
    df = pd.DataFrame({"image_id": [r["image_id"] for r in records],
                       "category_id": [r["category_id"] for r in records],
                       "score": [r["score"] for r in records]})
    boxes = np.array([r["bbox"] for r in records], dtype=float).reshape(len(records), 4)
    if box == "columns":
        df[["x", "y", "w", "h"]] = boxes
    else:
        df["bbox"] = list(boxes)
    return dd.from_pandas(df, npartitions=npartitions, sort=False)


def _same_lvis(got, expected):
    assert got.mode == expected.mode
    assert got.metrics == expected.metrics
    assert got.per_category_ap == expected.per_category_ap
    assert got.extras == expected.extras
    assert got.counts == expected.counts
    assert got.warnings == expected.warnings
    assert got.params == expected.params
    for mode, rep in (expected.by_mode or {}).items():
        np.testing.assert_array_equal(got.by_mode[mode].precision, rep.precision)


def _same_coco(got, expected):
    assert got.stats == expected.stats
    for name in ("precision", "recall", "scores", "stats_array"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    assert got.per_category_ap == expected.per_category_ap
    assert got.extras == expected.extras
    assert got.counts == expected.counts
    assert got.warnings == expected.warnings


@pytest.fixture(scope="module")
def lvis_data():
    # > 300 detections on two images (the cap bites, with ties at the cap: scores have 2 decimals),
    # categories without GT or detections, negative / not-exhaustive lists, shuffled records
    return make_lvis(seed=3, n_images=30, n_cats=20, busy_dets=340)


@pytest.mark.parametrize("npartitions", [1, 2, 5])
def test_lvis_all_modes_equal_in_memory(lvis_data, npartitions):
    gt, results = lvis_data
    options = {"mode": "all", "dets_per_cat": 40, "pools": ["all", "r", "f"]}  # K = 40 cuts most categories
    expected = metrics.evaluate_lvis(gt, results, **options)
    assert expected.counts["standard/capped"] > 0 and expected.counts["fixed/top_k_removed"] > 0
    got = evaluate_lvis(gt, _frame(results, npartitions), scheduler=SYNC, **options)
    _same_lvis(got, expected)


def test_lvis_defaults_and_partitions_cut_inside_images(lvis_data):
    gt, results = lvis_data
    by_image = sorted(results, key=lambda r: r["image_id"])  # partitions of 97 rows end inside images
    expected = metrics.evaluate_lvis(gt, by_image)
    got = evaluate_lvis(gt, _frame(by_image, len(by_image) // 97), scheduler=SYNC)
    _same_lvis(got, expected)


@pytest.mark.parametrize("mode", ["standard", "fixed"])
def test_per_category_buckets_on_workers(lvis_data, mode):
    # 17 partitions: three category buckets accumulated apart (one per 8 partitions), then put together
    gt, results = lvis_data
    options = {"mode": mode, **({"dets_per_cat": 25} if mode == "fixed" else {"max_dets_per_image": 50})}
    _same_lvis(evaluate_lvis(gt, _frame(results, 17), scheduler=SYNC, **options),
               metrics.evaluate_lvis(gt, results, **options))
    coco_gt, coco_results = make_coco(seed=6, n_images=20, n_cats=6, busy=60)
    coco_options = {"mode": mode, "cat_ids": [c["id"] for c in coco_gt["categories"][1:]]}
    _same_coco(evaluate_coco(coco_gt, _frame(coco_results, 17), scheduler=SYNC, **coco_options),
               metrics.evaluate_coco(coco_gt, coco_results, **coco_options))


def test_score_ties_are_broken_by_input_position():
    gt, results = make_lvis(seed=5, n_images=16, n_cats=8, busy_images=1, busy_dets=320, score_decimals=1)
    reversed_results = results[::-1]
    forward = metrics.evaluate_lvis(gt, results, max_dets_per_image=20)
    backward = metrics.evaluate_lvis(gt, reversed_results, max_dets_per_image=20)
    assert forward.metrics != backward.metrics  # the tie order matters on this data
    for records, expected in ((results, forward), (reversed_results, backward)):
        for n in (2, 5):
            got = evaluate_lvis(gt, _frame(records, n), max_dets_per_image=20, scheduler=SYNC)
            _same_lvis(got, expected)


def test_empty_partitions_and_empty_results(lvis_data):
    gt, results = lvis_data
    frame = _frame(results, 3)
    padded = dd.concat([frame.head(0, compute=False), frame, frame.head(0, compute=False)])
    _same_lvis(evaluate_lvis(gt, padded, mode="fixed", scheduler=SYNC), metrics.evaluate_lvis(gt, results,
                                                                                              mode="fixed"))
    empty = evaluate_lvis(gt, frame.head(0, compute=False), scheduler=SYNC)
    _same_lvis(empty, metrics.evaluate_lvis(gt, []))


@pytest.mark.parametrize("npartitions", [1, 3])
def test_coco_all_modes_equal_in_memory(npartitions):
    gt, results = make_coco(seed=2, n_images=20, n_cats=5, busy=130)
    expected = metrics.evaluate_coco(gt, results, mode="all", dets_per_cat=50)
    got = evaluate_coco(gt, _frame(results, npartitions), mode="all", dets_per_cat=50, scheduler=SYNC)
    _same_coco(got, expected)
    for mode, rep in expected.by_mode.items():
        _same_coco(got.by_mode[mode], rep)


@pytest.mark.parametrize("options", [
    {"use_cats": False, "max_dets": (1, 5, 30)},
    {"mode": "pooled", "dets_per_cat": 15, "cat_ids": "three"},
    {"img_ids": "half", "cat_ids": "three", "iou_thresholds": (0.3, 0.5, 0.9), "area_ranges": [(0, 1e10)]},
])
def test_coco_options_equal_in_memory(options):
    gt, results = make_coco(seed=4, n_images=18, n_cats=5, busy=80)
    options = dict(options)
    if options.get("img_ids") == "half":
        options["img_ids"] = [im["id"] for im in gt["images"][::2]]
    if options.get("cat_ids") == "three":
        options["cat_ids"] = [c["id"] for c in gt["categories"][:3]]
    expected = metrics.evaluate_coco(gt, results, **options)
    got = evaluate_coco(gt, _frame(results, 4), scheduler=SYNC, **options)
    _same_coco(got, expected)


def test_bundled_samples_from_parquet_and_jsonl_globs(tmp_path):
    for name, evaluate, reference, same in (("lvis", evaluate_lvis, metrics.evaluate_lvis, _same_lvis),
                                            ("coco", evaluate_coco, metrics.evaluate_coco, _same_coco)):
        gt = sample_path(f"{name}_sample_gt.json")
        records = json.loads(sample_path(f"{name}_sample_results.json").read_text())
        df = pd.DataFrame({k: [r[k] for r in records] for k in ("image_id", "category_id", "score", "bbox")})
        chunks = np.array_split(np.arange(len(df)), 4)
        for i, chunk in enumerate(chunks):
            df.iloc[chunk].to_parquet(tmp_path / f"{name}-{i}.parquet")
            df.iloc[chunk].to_json(tmp_path / f"{name}-{i}.jsonl", orient="records", lines=True)
        expected = reference(gt, records, mode="all")
        for ext in ("parquet", "jsonl"):
            same(evaluate(gt, str(tmp_path / f"{name}-*.{ext}"), mode="all", scheduler=SYNC), expected)


def test_sharded_by_image_skips_the_shuffle_and_checks_the_claim(tmp_path, lvis_data):
    gt, results = lvis_data
    df = pd.DataFrame(results)
    df = df.assign(x=[b[0] for b in df.bbox], y=[b[1] for b in df.bbox], w=[b[2] for b in df.bbox],
                   h=[b[3] for b in df.bbox]).drop(columns="bbox")
    images = np.sort(df.image_id.unique())
    for i, group in enumerate(np.array_split(images, 3)):
        df[df.image_id.isin(group)].to_parquet(tmp_path / f"by-image-{i}.parquet")
    ordered = [results[i] for i in np.argsort(np.searchsorted(images, df.image_id), kind="stable")]
    expected = metrics.evaluate_lvis(gt, ordered, mode="all")
    got = evaluate_lvis(gt, str(tmp_path / "by-image-*.parquet"), mode="all", sharded_by_image=True, scheduler=SYNC)
    _same_lvis(got, expected)
    with pytest.raises(InputError, match="sharded_by_image: image_id .* partitions"):
        evaluate_lvis(gt, _frame(results, 3), sharded_by_image=True, scheduler=SYNC)


def test_on_a_two_process_local_cluster(tmp_path, local_client, lvis_data):
    gt, results = lvis_data
    df = pd.DataFrame({k: [r[k] for r in results] for k in ("image_id", "category_id", "score", "bbox")})
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), 5)):
        df.iloc[chunk].to_parquet(tmp_path / f"dets-{i}.parquet")
    expected = metrics.evaluate_lvis(gt, results, mode="all", dets_per_cat=40)
    _same_lvis(evaluate_lvis(gt, str(tmp_path / "dets-*.parquet"), mode="all", dets_per_cat=40), expected)


def _mask_frame(records, npartitions, *, box):
    df = pd.DataFrame({k: [r[k] for r in records] for k in ("image_id", "category_id", "score")})
    if box:
        df[["x", "y", "w", "h"]] = [r["bbox"] for r in records]
    df["segmentation"] = pd.Series([r["segmentation"] for r in records], dtype=object)
    with dask.config.set({"dataframe.convert-string": False}):  # keep the RLE dicts as dicts
        return dd.from_pandas(df, npartitions=npartitions, sort=False)


@pytest.mark.parametrize("segm_area", [None, "lvis_api"])
def test_lvis_segm_equals_in_memory(segm_area):
    gt, results = make_lvis(seed=3, n_images=18, n_cats=14, segm=True)
    options = {"iou_type": "segm", "mode": "all", "dets_per_cat": 40, "segm_area": segm_area}
    expected = metrics.evaluate_lvis(gt, results, **options)
    _same_lvis(evaluate_lvis(gt, _mask_frame(results, 3, box=True), scheduler=SYNC, **options), expected)


def test_coco_segm_without_boxes_from_parquet(tmp_path):
    gt, results = make_coco(seed=2, n_images=14, n_cats=4, segm=True)
    assert "bbox" not in results[0]  # areas from the masks, as loadRes
    df = _mask_frame(results, 1, box=False).compute()
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[chunk].to_parquet(tmp_path / f"masks-{i}.parquet")  # RLE dicts become an Arrow struct column
    expected = metrics.evaluate_coco(gt, results, iou_type="segm", mode="all")
    got = evaluate_coco(gt, str(tmp_path / "masks-*.parquet"), iou_type="segm", mode="all", scheduler=SYNC)
    _same_coco(got, expected)
    bad = [dict(r) for r in results]
    bad[5]["segmentation"] = {"size": [10, 10]}
    with pytest.raises(InputError, match=r"results \(partition \d+, row \d+\).segmentation must be"):
        evaluate_coco(gt, _mask_frame(bad, 2, box=False), iou_type="segm", scheduler=SYNC)


def test_bad_input_raises_input_error(lvis_data):
    gt, results = lvis_data
    frame = _frame(results[:50], 2)
    with pytest.raises(InputError, match="image_id 987654 is not an image of gt"):
        bad = [dict(r) for r in results[:50]]
        bad[17]["image_id"] = 987654
        evaluate_lvis(gt, _frame(bad, 2), scheduler=SYNC)
    with pytest.raises(InputError, match="iou_type: 'keypoints' is not evaluated on Dask"):
        evaluate_coco(gt, frame, iou_type="keypoints", scheduler=SYNC)
    segm_gt, segm_results = make_lvis(seed=4, n_images=8, n_cats=9, segm=True)
    with pytest.raises(InputError, match="no column 'segmentation'"):
        evaluate_lvis(segm_gt, _frame(segm_results, 2), iou_type="segm", scheduler=SYNC)
    with pytest.raises(InputError, match="no column 'score'"):
        evaluate_lvis(gt, frame.drop(columns="score"), scheduler=SYNC)
    bad = [dict(r) for r in results[:50]]
    bad[3]["score"] = float("nan")
    with pytest.raises(InputError, match=r"row 3\): score must be a finite number"):
        evaluate_lvis(gt, _frame(bad, 1), scheduler=SYNC)
    bad = [dict(r) for r in results[:50]]
    bad[30]["bbox"] = [1.0, 2.0, -3.0, 4.0]
    with pytest.raises(InputError, match="width and height"):
        evaluate_lvis(gt, _frame(bad, 2), scheduler=SYNC)
    with pytest.raises(InputError, match="dets_per_cat applies to"):
        evaluate_lvis(gt, frame, dets_per_cat=5, scheduler=SYNC)
    with pytest.raises(InputError, match="sharded_by_image"):
        evaluate_lvis(gt, frame, sharded_by_image="yes", scheduler=SYNC)
