"""Seeded generator of LVIS-format GT and results for the detection tests.

Covers: shuffled non-contiguous ids, images with more than 300 detections, classes
with many detections, tied scores (2-decimal rounding), categories without GT or
without detections, images without GT / detections, neg / not-exhaustive lists,
ignored GT, GT areas of exactly 1024 and 9216, duplicate GT boxes (equal-IoU ties),
detections of unverified categories, and polygon / RLE masks for segm.
"""

from __future__ import annotations

import numpy as np


def _poly(box):
    x, y, w, h = box
    # a diamond-ish octagon inside the box so that masks differ from boxes
    return [[x + w * .3, y, x + w * .7, y, x + w, y + h * .5, x + w * .7, y + h, x + w * .3, y + h, x, y + h * .5]]


def make_lvis(seed: int = 0, *, n_images: int = 40, n_cats: int = 25, busy_images: int = 2,
              busy_dets: int = 340, segm: bool = False, score_decimals: int = 2):
    rng = np.random.default_rng(seed)
    img_ids = rng.choice(np.arange(1, 10_000), n_images, replace=False)
    cat_ids = rng.choice(np.arange(1, 5_000), n_cats, replace=False)
    freq = rng.choice(["r", "c", "f"], n_cats)
    no_gt_cats = set(cat_ids[:3].tolist())  # categories that never have GT
    images, anns, results = [], [], []
    ann_id = 1
    sizes = {}
    for n, iid in enumerate(img_ids.tolist()):
        W, H = int(rng.integers(200, 500)), int(rng.integers(200, 500))
        sizes[iid] = (W, H)
        n_present = 0 if n % 9 == 4 else int(rng.integers(1, 5))  # some images without GT
        present = rng.choice([c for c in cat_ids.tolist() if c not in no_gt_cats], n_present, replace=False).tolist()
        others = [c for c in cat_ids.tolist() if c not in present]
        neg = rng.choice(others, min(len(others), int(rng.integers(0, 6))), replace=False).tolist()
        neg = list(dict.fromkeys(neg + [c for c in no_gt_cats if rng.random() < .5]))
        ne = [c for c in present if rng.random() < .25]
        images.append({"id": iid, "width": W, "height": H, "neg_category_ids": neg,
                       "not_exhaustive_category_ids": ne})
        gt_boxes = []
        for c in present:
            for _k in range(int(rng.integers(1, 5))):
                kind = rng.random()
                if kind < .12:
                    w = h = 32.0  # area exactly 1024
                elif kind < .24:
                    w = h = 96.0  # area exactly 9216
                else:
                    w, h = float(rng.uniform(5, 150)), float(rng.uniform(5, 150))
                x, y = float(rng.uniform(0, W - w)), float(rng.uniform(0, H - h))
                box = [round(x, 1), round(y, 1), w, h]
                for _dup in range(2 if rng.random() < .1 else 1):  # duplicated GT → equal IoU
                    a = {"id": ann_id, "image_id": iid, "category_id": c, "bbox": box, "area": w * h}
                    if rng.random() < .08:
                        a["ignore"] = 1
                    if ann_id % 13 == 0:
                        a["iscrowd"] = 1  # unused by LVIS (lvis-api passes iscrowd = 0)
                    if segm:
                        a["segmentation"] = _poly(box)
                    anns.append(a)
                    gt_boxes.append((c, box))
                    ann_id += 1
        if n % 11 == 7:
            continue  # image without detections
        dets = []
        for c, box in gt_boxes:
            for _ in range(int(rng.integers(0, 4))):
                j = rng.normal(0, .12, 4) * np.array([box[2], box[3], box[2], box[3]])
                b = [box[0] + j[0], box[1] + j[1], max(box[2] + j[2], 1.0), max(box[3] + j[3], 1.0)]
                dets.append((c, b))
        n_fp = busy_dets if n < busy_images else int(rng.integers(0, 25))
        pool = present + neg + rng.choice(cat_ids, 2).tolist()
        for _ in range(n_fp):
            c = pool[int(rng.integers(len(pool)))] if pool else int(cat_ids[0])
            w, h = float(rng.uniform(3, 120)), float(rng.uniform(3, 120))
            b = [float(rng.uniform(0, W - w)), float(rng.uniform(0, H - h)), w, h]
            if gt_boxes and rng.random() < .3:  # near a GT of another class or same
                gc, gb = gt_boxes[int(rng.integers(len(gt_boxes)))]
                b = [gb[0] + rng.normal(0, 3), gb[1] + rng.normal(0, 3), gb[2], gb[3]]
                c = gc if rng.random() < .5 else c
            dets.append((int(c), b))
        for c, b in dets:
            b = [float(v) for v in b]
            d = {"image_id": iid, "category_id": int(c), "bbox": b,
                 "score": float(np.round(rng.uniform(0.01, 1.0), score_decimals))}
            results.append(d)
    order = rng.permutation(len(results))
    results = [results[i] for i in order]
    if segm:
        import pycocotools.mask as mask_utils

        for d in results:
            W, H = sizes[d["image_id"]]
            rle = mask_utils.merge(mask_utils.frPyObjects(_poly(d["bbox"]), H, W))
            rle["counts"] = rle["counts"].decode("ascii")
            d["segmentation"] = rle
    cats = [{"id": int(c), "frequency": str(f), "name": f"cat{c}"} for c, f in zip(cat_ids, freq)]
    perm = rng.permutation(len(anns))
    gt = {"images": images, "categories": cats, "annotations": [anns[i] for i in perm]}
    return gt, results
