"""Tests of metrics.detection.audit: TP/FP labels, D-ECE (netcal-exact mode), the audit report."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pytest

import reference_models.data as sample_data
from metrics import (
    DetectionCalibrationReport,
    InputError,
    detection_calibration_report,
    detection_ece,
    label_detections,
)

DATA = Path(sample_data.__file__).resolve().parent
GT = str(DATA / "lvis_sample_gt.json")
RES = str(DATA / "lvis_sample_results.json")


def hand_gt():
    return {
        "images": [{"id": 1, "width": 100, "height": 100, "neg_category_ids": [2], "not_exhaustive_category_ids": []},
                   {"id": 2, "width": 100, "height": 100, "neg_category_ids": [],
                    "not_exhaustive_category_ids": [1]}],
        "categories": [{"id": 1, "frequency": "r"}, {"id": 2, "frequency": "f"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100},
                        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 0, 10, 10], "area": 100}],
    }


HAND_DETS = [
    {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": .9},
    {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 5], "score": .8},
    {"image_id": 1, "category_id": 1, "bbox": [22, 0, 10, 10], "score": .7},
    {"image_id": 1, "category_id": 2, "bbox": [50, 50, 10, 10], "score": .95},
    {"image_id": 2, "category_id": 1, "bbox": [50, 50, 10, 10], "score": .99},
]


def slow_dece(s, m, f, n_bins, min_count=1, norm="l1"):
    """Joint-bin D-ECE written plainly: k/M edges, [lo, hi) with the last bin closed, dict of bins."""
    s = np.asarray(s, float)
    f = np.zeros((len(s), 0)) if f is None else np.asarray(f, float).reshape(len(s), -1)
    bins = {}
    for i in range(len(s)):
        key = []
        for v, nb in zip([s[i], *f[i]], n_bins):
            k = 0
            while k < nb - 1 and v >= (k + 1) / nb:
                k += 1
            key.append(k)
        bins.setdefault(tuple(key), []).append(i)
    kept = [idx for idx in bins.values() if len(idx) >= min_count]
    n_kept = sum(len(idx) for idx in kept)
    gaps = [abs(np.mean(np.asarray(m, float)[idx]) - np.mean(s[idx])) for idx in kept]
    if norm == "l1":
        return sum(len(idx) / n_kept * g for idx, g in zip(kept, gaps))
    return max(gaps) if norm == "max" else float(np.mean(gaps))


# ------------------------------------------------------------------ detection_ece
def test_detection_ece_hand_case():
    s, m = [0.9, 0.8, 0.3, 0.2], [1, 0, 0, 0]
    assert detection_ece(s, m, n_bins=2) == pytest.approx(0.5 * 0.25 + 0.5 * 0.35, abs=1e-15)
    assert detection_ece(s, m, n_bins=2, norm="max") == pytest.approx(0.35, abs=1e-15)
    assert detection_ece(s, m, n_bins=2, norm="average") == pytest.approx(0.3, abs=1e-15)
    # one feature, 2 bins: cells {(.9,.1)}, {(.8,.9)}, {(.3,.2),(.2,.3)}; with min_bin_count=2 only
    # the last is kept (N' = 2): gap |0 − .25|
    f = [0.1, 0.9, 0.2, 0.3]
    assert detection_ece(s, m, features=f, n_bins=[2, 2], min_bin_count=2) == pytest.approx(0.25, abs=1e-15)
    assert detection_ece(s, m, features=f, n_bins=2) == pytest.approx((0.1 + 0.8 + 2 * 0.25) / 4, abs=1e-15)


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_detection_ece_equals_slow_reference(binning):
    rng = np.random.default_rng(1)
    s = rng.random(500)
    m = rng.random(500) < s ** 2
    f = rng.random((500, 2))
    if binning == "uniform":
        for norm in ("l1", "max", "average"):
            ours = detection_ece(s, m, features=f, n_bins=[6, 3, 2], norm=norm, min_bin_count=3)
            assert abs(ours - slow_dece(s, m, f, [6, 3, 2], 3, norm)) < 1e-12
    else:  # equal-mass edges are those of metrics.calibration (tested there); check invariance and range
        v = detection_ece(s, m, features=f, n_bins=5, binning="quantile")
        assert 0 <= v <= 1


@pytest.mark.parametrize("bins", [10, [10, 3, 4], [7, 1, 5]])
@pytest.mark.parametrize("equal", [True, False])
@pytest.mark.parametrize("threshold", [1, 4])
def test_netcal_compat_is_exact(bins, equal, threshold):
    from netcal.metrics import ACE, ECE, MCE

    rng = np.random.default_rng(2)
    s = rng.random(2000)
    m = (rng.random(2000) < s ** 1.5).astype(int)
    f = rng.random((2000, 2))
    x = np.column_stack([s, f])
    for cls, norm in ((ECE, "l1"), (MCE, "max"), (ACE, "average")):
        ref = cls(bins=bins, equal_intervals=equal, detection=True, sample_threshold=threshold).measure(x, m)
        ours = detection_ece(s, m, features=f, n_bins=bins, binning="uniform" if equal else "quantile",
                             norm=norm, min_bin_count=threshold, compat="netcal")
        assert ours == ref


def test_netcal_compat_on_grid_and_saturated_scores_float32():
    from netcal.metrics import ECE

    rng = np.random.default_rng(3)
    s = np.concatenate([np.round(rng.random(300), 1), np.ones(50), np.zeros(20)]).astype(np.float32)
    m = (rng.random(s.size) < 0.5).astype(int)
    ref = ECE(bins=10, detection=True).measure(s, m)
    assert detection_ece(s, m, n_bins=10, compat="netcal") == ref
    ref1d = ECE(bins=[10], detection=True).measure(s[:, None], m)
    assert detection_ece(s, m, n_bins=[10], compat="netcal") == ref1d


def test_netcal_quantile_ties_raise_like_netcal():
    from netcal.metrics import ECE

    s = np.array([0.2] * 6 + [0.5, 0.9])
    m = np.array([1, 0, 1, 0, 0, 1, 1, 0])
    with pytest.raises(ValueError):
        ECE(bins=4, equal_intervals=False, detection=True).measure(s, m)
    with pytest.raises(InputError, match="zero-width"):
        detection_ece(s, m, n_bins=4, binning="quantile", compat="netcal")
    assert 0 <= detection_ece(s, m, n_bins=4, binning="quantile") <= 1  # ours is tie-safe


def test_default_equals_netcal_on_continuous_data():
    from netcal.metrics import ECE

    rng = np.random.default_rng(4)
    s = rng.random(3000)
    m = (rng.random(3000) < s).astype(int)
    f = rng.random(3000)
    ref = ECE(bins=[20, 4], detection=True).measure(np.column_stack([s, f]), m)
    assert abs(detection_ece(s, m, features=f, n_bins=[20, 4]) - ref) < 1e-12


@pytest.mark.parametrize("kwargs, match", [
    (dict(scores=[0.5, 1.2], matched=[0, 1]), "scores"),
    (dict(scores=[0.5, np.nan], matched=[0, 1]), "scores"),
    (dict(scores=[0.5, 0.2], matched=[0, 2]), "matched"),
    (dict(scores=[0.5, 0.2], matched=[0]), "same number"),
    (dict(scores=[], matched=[]), "scores"),
    (dict(scores=[0.5, 0.2], matched=[0, 1], features=[[0.1], [1.5]]), "features"),
    (dict(scores=[0.5, 0.2], matched=[0, 1], features=[0.1, 0.2, 0.3]), "same number"),
    (dict(scores=[0.5, 0.2], matched=[0, 1], features=[[.1, .2], [.3, .4]], n_bins=[4, 4]), "n_bins"),
    (dict(scores=[0.5, 0.2], matched=[0, 1], n_bins=0), "n_bins"),
    (dict(scores=[0.5, 0.2], matched=[0, 1], norm="l2"), "norm"),
    (dict(scores=[0.5, 0.2], matched=[0, 1], min_bin_count=0), "min_bin_count"),
    (dict(scores=[0.5, 0.2], matched=[0, 1], min_bin_count=5), "min_bin_count"),
    (dict(scores=[0.5, 0.2], matched=[0, 1], compat="torchmetrics"), "compat"),
])
def test_detection_ece_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        detection_ece(**kwargs)


def test_detection_ece_does_not_modify_inputs():
    s = np.array([0.0, 0.5, 1.0])
    m = np.array([True, False, True])
    f = np.array([[0.2], [0.4], [1.0]])
    copies = s.copy(), m.copy(), f.copy()
    detection_ece(s, m, features=f, compat="netcal")
    detection_ece(s, m, features=f)
    assert all(np.array_equal(a, b) for a, b in zip((s, m, f), copies))


# ------------------------------------------------------------------ labels
def test_labels_hand_case():
    table = label_detections(hand_gt(), HAND_DETS)
    assert table["detection"].tolist() == [0, 1, 2, 3]  # detection 4: federated-dropped
    assert table["matched"].tolist() == [True, False, False, False]
    assert table["frequency"].tolist() == ["r", "r", "r", "f"]
    assert table.loc[2, "cx"] == pytest.approx(0.27) and table.loc[1, "h"] == pytest.approx(0.05)
    assert label_detections(hand_gt(), HAND_DETS, iou_threshold=0.5)["matched"].tolist() == [True, False, True,
                                                                                             False]
    assert label_detections(hand_gt(), HAND_DETS, matching="independent")["matched"].tolist() == [True] + [False] * 3


def test_labels_equal_lvis_api_dt_matches_at_075():
    np.float = float  # lvis 0.5.3 on numpy ≥ 1.24 (test-only shim)
    from lvis import LVIS, LVISEval, LVISResults

    logging.disable(logging.CRITICAL)
    try:
        gt = LVIS(GT)
        res = json.loads(Path(RES).read_text())
        for i, d in enumerate(res):
            d["_position"] = i
        dt = LVISResults(gt, res, max_dets=-1)
        ev = LVISEval(gt, dt, "bbox")
        ev.params.iou_thrs = np.array([0.75])
        ev.params.max_dets = -1
        ev.evaluate()
    finally:
        logging.disable(logging.NOTSET)
    tp, fp = set(), set()
    for e in ev.eval_imgs:
        if e is None or e["area_rng"] != ev.params.area_rng[0]:
            continue
        for did, match, ignore in zip(e["dt_ids"], e["dt_matches"][0], e["dt_ignore"][0]):
            if not ignore:
                (tp if match > 0 else fp).add(dt.anns[did]["_position"])
    table = label_detections(GT, RES)
    assert set(table["detection"][table["matched"]]) == tp
    assert set(table["detection"][~table["matched"]]) == fp


def test_ignored_fp_adds_the_ignored_detections_as_fp():
    base = label_detections(GT, RES)
    with_fp = label_detections(GT, RES, ignored="fp")
    extra = set(with_fp["detection"]) - set(base["detection"])
    assert extra and not with_fp.set_index("detection").loc[sorted(extra), "matched"].any()
    assert label_detections(GT, RES, matching="independent")["matched"].sum() >= base["matched"].sum()


# ------------------------------------------------------------------ report
def test_report_keys_and_values_follow_the_definitions():
    rep = detection_calibration_report(GT, RES)
    table = label_detections(GT, RES)
    s, m = table["score"].to_numpy(), table["matched"].to_numpy()
    assert rep.metrics["ece-overall"] == pytest.approx(detection_ece(s, m), abs=1e-15)
    assert rep.metrics["mce-overall"] == pytest.approx(detection_ece(s, m, norm="max"), abs=1e-15)
    per_class = []
    for fr in "rcf":
        rows = (table["frequency"] == fr).to_numpy()
        assert rep.metrics[f"ece-freq-{fr}"] == pytest.approx(detection_ece(s[rows], m[rows]), abs=1e-15)
        cls = [detection_ece(s[rows & (table["category_id"] == c).to_numpy()],
                             m[rows & (table["category_id"] == c).to_numpy()])
               for c in sorted(set(table["category_id"][rows]))]
        assert rep.metrics[f"ece-per-class-{fr}"] == pytest.approx(np.mean(cls), abs=1e-15)
        per_class += cls
    assert rep.metrics["ece-per-class"] == pytest.approx(np.mean(per_class), abs=1e-15)
    assert rep.n_detections == len(table) and rep.n_matched == int(m.sum())
    d = rep.to_dict()
    assert d["ece-overall"] == rep.metrics["ece-overall"] and "per_category" in d
    json.dumps(d)
    assert set(rep.reliability) == {"overall", "r", "c", "f"}
    assert rep.reliability["overall"]["counts"].sum() == len(table)
    assert "metric" in rep.to_frame().columns


def test_report_with_features_counts_sparse_mass():
    rep = detection_calibration_report(GT, RES, features=("cx", "cy"), feature_bins=3)
    table = label_detections(GT, RES)
    s, m = table["score"].to_numpy(), table["matched"].to_numpy()
    f = table[["cx", "cy"]].to_numpy()
    assert rep.params["min_bin_count"] == 10
    assert rep.metrics["ece-overall"] == pytest.approx(
        slow_dece(s, m, f, [20, 3, 3], min_count=10), abs=1e-12)
    assert 0 < rep.metrics["sparse_mass"] < 1


def test_report_plot_draws_one_diagram_per_group(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rep = detection_calibration_report(GT, RES, group_by="frequency")
    fig = rep.plot()  # several diagrams: the figure
    assert len([a for a in fig.axes if a.get_visible()]) == 4
    ax = rep.plot(group="r")
    assert ax.get_title().startswith("rare")
    plt.close("all")
    with pytest.raises(InputError, match="group"):
        rep.plot(group="x")
    with pytest.raises(InputError, match="calibrator"):
        rep.plot(calibrated=True)
    per_cat = detection_calibration_report(GT, RES, group_by="category")
    assert len(per_cat.reliability) == len(per_cat.per_category)


def test_report_does_not_modify_results():
    dets = copy.deepcopy(HAND_DETS)
    detection_calibration_report(hand_gt(), dets, n_bins=4)
    assert dets == HAND_DETS


@pytest.mark.parametrize("kwargs, match", [
    (dict(group_by="image"), "group_by"),
    (dict(features=("area",)), "features"),
    (dict(features=("cx", "cx")), "repeat"),
    (dict(iou_threshold=1.5), "iou_threshold"),
    (dict(matching="hungarian"), "matching"),
    (dict(ignored="drop"), "ignored"),
    (dict(n_bins=0), "n_bins"),
    (dict(calibrator=object()), "calibrator"),
])
def test_report_bad_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        detection_calibration_report(hand_gt(), HAND_DETS, **kwargs)


def test_report_rejects_results_outside_the_ground_truth():
    bad = HAND_DETS + [{"image_id": 99, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]
    with pytest.raises(InputError):
        detection_calibration_report(hand_gt(), bad)
    with pytest.raises(InputError):
        detection_calibration_report(hand_gt(), [dict(HAND_DETS[0], score=1.5)])
    assert isinstance(detection_calibration_report(hand_gt(), HAND_DETS), DetectionCalibrationReport)


class _SquareScores:
    """A calibrator as the audit sees one: transform(results) -> dicts with new scores (here s**2)."""

    def transform(self, results):
        records = json.loads(Path(results).read_text()) if isinstance(results, str) else results
        return [{**d, "score": d["score"] ** 2} for d in records]


def _bin_ece(rel):
    counts = np.asarray(rel["counts"])
    ok = counts > 0
    gaps = np.abs(np.asarray(rel["precision"])[ok] - np.asarray(rel["mean_confidence"])[ok])
    return float(np.sum(counts[ok] / counts.sum() * gaps)), counts, ok


def test_reliability_panels_show_ece_counts_and_stage(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rep = detection_calibration_report(hand_gt(), HAND_DETS, n_bins=20, group_by="overall",
                                       calibrator=_SquareScores())
    fig = rep.plot()  # before (top) and after (bottom)
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 2
    assert "before calibration" in axes[0].get_title() and "after calibration" in axes[1].get_title()
    assert "before" in fig._suptitle.get_text() and "after" in fig._suptitle.get_text()
    for ax, rel in zip(axes, (rep.reliability["overall"], rep.reliability_after["overall"])):
        ece, counts, ok = _bin_ece(rel)
        assert f"ECE over these bins {ece:.3f}, n={counts.sum()}" in ax.get_title()
        assert 0 < ok.sum() < len(counts)  # some bins are empty
        # one count label per non-empty bin, in bin order; nothing drawn over empty bins
        assert [t.get_text() for t in ax.texts] == [str(k) for k in counts[ok]]
        assert len(ax.patches) == 2 * ok.sum()  # the precision bar and the gap bar of each non-empty bin
        edges = np.asarray(rel["edges"])
        lefts = sorted({round(p.get_x(), 9) for p in ax.patches})
        assert lefts == sorted(round(x, 9) for x in edges[:-1][ok])
    plt.close("all")
    # a single diagram of the calibrated results says so in its title
    ax = rep.plot(group="overall", calibrated=True)
    assert ax.get_title().startswith("all classes: after calibration")
    plt.close("all")


def test_reliability_opacity_and_marker_grow_with_count():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rep = detection_calibration_report(GT, RES, n_bins=10, group_by="overall")
    ax = rep.plot(group="overall")
    _, counts, ok = _bin_ece(rep.reliability["overall"])
    n = int(ok.sum())
    alphas = np.array([p.get_facecolor()[3] for p in ax.patches[:n]])  # precision bars, in bin order
    sizes = ax.collections[0].get_sizes()
    order = np.argsort(counts[ok], kind="stable")
    assert np.all(np.diff(alphas[order]) >= -1e-12) and alphas.max() > 2 * alphas.min()
    assert np.all(np.diff(sizes[order]) >= -1e-9) and sizes.max() > sizes.min()
    plt.close("all")
