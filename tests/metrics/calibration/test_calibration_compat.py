"""compat= modes against the real libraries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import InputError, calibration_error
from tests.metrics.calibration._calibration_cases import CASES, binary_case, make_case

tm_cls = pytest.importorskip("torchmetrics.functional.classification")
from torchmetrics.functional.classification.calibration_error import _ce_compute  # noqa: E402

netcal_conf = pytest.importorskip("netcal.metrics.confidence")
uc = pytest.importorskip("calibration")
relplot_metrics = pytest.importorskip("relplot.metrics")

DTYPES = (np.float64, np.float32)


def _top(p, y):
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)


def guo_reference(conf, correct, n_bins, norm):
    """The gpleiss / arXiv 2404.13016 numpy loop, written out (bins (lo, hi])."""
    edges = np.linspace(0, 1, n_bins + 1)
    ece, gaps = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        prop = inside.mean()
        if prop > 0:
            gap = abs(correct[inside].mean() - conf[inside].astype(np.float64).mean())
            ece += gap * prop
            gaps.append(gap)
    return ece if norm == "l1" else (max(gaps) if gaps else 0.0)


# ------------------------------------------------------------------ torchmetrics (bit for bit)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_torchmetrics_multiclass_bitwise(case, dtype):
    p, y = make_case(case)
    p = p.astype(dtype)
    for n_bins in (10, 15):
        for norm in ("l1", "l2", "max"):
            ref = tm_cls.multiclass_calibration_error(torch.from_numpy(p), torch.from_numpy(y), num_classes=p.shape[1],
                                                      n_bins=n_bins, norm=norm)
            ours = calibration_error(p, y, n_bins=n_bins, norm=norm, compat="torchmetrics")
            assert ours == float(ref), (case, n_bins, norm)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_torchmetrics_binary_bitwise(case, dtype):
    p, y = binary_case(case)
    p = p.astype(dtype)
    for norm in ("l1", "l2", "max"):
        ref = tm_cls.binary_calibration_error(torch.from_numpy(p), torch.from_numpy(y), n_bins=10, norm=norm)
        ours = calibration_error(p, y, n_bins=10, norm=norm, scope="positive_class", compat="torchmetrics")
        assert ours == float(ref), (case, norm)
    # (N, 2) input scores column 1, like binary_calibration_error on it
    p2 = np.stack([1 - p, p], axis=1)
    ref = tm_cls.binary_calibration_error(torch.from_numpy(p2[:, 1].copy()), torch.from_numpy(y), n_bins=10)
    assert calibration_error(p2, y, n_bins=10, scope="positive_class", compat="torchmetrics") == float(ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ("random", "ones", "grid", "zero_one"))
def test_torchmetrics_debiased_private_path(case, dtype):
    p, y = make_case(case)
    p = p.astype(dtype)
    conf, pred = torch.from_numpy(p).max(dim=1)
    ref = _ce_compute(conf, pred.eq(torch.from_numpy(y)), 15, "l2", debias=True)
    ours = calibration_error(p, y, norm="l2", debiased=True, compat="torchmetrics")
    assert ours == float(ref)


def test_torchmetrics_guesses_logits_like_the_library():
    p, y = make_case("random")
    bumped = p.copy()
    bumped[0, 0] = 1.0000001  # one value out of [0, 1] re-softmaxes everything
    ref = tm_cls.multiclass_calibration_error(torch.from_numpy(bumped), torch.from_numpy(y), num_classes=4)
    assert calibration_error(bumped, y, compat="torchmetrics") == float(ref)
    assert calibration_error(bumped, y, compat="torchmetrics") != calibration_error(p, y, compat="torchmetrics")
    logits = np.random.default_rng(1).normal(size=400) * 3
    yb = (np.random.default_rng(2).random(400) < 0.5).astype(np.int64)
    ref = tm_cls.binary_calibration_error(torch.from_numpy(logits), torch.from_numpy(yb))
    assert calibration_error(logits, yb, scope="positive_class", compat="torchmetrics") == float(ref)
    with pytest.raises(InputError, match="probs"):
        calibration_error(bumped, y)  # the default never guesses logits


def test_torchmetrics_rejects_integer_preds_like_the_library():
    y = np.array([0, 1, 1, 0])
    p = np.array([0, 1, 1, 1])
    with pytest.raises(ValueError):
        tm_cls.binary_calibration_error(torch.from_numpy(p), torch.from_numpy(y))
    with pytest.raises(InputError, match="floating"):
        calibration_error(p, y, scope="positive_class", compat="torchmetrics")


# ------------------------------------------------------------------ netcal
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_netcal_top_label(case, dtype):
    p, y = make_case(case)
    p = p.astype(dtype)
    for binning in ("uniform", "quantile"):
        eq = binning == "uniform"
        for norm, cls in (("l1", netcal_conf.ECE), ("max", netcal_conf.MCE), ("average", netcal_conf.ACE)):
            try:
                ref = cls(bins=10, equal_intervals=eq).measure(p, y)
            except (ValueError, RuntimeError, AssertionError):
                with pytest.raises(InputError):
                    calibration_error(p, y, n_bins=10, norm=norm, binning=binning, compat="netcal")
                continue
            ours = calibration_error(p, y, n_bins=10, norm=norm, binning=binning, compat="netcal")
            assert ours == pytest.approx(ref, abs=1e-12), (case, binning, norm)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_netcal_binary(case, dtype):
    p, y = binary_case(case)
    p = p.astype(dtype)
    for binning in ("uniform", "quantile"):
        for norm, cls in (("l1", netcal_conf.ECE), ("max", netcal_conf.MCE), ("average", netcal_conf.ACE)):
            try:
                ref = cls(bins=10, equal_intervals=binning == "uniform").measure(p, y)
            except (ValueError, RuntimeError):
                with pytest.raises(InputError):
                    calibration_error(p, y, n_bins=10, norm=norm, binning=binning, scope="positive_class", compat="netcal")
                continue
            ours = calibration_error(p, y, n_bins=10, norm=norm, binning=binning, scope="positive_class",
                                     compat="netcal")
            assert ours == pytest.approx(ref, abs=1e-12), (case, binning, norm)


def test_netcal_raises_where_it_raises():
    p = np.array([.2] * 5 + [.5, .8, .9])
    y = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    with pytest.raises(ValueError):
        netcal_conf.ECE(bins=4, equal_intervals=False).measure(p, y)
    with pytest.raises(InputError, match="numerically 0"):
        calibration_error(p, y, n_bins=4, binning="quantile", scope="positive_class", compat="netcal")
    p3, _ = make_case("random")
    y3 = np.array([0, 1] * 200)  # K = 4 but only two distinct labels
    with pytest.raises(RuntimeError):
        netcal_conf.ECE(bins=10).measure(p3, y3)
    with pytest.raises(InputError, match="more than 2 confidence dims"):
        calibration_error(p3, y3, scope="positive_class", compat="netcal")
    with pytest.raises(InputError, match="positive class"):
        calibration_error(binary_case("random")[0], binary_case("random")[1], compat="netcal")


def test_default_equals_netcal_on_continuous_data():
    for seed in range(3):
        p, y = make_case("random", k=6, n=3000, seed=seed)
        for norm, cls in (("l1", netcal_conf.ECE), ("max", netcal_conf.MCE), ("average", netcal_conf.ACE)):
            ref = cls(bins=15).measure(p, y)
            assert calibration_error(p, y, norm=norm) == pytest.approx(ref, abs=1e-12)


# ------------------------------------------------------------------ uncertainty-calibration
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_uncertainty_calibration(case, dtype):
    p, y = make_case(case, n=200)
    p = p.astype(dtype)
    pb, yb = binary_case(case, n=200)
    pb = pb.astype(dtype)
    for binning, scheme in (("uniform", uc.get_equal_prob_bins), ("quantile", uc.get_equal_bins)):
        for norm, power in (("l1", 1), ("l2", 2)):
            for debiased in ((False, True) if power == 2 else (False,)):
                kw = dict(n_bins=10, norm=norm, binning=binning, debiased=debiased, compat="uncertainty_calibration")
                for scope, mode in (("top_label", "top-label"), ("classwise", "marginal")):
                    ref = uc.lower_bound_scaling_ce(p, y, p=power, debias=debiased, num_bins=10,
                                                    binning_scheme=scheme, mode=mode)
                    assert calibration_error(p, y, scope=scope, **kw) == pytest.approx(ref, abs=1e-12), \
                        (scope, binning, norm, debiased)
                ref = uc.lower_bound_scaling_ce(pb, yb, p=power, debias=debiased, num_bins=10, binning_scheme=scheme)
                assert calibration_error(pb, yb, scope="positive_class", **kw) == pytest.approx(ref, abs=1e-12)


def test_uncertainty_calibration_get_ece_and_integer_labels():
    p, y = make_case("random")
    assert calibration_error(p, y, compat="uncertainty_calibration") == pytest.approx(uc.get_ece(p, y), abs=1e-12)
    assert calibration_error(p, y, binning="quantile", compat="uncertainty_calibration") == pytest.approx(
        uc.get_ece_em(p, y), abs=1e-12)
    with pytest.raises(ValueError):
        uc.get_ece(p, y.astype(float))
    with pytest.raises(InputError, match="labels"):
        calibration_error(p, y.astype(float), compat="uncertainty_calibration")


# ------------------------------------------------------------------ guo and relplot
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_guo(case, dtype):
    p, y = make_case(case)
    p = p.astype(dtype)
    conf, correct = _top(p, y)
    pb, yb = binary_case(case)
    pb = pb.astype(dtype)
    for norm in ("l1", "max"):
        ref = guo_reference(conf, correct, 25, norm)
        assert calibration_error(p, y, n_bins=25, norm=norm, compat="guo") == pytest.approx(ref, abs=1e-12)
        ref = guo_reference(pb, yb.astype(float), 25, norm)
        assert calibration_error(pb, yb, n_bins=25, norm=norm, scope="positive_class", compat="guo") == \
            pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_relplot_binned(case, dtype):
    p, y = make_case(case)
    p = p.astype(dtype)
    conf, correct = _top(p, y)
    pb, yb = binary_case(case)
    pb = pb.astype(dtype)
    for n_bins in (10, 15):
        ref = relplot_metrics.binnedECE(conf, correct, n_bins)
        assert calibration_error(p, y, n_bins=n_bins, compat="relplot") == pytest.approx(ref, abs=1e-12)
        ref = relplot_metrics.binnedECE(pb, yb.astype(float), n_bins)
        assert calibration_error(pb, yb, n_bins=n_bins, scope="positive_class", compat="relplot") == \
            pytest.approx(ref, abs=1e-12)


# ------------------------------------------------------------------ unsupported combinations
@pytest.mark.parametrize("compat,kwargs", [
    ("torchmetrics", dict(norm="average")), ("torchmetrics", dict(binning="quantile")),
    ("torchmetrics", dict(scope="classwise")), ("netcal", dict(norm="l2")), ("netcal", dict(scope="classwise")),
    ("netcal", dict(norm="l2", debiased=True)), ("uncertainty_calibration", dict(norm="max")),
    ("uncertainty_calibration", dict(norm="average")), ("guo", dict(binning="quantile")), ("guo", dict(norm="l2")),
    ("relplot", dict(norm="max")), ("relplot", dict(binning="quantile")),
])
def test_unsupported_combinations_raise(compat, kwargs):
    p, y = make_case("random")
    with pytest.raises(InputError, match="compat"):
        calibration_error(p, y, compat=compat, **kwargs)
