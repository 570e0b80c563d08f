"""Generate the bundled COCO-format sample: ``coco_sample_gt.json`` and ``coco_sample_results.json``.

Deterministic: rerunning rewrites the same bytes. Run:
``python reference_models/data/make_coco_sample.py`` (after ``make_lvis_sample.py``).

Derived from the bundled LVIS sample (240 images, 30 categories, invented data): the
ground truth keeps images (id, size), categories (id, name) and annotations, drops the
LVIS-only fields (frequency, negative and not-exhaustive lists, ``ignore``), and marks
every 15th annotation as a crowd region (``iscrowd = 1``), so that the COCO rules
(crowd regions matched any number of times, IoU over the detection's area) show. The
results are the LVIS sample's evaluation results, unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    lvis = json.loads((HERE / "lvis_sample_gt.json").read_text())
    images = [{"id": im["id"], "width": im["width"], "height": im["height"]} for im in lvis["images"]]
    categories = [{"id": c["id"], "name": c.get("name", str(c["id"])), "supercategory": "object"}
                  for c in lvis["categories"]]
    annotations = []
    for k, a in enumerate(lvis["annotations"]):
        annotations.append({"id": a["id"], "image_id": a["image_id"], "category_id": a["category_id"],
                            "bbox": a["bbox"], "area": a["area"], "segmentation": a["segmentation"],
                            "iscrowd": int(k % 15 == 7)})
    gt = {"info": {"description": "metricprobe COCO sample (invented data)"}, "images": images,
          "categories": categories, "annotations": annotations}
    (HERE / "coco_sample_gt.json").write_text(json.dumps(gt, separators=(",", ":")) + "\n")
    results = json.loads((HERE / "lvis_sample_results.json").read_text())
    (HERE / "coco_sample_results.json").write_text(json.dumps(results, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
