"""Tests of reference_models.DetectionCalibrator and its exact rank preservation."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import scipy.special

import reference_models.data as sample_data
from metrics import InputError, detection_calibration_report, evaluate_lvis
from reference_models import DetectionCalibrator, IsotonicCalibration, TemperatureScaling
from reference_models.detection_calibration import rank_preserving

DATA = Path(sample_data.__file__).resolve().parent
GT = str(DATA / "lvis_sample_gt.json")
RES = str(DATA / "lvis_sample_results.json")
TRAIN = str(DATA / "lvis_sample_results_train.json")


# ------------------------------------------------------------------ rank preservation
def slow_rank_preserving(c, o):
    """The spec's two walks, one detection at a time with np.nextafter."""
    c = np.asarray(c, float) + 0.0
    o = np.asarray(o, float)
    order = sorted(range(len(c)), key=lambda i: (c[i], o[i]))
    v = np.empty(len(c))
    prev = None
    for pos, i in enumerate(order):
        if pos and (c[i], o[i]) == (c[prev], o[prev]):
            v[i] = v[prev]
        elif pos:
            v[i] = max(c[i], np.nextafter(v[prev], np.inf))
        else:
            v[i] = max(c[i], 0.0)
        prev = i
    top = order[-1]
    v[top] = min(v[top], 1.0)
    for pos in range(len(order) - 2, -1, -1):
        i, up = order[pos], order[pos + 1]
        if (c[i], o[i]) == (c[up], o[up]):
            v[i] = v[up]
        else:
            v[i] = min(v[i], np.nextafter(v[up], -np.inf))
    return v


