"""calibration_report, its bootstrap and the streaming CalibrationError."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import (
    CalibrationError,
    CalibrationReport,
    InputError,
    calibration_error,
    calibration_report,
)
from tests.distributed import compute_distributed
from tests.metrics.calibration._calibration_cases import make_case

FIELDS = {"ece": dict(norm="l1"), "mce": dict(norm="max"), "ace": dict(norm="average"), "l2": dict(norm="l2"),
          "l2_debiased": dict(norm="l2", debiased=True)}


@pytest.mark.parametrize("scope,binning", [("top_label", "uniform"), ("top_label", "quantile"),
                                           ("classwise", "uniform"), ("classwise", "quantile")])
def test_report_values_and_table(scope, binning):
    p, y = make_case("ones", n=500)
    rep = calibration_report(p, y, n_bins=10, binning=binning, scope=scope)
    assert isinstance(rep, CalibrationReport)
    for field, kw in FIELDS.items():
        assert getattr(rep, field) == calibration_error(p, y, n_bins=10, binning=binning, scope=scope, **kw)
    assert rep.ece_ci is None and rep.n_samples == 500
    counts = np.atleast_2d(rep.counts)
    assert (counts.sum(axis=1) == 500).all()
    assert np.isnan(rep.accuracy[~rep.nonempty]).all() and not np.isnan(rep.accuracy[rep.nonempty]).any()
    frame = rep.to_frame()
    assert len(frame) == counts.size and frame["count"].sum() == counts.shape[0] * 500
    d = rep.to_dict()
    assert d["params"]["scope"] == scope and isinstance(d["counts"], list)


def _slow_replicates(p, y, n_boot, seed, **kw):
    """The documented slow path, written out: resample, recompute with calibration_error."""
    rng = np.random.default_rng(seed)
    reps = {f: [] for f in FIELDS}
    for _ in range(n_boot):
        idx = rng.integers(0, y.size, size=y.size)
        for f, extra in FIELDS.items():
            reps[f].append(calibration_error(p[idx], y[idx], **kw, **extra))
    return {f: np.array(v) for f, v in reps.items()}


@pytest.mark.parametrize("scope", ["top_label", "classwise"])
@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_bootstrap_fast_path_equals_slow_path(scope, binning):
    from metrics.calibration.report import bootstrap_replicates

    p, y = make_case("random", n=300, seed=4)
    kw = dict(n_bins=8, binning=binning, scope=scope)
    slow = _slow_replicates(p, y, 40, 11, **kw)
    fast = bootstrap_replicates(p, y, n_bootstrap=40, rng=np.random.default_rng(11), **kw)
    for f in FIELDS:  # identical up to float64 summation order (weights·s vs repeated s)
        np.testing.assert_allclose(fast[f], slow[f], rtol=1e-12, atol=1e-14)
    for ci_method in ("percentile", "basic"):
        rep = calibration_report(p, y, n_bootstrap=40, seed=11, ci_level=0.8, ci_method=ci_method, **kw)
        lo, hi = np.quantile(slow["ece"], [0.1, 0.9])
        expect = (lo, hi) if ci_method == "percentile" else (2 * rep.ece - hi, 2 * rep.ece - lo)
        np.testing.assert_allclose(rep.ece_ci, expect, rtol=1e-12)
        np.testing.assert_allclose(rep.ci["mce"], (np.quantile(slow["mce"], 0.1), np.quantile(slow["mce"], 0.9))
                                   if ci_method == "percentile" else
                                   (2 * rep.mce - np.quantile(slow["mce"], 0.9), 2 * rep.mce - np.quantile(slow["mce"], 0.1)),
                                   rtol=1e-12)


def test_bootstrap_seeded_and_compat():
    p, y = make_case("random", n=300)
    a = calibration_report(p, y, n_bootstrap=50, seed=3)
    b = calibration_report(p, y, n_bootstrap=50, seed=3)
    c = calibration_report(p, y, n_bootstrap=50, seed=4)
    assert a.ece_ci == b.ece_ci and a.ece_ci != c.ece_ci
    assert a.ece_ci[0] <= a.ece <= a.ece_ci[1]
    g = calibration_report(p, y, n_bootstrap=20, seed=np.random.default_rng(3))
    assert g.ece_ci is not None
    tm = calibration_report(p, y, compat="torchmetrics", n_bootstrap=10)
    assert tm.ece == calibration_error(p, y, compat="torchmetrics") and tm.ace is None
    assert tm.ci["ece"] is not None and "ace" not in tm.ci
    with pytest.raises(InputError, match="n_bootstrap"):
        calibration_report(p, y, n_bootstrap=-1)
    with pytest.raises(InputError, match="ci_level"):
        calibration_report(p, y, ci_level=1.0)
    with pytest.warns(DeprecationWarning, match="ci_level"):  # the old name still works
        old = calibration_report(p, y, n_bootstrap=20, seed=3, confidence=0.8)
    assert old.ece_ci == calibration_report(p, y, n_bootstrap=20, seed=3, ci_level=0.8).ece_ci
    with pytest.raises(InputError, match="ci_method"):
        calibration_report(p, y, ci_method="bca")
    with pytest.raises(InputError, match="seed"):
        calibration_report(p, y, seed="x")


def test_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    p, y = make_case("random", n=300)
    ax = calibration_report(p, y, n_bootstrap=20).plot()
    ax.figure.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    ax = calibration_report(p, y, scope="classwise", binning="quantile").plot(class_index=2)
    assert "class 2" in ax.get_title()


# ----------------------------------------------------------------- streaming Metric
@pytest.mark.parametrize("kw", [dict(), dict(norm="max"), dict(norm="l2", debiased=True),
                                dict(norm="average", scope="classwise", num_classes=4),
                                dict(binning="quantile"), dict(binning="quantile", scope="classwise", num_classes=4),
                                dict(scope="positive_class", num_classes=2)])
def test_metric_chunked_equals_functional(kw):
    k = 2 if kw.get("scope") == "positive_class" else 4
    p, y = make_case("random", k=k, n=3000, seed=5)
    m = CalibrationError(n_bins=12, **kw)
    for start in range(0, 3000, 700):
        m.update(torch.from_numpy(p[start:start + 700]), torch.from_numpy(y[start:start + 700]))
    fn_kw = {a: b for a, b in kw.items() if a != "num_classes"}
    expect = calibration_error(p, y, n_bins=12, **fn_kw)
    assert float(m.compute()) == pytest.approx(expect, abs=1e-12)
    m2 = CalibrationError(n_bins=12, **kw)
    m2.update(p, y)
    assert float(m2.compute()) == pytest.approx(expect, abs=1e-12)
    if kw.get("binning", "uniform") == "uniform":
        assert m.count.dtype == torch.int64 and m.sum_score.dtype == torch.float64
        assert m.sum_outcome.dtype == torch.int64
    m.reset()
    with pytest.raises(InputError):
        m.compute()


def test_metric_errors():
    with pytest.raises(InputError, match="compat"):
        CalibrationError(compat="torchmetrics")
    with pytest.raises(InputError, match="num_classes"):
        CalibrationError(scope="classwise")
    with pytest.raises(InputError, match="debiased"):
        CalibrationError(debiased=True)
    m = CalibrationError(num_classes=3)
    with pytest.raises(InputError, match="num_classes"):
        m.update(np.full((4, 4), .25), np.zeros(4, int))
    with pytest.raises(InputError, match="preds"):
        m.update(np.full((4, 3), .5), np.zeros(4, int))


GLOO_CONFIGS = {"uniform": dict(n_bins=10), "quantile": dict(n_bins=7, binning="quantile"),
                "classwise": dict(n_bins=5, scope="classwise", num_classes=4, norm="l2")}


def three_metrics():
    """One MetricCollection of the configurations, so one 2-process run checks them all."""
    from torchmetrics import MetricCollection

    return MetricCollection({k: CalibrationError(**kw) for k, kw in GLOO_CONFIGS.items()}, compute_groups=False)


def test_metric_two_gloo_processes():
    p, y = make_case("ones", n=900, seed=8)
    shards = [[(p[:200], y[:200]), (p[200:500], y[200:500])], [(p[500:], y[500:])]]
    values = compute_distributed("tests.metrics.calibration.test_calibration_report.three_metrics", {}, shards)
    for name, kw in GLOO_CONFIGS.items():
        fn_kw = {a: b for a, b in kw.items() if a != "num_classes"}
        assert values[name] == pytest.approx(calibration_error(p, y, **fn_kw), abs=1e-12)
