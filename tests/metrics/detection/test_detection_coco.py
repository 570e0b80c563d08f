"""COCO evaluation against pycocotools' COCOeval: every stat and every array element."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import metrics
from metrics import InputError
from tests.metrics.detection.coco_synth import make_coco, pycocotools_eval

TOL = 1e-12


def assert_same(ours, ref):
    assert ours.stats_array.shape == ref.stats.shape
    np.testing.assert_allclose(ours.stats_array, ref.stats, atol=TOL, rtol=0)
    for name, arr in (("precision", ours.precision), ("recall", ours.recall), ("scores", ours.scores)):
        expected = ref.eval[name]
        assert arr.shape == expected.shape, name
        np.testing.assert_allclose(arr, expected, atol=TOL, rtol=0, err_msg=name)


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
@pytest.mark.parametrize("seed", [0, 1])
def test_default_params_equal_pycocotools(iou_type, seed):
    gt, res = make_coco(seed, keypoints=iou_type == "keypoints", segm=iou_type == "segm")
    gt0, res0 = copy.deepcopy(gt), copy.deepcopy(res)
    ours = metrics.evaluate_coco(gt, res, iou_type=iou_type)
    assert gt == gt0 and res == res0  # inputs untouched
    assert_same(ours, pycocotools_eval(gt, res, iou_type=iou_type))
    if iou_type != "keypoints":
        assert list(ours.stats)[6:9] == ["AR1", "AR10", "AR100"]
        n_busy = max(np.unique([(d["image_id"], d["category_id"]) for d in res], axis=0, return_counts=True)[1])
        assert n_busy > 100  # the per-(image, category) cap is exercised


def test_generated_data_covers_the_cases():
    gt, res = make_coco(0)
    anns = gt["annotations"]
    assert any(a["iscrowd"] and isinstance(a["segmentation"], dict) for a in anns)
    assert any(a["iscrowd"] and isinstance(a["segmentation"], list) for a in anns)
    assert any(a["id"] == 0 for a in anns)
    with_gt = {a["image_id"] for a in anns}
    with_det = {d["image_id"] for d in res}
    assert any(i["id"] not in with_gt for i in gt["images"]) and any(i["id"] not in with_det for i in gt["images"])
    assert {c["id"] for c in gt["categories"]} - {d["category_id"] for d in res}
    scores = [d["score"] for d in res]
    assert len(set(scores)) < len(scores)


@pytest.mark.parametrize("kw, ref_kw", [
    ({"use_cats": False}, {"use_cats": 0}),
    ({"max_dets": (5, 30, 100)}, {"max_dets": [5, 30, 100]}),
    ({"iou_thresholds": [0.3, 0.5, 0.75, 0.9]}, {"iou_thrs": [0.3, 0.5, 0.75, 0.9]}),
    ({"recall_thresholds": np.linspace(0, 1, 11)}, {"rec_thrs": np.linspace(0, 1, 11)}),
    ({"area_ranges": {"all": (0, 1e10), "small": (0, 1500), "large": (1500, 1e10)}},
     {"area_rng": [(0, 1e10), (0, 1500), (1500, 1e10)], "area_lbl": ["all", "small", "large"]}),
])
def test_custom_params_equal_pycocotools(kw, ref_kw):
    gt, res = make_coco(2)
    assert_same(metrics.evaluate_coco(gt, res, **kw), pycocotools_eval(gt, res, **ref_kw))


def test_restricted_ids_equal_pycocotools():
    gt, res = make_coco(3)
    imgs = sorted(i["id"] for i in gt["images"])[::2]
    cats = sorted(c["id"] for c in gt["categories"])[1:4]
    ours = metrics.evaluate_coco(gt, res, img_ids=imgs, cat_ids=cats)
    assert_same(ours, pycocotools_eval(gt, res, img_ids=imgs, cat_ids=cats))
    assert ours.params["cat_ids"] == cats


def test_segm_use_cats_0_and_user_sigmas():
    gt, res = make_coco(4, segm=True)
    assert_same(metrics.evaluate_coco(gt, res, iou_type="segm", use_cats=False),
                pycocotools_eval(gt, res, iou_type="segm", use_cats=0))
    gk, rk = make_coco(5, keypoints=True)
    sig = np.linspace(0.03, 0.1, 17)
    assert_same(metrics.evaluate_coco(gk, rk, iou_type="keypoints", kpt_oks_sigmas=sig),
                pycocotools_eval(gk, rk, iou_type="keypoints", sigmas=sig))


def test_array_results_and_files(tmp_path):
    import json

    gt, res = make_coco(6)
    arr = np.array([[d["image_id"], *d["bbox"], d["score"], d["category_id"]] for d in res])
    ref = pycocotools_eval(gt, res)
    assert_same(metrics.evaluate_coco(gt, arr), ref)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.jsonl").write_text("\n".join(json.dumps(d) for d in res))
    assert_same(metrics.evaluate_coco(tmp_path / "gt.json", tmp_path / "res.jsonl"), ref)


def test_summary_lines_match_pycocotools_print():
    import contextlib
    import io

    gt, res = make_coco(7)
    e = pycocotools_eval(gt, res)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        e.summarize()
    ours = metrics.evaluate_coco(gt, res)
    assert ours.summary_lines() == buf.getvalue().rstrip("\n").split("\n")


def test_fixed_equals_uncapped_standard_and_pool_of_one_class():
    gt, res = make_coco(8)
    e = pycocotools_eval(gt, res, max_dets=[1, 10, 10 ** 6])
    p = e.eval["precision"][:, :, :, 0, -1]
    expected = float(np.mean(p[p > -1]))
    fixed = metrics.evaluate_coco(gt, res, mode="fixed")
    assert abs(fixed.stats["AP"] - expected) < TOL
    # with one category, the pool is that category: AP-Pool = AP-Fixed
    one = [c["id"] for c in gt["categories"]][0]
    g1 = dict(gt, categories=[c for c in gt["categories"] if c["id"] == one],
              annotations=[a for a in gt["annotations"] if a["category_id"] == one])
    r1 = [d for d in res if d["category_id"] == one]
    both = metrics.evaluate_coco(g1, r1, mode="all")
    assert abs(both.stats["pooled/AP-pooled-all"] - both.stats["fixed/AP"]) < TOL
    assert both.by_mode["standard"].stats["AP"] == both.stats["standard/AP"]


def test_labels_equal_pycocotools_dt_matches():
    gt, res = make_coco(9)
    e = pycocotools_eval(gt, res, max_dets=[1, 10, 10 ** 6], iou_thrs=[0.75])
    tp_ids, fp_ids = set(), set()
    for ev in e.evalImgs:
        if ev is None or ev["aRng"] != [0, 1e10]:
            continue
        for did, m, ig in zip(ev["dtIds"], ev["dtMatches"][0], ev["dtIgnore"][0]):
            if not ig:
                (tp_ids if m else fp_ids).add(did - 1)  # loadRes ids are positions + 1
    table = metrics.label_detections(gt, res, iou_threshold=0.75)
    assert set(table.loc[table["matched"], "detection"]) == tp_ids
    assert set(table.loc[~table["matched"], "detection"]) == fp_ids
    assert metrics.detection_categories(gt) == {c["id"]: None for c in gt["categories"]}
    rep = metrics.detection_calibration_report(gt, res)
    assert "ece-overall" in rep.metrics and "ece-freq-r" not in rep.metrics


def test_bad_inputs():
    gt, res = make_coco(10, n_images=6)
    with pytest.raises(InputError, match="image_id"):
        metrics.evaluate_coco(gt, res + [dict(res[0], image_id=10 ** 7)])
    with pytest.raises(InputError, match="max_dets"):
        metrics.evaluate_coco(gt, res, mode="fixed", max_dets=(1, 10))
    with pytest.raises(InputError, match="iou_type"):
        metrics.evaluate_coco(gt, res, iou_type="mask")
    with pytest.raises(InputError, match="cat_ids"):
        metrics.evaluate_coco(gt, res, cat_ids=[10 ** 6])
    with pytest.raises(InputError, match="score"):
        metrics.evaluate_coco(gt, [dict(res[0], score="0.9")])
    with pytest.raises(InputError, match="use_cats"):
        metrics.evaluate_coco(gt, res, mode="pooled", use_cats=False)


def test_unknown_categories_dropped_with_warning_and_empty_results():
    gt, res = make_coco(11, n_images=8)
    extra = res + [dict(res[0], category_id=10 ** 6)]
    r = metrics.evaluate_coco(gt, extra)
    assert r.counts["unknown_category"] == 1 and any("absent from gt" in w for w in r.warnings)
    np.testing.assert_array_equal(r.stats_array, metrics.evaluate_coco(gt, res).stats_array)
    empty = metrics.evaluate_coco(gt, [])
    assert empty.stats["AP"] == 0.0 and any("empty" in w for w in empty.warnings)


def test_report_methods():
    gt, res = make_coco(12, n_images=8)
    r = metrics.evaluate_coco(gt, res, mode="all")
    d = r.to_dict()
    assert "precision" not in d and d["stats"]["fixed/AP"] == r.stats["fixed/AP"]
    assert list(r.to_frame()["metric"])[0] == "standard/AP"
    assert "Average Precision" in str(r)
    import matplotlib

    matplotlib.use("Agg")
    ax = r.plot()
    assert ax.get_xlabel() == "recall"


def _slow_coco_pool(gt, res, *, dets_per_cat, iou_type="bbox"):
    """AP-Pool on COCO from its definition, one straightforward step at a time (test-only replica).

    1. Per category, a stable sort by descending score (ties in file order) and the first
       ``dets_per_cat``; no per-image cap.
    2. COCO matching of every (image, category, area range) with pycocotools' own
       ``evaluateImg`` (crowd GT, ignored GT), no detection cap.
    3. Per area range, one pool: the pairs' detections concatenated image-major (image id,
       then category id, each pair in its own score order), then one stable sort by
       descending score, so equal scores stay in (image, category, file) order.
    4. n_gt = all non-ignored GT of the pool; per IoU threshold the PR curve of the pool,
       precision made non-increasing from the right and read at the 101 recall points
       (searchsorted "left", 0 past the end); AP = the mean over thresholds and recall
       points, AR = the mean final recall; −1 without GT.
    """
    by_cat = {}
    for i, d in enumerate(res):
        by_cat.setdefault(d["category_id"], []).append(i)
    keep = set()
    for rows in by_cat.values():
        keep.update(sorted(rows, key=lambda i: -res[i]["score"])[:dets_per_cat])  # sorted() is stable
    kept = [res[i] for i in sorted(keep)]
    e = pycocotools_eval(gt, kept, iou_type=iou_type, max_dets=[1, 10, 10 ** 9])
    p = e.params
    n_area, n_img = len(p.areaRng), len(p.imgIds)
    out = {}
    for a, label in enumerate(("", "s", "m", "l")):
        entries = [e.evalImgs[k * n_area * n_img + a * n_img + i] for k in range(len(p.catIds))
                   for i in range(n_img)]
        entries = sorted((x for x in entries if x is not None), key=lambda x: (x["image_id"], x["category_id"]))
        n_gt = sum(int(np.sum(np.asarray(x["gtIgnore"]) == 0)) for x in entries)
        scores = np.concatenate([np.asarray(x["dtScores"], dtype=float) for x in entries])
        order = np.argsort(-scores, kind="mergesort")
        dtm = np.concatenate([x["dtMatches"] for x in entries], axis=1)[:, order]
        dti = np.concatenate([x["dtIgnore"] for x in entries], axis=1)[:, order].astype(bool)
        if n_gt == 0:
            out[f"AP{label}"] = out[f"AR{label}"] = -1.0
            continue
        q_all, final_recall = [], []
        for t in range(len(p.iouThrs)):
            tp = np.cumsum((dtm[t] != 0) & ~dti[t]).astype(float)
            fp = np.cumsum((dtm[t] == 0) & ~dti[t]).astype(float)
            recall = tp / n_gt
            precision = list(tp / (fp + tp + np.spacing(1)))
            for j in range(len(precision) - 1, 0, -1):  # running maximum from the right
                precision[j - 1] = max(precision[j - 1], precision[j])
            at = np.searchsorted(recall, p.recThrs, side="left")
            q_all.append([precision[j] if j < len(precision) else 0.0 for j in at])
            final_recall.append(recall[-1] if len(recall) else 0.0)
        q = np.array(q_all)
        out[f"AP{label}"] = float(np.mean(q))
        if label == "":
            t50, t75 = int(np.argmin(np.abs(p.iouThrs - .5))), int(np.argmin(np.abs(p.iouThrs - .75)))
            out["AP50"], out["AP75"] = float(np.mean(q[t50])), float(np.mean(q[t75]))
        out[f"AR{label}"] = float(np.mean(final_recall))
    return out


@pytest.mark.parametrize("seed, dets_per_cat, iou_type, digits", [(0, 10000, "bbox", 2), (3, 12, "bbox", 2),
                                                                   (4, 60, "bbox", 1), (5, 25, "segm", 2)])
def test_ap_pool_equals_slow_replica(seed, dets_per_cat, iou_type, digits):
    gt, res = make_coco(seed, segm=iou_type == "segm", zero_id=False)
    res = [dict(d, score=round(d["score"], digits)) for d in res]  # digits=1: heavy ties across pairs
    assert any(a["iscrowd"] for a in gt["annotations"])
    scores = [d["score"] for d in res]
    assert len(scores) > len(set(scores))  # tied scores across images and categories
    ours = metrics.evaluate_coco(gt, res, mode="pooled", dets_per_cat=dets_per_cat, iou_type=iou_type)
    ref = _slow_coco_pool(gt, res, dets_per_cat=dets_per_cat, iou_type=iou_type)
    assert abs(ours.stats["AP-pooled-all"] - ref["AP"]) < TOL
    for key in ("AP50", "AP75", "APs", "APm", "APl"):
        assert abs(ours.extras[f"{key}-pooled-all"] - ref[key]) < TOL, key
    assert abs(ours.extras["AR-pooled-all"] - ref["AR"]) < TOL
    # the pool is not the mean of per-class AP
    fixed = metrics.evaluate_coco(gt, res, mode="fixed", dets_per_cat=dets_per_cat, iou_type=iou_type)
    assert abs(fixed.stats["AP"] - ref["AP"]) > 1e-6
