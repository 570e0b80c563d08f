"""LVIS AP / AP-Fixed / AP-Pool against lvis-api 0.5.3 and a slow test-only replica."""

from __future__ import annotations

import copy
import json
from collections import defaultdict

import numpy as np
import pytest

import metrics
from metrics import InputError
from tests.metrics.detection.lvis_synth import make_lvis

lvis = pytest.importorskip("lvis")
np.float = float  # lvis 0.5.3 uses np.float (removed in numpy 1.24): shim, tests only

TOL = 1e-12


def _lvis_gt(gt: dict):
    g = lvis.LVIS.__new__(lvis.LVIS)
    import logging

    g.logger = logging.getLogger("lvis-test")
    g.dataset = copy.deepcopy(gt)
    g._create_index()
    return g


def lvis_api(gt: dict, results: list, iou_type: str = "bbox", max_dets: int = 300):
    g = _lvis_gt(gt)
    r = lvis.LVISResults(g, copy.deepcopy(results), max_dets=max_dets)
    e = lvis.LVISEval(g, r, iou_type)
    e.params.max_dets = max_dets
    e.run()
    return e


def api_per_category(e) -> dict:
    P = e.eval["precision"]
    out = {}
    for k, c in enumerate(e.params.cat_ids):
        s = P[:, :, k, 0]
        out[c] = float(np.mean(s[s > -1])) if (s > -1).any() else None
    return out


def assert_same(ours, e, prefix=""):
    assert list(e.results) == [k for k in ours.metrics]
    for key, value in e.results.items():
        assert abs(ours.metrics[key] - value) <= TOL, key
    ref = api_per_category(e)
    assert set(ref) == set(ours.per_category_ap)
    for c, v in ref.items():
        mine = ours.per_category_ap[c]
        assert (v is None) == (mine is None), c
        if v is not None:
            assert abs(mine - v) <= TOL, c


def top_k_per_category(results: list, k: int) -> list:
    """The authors' script's top-K step, written plainly (stable sort by score)."""
    by_cat = defaultdict(list)
    for r in results:
        by_cat[r["category_id"]].append(r)
    out = []
    for anns in by_cat.values():
        out.extend(sorted(anns, key=lambda a: a["score"], reverse=True)[:k] if k > 0 else anns)
    return out


def slow_pooled(gt: dict, results: list, k: int, iou_type="bbox", pools=("all", "r", "c", "f")):
    """AP-Pool from the spec: lvis-api matching, then one ranking per pool (plain loops)."""
    e = lvis.LVISEval(_lvis_gt(gt), lvis.LVISResults(_lvis_gt(gt), copy.deepcopy(top_k_per_category(results, k)),
                                                     max_dets=-1), iou_type)
    e.params.max_dets = -1
    e.evaluate()
    n_img, n_area = len(e.params.img_ids), len(e.params.area_rng)
    freq = {c["id"]: c["frequency"] for c in gt["categories"]}
    out, extras = {}, {}
    rec_thrs = e.params.rec_thrs
    for pool in pools:
        cats = [i for i, c in enumerate(e.params.cat_ids) if pool == "all" or freq[c] == pool]
        prec_a, rec_a = [], []
        for a in range(n_area):
            E = [e.eval_imgs[c * n_area * n_img + a * n_img + i] for i in range(n_img) for c in cats]
            E = [x for x in E if x is not None]
            prec = -np.ones((10, 101))
            rec = -np.ones(10)
            if E:
                scores = np.concatenate([x["dt_scores"] for x in E])
                order = np.argsort(-scores, kind="mergesort")
                m = np.concatenate([x["dt_matches"] for x in E], axis=1)[:, order]
                ig = np.concatenate([x["dt_ignore"] for x in E], axis=1)[:, order]
                n_gt = int(sum((x["gt_ignore"] == 0).sum() for x in E))
                if n_gt:
                    for t in range(10):
                        tp = fp = 0
                        rc, pr = [], []
                        for j in range(m.shape[1]):
                            if m[t, j] and not ig[t, j]:
                                tp += 1
                            elif not m[t, j] and not ig[t, j]:
                                fp += 1
                            rc.append(tp / n_gt)
                            pr.append(tp / (fp + tp + np.spacing(1)))
                        for j in range(len(pr) - 2, -1, -1):
                            pr[j] = max(pr[j], pr[j + 1])
                        rec[t] = rc[-1] if rc else 0
                        for ri, r in enumerate(rec_thrs):
                            js = [j for j, v in enumerate(rc) if v >= r]
                            prec[t, ri] = pr[js[0]] if js else 0.0
            prec_a.append(prec)
            rec_a.append(rec)

        def mean(s):
            return float(np.mean(s[s > -1])) if (s > -1).any() else -1.0

        out[f"AP-pooled-{pool}"] = mean(prec_a[0])
        extras[f"AP50-pooled-{pool}"] = mean(prec_a[0][0])
        extras[f"AP75-pooled-{pool}"] = mean(prec_a[0][5])
        extras[f"AR-pooled-{pool}"] = mean(rec_a[0])
        for a, nm in ((1, "s"), (2, "m"), (3, "l")):
            extras[f"AP{nm}-pooled-{pool}"] = mean(prec_a[a])
    return out, extras


