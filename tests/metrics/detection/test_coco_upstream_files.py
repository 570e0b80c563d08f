"""COCO evaluation on small real files from other projects' test suites, against pycocotools.

The files are described (and attributed) in ``upstream/README.md``: 100 COCO val2014 images
with the COCO API demo's fake bbox and segm results, and faster-coco-eval's polygon,
crowd/ignore and keypoint sets. Every stat and every element of ``precision``, ``recall``
and ``scores`` must equal pycocotools' COCOeval.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import metrics
from tests.metrics.detection.coco_synth import pycocotools_eval
from tests.metrics.detection.test_detection_coco import assert_same

DATA = Path(__file__).with_name("upstream")

CASES = [
    ("instances_val2014_100.json", "instances_val2014_fakebbox100_results.json", "bbox"),
    ("instances_val2014_100.json", "instances_val2014_fakesegm100_results.json", "segm"),
    ("gt_dataset.json", "dt_dataset.json", "bbox"),
    ("gt_dataset.json", "dt_dataset.json", "segm"),
    ("gt_ignore_test.json", "dt_ignore_test.json", "bbox"),
    ("keypoints_gt.json", "keypoints_dt.json", "keypoints"),
]


def _load(name: str):
    data = json.loads((DATA / name).read_text())
    if name.endswith("ignore_test.json"):
        # this pair writes image ids as strings ("2299"); pycocotools takes any hashable id,
        # metricprobe requires the integer ids of the COCO format (see the test below)
        records = data if isinstance(data, list) else data["annotations"]
        for record in records:
            record["image_id"] = int(record["image_id"])
        for image in [] if isinstance(data, list) else data["images"]:
            image["id"] = int(image["id"])
    return data


@pytest.mark.parametrize(("gt_name", "dt_name", "iou_type"), CASES,
                         ids=[f"{g.split('.')[0]}-{t}" for g, _, t in CASES])
def test_upstream_files_equal_pycocotools(gt_name, dt_name, iou_type):
    gt, results = _load(gt_name), _load(dt_name)
    if gt_name == "instances_val2014_100.json":
        # the COCO API demo scores only the images its GT subset holds
        held = {img["id"] for img in gt["images"]}
        results = [r for r in results if r["image_id"] in held]
    ours = metrics.evaluate_coco(gt, results, iou_type=iou_type)
    assert_same(ours, pycocotools_eval(gt, results, iou_type=iou_type))


def test_string_image_ids_are_refused_with_a_clear_error():
    with pytest.raises(metrics.InputError, match=r"gt.images\[0\].id must be an integer id; got '2299'"):
        metrics.evaluate_coco(str(DATA / "gt_ignore_test.json"), str(DATA / "dt_ignore_test.json"))


def test_upstream_files_from_paths_equal_the_in_memory_call():
    ours = metrics.evaluate_coco(str(DATA / "gt_dataset.json"), str(DATA / "dt_dataset.json"))
    again = metrics.evaluate_coco(_load("gt_dataset.json"), _load("dt_dataset.json"))
    assert list(ours.stats.values()) == list(again.stats.values())
