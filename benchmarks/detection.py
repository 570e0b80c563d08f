"""Benchmark: metricprobe LVIS evaluation vs lvis-api 0.5.3, same synthetic input, one run.

(Not named benchmarks/lvis.py: a script of that name would shadow the `lvis` package it
compares against.)

    .venv/bin/python benchmarks/detection.py                 # side by side + LVIS-val-sized run
    .venv/bin/python benchmarks/detection.py --images 500 --dets 30000 --no-large   # quick

Part 1 runs standard AP (300-per-image cap) with metricprobe and with lvis-api
(``np.float`` shim) on the same generated GT / results, checks that every printed key
and every per-category AP agree to 1e-12, and prints the wall-time ratio and memory
(metricprobe: tracemalloc peak of a second, untimed run; lvis-api: growth of the
process's peak RSS while it ran). Part 2 runs metricprobe alone (mode "all":
standard, AP-Fixed with K = 10,000, AP-Pool) on an LVIS-val-sized set streamed from
a JSON file.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def generate(n_images: int, n_cats: int, n_dets: int, seed: int = 0):
    """LVIS-like GT (≈7 boxes / image over ≈3 classes) and detections as columns."""
    rng = np.random.default_rng(seed)
    img_ids = rng.permutation(n_images * 3)[:n_images] + 1
    cat_ids = np.arange(1, n_cats + 1)
    freq = rng.choice(np.array(["r", "c", "f"]), n_cats, p=[.25, .38, .37])
    W = np.full(n_images, 640.0)
    H = np.full(n_images, 480.0)
    n_present = rng.integers(1, 6, n_images)
    images, anns = [], []
    ann_img, ann_cat, ann_box = [], [], []
    for i in range(n_images):  # GT generation (benchmark input, not timed)
        present = rng.choice(n_cats, n_present[i], replace=False) + 1
        neg = rng.choice(n_cats, 6, replace=False) + 1
        neg = [int(c) for c in neg if c not in present]
        ne = [int(c) for c in present if rng.random() < .1]
        images.append({"id": int(img_ids[i]), "width": 640, "height": 480, "neg_category_ids": neg,
                       "not_exhaustive_category_ids": ne})
        for c in present:
            for _ in range(int(rng.integers(1, 4))):
                w, h = float(rng.uniform(8, 300)), float(rng.uniform(8, 300))
                x, y = float(rng.uniform(0, 640 - w)), float(rng.uniform(0, 480 - h))
                anns.append({"id": len(anns) + 1, "image_id": int(img_ids[i]), "category_id": int(c),
                             "bbox": [x, y, w, h], "area": w * h})
                ann_img.append(i)
                ann_cat.append(int(c))
                ann_box.append([x, y, w, h])
            for c2 in neg[:2]:
                ann_cat.append(-int(c2))  # marker: negatives get false positives below
                ann_img.append(i)
                ann_box.append([0, 0, 0, 0])
    gt = {"images": images, "categories": [{"id": int(c), "frequency": str(f)} for c, f in zip(cat_ids, freq)],
          "annotations": anns}
    ann_img = np.array(ann_img)
    ann_cat = np.array(ann_cat)
    ann_box = np.array(ann_box)
    src = rng.integers(0, len(ann_img), n_dets)
    img = img_ids[ann_img[src]]
    cat = np.abs(ann_cat[src])
    box = ann_box[src].copy()
    neg_src = ann_cat[src] < 0
    rand = neg_src | (rng.random(n_dets) < .3)
    cat[rand & ~neg_src] = rng.integers(1, n_cats + 1, (rand & ~neg_src).sum())  # some unverified
    w = rng.uniform(8, 200, n_dets)
    h = rng.uniform(8, 200, n_dets)
    box[rand] = np.stack([rng.uniform(0, 400, n_dets), rng.uniform(0, 250, n_dets), w, h], 1)[rand]
    jit = rng.normal(0, .1, (n_dets, 4)) * box[:, [2, 3, 2, 3]]
    box[~rand] += jit[~rand]
    box[:, 2:] = np.maximum(box[:, 2:], 1.0)
    box = np.round(box, 2)
    score = np.round(rng.beta(2, 3, n_dets), 3)
    order = rng.permutation(n_dets)
    return gt, img[order], cat[order], box[order], score[order], W, H


def as_dicts(img, cat, box, score):
    return [{"image_id": int(i), "category_id": int(c), "bbox": b, "score": float(s)}
            for i, c, b, s in zip(img.tolist(), cat.tolist(), box.tolist(), score.tolist())]


def write_json(path, img, cat, box, score, chunk=200_000):
    with open(path, "w") as fh:
        fh.write("[")
        for lo in range(0, len(img), chunk):
            part = as_dicts(img[lo:lo + chunk], cat[lo:lo + chunk], box[lo:lo + chunk], score[lo:lo + chunk])
            text = json.dumps(part)[1:-1]
            fh.write(("," if lo else "") + text)
        fh.write("]")


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--cats", type=int, default=1203)
    ap.add_argument("--dets", type=int, default=120_000)
    ap.add_argument("--large-images", type=int, default=20_000)
    ap.add_argument("--large-dets", type=int, default=1_200_000)
    ap.add_argument("--no-large", action="store_true")
    args = ap.parse_args()

    import metrics

    print(f"# part 1: {args.images} images, {args.cats} categories, {args.dets} detections, standard AP")
    gt, img, cat, box, score, _, _ = generate(args.images, args.cats, args.dets)
    results = as_dicts(img, cat, box, score)
    rss0 = maxrss_mb()
    t = time.perf_counter()
    ours = metrics.evaluate_lvis(gt, results)
    t_ours = time.perf_counter() - t
    tracemalloc.start()
    metrics.evaluate_lvis(gt, results)
    peak_ours = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()

    np.float = float  # lvis 0.5.3 on numpy >= 1.24
    import logging

    import lvis

    logging.getLogger("lvis").setLevel(logging.ERROR)
    rss1 = maxrss_mb()
    t = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(gt, f)
        f.flush()
        g = lvis.LVIS(f.name)
    r = lvis.LVISResults(g, copy.deepcopy(results), max_dets=300)
    e = lvis.LVISEval(g, r, "bbox")
    e.run()
    t_api = time.perf_counter() - t
    rss2 = maxrss_mb()
    diff = max(abs(ours.metrics[k] - v) for k, v in e.results.items())
    P = e.eval["precision"]
    cat_diff = 0.0
    for k, c in enumerate(e.params.cat_ids):
        s = P[:, :, k, 0]
        ref = float(np.mean(s[s > -1])) if (s > -1).any() else None
        mine = ours.per_category_ap[c]
        assert (ref is None) == (mine is None)
        if ref is not None:
            cat_diff = max(cat_diff, abs(ref - mine))
    print(f"AP ours {ours.metrics['AP']:.6f}  lvis-api {e.results['AP']:.6f}; max |diff| over keys {diff:.1e}, "
          f"over per-category AP {cat_diff:.1e}")
    print(f"| impl | wall (s) | memory (MiB) |\n|---|---|---|\n"
          f"| metricprobe | {t_ours:.2f} | {peak_ours:.0f} (tracemalloc peak) |\n"
          f"| lvis-api 0.5.3 | {t_api:.2f} | {max(rss2 - rss1, 0):.0f} (peak-RSS growth; ≥ this) |\n"
          f"ratio lvis-api / metricprobe = {t_api / t_ours:.1f}x; process peak RSS before lvis-api "
          f"{rss1:.0f} MiB (baseline {rss0:.0f}), after {rss2:.0f} MiB")
    del e, r, g, results

    if args.no_large:
        return
    print(f"\n# part 2: {args.large_images} images, {args.cats} categories, {args.large_dets} detections, "
          f"metricprobe alone, mode all (standard + AP-Fixed K=10,000 + AP-Pool), results streamed from JSON")
    gt, img, cat, box, score, _, _ = generate(args.large_images, args.cats, args.large_dets, seed=1)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "res.json")
        write_json(path, img, cat, box, score)
        del img, cat, box, score
        size = os.path.getsize(path) / 2 ** 20
        t = time.perf_counter()
        rep = metrics.evaluate_lvis(gt, path, mode="all")
        t_all = time.perf_counter() - t
        tracemalloc.start()
        t = time.perf_counter()
        metrics.evaluate_lvis(gt, path, mode="fixed")
        t_fixed = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    print(f"results file {size:.0f} MiB; mode all {t_all:.1f} s; mode fixed alone (traced) {t_fixed:.1f} s, "
          f"tracemalloc peak {peak:.0f} MiB; process peak RSS {maxrss_mb():.0f} MiB")
    print({k: round(v, 4) for k, v in rep.metrics.items() if k.endswith(("/AP", "pooled-all"))})


if __name__ == "__main__":
    main()
