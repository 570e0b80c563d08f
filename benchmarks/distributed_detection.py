"""LVIS evaluation on a cluster: ``metrics.distributed.evaluate_lvis`` on a 2-worker ``LocalCluster`` vs one process.

    python -m benchmarks.distributed_detection            # 500 and 5,000 images (5e4 and 5e5 detections)
    python -m benchmarks.distributed_detection --quick    # 50 and 500 images (5e3 and 5e4 detections)

Synthetic LVIS-format data (200 categories in r / c / f groups, about 6 GT boxes per
image, negative and not-exhaustive category lists, 100 detections per image of which a
third are jittered GT boxes, scores on a 0.001 grid, so with ties) at two sizes ten
times apart. The detections are written sorted by image to Parquet shards of 100
images each (``image_id, category_id, score, x, y, w, h``), and in the same order to one
JSON Lines file for the in-memory evaluator.

1. ``metrics.distributed.evaluate_lvis(gt, "dets-*.parquet", sharded_by_image=True)`` on a
   ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` on 127.0.0.1;
2. the same with Dask's shuffle by image (``sharded_by_image=False``);
3. ``metrics.evaluate_lvis(gt, "dets.jsonl")`` in the driver process.

Every report's metrics and per-category AP are asserted equal (``==``) to the in-memory
ones before the table is written. Each worker's peak resident set is read as in
``benchmarks/distributed.py`` (``VmHWM``, reset before each workload).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Literal, cast

import numpy as np

from benchmarks._harness import Bench, Measurement, package_version
from benchmarks.distributed import local_cluster, worker_memory

IMAGES_PER_SHARD = 100
Mode = Literal["standard", "fixed", "pooled", "all"]


def make_lvis(n_images: int, n_cats: int = 200, dets_per_image: int = 100, seed: int = 0
              ) -> tuple[dict, dict[str, np.ndarray]]:
    """(LVIS ground truth as a dict, detection columns sorted by image)."""
    rng = np.random.default_rng(seed)
    image_ids = np.sort(rng.choice(np.arange(1, 4 * n_images + 1), n_images, replace=False))
    width, height = rng.integers(320, 800, n_images), rng.integers(240, 640, n_images)
    cat_ids = np.arange(1, n_cats + 1) * 7
    frequency = rng.choice(["r", "c", "f"], n_cats, p=[0.2, 0.4, 0.4])
    n_ann = rng.poisson(6, n_images)
    a_img = np.repeat(np.arange(n_images), n_ann)
    a_cat = rng.integers(0, n_cats, len(a_img))
    a_w = np.round(rng.uniform(6, 220, len(a_img)), 2)
    a_h = np.round(rng.uniform(6, 220, len(a_img)), 2)
    a_x = np.round(rng.uniform(0, 1, len(a_img)) * np.maximum(width[a_img] - a_w, 1), 2)
    a_y = np.round(rng.uniform(0, 1, len(a_img)) * np.maximum(height[a_img] - a_h, 1), 2)
    present: list[set[int]] = [set() for _ in range(n_images)]
    for i, c in zip(a_img.tolist(), a_cat.tolist()):
        present[i].add(c)
    images = []
    for i in range(n_images):
        neg = [int(cat_ids[c]) for c in rng.choice(n_cats, 8, replace=False).tolist() if c not in present[i]]
        ne = [int(cat_ids[c]) for c in sorted(present[i]) if rng.random() < 0.15]
        images.append({"id": int(image_ids[i]), "width": int(width[i]), "height": int(height[i]),
                       "neg_category_ids": neg, "not_exhaustive_category_ids": ne})
    annotations = [{"id": k + 1, "image_id": int(image_ids[i]), "category_id": int(cat_ids[c]),
                    "bbox": [float(x), float(y), float(w), float(h)], "area": float(w * h)}
                   for k, (i, c, x, y, w, h) in enumerate(zip(a_img.tolist(), a_cat.tolist(), a_x.tolist(),
                                                              a_y.tolist(), a_w.tolist(), a_h.tolist()))]
    categories = [{"id": int(c), "name": f"c{c}", "frequency": str(f)} for c, f in zip(cat_ids, frequency)]
    gt = {"images": images, "categories": categories, "annotations": annotations}
    n = n_images * dets_per_image
    d_img = rng.integers(0, n_images, n)
    d_cat = rng.integers(0, n_cats, n)
    d_w, d_h = rng.uniform(6, 220, n), rng.uniform(6, 220, n)
    d_x = rng.uniform(0, 1, n) * np.maximum(width[d_img] - d_w, 1)
    d_y = rng.uniform(0, 1, n) * np.maximum(height[d_img] - d_h, 1)
    near = rng.random(n) < 1 / 3  # a jittered GT box, of its class three times in four
    g = rng.integers(0, len(a_img), n)
    same = near & (rng.random(n) < 0.75)
    d_img = np.where(near, a_img[g], d_img)
    d_cat = np.where(same, a_cat[g], d_cat)
    jitter = rng.normal(0, 0.08, (n, 4)) * np.stack([a_w[g], a_h[g], a_w[g], a_h[g]], axis=1)
    d_x = np.where(near, a_x[g] + jitter[:, 0], d_x)
    d_y = np.where(near, a_y[g] + jitter[:, 1], d_y)
    d_w = np.where(near, np.maximum(a_w[g] + jitter[:, 2], 1), d_w)
    d_h = np.where(near, np.maximum(a_h[g] + jitter[:, 3], 1), d_h)
    score = np.round(np.where(near, rng.beta(5, 2, n), rng.beta(2, 5, n)), 3)
    order = np.argsort(d_img, kind="stable")
    columns = {"image_id": image_ids[d_img][order], "category_id": cat_ids[d_cat][order], "score": score[order],
               "x": np.round(d_x, 2)[order], "y": np.round(d_y, 2)[order], "w": np.round(d_w, 2)[order],
               "h": np.round(d_h, 2)[order]}
    return gt, columns


def write_inputs(folder: Path, gt: dict, columns: dict[str, np.ndarray]) -> tuple[str, str, str, int]:
    """(gt path, Parquet glob sharded by image, JSON Lines path, number of shards)."""
    import pandas as pd

    folder.mkdir(parents=True)
    gt_path = folder / "gt.json"
    gt_path.write_text(json.dumps(gt))
    frame = pd.DataFrame(columns)
    image_rank = np.searchsorted(np.unique(frame["image_id"].to_numpy()), frame["image_id"].to_numpy())
    shard_of = image_rank // IMAGES_PER_SHARD
    n_shards = int(shard_of.max()) + 1
    for s in range(n_shards):
        frame[shard_of == s].to_parquet(folder / f"dets-{s:04d}.parquet", index=False)
    with open(folder / "dets.jsonl", "w") as fh:
        for i, c, sc, x, y, w, h in zip(*(columns[k].tolist() for k in ("image_id", "category_id", "score",
                                                                            "x", "y", "w", "h"))):
            fh.write(json.dumps({"image_id": i, "category_id": c, "score": sc, "bbox": [x, y, w, h]}) + "\n")
    return str(gt_path), str(folder / "dets-*.parquet"), str(folder / "dets.jsonl"), n_shards


def _rate(rows: int, m: Measurement) -> str:
    return f"{rows / m.seconds / 1e6:.3f} M detections/s"


def bench_lvis(bench: Bench, client: object, root: Path, n_images: int, workers: int, repeat: int, mode: Mode) -> None:
    import metrics
    from metrics.distributed import evaluate_lvis

    folder = root / f"lvis-{n_images}"
    t0 = time.perf_counter()
    gt, columns = make_lvis(n_images)
    gt_path, glob, jsonl, n_shards = write_inputs(folder, gt, columns)
    written = time.perf_counter() - t0
    n = len(columns["score"])

    def equal(ours: object, anchor: object) -> None:
        assert ours.metrics == anchor.metrics, (ours.metrics, anchor.metrics)  # type: ignore[attr-defined]
        assert ours.per_category_ap == anchor.per_category_ap  # type: ignore[attr-defined]

    results, lines = worker_memory(client, lambda: bench.compare(
        f"LVIS {mode} AP, {n_images:,} images × 200 categories, {n:,} detections in {n_shards} Parquet shards "
        "sharded by image",
        ours=lambda: evaluate_lvis(gt_path, glob, mode=mode, sharded_by_image=True),
        anchors={"Dask with the shuffle by image (sharded_by_image=False)":
                 lambda: evaluate_lvis(gt_path, glob, mode=mode),
                 "in memory (metrics.evaluate_lvis on one JSON Lines file, one process)":
                 lambda: metrics.evaluate_lvis(gt_path, jsonl, mode=mode)},
        repeat=repeat, check=equal))
    sharded, shuffled, memory = results
    bench.note(f"{n:,} detections, {len(gt['annotations']):,} GT boxes ({written:.0f} s to generate and write): "
               f"Dask sharded by image {_rate(n, sharded)} on {workers} workers, with the shuffle "
               f"{_rate(n, shuffled)}, in memory {_rate(n, memory)} (in memory / sharded Dask time = "
               f"{memory.seconds / sharded.seconds:.2f}). Every metric and per-category AP identical (`==`) to "
               "the in-memory report. Worker memory: " + "; ".join(lines) + ".")
    shutil.rmtree(folder)


def warm_up() -> None:
    """Import the libraries and compile the matching kernels on every worker (a tiny run)."""
    from metrics.distributed import evaluate_lvis

    with tempfile.TemporaryDirectory() as tmp:
        gt, columns = make_lvis(20, seed=1)
        gt_path, glob, _, _ = write_inputs(Path(tmp) / "warm", gt, columns)
        evaluate_lvis(gt_path, glob, mode="all")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5_000, help="images at the larger size (the smaller is a tenth)")
    ap.add_argument("--mode", default="standard", choices=("standard", "fixed", "pooled", "all"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="50 and 500 images")
    ap.add_argument("--tmp", default=None, help="where to write the shards (default: the system temp dir)")
    args = ap.parse_args(argv)
    if args.quick:
        args.images = 500
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    bench = Bench("distributed_detection", "LVIS evaluation on a cluster (metrics.distributed.evaluate_lvis)",
                  method="the Dask runs use a LocalCluster on 127.0.0.1 (separate worker processes) and the "
                         "in-memory evaluator runs in the driver, alternately on the same detections; best wall "
                         "time of the repeats; worker memory is each worker's peak resident set, read from the "
                         "worker after the runs.")
    bench.packages.update({"dask": package_version("dask"), "distributed": package_version("distributed"),
                           "pyarrow": package_version("pyarrow")})
    root = Path(tempfile.mkdtemp(prefix="metricprobe-bench-", dir=args.tmp))
    try:
        with local_cluster(args.workers) as (client, started):
            warm_up()
            bench.note(f"`LocalCluster(n_workers={args.workers}, threads_per_worker=1, processes=True)` on "
                       f"127.0.0.1 (started in {started:.0f} s, not counted below); {IMAGES_PER_SHARD} images "
                       f"(about {IMAGES_PER_SHARD * 100:,} detections) per shard at both sizes; mode "
                       f"{args.mode!r}. Before the runs each worker ran the evaluator once on a tiny input.")
            for n_images in (args.images // 10, args.images):
                bench_lvis(bench, client, root, n_images, args.workers, args.repeat, cast(Mode, args.mode))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    bench.note("Times are wall times of the whole call (reading the shards or the file included) on a machine "
               "that other jobs shared while this ran; the RSS columns above are the driver process's.")
    bench.write()


if __name__ == "__main__":
    main()
