"""Tests of reference_models.calibrators."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.special
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from metrics.core.errors import InputError
from reference_models import (
    CorrectnessAwareCalibrator,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    TemperatureScaling,
)


# ----------------------------------------------------------------- independent helpers
def slow_ece(conf, correct, n_bins=15):
    """Binned L1 ECE written out plainly: bins [k/M, (k+1)/M), the last one closed."""
    conf = np.asarray(conf, dtype=float)
    correct = np.asarray(correct, dtype=float)
    total = 0.0
    for k in range(n_bins):
        lo, hi = k / n_bins, (k + 1) / n_bins
        inside = (conf >= lo) & ((conf < hi) if k < n_bins - 1 else (conf <= hi))
        if inside.any():
            total += inside.sum() / conf.size * abs(conf[inside].mean() - correct[inside].mean())
    return total


def ece(conf, correct, n_bins=15):
    """ECE of confidences against outcomes; metrics.calibration_error when it exists."""
    try:
        from metrics import calibration_error
    except ImportError:
        return slow_ece(conf, correct, n_bins)
    return calibration_error(np.asarray(conf, float), np.asarray(correct, int), n_bins=n_bins,
                             scope="positive_class")


def overconfident_multiclass(n, k=5, scale=3.0, seed=0):
    """True logits u, labels drawn from softmax(u), model reports scale·u (overconfident)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, k)) * 1.5
    p = scipy.special.softmax(u, axis=1)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return scale * u, y


