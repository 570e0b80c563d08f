"""Detection evaluation benchmark: LVIS and COCO, ours and the anchors in one process.

Every implementation reads the same JSON files (GT and results written once to a temporary
directory), run alternately, best of ``--repeat``, with peak memory (``benchmarks._harness``).

1. LVIS standard AP (300-per-image cap), 5,000 images × 200 categories × 500,000
   detections: metricprobe ``evaluate_lvis`` vs faster-coco-eval (``lvis_style=True``,
   ``maxDets=[300]``); then the same on 1,000 images × 100,000 detections with lvis-api
   0.5.3 as well (lvis-api at full size takes minutes per run). Our numbers are checked
   against lvis-api (every key, ≤ 1e-12) and compared with faster-coco-eval's.
2. COCO bbox, COCO-val size: 5,000 images × 80 categories × 100 detections per image
   (500,000 detections), and a segm run (1,000 images, 100,000 RLE detections):
   metricprobe ``evaluate_coco`` vs faster-coco-eval ``COCOeval_faster`` vs pycocotools
   ``COCOeval`` (evaluate, accumulate, summarize). Every stat and every element of
   ``precision``, ``recall`` and ``scores`` of ours is checked against pycocotools.
3. The limit of these kernels: reading the input once, i.e. parsing the same JSON files
   with msgspec (box results decoded into typed records, as ours reads them; the GT into
   dicts), timed in the same process; and ``json.load`` of the same files, the parse
   faster-coco-eval, lvis-api and pycocotools pay.

Run:  python -m benchmarks.detection           (``--quick``: a tenth of the sizes, one repeat)
(Not named ``benchmarks/lvis.py``: that would shadow the ``lvis`` package it compares against.)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import Bench

#: Our LVIS keys → their index in faster-coco-eval 1.8's ``stats`` (lvis_style, ``maxDets=[300]``; it
#: reports no APr / APc / APf there).
FCE_LVIS_STATS = {"AP": 0, "AP50": 1, "AP75": 2, "APs": 3, "APm": 4, "APl": 5, "AR@300": 6, "ARs@300": 9,
                  "ARm@300": 10, "ARl@300": 11}


# ----------------------------------------------------------------------------- data
def generate_lvis(n_images: int, n_cats: int, n_dets: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """LVIS-like GT (1–5 classes per image, 1–3 boxes each, negatives, not-exhaustive) and detections."""
    rng = np.random.default_rng(seed)
    img_ids = rng.permutation(n_images * 3)[:n_images] + 1
    freq = rng.choice(np.array(["r", "c", "f"]), n_cats, p=[.25, .38, .37])
    images, anns, src_img, src_cat, src_box = [], [], [], [], []
    for i in range(n_images):  # GT generation (input, not timed)
        present = rng.choice(n_cats, int(rng.integers(1, 6)), replace=False) + 1
        neg = [int(c) for c in rng.choice(n_cats, 6, replace=False) + 1 if c not in present]
        images.append({"id": int(img_ids[i]), "width": 640, "height": 480, "neg_category_ids": neg,
                       "not_exhaustive_category_ids": [int(c) for c in present if rng.random() < .1]})
        for c in present:
            for _ in range(int(rng.integers(1, 4))):
                w, h = float(rng.uniform(8, 300)), float(rng.uniform(8, 300))
                x, y = float(rng.uniform(0, 640 - w)), float(rng.uniform(0, 480 - h))
                anns.append({"id": len(anns) + 1, "image_id": int(img_ids[i]), "category_id": int(c),
                             "bbox": [x, y, w, h], "area": w * h})
                src_img.append(i)
                src_cat.append(int(c))
                src_box.append([x, y, w, h])
            for c2 in neg[:2]:  # detections of negative categories: false positives
                src_img.append(i)
                src_cat.append(-c2)
                src_box.append([0.0, 0.0, 0.0, 0.0])
    gt = {"images": images, "categories": [{"id": c + 1, "frequency": str(f)} for c, f in enumerate(freq)],
          "annotations": anns}
    s_img, s_cat, s_box = np.array(src_img), np.array(src_cat), np.array(src_box)
    pick = rng.integers(0, len(s_img), n_dets)
    img, cat, box = img_ids[s_img[pick]], np.abs(s_cat[pick]), s_box[pick].copy()
    from_neg = s_cat[pick] < 0
    rand = from_neg | (rng.random(n_dets) < .3)
    cat[rand & ~from_neg] = rng.integers(1, n_cats + 1, int((rand & ~from_neg).sum()))
    anywhere = np.stack([rng.uniform(0, 400, n_dets), rng.uniform(0, 250, n_dets), rng.uniform(8, 200, n_dets),
                         rng.uniform(8, 200, n_dets)], 1)
    box[rand] = anywhere[rand]
    box[~rand] += (rng.normal(0, .1, (n_dets, 4)) * box[:, [2, 3, 2, 3]])[~rand]
    box[:, 2:] = np.maximum(box[:, 2:], 1.0)
    box = np.round(box, 2)
    score = np.round(rng.beta(2, 3, n_dets), 3)
    order = rng.permutation(n_dets)
    results = [{"image_id": int(i), "category_id": int(c), "bbox": b, "score": float(s)}
               for i, c, b, s in zip(img[order].tolist(), cat[order].tolist(), box[order].tolist(),
                                     score[order].tolist())]
    return gt, results


def generate_coco(n_images: int, n_cats: int, dets_per_image: int, *, segm: bool = False,
                  seed: int = 0) -> tuple[dict, list[dict]]:
    """COCO-like GT (≈7 objects / image, ~1 % crowd) and ``dets_per_image`` detections per image."""
    import pycocotools.mask as mask_utils

    rng = np.random.default_rng(seed)
    side = 64 if segm else 640
    scale = side / 640
    n_gt = rng.poisson(7, n_images)
    g_img = np.repeat(np.arange(1, n_images + 1), n_gt)
    g_cat = rng.integers(1, n_cats + 1, len(g_img))
    wh = rng.uniform(8, 300, (len(g_img), 2)) * scale
    box = np.round(np.c_[rng.uniform(0, 1, (len(g_img), 2)) * (side - wh), wh], 2)
    crowd = rng.random(len(g_img)) < 0.01
    anns = []
    for k in range(len(g_img)):  # GT generation (input, not timed)
        x, y, w, h = box[k].tolist()
        a = {"id": k + 1, "image_id": int(g_img[k]), "category_id": int(g_cat[k]), "bbox": [x, y, w, h],
             "area": w * h, "iscrowd": int(crowd[k])}
        if segm:
            a["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h * 0.6]]
        anns.append(a)
    gt = {"images": [{"id": i + 1, "width": side, "height": side} for i in range(n_images)],
          "categories": [{"id": c, "name": str(c)} for c in range(1, n_cats + 1)], "annotations": anns}
    n_det = n_images * dets_per_image
    d_img = np.repeat(np.arange(1, n_images + 1), dets_per_image)
    starts = np.r_[0, np.cumsum(n_gt)[:-1]]
    near = (rng.random(n_det) < 0.5) & (n_gt[d_img - 1] > 0)
    pick = np.minimum(starts[d_img - 1] + (rng.random(n_det) * np.maximum(n_gt[d_img - 1], 1)).astype(int),
                      len(g_img) - 1)
    d_box = np.where(near[:, None], box[pick] + rng.normal(0, 0.08, (n_det, 4)) * box[pick][:, 2:].repeat(2, 1),
                     np.c_[rng.uniform(0, side * 0.8, (n_det, 2)), rng.uniform(4, 250 * scale, (n_det, 2))])
    d_box[:, 2:] = np.maximum(d_box[:, 2:], 1.0)
    d_box = np.round(d_box, 2)
    d_cat = np.where(near & (rng.random(n_det) < 0.8), g_cat[pick], rng.integers(1, n_cats + 1, n_det))
    score = np.round(rng.beta(2, 3, n_det) + near * 0.2, 3).clip(0, 1)
    results = []
    for k in range(n_det):
        x, y, w, h = d_box[k].tolist()
        d: dict = {"image_id": int(d_img[k]), "category_id": int(d_cat[k]), "score": float(score[k])}
        if segm:
            rle = mask_utils.merge(mask_utils.frPyObjects([[x, y, x + w, y, x + w * .5, y + h]], side, side))
            d["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
        else:
            d["bbox"] = [x, y, w, h]
        results.append(d)
    return gt, results


def write_files(directory: Path, name: str, gt: dict, results: list[dict]) -> tuple[str, str]:
    gt_path, res_path = directory / f"{name}_gt.json", directory / f"{name}_results.json"
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(results))
    return str(gt_path), str(res_path)


# ----------------------------------------------------------------------------- runners
def ours_lvis(gt: str, results: str) -> object:
    from metrics import evaluate_lvis

    return evaluate_lvis(gt, results)


def fce_lvis(gt: str, results: str) -> object:
    """faster-coco-eval in LVIS mode with the 300-per-image budget."""
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO(gt)
        e = COCOeval_faster(c, c.loadRes(results), "bbox", lvis_style=True, print_function=lambda *a, **k: None)
        e.params.maxDets = [300]
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


def lvis_api(gt: str, results: str) -> object:
    import logging

    np.float = float  # type: ignore[attr-defined]  # lvis 0.5.3 on numpy >= 1.24
    import lvis

    logging.getLogger("lvis").setLevel(logging.ERROR)
    g = lvis.LVIS(gt)
    e = lvis.LVISEval(g, lvis.LVISResults(g, results, max_dets=300), "bbox")
    e.run()
    return e


def ours_coco(gt: str, results: str, iou_type: str) -> object:
    from metrics import evaluate_coco

    return evaluate_coco(gt, results, iou_type=iou_type)


def fce_coco(gt: str, results: str, iou_type: str) -> object:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO(gt)
        e = COCOeval_faster(c, c.loadRes(results), iou_type, print_function=lambda *a, **k: None)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


def pycocotools_coco(gt: str, results: str, iou_type: str) -> object:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO(gt)
        e = COCOeval(c, c.loadRes(results), iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


# ----------------------------------------------------------------------------- checks
def lvis_error(ours: object, api: object) -> float:
    """Largest |ours − lvis-api| over the printed keys and every per-category AP."""
    out = max(abs(ours.metrics[k] - v) for k, v in api.results.items())  # type: ignore[attr-defined]
    precision = api.eval["precision"]  # type: ignore[attr-defined]
    for k, cid in enumerate(api.params.cat_ids):  # type: ignore[attr-defined]
        s = precision[:, :, k, 0]
        ref = float(np.mean(s[s > -1])) if (s > -1).any() else None
        mine = ours.per_category_ap[cid]  # type: ignore[attr-defined]
        if (ref is None) != (mine is None):
            raise AssertionError(f"category {cid}: lvis-api {ref}, ours {mine}")
        if ref is not None:
            out = max(out, abs(ref - mine))
    return out


def coco_error(ours: object, ref: object) -> float:
    """Largest |ours − pycocotools| over stats, precision, recall and scores (shapes must agree)."""
    out = float(np.max(np.abs(ours.stats_array - np.asarray(ref.stats))))  # type: ignore[attr-defined]
    for name in ("precision", "recall", "scores"):
        a, b = getattr(ours, name), ref.eval[name]  # type: ignore[attr-defined]
        if a.shape != b.shape:
            raise AssertionError(f"{name}: shape {a.shape} vs pycocotools {b.shape}")
        out = max(out, float(np.max(np.abs(a - b))))
    return out


def _best_seconds(run: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def parse_seconds(results: str, gt: str, repeat: int, *, boxes: bool) -> tuple[float, float]:
    """Best seconds to parse results + GT with msgspec (the limit) and with ``json.load`` (the anchors' parse).

    ``boxes``: the results are box detections, which msgspec decodes into typed records
    (image_id, category_id, score, bbox), the way ours reads them.
    """
    import msgspec

    class Box(msgspec.Struct, gc=False):
        image_id: int
        category_id: int
        score: float
        bbox: tuple[float, float, float, float]

    box_decoder = msgspec.json.Decoder(list[Box])

    def fast(path: str, typed: bool) -> object:
        with open(path, "rb") as fh:
            raw = fh.read()
        return box_decoder.decode(raw) if typed else msgspec.json.decode(raw)

    def plain(path: str) -> object:
        with open(path) as fh:
            return json.load(fh)

    limit = _best_seconds(lambda: fast(results, boxes), repeat) + _best_seconds(lambda: fast(gt, False), repeat)
    stdlib = _best_seconds(lambda: plain(results), repeat) + _best_seconds(lambda: plain(gt), 1)
    return limit, stdlib


# ----------------------------------------------------------------------------- workloads
def run_lvis(bench: Bench, tmp: Path, *, n_images: int, n_cats: int, n_dets: int, api_images: int, api_dets: int,
             repeat: int) -> None:
    gt, res = write_files(tmp, "lvis", *generate_lvis(n_images, n_cats, n_dets))
    found: dict[str, float] = {}

    def check_fce(ours: object, fce: object) -> None:
        stats = np.asarray(fce.stats, dtype=float)  # type: ignore[attr-defined]
        found["fce"] = max(abs(ours.metrics[k] - float(stats[i])) for k, i in FCE_LVIS_STATS.items()  # type: ignore
                           if i < len(stats))

    rows = bench.compare(
        f"LVIS standard AP (bbox, 300 per image): {n_images:,} images × {n_cats} categories × {n_dets:,} "
        f"detections, from JSON files",
        ours=lambda: ours_lvis(gt, res), anchors={"faster-coco-eval (lvis_style)": lambda: fce_lvis(gt, res)},
        anchor_packages={"faster-coco-eval (lvis_style)": "faster-coco-eval"}, repeat=repeat, check=check_fce)
    limit, stdlib = parse_seconds(res, gt, repeat, boxes=True)
    bench.note(
        f"Limit: reading the input once. Parsing the JSON files with msgspec (results into typed box records, as "
        f"ours reads them, and the GT) takes {limit:.2f} s, {limit / rows[0].seconds:.0%} of our "
        f"{rows[0].seconds:.2f} s; ours is {rows[0].seconds / limit:.2f}× that limit. `json.load` of the same "
        f"files, the parse faster-coco-eval pays, takes {stdlib:.2f} s. AP, AP50, AP75, APs/m/l and the AR keys of "
        f"faster-coco-eval differ from ours by up to {found['fce']:.1e} (ours equal lvis-api's; see the next table).")
    gt2, res2 = write_files(tmp, "lvis_small", *generate_lvis(api_images, n_cats, api_dets, seed=1))

    def check_api(ours: object, ref: object) -> None:
        if hasattr(ref, "results"):  # lvis-api (the other anchor is faster-coco-eval)
            found["api"] = lvis_error(ours, ref)
            if found["api"] > 1e-12:
                raise AssertionError(f"LVIS: ours differ from lvis-api by {found['api']:.1e}")

    bench.compare(
        f"LVIS standard AP (bbox): {api_images:,} images × {n_cats} categories × {api_dets:,} detections, "
        f"with lvis-api",
        ours=lambda: ours_lvis(gt2, res2),
        anchors={"faster-coco-eval (lvis_style)": lambda: fce_lvis(gt2, res2),
                 "lvis-api (np.float shim)": lambda: lvis_api(gt2, res2)},
        anchor_packages={"faster-coco-eval (lvis_style)": "faster-coco-eval", "lvis-api (np.float shim)": "lvis"},
        repeat=1, check=check_api)
    bench.note(f"LVIS: largest |ours − lvis-api| over every key and every per-category AP = {found['api']:.1e}.")


def run_coco(bench: Bench, tmp: Path, *, n_images: int, n_cats: int, dets_per_image: int, segm_images: int,
             repeat: int, pycocotools_repeat: int) -> None:
    for iou_type, images in (("bbox", n_images), ("segm", segm_images)):
        gt, res = write_files(tmp, f"coco_{iou_type}", *generate_coco(images, n_cats, dets_per_image,
                                                                      segm=iou_type == "segm"))
        size = (f"{images:,} images × {n_cats} categories × {dets_per_image} detections/image "
                f"({images * dets_per_image:,} detections), from JSON files")
        # pycocotools' accumulate builds millions of Python objects: under tracemalloc it runs for more than
        # ten minutes at the full size, so its memory is measured only on the smaller (quick / segm) inputs
        memory = images * dets_per_image <= 100_000
        _coco_tables(bench, gt, res, iou_type, size, repeat=repeat, pycocotools_repeat=pycocotools_repeat,
                     memory=memory)
        if not memory:
            bench.note(f"COCO {iou_type} against pycocotools: peak memory not measured at this size (pycocotools' "
                       f"accumulate under tracemalloc runs for more than ten minutes); see the faster-coco-eval "
                       f"table for ours.")


def _coco_tables(bench: Bench, gt: str, res: str, iou_type: str, size: str, *, repeat: int,
                 pycocotools_repeat: int, memory: bool) -> None:
    found: dict[str, object] = {}

    def check_ref(ours: object, ref: object) -> None:
        err = coco_error(ours, ref)
        found["err"], found["stats"] = err, np.asarray(ref.stats)  # type: ignore[attr-defined]
        if err > 1e-12:
            raise AssertionError(f"COCO {iou_type}: ours differ from pycocotools by {err:.1e}")

    def check_fce(ours: object, fce: object) -> None:
        found["fce"] = float(np.max(np.abs(np.asarray(fce.stats) - found["stats"])))  # type: ignore

    bench.compare(
        f"COCO {iou_type} against pycocotools: {size} (best of {pycocotools_repeat})",
        ours=lambda: ours_coco(gt, res, iou_type), anchors={"pycocotools": lambda: pycocotools_coco(gt, res, iou_type)},
        anchor_packages={"pycocotools": "pycocotools"}, repeat=pycocotools_repeat, check=check_ref,
        memory=memory)
    rows = bench.compare(
        f"COCO {iou_type} against faster-coco-eval: {size}", ours=lambda: ours_coco(gt, res, iou_type),
        anchors={"faster-coco-eval": lambda: fce_coco(gt, res, iou_type)},
        anchor_packages={"faster-coco-eval": "faster-coco-eval"}, repeat=repeat, check=check_fce)
    limit, stdlib = parse_seconds(res, gt, repeat, boxes=iou_type == "bbox")
    bench.note(
        f"COCO {iou_type}: largest |ours − pycocotools| over stats and every element of precision, recall and "
        f"scores = {found['err']:.1e}; faster-coco-eval's stats differ from pycocotools' by up to "
        f"{found['fce']:.1e}. Limit: parsing the JSON files once with msgspec takes {limit:.2f} s, "
        f"{limit / rows[0].seconds:.0%} of our {rows[0].seconds:.2f} s (ours is "
        f"{rows[0].seconds / limit:.2f}× that limit; `json.load`, which the anchors use, takes {stdlib:.2f} s)"
        + ("; the rest is mostly pycocotools' RLE IoU (`maskUtils.iou`), which all three call."
           if iou_type == "segm" else "."))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes, one repeat")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("lvis", "coco"), default=None,
                    help="run one family and print its tables (the page, which holds both, is left as it is)")
    args = ap.parse_args(argv)
    scale = 10 if args.quick else 1
    repeat = 1 if args.quick else args.repeat
    bench = Bench("detection", "Detection evaluation (LVIS, COCO) vs lvis-api, faster-coco-eval, pycocotools")
    with tempfile.TemporaryDirectory(prefix="detection_bench_") as d:
        tmp = Path(d)
        if args.only in (None, "lvis"):
            run_lvis(bench, tmp, n_images=5000 // scale, n_cats=200, n_dets=500_000 // scale,
                     api_images=1000 // scale, api_dets=100_000 // scale, repeat=repeat)
        if args.only in (None, "coco"):
            run_coco(bench, tmp, n_images=5000 // scale, n_cats=80, dets_per_image=100,
                     segm_images=1000 // scale, repeat=repeat, pycocotools_repeat=1)
    bench.note("The machine was shared with other jobs (see the load average above): absolute times vary between "
               "runs; the ratios come from runs alternated in one process.")
    if args.only:
        print("(--only: docs/benchmarks/detection.md left as it is)")
    else:
        bench.write()


if __name__ == "__main__":
    main()
