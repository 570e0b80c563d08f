"""no_regret_test: hand-worked trend / slope values, evaluation points, the R_t ≤ 0 filter, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from metrics import InputError, no_regret_test
from metrics.regret import log_spaced_rounds

CURVE = [1.0, 1.5, 1.8, 2.0]


def test_hand_case_every_round():
    res = no_regret_test(CURVE)
    assert (res.trend_statistic, res.trend_n) == (3, 3)
    assert res.trend_p_value == pytest.approx(0.125, abs=1e-12)
    assert res.slope == pytest.approx(0.50528706, abs=1e-8)
    assert res.intercept == pytest.approx(0.02014237, abs=1e-8)
    assert res.n_points == 4 and res.sublinear is True and not res.nonpositive
    assert res.trend_significant is False
    assert res.eval_points.tolist() == [1, 2, 3, 4]


def test_hand_case_every_second_round():
    res = no_regret_test(CURVE, eval_points=2)
    assert (res.trend_statistic, res.trend_n, res.trend_p_value) == (1, 1, pytest.approx(0.5))
    assert res.eval_points.tolist() == [2, 4]
    assert res.slope == pytest.approx(math.log(2.0 / 1.5) / math.log(2.0), abs=1e-12)
    assert res.slope_p_value is None  # df = 0


def test_slope_p_value_against_normal_equations():
    rng = np.random.default_rng(0)
    t = np.arange(1, 201)
    curve = 3 * t ** 0.6 * np.exp(rng.normal(0, 0.1, size=t.size))
    res = no_regret_test(curve, eval_points=10)
    x, y = np.log(np.arange(10, 201, 10)), np.log(curve[9::10])
    X = np.column_stack([x, np.ones_like(x)])
    beta, rss, *_ = np.linalg.lstsq(X, y, rcond=None)
    sigma2 = rss[0] / (len(x) - 2)
    se = math.sqrt(sigma2 / ((x - x.mean()) ** 2).sum())
    assert res.slope == pytest.approx(beta[0], abs=1e-10)
    assert res.intercept == pytest.approx(beta[1], abs=1e-10)
    assert res.slope_p_value == pytest.approx(stats.t.cdf((beta[0] - 1) / se, len(x) - 2), rel=1e-9)
    assert res.sublinear and res.slope_p_value < 1e-6


def test_linear_curve_is_not_sublinear():
    res = no_regret_test(0.5 * np.arange(1, 101))
    assert res.slope == pytest.approx(1.0, abs=1e-12) and res.sublinear is False
    assert res.trend_statistic == 0 and res.trend_p_value == 1.0


def test_nonpositive_and_filter():
    res = no_regret_test([-1.0, 0.0, -0.5])
    assert res.nonpositive and res.n_points == 0
    assert res.slope is None and res.intercept is None and res.slope_p_value is None and res.sublinear is None
    res = no_regret_test([-1.0, 2.0, -0.5, 3.0, 0.0, 4.0])
    assert res.n_points == 3 and not res.nonpositive  # only t = 2, 4, 6 enter the fit
    fit = stats.linregress(np.log([2, 4, 6]), np.log([2.0, 3.0, 4.0]))
    assert res.slope == pytest.approx(fit.slope, abs=1e-12)


def test_explicit_eval_points_and_ties():
    res = no_regret_test([2.0, 4.0, 6.0, 7.0], eval_points=[1, 3, 4])
    # ratios 2, 2, 1.75: the tie does not count
    assert (res.trend_statistic, res.trend_n) == (1, 2)
    assert res.trend_p_value == pytest.approx(0.75)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"eval_points": 0}, "eval_points must be an integer ≥ 1"),
    ({"eval_points": 5}, "eval_points must be an integer ≤ 4"),
    ({"eval_points": [2, 2]}, "strictly increasing"),
    ({"eval_points": [0, 2]}, r"1-based rounds in \[1, 4\]"),
    ({"eval_points": [1.5, 2]}, "integer rounds"),
    ({"eval_points": []}, "non-empty"),
    ({"alpha": 1.5}, "alpha must be a fraction"),
])
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(InputError, match=pattern):
        no_regret_test(CURVE, **kwargs)


def test_bad_curve():
    with pytest.raises(InputError, match="curve must be finite"):
        no_regret_test([1.0, float("nan")])
    with pytest.raises(InputError, match="curve must be a 1-D"):
        no_regret_test([[1.0, 2.0]])
    with pytest.raises(InputError, match="curve must not be empty"):
        no_regret_test([])


def _hedge_like_curve(T=2000, seed=0):
    """Expected regret curve of Hedge on i.i.d. Bernoulli losses (a no-regret learner)."""
    from metrics import regret_curve

    rng = np.random.default_rng(seed)
    losses = (rng.random((T, 3)) < np.array([0.4, 0.5, 0.6])).astype(float)
    eta = math.sqrt(8 * math.log(3) / T)
    cum = np.vstack([np.zeros(3), np.cumsum(losses, axis=0)[:-1]])
    logits = -eta * (cum - cum.min(axis=1, keepdims=True))
    policy = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return losses, policy, regret_curve(policy, losses)


def test_default_eval_points_are_log_spaced_and_reported():
    # Testing at every round compares 1999 overlapping, autocorrelated ratios: p ~ 1e-100.
    # The default uses at most 20 log-spaced rounds, always including t = 1 and t = T.
    _, _, curve = _hedge_like_curve()
    res = no_regret_test(curve)
    pts = res.eval_points
    assert pts[0] == 1 and pts[-1] == 2000 and 2 <= len(pts) <= 20
    assert np.all(np.diff(pts) > 0)
    assert pts.tolist() == log_spaced_rounds(2000).tolist()
    ratios = pts[1:] / pts[:-1]
    assert ratios[-5:].min() > 1.3  # well separated where rounds are many
    assert res.eval_points_rule == "log-spaced (20 points)"
    assert res.trend_p_value >= 0.5 ** (len(pts) - 1)
    assert res.to_dict()["eval_points"] == pts.tolist()
    every = no_regret_test(curve, eval_points="all")
    assert every.eval_points.tolist() == list(range(1, 2001)) and every.eval_points_rule == "every round"
    assert every.trend_p_value < 1e-50  # what the old default reported


def test_report_default_eval_points_are_log_spaced():
    from metrics import regret_report

    losses, policy, _ = _hedge_like_curve()
    rep = regret_report(policy, losses)
    assert rep.test.eval_points.tolist() == log_spaced_rounds(2000).tolist()
    assert rep.to_dict()["test"]["eval_points_rule"] == "log-spaced (20 points)"


def test_log_spaced_rounds_by_hand():
    assert log_spaced_rounds(4).tolist() == [1, 2, 3, 4]
    assert log_spaced_rounds(1).tolist() == [1]
    # round(1000 ** (k / 3)) for k = 0..3
    assert log_spaced_rounds(1000, n_points=4).tolist() == [1, 10, 100, 1000]
    assert no_regret_test(CURVE, eval_points=None).eval_points.tolist() == [1, 2, 3, 4]
    with pytest.raises(InputError, match="n_points"):
        log_spaced_rounds(10, n_points=1)
    with pytest.raises(InputError, match="eval_points must be"):
        no_regret_test(CURVE, eval_points="every")