# ----------------------------------------------------------------------------- hand case


def hand_case():
    gt = {"images": [{"id": 1, "width": 100, "height": 100, "neg_category_ids": [2],
                      "not_exhaustive_category_ids": []},
                     {"id": 2, "width": 100, "height": 100, "neg_category_ids": [],
                      "not_exhaustive_category_ids": [1]}],
          "categories": [{"id": 1, "frequency": "r"}, {"id": 2, "frequency": "f"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 0, 10, 10], "area": 100}]}
    res = [dict(image_id=1, category_id=1, bbox=[0, 0, 10, 10], score=.9),
           dict(image_id=1, category_id=1, bbox=[0, 0, 10, 5], score=.8),
           dict(image_id=1, category_id=1, bbox=[22, 0, 10, 10], score=.7),
           dict(image_id=1, category_id=2, bbox=[50, 50, 10, 10], score=.95),
           dict(image_id=2, category_id=1, bbox=[50, 50, 10, 10], score=.99)]
    return gt, res


def test_hand_case_spec_values():
    gt, res = hand_case()
    r = metrics.evaluate_lvis(gt, res, mode="all")
    m = r.metrics
    assert m["standard/AP50"] == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-12)
    assert m["standard/AP75"] == pytest.approx(51 / 101, abs=1e-12)
    for key in ("AP", "APs", "APr"):
        assert m[f"standard/{key}"] == pytest.approx(0.636964, abs=5e-7)
    for key in ("APm", "APl", "APc", "APf"):
        assert m[f"standard/{key}"] == -1
    assert m["standard/AR@300"] == pytest.approx(0.7, abs=1e-12)
    assert m["fixed/AR@-1"] == pytest.approx(0.7, abs=1e-12)
    assert m["pooled/AP-pooled-all"] == pytest.approx((4 * 0.5 + 6 * 25.5 / 101) / 10, abs=1e-12)
    assert m["pooled/AP-pooled-r"] == pytest.approx(0.636964, abs=5e-7)
    assert m["pooled/AP-pooled-c"] == -1 and m["pooled/AP-pooled-f"] == -1
    assert r.counts["standard/federated_dropped"] == 1
    assert r.by_mode["fixed"].metrics["AP"] == m["fixed/AP"]
    assert_same(r.by_mode["standard"], lvis_api(gt, res))


# ----------------------------------------------------------------------------- lvis-api


@pytest.mark.parametrize("seed", [0])
def test_standard_bbox_equals_lvis_api(seed):
    gt, res = make_lvis(seed)
    ours = metrics.evaluate_lvis(gt, res)
    assert ours.counts["capped"] > 0 and ours.counts["federated_dropped"] > 0
    assert any(a.get("ignore") for a in gt["annotations"])
    assert_same(ours, lvis_api(gt, res))


def test_standard_small_cap_and_permuted_ties_equal_lvis_api():
    gt, res = make_lvis(5, n_images=25, busy_images=1, busy_dets=120, score_decimals=1)
    for perm_seed in (0, 1):
        shuffled = [res[i] for i in np.random.default_rng(perm_seed).permutation(len(res))]
        ours = metrics.evaluate_lvis(gt, shuffled, max_dets_per_image=15)
        assert ours.counts["capped"] > 0
        assert_same(ours, lvis_api(gt, shuffled, max_dets=15))
    # cap off
    assert_same(metrics.evaluate_lvis(gt, res, max_dets_per_image=-1), lvis_api(gt, res, max_dets=-1))


def test_standard_segm_equals_lvis_api():
    gt, res = make_lvis(3, n_images=25, busy_dets=310, segm=True)
    # lvis-api takes w*h of the result boxes as the area
    ours = metrics.evaluate_lvis(gt, res, iou_type="segm", segm_area="lvis_api")
    assert_same(ours, lvis_api(gt, res, "segm"))
    # without boxes, lvis-api takes the mask area, which is segm_area="mask"
    no_box = [{k: v for k, v in r.items() if k != "bbox"} for r in res]
    ours = metrics.evaluate_lvis(gt, no_box, iou_type="segm")
    assert_same(ours, lvis_api(gt, no_box, "segm"))
    assert metrics.evaluate_lvis(gt, res, iou_type="segm").metrics == ours.metrics


