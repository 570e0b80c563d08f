"""Generate the bundled LVIS-format sample: ``lvis_sample_gt.json``,
``lvis_sample_results.json`` and ``lvis_sample_results_train.json``.

Deterministic (fixed seed, fixed rounding): rerunning rewrites the same bytes.
Run: ``python reference_models/data/make_lvis_sample.py``.

The ground truth has 240 images (ids shuffled and non-contiguous) and 30
categories (10 rare, 10 common, 10 frequent), with ``neg_category_ids`` and
``not_exhaustive_category_ids`` filled, a few ignored annotations and an octagon
polygon ``segmentation`` on every annotation. The two results files are two
independent draws of the same simulated detector (bbox + score): it localises
rare classes worse and is miscalibrated across frequency groups (rare classes
under-confident, frequent ones over-confident), so AP-Pool and the calibration
audit have something to show; ``_train`` is meant for fitting calibrators and
``lvis_sample_results.json`` for evaluating them. Everything here is invented.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SEED = 20210203
N_IMAGES = 240
FREQS = ("r",) * 10 + ("c",) * 10 + ("f",) * 10
PREVALENCE = {"r": 0.03, "c": 0.08, "f": 0.2}  # chance a category appears in an image
SCORE_POWER = {"r": 1.8, "c": 1.0, "f": 0.6}  # score = conf ** power (r under-, f over-confident)
LOC_NOISE = {"r": 0.16, "c": 0.10, "f": 0.07}  # box jitter relative to size
HERE = Path(__file__).resolve().parent


def _octagon(box):
    x, y, w, h = box
    pts = [(x + .3 * w, y), (x + .7 * w, y), (x + w, y + .3 * h), (x + w, y + .7 * h),
           (x + .7 * w, y + h), (x + .3 * w, y + h), (x, y + .7 * h), (x, y + .3 * h)]
    return [[round(v, 1) for p in pts for v in p]]


def make_gt(rng):
    cat_ids = (rng.permutation(90)[:len(FREQS)] * 7 + 3).tolist()
    cats = [{"id": int(c), "name": f"thing_{c}", "frequency": f} for c, f in zip(cat_ids, FREQS)]
    img_ids = (rng.permutation(5000)[:N_IMAGES] + 100).tolist()
    images, anns = [], []
    for iid in img_ids:
        W, H = int(rng.choice([320, 480, 640])), int(rng.choice([240, 360, 480]))
        present = [c for c, f in zip(cat_ids, FREQS) if rng.random() < PREVALENCE[f]]
        absent = [c for c in cat_ids if c not in present]
        neg = sorted(rng.choice(absent, min(len(absent), int(rng.integers(2, 7))), replace=False).tolist())
        ne = [c for c in present if rng.random() < 0.15]
        images.append({"id": iid, "width": W, "height": H, "neg_category_ids": [int(c) for c in neg],
                       "not_exhaustive_category_ids": ne})
        for c in present:
            for _ in range(int(rng.integers(1, 4))):
                w = float(np.clip(rng.lognormal(3.6, 0.7), 6, W - 2))
                h = float(np.clip(w * rng.uniform(0.5, 1.6), 6, H - 2))
                x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
                box = [round(float(x), 1), round(float(y), 1), round(w, 1), round(h, 1)]
                a = {"id": 0, "image_id": iid, "category_id": c, "bbox": box,
                     "area": round(box[2] * box[3], 2), "segmentation": _octagon(box)}
                if rng.random() < 0.03:
                    a["ignore"] = 1
                anns.append(a)
    order = rng.permutation(len(anns))
    anns = [anns[i] for i in order]
    for k, a in enumerate(anns, start=1):
        a["id"] = k * 3 + 1
    return {"info": {"description": "metricprobe synthetic LVIS sample (invented data)"},
            "images": images, "categories": cats, "annotations": anns}


def make_results(rng, gt):
    freq = {c["id"]: c["frequency"] for c in gt["categories"]}
    cat_ids = [c["id"] for c in gt["categories"]]
    by_img: dict[int, list] = {}
    for a in gt["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    out = []
    for img in gt["images"]:
        W, H = img["width"], img["height"]
        for a in by_img.get(img["id"], []):
            f = freq[a["category_id"]]
            for _ in range(int(rng.integers(0, 3))):
                x, y, w, h = a["bbox"]
                j = rng.normal(0, LOC_NOISE[f], 4) * [w, h, w, h]
                box = [x + j[0], y + j[1], max(w + j[2], 2.0), max(h + j[3], 2.0)]
                conf = float(np.clip(rng.beta(5, 2), 0.01, 0.99))
                out.append((img["id"], a["category_id"], box, conf ** SCORE_POWER[f]))
        for _ in range(int(rng.integers(2, 10))):  # false positives, some on negative classes
            c = int(rng.choice(img["neg_category_ids"])) if img["neg_category_ids"] and rng.random() < .6 \
                else int(rng.choice(cat_ids))
            w, h = rng.uniform(8, 120), rng.uniform(8, 120)
            box = [rng.uniform(0, W - w), rng.uniform(0, H - h), w, h]
            conf = float(np.clip(rng.beta(2, 5), 0.01, 0.99))
            out.append((img["id"], c, box, conf ** SCORE_POWER[freq[c]]))
    order = rng.permutation(len(out))
    return [{"image_id": int(out[i][0]), "category_id": int(out[i][1]),
             "bbox": [round(float(v), 1) for v in out[i][2]], "score": round(float(out[i][3]), 4)}
            for i in order]


def main() -> None:
    rng = np.random.default_rng(SEED)
    gt = make_gt(rng)
    results = make_results(rng, gt)
    train = make_results(rng, gt)
    for name, data in (("lvis_sample_gt.json", gt), ("lvis_sample_results.json", results),
                       ("lvis_sample_results_train.json", train)):
        (HERE / name).write_text(json.dumps(data, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
