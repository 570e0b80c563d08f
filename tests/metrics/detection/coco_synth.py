"""Seeded generator of COCO-format GT and results for the COCO tests, and the pycocotools reference.

Covers: crowd GT given as polygons and as uncompressed RLE, shuffled non-contiguous
ids, a GT annotation with id 0, images without GT and images without detections,
categories without detections, tied scores (2-decimal rounding), more than 100
detections in one (image, category), zero-size boxes, GT areas of exactly 1024 and
9216, and person keypoints with unlabeled (v = 0) and invisible (v = 1) points.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np


def _poly(box):
    x, y, w, h = box
    return [[x + w * .3, y, x + w * .7, y, x + w, y + h * .5, x + w * .7, y + h, x + w * .3, y + h, x, y + h * .5]]


def _crowd_rle(box, height, width):
    """An uncompressed RLE (counts list) of the box region, column-major as COCO stores crowds."""
    m = np.zeros((height, width), dtype=np.uint8)
    x, y, w, h = (int(round(v)) for v in box)
    m[y:y + h, x:x + w] = 1
    flat = m.flatten(order="F")
    counts, cur, run = [], 0, 0
    for v in flat.tolist():
        if v != cur:
            counts.append(run)
            run, cur = 0, v
        run += 1
    counts.append(run)
    return {"size": [height, width], "counts": counts}


def make_coco(seed: int = 0, *, n_images: int = 24, n_cats: int = 6, keypoints: bool = False, segm: bool = False,
              busy: int = 130, zero_id: bool = True):
    rng = np.random.default_rng(seed)
    img_ids = rng.choice(np.arange(1, 5000), n_images, replace=False).tolist()
    cat_ids = rng.choice(np.arange(1, 300), 1 if keypoints else n_cats, replace=False).tolist()
    no_det_cat = cat_ids[-1] if len(cat_ids) > 1 else None
    images, anns, results = [], [], []
    ann_id = 0 if zero_id else 1
    for n, iid in enumerate(img_ids):
        W, H = int(rng.integers(120, 260)), int(rng.integers(120, 260))
        images.append({"id": iid, "width": W, "height": H, "file_name": f"{iid}.jpg"})
        gts = []
        if n % 7 != 3:  # some images without GT
            for _ in range(int(rng.integers(1, 6))):
                c = cat_ids[int(rng.integers(len(cat_ids)))]
                kind = rng.random()
                if kind < .1:
                    w = h = 32.0
                elif kind < .2:
                    w = h = 96.0
                else:
                    w, h = float(rng.uniform(6, 110)), float(rng.uniform(6, 110))
                x, y = float(rng.uniform(0, W - w)), float(rng.uniform(0, H - h))
                box = [round(x, 1), round(y, 1), w, h]
                crowd = int(rng.random() < .15)
                a = {"id": ann_id, "image_id": iid, "category_id": c, "bbox": box, "area": w * h, "iscrowd": crowd}
                if rng.random() < .05:
                    a["ignore"] = 1  # overwritten by iscrowd in pycocotools
                if segm or not keypoints:
                    a["segmentation"] = _crowd_rle(box, H, W) if (crowd and rng.random() < .6) else _poly(box)
                if keypoints:
                    kp = []
                    n_vis = 0
                    for _k in range(17):
                        v = int(rng.choice([0, 1, 2], p=[.3, .2, .5])) if rng.random() > .1 else 0
                        if v:
                            kp += [float(x + rng.uniform(0, w)), float(y + rng.uniform(0, h)), v]
                            n_vis += 1
                        else:
                            kp += [0, 0, 0]
                    if rng.random() < .15:  # no labelled keypoint at all
                        kp, n_vis = [0] * 51, 0
                    a["keypoints"] = kp
                    a["num_keypoints"] = n_vis
                anns.append(a)
                gts.append(a)
                ann_id += 1
        if n % 5 == 2:
            continue  # image without detections
        for a in gts:
            for _ in range(int(rng.integers(0, 4))):
                box = a["bbox"]
                j = rng.normal(0, .1, 4) * np.array([box[2], box[3], box[2], box[3]])
                b = [box[0] + j[0], box[1] + j[1], max(box[2] + j[2], 1.0), max(box[3] + j[3], 1.0)]
                results.append(_det(rng, iid, a["category_id"], b, a, keypoints, segm, W, H))
        n_fp = busy if n == 0 else int(rng.integers(0, 30))
        for _ in range(n_fp):
            c = cat_ids[int(rng.integers(len(cat_ids)))] if n != 0 else cat_ids[0]
            if c == no_det_cat:
                continue
            w, h = float(rng.uniform(2, 90)), float(rng.uniform(2, 90))
            b = [float(rng.uniform(0, W - w)), float(rng.uniform(0, H - h)), w, h]
            if rng.random() < .03:
                b[2] = 0.0  # zero-area box
            results.append(_det(rng, iid, c, b, None, keypoints, segm, W, H))
    results = [r for r in results if r["category_id"] != no_det_cat]
    order = rng.permutation(len(results))
    results = [results[i] for i in order]
    gt = {"images": images, "categories": [{"id": c, "name": f"c{c}", "supercategory": "x"} for c in cat_ids],
          "annotations": anns}
    if keypoints:
        gt["categories"][0]["keypoints"] = [f"k{i}" for i in range(17)]
    return gt, results


def _det(rng, iid, c, b, near, keypoints, segm, W, H):
    d = {"image_id": iid, "category_id": c, "score": round(float(rng.uniform(0.01, 1)), 2)}
    if keypoints:
        kp = []
        for k in range(17):
            if near is not None and near["keypoints"][3 * k + 2] > 0 and rng.random() < .8:
                kp += [near["keypoints"][3 * k] + float(rng.normal(0, 3)),
                       near["keypoints"][3 * k + 1] + float(rng.normal(0, 3)), 1]
            else:
                kp += [float(b[0] + rng.uniform(0, b[2])), float(b[1] + rng.uniform(0, b[3])), 1]
        d["keypoints"] = kp
        return d
    d["bbox"] = [float(v) for v in b]
    if segm:
        import pycocotools.mask as mask_utils

        x, y, w, h = b
        poly = [[x, y, x + w, y, x + w * .5, y + h]]
        rle = mask_utils.merge(mask_utils.frPyObjects(poly, H, W))
        rle["counts"] = rle["counts"].decode()
        d["segmentation"] = rle
        del d["bbox"]
    return d


def pycocotools_eval(gt, results, *, iou_type="bbox", use_cats=1, img_ids=None, cat_ids=None, max_dets=None,
                     iou_thrs=None, rec_thrs=None, area_rng=None, area_lbl=None, sigmas=None):
    """COCOeval (evaluate, accumulate, summarize) on deep copies; returns the COCOeval object."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        d = c.loadRes(copy.deepcopy(results))
        e = COCOeval(c, d, iou_type)
        e.params.useCats = use_cats
        if img_ids is not None:
            e.params.imgIds = list(img_ids)
        if cat_ids is not None:
            e.params.catIds = list(cat_ids)
        if max_dets is not None:
            e.params.maxDets = list(max_dets)
        if iou_thrs is not None:
            e.params.iouThrs = np.array(iou_thrs)
        if rec_thrs is not None:
            e.params.recThrs = np.array(rec_thrs)
        if area_rng is not None:
            e.params.areaRng = [list(a) for a in area_rng]
            e.params.areaRngLbl = list(area_lbl)
        if sigmas is not None:
            e.params.kpt_oks_sigmas = np.array(sigmas)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e