def test_gt_area_boundaries_and_empty_pairs_present():
    gt, res = make_lvis(0)
    areas = {a["area"] for a in gt["annotations"]}
    assert 1024.0 in areas and 9216.0 in areas
    r = metrics.evaluate_lvis(gt, res)
    assert any(v is None for v in r.per_category_ap.values())  # categories without GT
    with_gt = {a["category_id"] for a in gt["annotations"]}
    dets = {d["category_id"] for d in res}
    assert r.counts["unknown_category"] == 0
    del with_gt, dets


# ----------------------------------------------------------------------------- fixed / pooled


@pytest.mark.parametrize("k", [100])  # K = 10,000: see the no-budget test + cap-off lvis-api equality
def test_fixed_equals_topk_then_lvis_api(k):
    gt, res = make_lvis(2, n_cats=12)
    per_cat = np.bincount([d["category_id"] for d in res])
    if k == 100:
        assert per_cat.max() > 100  # the budget bites
    ours = metrics.evaluate_lvis(gt, res, mode="fixed", dets_per_cat=k)
    e = lvis_api(gt, top_k_per_category(res, k), max_dets=-1)
    assert_same(ours, e)
    assert metrics.ap_fixed(gt, res, dets_per_cat=k) == ours.metrics


def test_fixed_without_budget_equals_standard_without_cap():
    gt, res = make_lvis(4, n_images=20)
    fixed = metrics.evaluate_lvis(gt, res, mode="fixed")
    std = metrics.evaluate_lvis(gt, res, max_dets_per_image=-1)
    assert fixed.metrics == std.metrics
    assert any("fewer than 10000" in w for w in fixed.warnings)


@pytest.mark.parametrize("k", [60, -1])
def test_pooled_equals_slow_replica(k):
    gt, res = make_lvis(6, n_images=14, n_cats=12, busy_images=1, busy_dets=150, score_decimals=1)
    ours = metrics.evaluate_lvis(gt, res, mode="pooled", dets_per_cat=k)
    ref, ref_extras = slow_pooled(gt, res, k)
    assert list(ours.metrics) == list(ref)
    for key, v in ref.items():
        assert abs(ours.metrics[key] - v) <= TOL, key
    for key, v in ref_extras.items():
        assert abs(ours.extras[key] - v) <= TOL, key
    assert metrics.ap_pool(gt, res, dets_per_cat=k) == ours.metrics
    fixed = metrics.evaluate_lvis(gt, res, mode="fixed", dets_per_cat=k)
    assert ours.per_category_ap == fixed.per_category_ap


def test_pooled_subset_of_pools():
    gt, res = make_lvis(6, n_images=15, n_cats=10)
    full = metrics.ap_pool(gt, res)
    part = metrics.ap_pool(gt, res, pools=("c",))
    assert list(part) == ["AP-pooled-c"] and part["AP-pooled-c"] == full["AP-pooled-c"]


def test_paper_findings_rerank_and_monotone_transform():
    gt, res = make_lvis(7, n_images=20, busy_images=3, busy_dets=400)
    # (1) cross-category re-ranking that keeps each class's order: raise one class
    cats = sorted({d["category_id"] for d in res})
    boosted = cats[: len(cats) // 3]
    rer = [dict(d, score=(0.5 + d["score"] / 2) if d["category_id"] in boosted else d["score"] / 2) for d in res]
    base_std, rer_std = metrics.evaluate_lvis(gt, res), metrics.evaluate_lvis(gt, rer)
    assert base_std.metrics["AP"] != rer_std.metrics["AP"]
    assert metrics.ap_fixed(gt, res) == metrics.ap_fixed(gt, rer)
    # (2) a per-class strictly increasing map changes AP-Pool, not AP-Fixed
    gam = {c: 0.3 + (i % 5) * 0.4 for i, c in enumerate(cats)}
    mono = [dict(d, score=d["score"] ** gam[d["category_id"]]) for d in res]
    assert metrics.ap_fixed(gt, mono) == metrics.ap_fixed(gt, res)
    assert metrics.ap_pool(gt, mono)["AP-pooled-all"] != metrics.ap_pool(gt, res)["AP-pooled-all"]


# ----------------------------------------------------------------------------- inputs


def test_files_stream_like_lists_and_inputs_untouched(tmp_path, monkeypatch):
    from metrics.detection import _results_io as _io

    gt, res = make_lvis(8, n_images=12, segm=True)
    gt_copy, res_copy = copy.deepcopy(gt), copy.deepcopy(res)
    ref = metrics.evaluate_lvis(gt, res, iou_type="segm")
    assert gt == gt_copy and res == res_copy
    monkeypatch.setattr(_io, "_CHUNK_CHARS", 257)  # many cuts, some inside nested RLE dicts
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res, indent=1))
    (tmp_path / "res.jsonl").write_text("\n".join(json.dumps(r) for r in res))
    a = metrics.evaluate_lvis(str(tmp_path / "gt.json"), str(tmp_path / "res.json"), iou_type="segm")
    b = metrics.evaluate_lvis(tmp_path / "gt.json", tmp_path / "res.jsonl", iou_type="segm")
    c = metrics.evaluate_lvis(_lvis_gt(gt), res, iou_type="segm")
    assert a.metrics == b.metrics == c.metrics == ref.metrics