@pytest.mark.parametrize("seed", range(4))
def test_rank_preserving_equals_the_two_walks(seed):
    rng = np.random.default_rng(seed)
    n = 300
    c = rng.choice([0.0, 0.25, 0.5, 1.0, np.nextafter(1.0, 0), np.nextafter(0.5, 1), 5e-324], size=n)
    c[: n // 3] = rng.random(n // 3)
    o = rng.choice(np.round(rng.random(20), 2), size=n)
    out = rank_preserving(c, o)
    assert np.array_equal(out, slow_rank_preserving(c, o))
    assert out.min() >= 0 and out.max() <= 1
    # order exactly lexicographic in (calibrated, original); equal keys equal values
    order = np.lexsort((o, c))
    vs = out[order]
    same = (c[order][1:] == c[order][:-1]) & (o[order][1:] == o[order][:-1])
    assert np.all(vs[1:][same] == vs[:-1][same]) and np.all(vs[1:][~same] > vs[:-1][~same])
    assert np.max(np.abs(out - c)) < 1e-12


def test_rank_preserving_uses_the_smallest_change():
    c = np.array([0.5, 0.5, 0.5, 1.0, 1.0])
    o = np.array([0.3, 0.1, 0.3, 0.5, 0.6])
    out = rank_preserving(c, o)
    assert out[1] == 0.5 and out[0] == out[2] == np.nextafter(0.5, 1)
    assert out[4] == 1.0 and out[3] == np.nextafter(1.0, 0)


# ------------------------------------------------------------------ array-level fit
CATS = {1: "r", 2: "r", 3: "c", 4: "f", 5: "f"}


def labelled(seed=0, n=600):
    rng = np.random.default_rng(seed)
    cats = rng.choice([1, 3, 4, 5], size=n)
    s = rng.random(n)
    m = rng.random(n) < s ** 2
    m[cats == 5] = False  # class 5: detections, no TP; class 2: no detections
    return cats, s, m


def test_strategies_zero_keep_frequency():
    cats, s, m = labelled()
    probe_c = np.array([1, 2, 5, 4])
    probe_s = np.array([0.3, 0.4, 0.6, 0.7])
    zero = DetectionCalibrator(method="isotonic", maintain_rank=False).fit_labels(cats, s, m, CATS)
    assert zero.assignment_[2] == "zero" and zero.assignment_[5] == "zero"
    out = zero.transform_scores(probe_c, probe_s)
    assert out[1] == 0 and out[2] == 0
    keep = DetectionCalibrator(method="isotonic", no_tp="keep", missing="keep", maintain_rank=False)
    out = keep.fit_labels(cats, s, m, CATS).transform_scores(probe_c, probe_s)
    assert out[1] == 0.4 and out[2] == 0.6
    freq = DetectionCalibrator(method="isotonic", no_tp="frequency", missing="frequency", maintain_rank=False)
    freq.fit_labels(cats, s, m, CATS)
    assert freq.assignment_[2] == "frequency:r" and freq.assignment_[5] == "frequency:f"
    ref_r = IsotonicCalibration().fit(s[cats == 1], m[cats == 1])  # frequency r = class 1 only
    ref_f = IsotonicCalibration().fit(s[(cats == 4) | (cats == 5)], m[(cats == 4) | (cats == 5)])
    out = freq.transform_scores(probe_c, probe_s)
    assert out[1] == ref_r.transform([0.4])[0] and out[2] == ref_f.transform([0.6])[0]
    iso1 = IsotonicCalibration().fit(s[cats == 1], m[cats == 1])
    assert out[0] == iso1.transform([0.3])[0]


def test_per_frequency_and_overall_groups():
    cats, s, m = labelled(1)
    f = DetectionCalibrator(method="platt", per="frequency").fit_labels(cats, s, m, CATS)
    assert f.assignment_ == {1: "frequency:r", 2: "frequency:r", 3: "frequency:c", 4: "frequency:f",
                             5: "frequency:f"}
    o = DetectionCalibrator(method="platt", per="overall").fit_labels(cats, s, m, CATS)
    assert set(o.assignment_.values()) == {"overall"}


def test_temperature_method_is_temperature_scaling_on_logits():
    cats, s, m = labelled(2)
    cal = DetectionCalibrator(method="temperature", per="overall", maintain_rank=False).fit_labels(cats, s, m, CATS)
    z = scipy.special.logit(np.clip(s, 1e-12, 1 - 1e-12))
    t = TemperatureScaling().fit(z, m.astype(int)).temperature_
    assert np.allclose(cal.transform_scores(cats, s), scipy.special.expit(z / t), atol=1e-15)


def test_no_true_positive_anywhere_with_frequency_strategy_raises():
    cats, s, _ = labelled(3)
    with pytest.raises(InputError, match="true positive"):
        DetectionCalibrator(no_tp="frequency").fit_labels(cats, s, np.zeros(s.size, bool), CATS)


@pytest.mark.parametrize("call, match", [
    (lambda: DetectionCalibrator(method="beta"), "method"),
    (lambda: DetectionCalibrator(per="image"), "per"),
    (lambda: DetectionCalibrator(no_tp="drop"), "no_tp"),
    (lambda: DetectionCalibrator(n_bins=0), "n_bins"),
    (lambda: DetectionCalibrator().transform_scores([1], [0.5]), "not fitted"),
    (lambda: DetectionCalibrator().fit_labels([1, 9], [.2, .3], [0, 1], CATS), "category_ids"),
    (lambda: DetectionCalibrator().fit_labels([1, 3], [.2, 1.3], [0, 1], CATS), "scores"),
    (lambda: DetectionCalibrator().fit_labels(*labelled(), CATS).transform_scores([1, 7], [.2, .3]),
     "known at fit time"),
    (lambda: DetectionCalibrator().fit_labels(*labelled(), CATS).transform_scores([1, 3], [.2, -.3]), "scores"),
    (lambda: DetectionCalibrator().fit_labels(*labelled(), CATS).transform([{"category_id": 1}]), "score"),
])
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()


# ------------------------------------------------------------------ on LVIS data
def _same_fixed(a, b):
    return a.metrics == b.metrics and a.per_category_ap == b.per_category_ap


@pytest.fixture(scope="module")
def sample_baseline():
    return evaluate_lvis(GT, RES, mode="fixed"), evaluate_lvis(GT, RES, mode="pooled")


@pytest.mark.filterwarnings("ignore:temperature:UserWarning")  # a class whose scores are anti-informative
@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_monotone_per_class_map_keeps_ap_fixed_bit_identical_and_moves_ap_pool(method, sample_baseline):
    fixed, pooled = sample_baseline
    cal = DetectionCalibrator(method=method, per="class", no_tp="zero", missing="zero").fit(GT, TRAIN)
    out = cal.transform(RES)
    assert _same_fixed(evaluate_lvis(GT, out, mode="fixed"), fixed)
    assert evaluate_lvis(GT, out, mode="pooled").metrics["AP-pooled-all"] != pooled.metrics["AP-pooled-all"]


def test_histogram_binning_is_not_monotone_and_may_change_ap_fixed(sample_baseline):
    fixed, _ = sample_baseline
    out = DetectionCalibrator(method="histogram", per="class").fit(GT, TRAIN).transform(RES)
    assert not _same_fixed(evaluate_lvis(GT, out, mode="fixed"), fixed)


def test_transform_returns_new_dicts_and_leaves_the_input_alone():
    import json

    dets = json.loads(Path(RES).read_text())[:200]
    before = copy.deepcopy(dets)
    cal = DetectionCalibrator(method="platt").fit(GT, TRAIN)
    out = cal.transform(dets)
    assert dets == before and len(out) == len(dets)
    assert all({k: v for k, v in o.items() if k != "score"} == {k: v for k, v in d.items() if k != "score"}
               for o, d in zip(out, dets))
    assert all(0 <= o["score"] <= 1 for o in out)


# ------------------------------------------------------------------ synthetic over-confident detector
def synthetic_lvis(seed, n_images=80):
    """Category 1 (rare) scores low but is precise; category 3 (frequent) scores high with many FPs."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "width": 100, "height": 100, "neg_category_ids": [1, 2, 3],
                       "not_exhaustive_category_ids": []})
    gt = {"images": images, "categories": [{"id": 1, "frequency": "r"}, {"id": 2, "frequency": "c"},
                                           {"id": 3, "frequency": "f"}], "annotations": anns}
    for i in range(1, n_images + 1):
        present = [c for c in (1, 2, 3) if rng.random() < 0.6]
        images[i - 1]["neg_category_ids"] = [c for c in (1, 2, 3) if c not in present]
        for k, c in enumerate(present):
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c, "bbox": [2.0, 30.0 * k + 2, 20, 20],
                         "area": 400.0})
    return gt


def synthetic_results(gt, seed):
    rng = np.random.default_rng(seed)
    tp_score = {1: (0.1, 0.45), 2: (0.4, 0.8), 3: (0.7, 1.0)}
    fp_score = {1: (0.0, 0.25), 2: (0.3, 0.7), 3: (0.6, 0.99)}
    n_fp = {1: 1, 2: 2, 3: 4}
    out = []
    for a in gt["annotations"]:
        if rng.random() < 0.9:
            x, y, w, h = a["bbox"]
            out.append({"image_id": a["image_id"], "category_id": a["category_id"],
                        "bbox": [x + rng.uniform(-.5, .5), y + rng.uniform(-.5, .5), w, h],
                        "score": float(rng.uniform(*tp_score[a["category_id"]]))})
    for img in gt["images"]:
        for c in (1, 2, 3):
            for _ in range(rng.poisson(n_fp[c] * 0.5)):
                out.append({"image_id": img["id"], "category_id": c,
                            "bbox": [float(rng.uniform(55, 75)), float(rng.uniform(0, 75)), 20, 20],
                            "score": float(rng.uniform(*fp_score[c]))})
    return out


def test_calibration_lowers_ece_and_raises_ap_pool_on_held_out_results():
    gt = synthetic_lvis(0)
    train, test = synthetic_results(gt, 1), synthetic_results(gt, 2)
    for method in ("platt", "isotonic", "histogram"):
        cal = DetectionCalibrator(method=method, per="class").fit(gt, train)
        rep = detection_calibration_report(gt, test, calibrator=cal)
        assert rep.metrics_after["ece-overall"] < rep.metrics["ece-overall"] / 2
        assert rep.ap_after["AP-Pool"] > rep.ap_before["AP-Pool"] + 0.02
        if method != "histogram":
            assert rep.ap_after["AP-Fixed"] == rep.ap_before["AP-Fixed"]


def test_gaming_rare_classes_changes_standard_ap_not_ap_fixed():
    """s → s^γ on rare classes, on images with > 300 detections: the per-image cap moves."""
    rng = np.random.default_rng(5)
    anns, dets = [], []
    images = [{"id": i, "width": 200, "height": 200, "neg_category_ids": [], "not_exhaustive_category_ids": []}
              for i in (1, 2)]
    for i in (1, 2):
        for c in (1, 2):
            for k in range(10):
                box = [10.0 * k, 20.0 * c, 8, 8]
                anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c, "bbox": box, "area": 64.0})
                dets.append({"image_id": i, "category_id": c, "bbox": box, "score": float(rng.uniform(.05, .3))})
            for _ in range(190):  # FPs far from every GT
                dets.append({"image_id": i, "category_id": c, "bbox": [float(rng.uniform(0, 150)), 120.0, 8, 8],
                             "score": float(rng.uniform(.2, .9))})
    gt = {"images": images, "categories": [{"id": 1, "frequency": "r"}, {"id": 2, "frequency": "f"}],
          "annotations": anns}
    gamed = [dict(d, score=d["score"] ** 0.3) if d["category_id"] == 1 else d for d in dets]
    std, std_g = evaluate_lvis(gt, dets).metrics, evaluate_lvis(gt, gamed).metrics
    assert std_g["AP"] != std["AP"] and std_g["APr"] > std["APr"]
    assert _same_fixed(evaluate_lvis(gt, gamed, mode="fixed"), evaluate_lvis(gt, dets, mode="fixed"))