def overconfident_binary(n, seed=0):
    """P(y = 1 | x) = σ(x); the model reports σ(3x + 0.5)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < scipy.special.expit(x)).astype(int)
    return scipy.special.expit(3 * x + 0.5), y


# ----------------------------------------------------------------- temperature
def test_temperature_hand_case():
    logits = np.array([[0.0, 1.0]] * 3)
    t = TemperatureScaling().fit(logits, [1, 1, 0])
    assert abs(t.temperature_ - 1 / math.log(2)) < 1e-12
    assert np.allclose(t.transform(logits)[:, 1], 2 / 3, atol=1e-12)


def test_temperature_one_d_logits_mean_zero_z():
    z = np.array([1.0, 1.0, 1.0])
    t = TemperatureScaling().fit(z, [1, 1, 0])
    assert abs(t.temperature_ - 1 / math.log(2)) < 1e-12
    assert np.allclose(t.transform(z), 2 / 3, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_temperature_matches_scipy(seed):
    z, y = overconfident_multiclass(400, k=6, seed=seed)

    def dnll(beta):  # derivative of mean NLL in β, written independently
        p = scipy.special.softmax(beta * z, axis=1)
        return np.mean((p * z).sum(axis=1) - z[np.arange(len(y)), y])

    beta = scipy.optimize.brentq(dnll, 1e-4, 1e4, xtol=1e-300, rtol=1e-15, maxiter=500)
    ours = TemperatureScaling().fit(z, y).temperature_
    assert abs(ours - 1 / beta) <= 1e-8 * (1 / beta)
    # and the NLL minimum agrees with scipy's bounded scalar minimiser
    nll = lambda b: np.mean(scipy.special.logsumexp(b * z, axis=1) - b * z[np.arange(len(y)), y])
    res = scipy.optimize.minimize_scalar(nll, bounds=(1e-4, 10), method="bounded", options={"xatol": 1e-10})
    assert nll(1 / ours) <= res.fun + 1e-12


def test_temperature_warns_at_bound_on_separable_data():
    z = np.array([[5.0, 0.0], [0.0, 5.0], [4.0, 1.0]])
    with pytest.warns(UserWarning, match="temperature"):
        t = TemperatureScaling().fit(z, [0, 1, 0])
    assert t.temperature_ == pytest.approx(1e-4)


def test_temperature_flat_likelihood_gives_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = TemperatureScaling().fit(np.ones((4, 3)), [0, 1, 2, 0])
    assert t.temperature_ == 1.0


# ----------------------------------------------------------------- histogram binning
HAND_P = np.array([0, .1, .2, .2, .25, .5, .5, .9, 1, 1])
HAND_Y = np.array([1, 0, 1, 0, 0, 1, 0, 1, 1, 0])


def test_histogram_hand_case_uniform():
    h = HistogramBinning(n_bins=4, scope="positive_class").fit(HAND_P, HAND_Y)
    assert np.allclose(h.values_, [0.5, 0.0, 0.5, 2 / 3])
    assert np.array_equal(h.transform(np.array([0.3, 0.74, 1.0, 0.0, 0.75])),
                          np.array([0.0, 0.5, 2 / 3, 0.5, 2 / 3]))


def test_histogram_empty_bin_maps_to_midpoint():
    h = HistogramBinning(n_bins=8, scope="positive_class").fit(HAND_P, HAND_Y)
    # bins of width 1/8: [.375, .5) and [.625, .75) are empty
    assert h.transform(np.array([0.4]))[0] == pytest.approx(0.4375)
    assert h.transform(np.array([0.7]))[0] == pytest.approx(0.6875)


def test_histogram_quantile_hand_case_b():
    p = np.array([.1, .2, .2, .2, .4, .6, .8, .9])
    y = np.array([0, 0, 1, 0, 1, 1, 1, 1])
    h = HistogramBinning(n_bins=4, binning="quantile", scope="positive_class").fit(p, y)
    assert np.allclose(h.edges_, [0, .2, .3, .7, 1])
    assert np.allclose(h.values_, [0, 1 / 3, 1, 1])


def test_histogram_classwise_renormalises_and_uniform_on_zero_rows():
    p = np.array([[.9, .05, .05], [.1, .8, .1], [.2, .2, .6], [.7, .2, .1]])
    y = np.array([1, 1, 2, 0])
    h = HistogramBinning(n_bins=2, scope="classwise").fit(p, y)
    out = h.transform(p)
    assert out.shape == (4, 3)
    assert np.allclose(out.sum(axis=1), 1)
    # class 0: bin [0,.5) holds rows 1,2 (labels 1,2) → 0; bin [.5,1] rows 0,3 (labels 1,0) → .5
    # class 1: low bin rows 0,2,3 (1,2,0) → 1/3; high bin row 1 → 1.
    # class 2: low bin rows 0,1,3 → 0; high bin row 2 → 1.
    raw = np.array([[.5, 1 / 3, 0], [0, 1, 0], [0, 1 / 3, 1], [.5, 1 / 3, 0]])
    assert np.allclose(out, raw / raw.sum(axis=1, keepdims=True))
    # every class of [.6, .3, .1] falls in a bin whose fit outcome is 0 → the row becomes 1/K
    fit_p = np.array([[.7, .05, .25], [.1, .3, .6], [.1, .8, .1]])
    h2 = HistogramBinning(n_bins=4, scope="classwise").fit(fit_p, [2, 2, 1])
    assert np.array_equal(h2.transform(np.array([[.6, .3, .1]])), np.full((1, 3), 1 / 3))


def test_histogram_top_label_scope():
    p = np.array([[.9, .1], [.6, .4], [.3, .7], [.2, .8]])
    y = np.array([0, 1, 1, 0])
    h = HistogramBinning(n_bins=2).fit(p, y)  # conf (.9,.6,.7,.8): all in [.5,1]; correct (1,0,1,0)
    assert np.allclose(h.transform(p), 0.5)


# ----------------------------------------------------------------- Platt
def _platt_scipy(s, o, smooth):
    x = scipy.special.logit(np.clip(s, 1e-12, 1 - 1e-12))
    n_pos, n_neg = (o == 1).sum(), (o == 0).sum()
    t = np.where(o == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2)) if smooth else o.astype(float)

    def fun(th):
        f = th[0] * x + th[1]
        return -np.sum(t * scipy.special.log_expit(f) + (1 - t) * scipy.special.log_expit(-f))

    def jac(th):
        r = scipy.special.expit(th[0] * x + th[1]) - t
        return np.array([r @ x, r.sum()])

    def hess(th):
        q = scipy.special.expit(th[0] * x + th[1])
        w = q * (1 - q)
        return np.array([[w @ (x * x), w @ x], [w @ x, w.sum()]])

    res = scipy.optimize.minimize(fun, [1.0, 0.0], jac=jac, hess=hess, method="trust-exact",
                                  options={"gtol": 1e-13})
    return res.x


@pytest.mark.parametrize("smooth", [True, False])
def test_platt_matches_scipy(smooth):
    s, y = overconfident_binary(600, seed=3)
    pl = PlattScaling(smooth_targets=smooth).fit(s, y)
    a, b = _platt_scipy(s, y, smooth)
    assert abs(pl.slope_ - a) < 1e-8 and abs(pl.intercept_ - b) < 1e-8


def test_platt_without_smoothing_equals_sklearn_logistic():
    s, y = overconfident_binary(500, seed=4)
    x = scipy.special.logit(s)[:, None]
    lr = LogisticRegression(C=1e12, solver="newton-cg", tol=1e-12, max_iter=1000).fit(x, y)
    pl = PlattScaling(smooth_targets=False).fit(s, y)
    assert abs(pl.slope_ - lr.coef_[0, 0]) < 1e-6 and abs(pl.intercept_ - lr.intercept_[0]) < 1e-6
    assert np.allclose(pl.transform(s), lr.predict_proba(x)[:, 1], atol=1e-7)


def test_platt_separable_stays_finite_with_smoothing():
    s = np.array([.1, .2, .8, .9])
    pl = PlattScaling().fit(s, [0, 0, 1, 1])
    assert np.isfinite(pl.slope_) and pl.slope_ > 0


# ----------------------------------------------------------------- isotonic
def test_isotonic_identical_to_sklearn():
    rng = np.random.default_rng(5)
    s = np.round(rng.random(300), 2)  # ties
    y = (rng.random(300) < s).astype(int)
    ours = IsotonicCalibration().fit(s, y)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(s, y.astype(float))
    grid = np.concatenate([rng.random(200), [0.0, 1.0, s.min(), s.max()]])
    assert np.array_equal(ours.transform(grid), ref.predict(grid))
    assert np.array_equal(ours.transform(s), ref.predict(s))


# ----------------------------------------------------------------- correctness-aware
def test_ca_loss_hand_case():
    import torch

    loss = CorrectnessAwareCalibrator.loss(torch.tensor([.9, .6, .3], dtype=torch.float64),
                                           torch.tensor([1, 0, 1]))
    assert abs(float(loss) - 0.305) < 1e-12


def test_ca_loss_zero_weight_fallback():
    import torch

    loss = CorrectnessAwareCalibrator.loss(torch.tensor([.9, .8], dtype=torch.float64), torch.tensor([1, 1]))
    assert abs(float(loss) - (0.01 + 0.04) / 2) < 1e-12


def _views(z, seed):
    rng = np.random.default_rng(seed)
    return [z + rng.normal(scale=s, size=z.shape) for s in (0.5, 1.0, 2.0)]


def test_ca_features_top_k_with_ties_lower_index_first():
    ca = CorrectnessAwareCalibrator(top_k=2)
    z = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    views = [np.array([[0.0, 1.0, 2.0, 3.0]] * 2), np.zeros((2, 4))]
    f = ca._features(z, views)
    sm = scipy.special.softmax(views[0][0])
    assert np.allclose(f[0], [sm[1], sm[2], .25, .25])
    assert np.allclose(f[1], [sm[0], sm[1], .25, .25])


def test_ca_is_deterministic_keeps_argmax_and_bounds_temperature():
    z, y = overconfident_multiclass(600, seed=7)
    views = _views(z, 8)
    a = CorrectnessAwareCalibrator(lr=1e-2, epochs=3, batch_size=200, seed=3).fit(z, y, views)
    b = CorrectnessAwareCalibrator(lr=1e-2, epochs=3, batch_size=200, seed=3).fit(z, y, views)
    pa, pb = a.transform(z, views), b.transform(z, views)
    assert np.array_equal(pa, pb)
    assert np.array_equal(pa.argmax(axis=1), z.argmax(axis=1))
    t = a.temperatures(z, views)
    assert t.shape == (600,) and (t >= 0.1 - 1e-7).all() and (t <= 10 + 1e-6).all()


def test_ca_warns_when_the_clamp_kills_every_gradient():
    z, y = overconfident_multiclass(300, seed=11)
    with pytest.warns(UserWarning, match="clamp bound"):
        ca = CorrectnessAwareCalibrator(seed=0).fit(z, y, _views(z, 1))  # this init outputs T < 0.1
    assert np.all(ca.temperatures(z, _views(z, 1)) == np.float32(0.1))


# ----------------------------------------------------------------- ECE goes down on held-out data
def test_every_calibrator_lowers_held_out_ece():
    z, y = overconfident_multiclass(6000, seed=11)
    zf, yf, zt, yt = z[:3000], y[:3000], z[3000:], y[3000:]
    pf, pt = scipy.special.softmax(zf, axis=1), scipy.special.softmax(zt, axis=1)
    correct_t = pt.argmax(axis=1) == yt
    before = ece(pt.max(axis=1), correct_t)
    assert before > 0.1

    ts = TemperatureScaling().fit(zf, yf)
    assert ts.temperature_ > 1
    assert ece(ts.transform(zt).max(axis=1), correct_t) < before / 3

    hb = HistogramBinning(n_bins=10).fit(pf, yf)
    assert ece(hb.transform(pt), correct_t) < before / 3
    hq = HistogramBinning(n_bins=10, binning="quantile").fit(pf, yf)
    assert ece(hq.transform(pt), correct_t) < before / 3

    for cal in (PlattScaling(scope="top_label"), IsotonicCalibration(scope="top_label")):
        assert ece(cal.fit(pf, yf).transform(pt), correct_t) < before / 3

    views_f, views_t = _views(zf, 1), _views(zt, 2)
    ca = CorrectnessAwareCalibrator(lr=3e-2, epochs=30, batch_size=500, seed=1).fit(zf, yf, views_f)
    assert ece(ca.transform(zt, views_t).max(axis=1), correct_t) < before / 2

    s, yb = overconfident_binary(6000, seed=12)
    before_b = ece(s[3000:], yb[3000:])
    for cal in (PlattScaling(), IsotonicCalibration(), HistogramBinning(scope="positive_class")):
        cal.fit(s[:3000], yb[:3000])
        assert ece(cal.transform(s[3000:]), yb[3000:]) < before_b / 2


# ----------------------------------------------------------------- inputs
def test_inputs_are_not_modified():
    z, y = overconfident_multiclass(200, seed=2)
    p = scipy.special.softmax(z, axis=1)
    views = _views(z, 3)
    copies = [z.copy(), y.copy(), p.copy()] + [v.copy() for v in views]
    TemperatureScaling().fit(z, y).transform(z)
    HistogramBinning(scope="classwise").fit(p, y).transform(p)
    HistogramBinning(binning="quantile").fit(p, y).transform(p)
    PlattScaling(scope="top_label").fit(p, y).transform(p)
    IsotonicCalibration(scope="top_label").fit(p, y).transform(p)
    CorrectnessAwareCalibrator(epochs=1, seed=1).fit(z, y, views).transform(z, views)
    for a, b in zip([z, y, p] + views, copies):
        assert np.array_equal(a, b)


def test_torch_and_list_inputs_accepted():
    import torch

    t = TemperatureScaling().fit(torch.tensor([[0.0, 1.0]] * 3), [1, 1, 0])
    assert abs(t.temperature_ - 1 / math.log(2)) < 1e-12
    assert IsotonicCalibration().fit([.1, .9], torch.tensor([0, 1])).transform([.5]).shape == (1,)


@pytest.mark.parametrize("call, match", [
    (lambda: TemperatureScaling().fit([[0, np.nan]], [0]), "logits"),
    (lambda: TemperatureScaling().fit([[0, 1]], [2]), "labels"),
    (lambda: TemperatureScaling().fit(np.zeros((0, 2)), []), "logits"),
    (lambda: TemperatureScaling().transform([[0, 1]]), "not fitted"),
    (lambda: HistogramBinning(n_bins=0), "n_bins"),
    (lambda: HistogramBinning(binning="equal"), "binning"),
    (lambda: HistogramBinning().fit([.2, 1.5], [0, 1]), "probs"),
    (lambda: HistogramBinning().fit([.2, .5], [0, 1, 1]), "same number"),
    (lambda: HistogramBinning(scope="classwise").fit([[.5, .5]], [0]).transform([[.2, .3, .5]]), "columns"),
    (lambda: PlattScaling(scope="classwise"), "scope"),
    (lambda: PlattScaling().fit([[.2, .3, .5]], [0]), "positive_class"),
    (lambda: IsotonicCalibration().transform([.5]), "not fitted"),
    (lambda: CorrectnessAwareCalibrator(t_min=2, t_max=1), "t_max"),
    (lambda: CorrectnessAwareCalibrator().fit(np.zeros((2, 3)), [0, 1], [np.zeros((2, 4))]), "view_logits"),
    (lambda: CorrectnessAwareCalibrator().fit(np.zeros((2, 3)), [0, 1], None), "view_logits"),
])
def test_bad_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()