def test_empty_results_warn_and_score_zero():
    gt, _ = make_lvis(0, n_images=6)
    r = metrics.evaluate_lvis(gt, [])
    assert r.metrics["AP"] == 0.0 and any("empty" in w for w in r.warnings)


def test_unknown_category_and_zero_area_dropped_and_counted():
    gt, res = hand_case()
    extra = res + [dict(image_id=1, category_id=99, bbox=[0, 0, 5, 5], score=.5),
                   dict(image_id=1, category_id=1, bbox=[0, 0, 0, 5], score=.5)]
    r = metrics.evaluate_lvis(gt, extra)
    assert r.counts["unknown_category"] == 1 and r.counts["zero_area"] == 1
    assert r.metrics == metrics.evaluate_lvis(gt, res).metrics
    assert len(r.warnings) == 2


def _bad(gt, res, match, **kw):
    with pytest.raises(InputError, match=match):
        metrics.evaluate_lvis(gt, res, **kw)


def test_bad_results():
    gt, res = hand_case()
    _bad(gt, res + [dict(image_id=7, category_id=1, bbox=[0, 0, 1, 1], score=.5)], r"results\[5\].image_id 7")
    _bad(gt, [dict(res[0], score=float("nan"))], r"results\[0\].score must be a finite")
    _bad(gt, [res[0], dict(res[1], bbox=[0, 0, -3, 4])], r"results\[1\].bbox must have width and height")
    _bad(gt, [dict(res[0], bbox=[0, 0, 3])], r"results\[0\].bbox must be a box")
    _bad(gt, [{k: v for k, v in res[0].items() if k != "score"}], r"results\[0\] lacks the field 'score'")
    _bad(gt, res, "segmentation", iou_type="segm")
    _bad(gt, "not-a-file.json", "does not exist")
    _bad(gt, 5, "results must be")


def test_bad_files(tmp_path):
    gt, res = hand_case()
    p = tmp_path / "r.json"
    p.write_text(json.dumps(res)[:-30])
    _bad(gt, str(p), "truncated")
    p.write_text("{\"a\": 1}")
    _bad(gt, str(p), "JSON list")
    p.write_text("")
    _bad(gt, str(p), "empty")
    q = tmp_path / "r.jsonl"
    q.write_text(json.dumps(res[0]) + "\n{\"image_id\": 1,")
    _bad(gt, str(q), "line 2")
    g = tmp_path / "gt.json"
    g.write_text(json.dumps(gt)[:50])
    _bad(str(g), res, "gt")


def test_bad_gt():
    gt, res = hand_case()
    for mutate, match in [
        (lambda g: g["categories"][0].pop("frequency"), r"categories\[0\] lacks the field 'frequency'"),
        (lambda g: g["categories"][0].update(frequency="x"), "frequency must be one of"),
        (lambda g: g["images"][1].pop("neg_category_ids"), r"images\[1\] lacks the field 'neg_category_ids'"),
        (lambda g: g["annotations"][0].update(id=0), "positive integer"),
        (lambda g: g["annotations"][1].update(id=1), "unique"),
        (lambda g: g["annotations"][0].update(image_id=9), "not in gt.images"),
        (lambda g: g["images"][0].update(neg_category_ids=[77]), "category id 77"),
    ]:
        g = copy.deepcopy(gt)
        mutate(g)
        _bad(g, res, match)
    _bad({"images": []}, res, "gt must have")


def test_bad_options():
    gt, res = hand_case()
    _bad(gt, res, "mode", mode="best")
    _bad(gt, res, "iou_type", iou_type="keypoints")
    _bad(gt, res, "dets_per_cat must be", mode="fixed", dets_per_cat=0)
    _bad(gt, res, "applies to modes 'fixed' and 'pooled'", dets_per_cat=100)
    _bad(gt, res, "applies to mode 'standard'", mode="fixed", max_dets_per_image=100)
    _bad(gt, res, "pools applies", mode="fixed", pools=("r",))
    _bad(gt, res, "pools must be", mode="pooled", pools=("x",))
    _bad(gt, res, "segm_area applies", segm_area="lvis_api")


def test_report_frame_and_dict():
    gt, res = hand_case()
    r = metrics.evaluate_lvis(gt, res, mode="pooled")
    f = r.to_frame()
    assert list(f["metric"])[:1] == ["AP-pooled-all"] and "AR-pooled-all" in set(f["metric"])
    d = r.to_dict()
    assert d["metrics"]["AP-pooled-all"] == r.metrics["AP-pooled-all"]


def test_bundled_sample_equals_lvis_api():
    from metricprobe.cli.lvis import sample_paths

    gt_path, res_path = sample_paths()
    gt = json.loads(open(gt_path).read())
    res = json.loads(open(res_path).read())
    assert_same(metrics.evaluate_lvis(gt_path, res_path), lvis_api(gt, res))


def test_match_detections_equals_lvis_api_dt_matches():
    gt, res = make_lvis(9, n_images=15, n_cats=10)
    m = metrics.match_detections(gt, res, dets_per_cat=-1)
    g = _lvis_gt(gt)
    e = lvis.LVISEval(g, lvis.LVISResults(g, copy.deepcopy(res), max_dets=-1), "bbox")
    e.params.max_dets = -1
    e.params.iou_thrs = np.array([0.75])
    e.params.area_rng, e.params.area_rng_lbl = e.params.area_rng[:1], ["all"]
    e.evaluate()
    label = {}
    for x in e.eval_imgs:
        if x is None:
            continue
        for j, dt_id in enumerate(x["dt_ids"]):  # LVISResults ids are 1 + input position
            label[dt_id - 1] = (bool(x["dt_matches"][0, j]) and not x["dt_ignore"][0, j], bool(x["dt_ignore"][0, j]))
    assert sorted(label) == m.index.tolist()
    assert [label[i][0] for i in m.index] == m.matched.tolist()
    assert [label[i][1] for i in m.index] == m.ignored.tolist()
    assert m.matched.any() and m.ignored.any() and m.false_positive.any()
    freq = {c["id"]: c["frequency"] for c in gt["categories"]}
    assert m.frequency.tolist() == [freq[c] for c in m.category_id.tolist()]


def test_bbox_iou_bit_identical_to_pycocotools():
    import pycocotools.mask as mask_utils

    from metrics.detection._iou import bbox_iou_pairs

    rng = np.random.default_rng(0)
    dt = np.round(rng.uniform(0, 50, (300, 4)), 1)
    gt = np.round(rng.uniform(0, 50, (7, 4)), 1)
    gt[0] = dt[0]
    ref = mask_utils.iou(dt.tolist(), gt.tolist(), [0] * 7)
    ours = bbox_iou_pairs(np.repeat(dt, 7, axis=0), np.tile(gt, (300, 1))).reshape(300, 7)
    assert np.array_equal(ours, ref) and (ref > 0).sum() > 50


@pytest.mark.parametrize("field, value", [("score", "0.9"), ("score", True), ("bbox", [10, "10", 5, 5]),
                                          ("image_id", [1]), ("category_id", True)])
def test_lax_record_types_are_refused(field, value):
    gt, res = hand_case()
    bad = [dict(res[0], **{field: value})] + res[1:]
    with pytest.raises(InputError, match=field):
        metrics.evaluate_lvis(gt, bad)


def test_zero_image_width_is_refused():
    gt, res = hand_case()
    gt = dict(gt, images=[dict(gt["images"][0], width=0)] + gt["images"][1:])
    with pytest.raises(InputError, match="width"):
        metrics.evaluate_lvis(gt, res)


def test_explicit_default_for_an_unused_option_is_refused():
    gt, res = hand_case()
    with pytest.raises(InputError, match="max_dets_per_image"):
        metrics.evaluate_lvis(gt, res, mode="fixed", max_dets_per_image=300)


def test_progress_callable_is_called():
    gt, res = hand_case()
    seen = []
    metrics.evaluate_lvis(gt, res, mode="all", progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5, 5)
