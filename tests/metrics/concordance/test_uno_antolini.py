"""Uno's IPCW C vs scikit-survival and Antolini's C_td vs pycox, plus their error paths."""

from __future__ import annotations

import numpy as np
import pytest

from metrics import InputError, concordance_index, time_dependent_concordance, uno_concordance_index
from metrics.concordance._ipcw import censoring_survival
from tests.metrics.concordance._reference import antolini_quadratic, uno_quadratic

CASE1 = dict(risk=[0.9, 0.5, 0.7, 0.5, 0.2, 0.5], time=[2, 3, 3, 5, 5, 8], event=[1, 1, 0, 1, 1, 0])


def test_uno_hand_case():
    times, g = censoring_survival(np.array(CASE1["time"], float), np.array(CASE1["event"], bool))
    np.testing.assert_array_equal(times, [2, 3, 5, 8])
    np.testing.assert_array_equal(g, [1, 0.75, 0.75, 0])
    assert uno_concordance_index(**CASE1) == pytest.approx(85 / 141, abs=1e-15)
    assert uno_concordance_index(**CASE1, tau=4) == pytest.approx(77 / 109, abs=1e-15)
    assert uno_concordance_index(**CASE1, pairs="strict") == pytest.approx(61 / 125, abs=1e-15)
    assert uno_concordance_index(**CASE1, g_at="T-") == pytest.approx(71 / 113, abs=1e-15)


def _surv(time, event):
    y = np.empty(len(time), dtype=[("e", bool), ("t", float)])
    y["e"], y["t"] = event, time
    return y


def _data(seed, n, n_times=None, censor=0.4):
    rng = np.random.default_rng(seed)
    time = rng.exponential(10, n)
    if n_times:
        time = np.ceil(time * n_times / 30)
    event = rng.random(n) > censor
    risk = np.round(rng.normal(size=n) - 0.05 * time, 1)
    return risk, time, event


def test_uno_equals_sksurv_on_real_data_for_several_tau():
    from sksurv.datasets import load_whas500
    from sksurv.metrics import concordance_index_ipcw

    X, y = load_whas500()
    event, time = y["fstat"].astype(bool), y["lenfol"].astype(float)
    risk = X["age"].to_numpy(float) / 10 + X["bmi"].to_numpy(float) * -0.05
    for tau in (None, 365.0, 1000.0, float(time.max()) - 1):
        if tau is None and not event[time == time.max()].all():
            continue
        ref = concordance_index_ipcw(_surv(time, event), _surv(time, event), risk, tau=tau)[0]
        assert abs(uno_concordance_index(risk, time, event, tau=tau, compat="sksurv") - ref) <= 1e-9
        assert abs(uno_concordance_index(risk, time, event, tau=tau) - ref) <= 1e-9


def test_uno_equals_sksurv_with_separate_training_split():
    from sksurv.metrics import concordance_index_ipcw

    risk, time, event = _data(2, 3000, n_times=40)
    train = slice(0, 2000)
    test = slice(2000, None)
    tau = float(np.quantile(time, 0.8))
    for t in (tau, tau / 2):
        ref = concordance_index_ipcw(_surv(time[train], event[train]), _surv(time[test], event[test]),
                                     risk[test], tau=t)[0]
        got = uno_concordance_index(risk[test], time[test], event[test], train_time=time[train],
                                    train_event=event[train], tau=t, compat="sksurv")
        assert abs(got - ref) <= 1e-9


def test_uno_on_20000_synthetic_subjects_matches_sksurv():
    from sksurv.metrics import concordance_index_ipcw

    risk, time, event = _data(4, 5000)
    tau = float(np.quantile(time, 0.9))
    ref = concordance_index_ipcw(_surv(time, event), _surv(time, event), risk, tau=tau)[0]
    assert abs(uno_concordance_index(risk, time, event, tau=tau) - ref) <= 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_uno_matches_quadratic_reference(seed):
    risk, time, event = _data(seed, 40, n_times=6)
    tau = float(np.sort(np.unique(time))[-2])
    times, g = censoring_survival(time, event)
    # G(T_i) read directly from the step function, independently of the lookup helper
    g_at = np.array([g[times <= t][-1] for t in time])
    with np.errstate(divide="ignore"):
        w = np.where(event & (time < tau), 1.0 / g_at ** 2, 0.0)
    for strict in (False, True):
        ref = uno_quadratic(risk, time, event, w, 1e-8, strict=strict)
        got = uno_concordance_index(risk, time, event, tau=tau, pairs="strict" if strict else "harrell")
        assert abs(got - ref) <= 1e-12


def test_uno_equals_harrell_when_no_censoring():
    risk, time, _ = _data(3, 200, n_times=10)
    event = np.ones(time.size, bool)
    assert uno_concordance_index(risk, time, event) == pytest.approx(concordance_index(risk, time, event),
                                                                     abs=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    (dict(train_time=[1, 2, 3]), "train_event is required"),
    (dict(train_event=[1, 0, 1]), "train_time is required"),
    (dict(tau=0), "tau must be >"),
    (dict(tau=float("inf")), "tau must be finite"),
    (dict(tau=-1.0), "tau must be >"),
    (dict(compat="lifelines"), "lifelines has no IPCW"),
    (dict(pairs="strict", tied_tol=1e-8), "conflicts with pairs='strict'"),
    (dict(g_at="T+"), "g_at"),
    (dict(pairs="loose"), "pairs"),
    (dict(train_time=[1.0, 2.0], train_event=[1, 1]), r"beyond the last training time 2.*pass tau ≤ 2"),
])
def test_uno_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        uno_concordance_index([0.3, 0.2, 0.1, 0.4], [1.0, 2.0, 3.0, 4.0], [1, 1, 1, 0], **kwargs)


def test_uno_follow_up_ending_in_censoring_asks_for_tau():
    # the only subject at the last time 4 is censored: Ĝ(4) = 0; an event at 4 gets infinite weight
    with pytest.raises(InputError, match="pass tau ≤ 4"):
        uno_concordance_index([0.3, 0.2, 0.1, 0.4], [1.0, 2.0, 4.0, 4.0], [1, 1, 1, 0])
    assert uno_concordance_index([0.3, 0.2, 0.1, 0.4], [1.0, 2.0, 4.0, 4.0], [1, 1, 1, 0], tau=4) == 3 / 5


def test_uno_zero_weighted_denominator():
    with pytest.raises(InputError, match="tau"):
        uno_concordance_index([0.3, 0.2, 0.1], [2.0, 3.0, 4.0], [1, 1, 0], tau=1.0)
    assert np.isnan(uno_concordance_index([0.3, 0.2, 0.1], [2.0, 3.0, 4.0], [1, 1, 0], tau=1.0,
                                          on_undefined="nan"))
    with pytest.raises(InputError, match="all 3 subjects are censored"):
        uno_concordance_index([0.3, 0.2, 0.1], [2.0, 3.0, 4.0], [0, 0, 0])


# --------------------------------------------------------------------------- Antolini
SURV = [[1, 0.8, 0.3, 0.1], [1, 0.8, 0.6, 0.1], [1, 0.9, 0.5, 0.4]]


def test_antolini_hand_case():
    args = (SURV, [0, 1, 2, 3], [1.5, 2.5, 3], [1, 1, 0])
    assert time_dependent_concordance(*args) == 1 / 3
    assert time_dependent_concordance(*args, method="adj_antolini") == 1 / 2
    assert concordance_index(1 - np.asarray(SURV)[:, 1], [1.5, 2.5, 3], [1, 1, 0]) == 5 / 6


def _surv_data(seed, n, g):
    rng = np.random.default_rng(seed)
    grid = np.sort(rng.choice(np.arange(1, 40), g, replace=False)).astype(float)
    time = rng.integers(0, 42, n).astype(float)
    event = rng.random(n) < 0.6
    hazard = np.round(rng.random((n, g)) * 0.3, 1)  # coarse: many prediction ties
    surv = np.cumprod(1 - hazard, axis=1)
    return surv, grid, time, event


@pytest.mark.parametrize("seed", range(5))
def test_antolini_equals_pycox_and_quadratic(seed):
    from pycox.evaluation.concordance import concordance_td

    surv, grid, time, event = _surv_data(seed, 60, 8)
    idx = np.clip(np.searchsorted(grid, time, side="right") - 1, 0, grid.size - 1)
    for method, adjusted in (("antolini", False), ("adj_antolini", True)):
        got = time_dependent_concordance(surv, grid, time, event, method=method)
        ref = concordance_td(time, event.astype(np.int64), np.ascontiguousarray(surv.T), idx, method=method)
        assert abs(got - ref) <= 1e-12
        assert got == antolini_quadratic(surv, grid, time, event, adjusted=adjusted)


@pytest.mark.parametrize("args, match", [
    ((SURV, [0, 1, 1, 3], [1.5, 2.5, 3], [1, 1, 0]), "strictly increasing"),
    (([[1, 0.8, 0.3]] * 3, [0, 1, 2, 3], [1.5, 2.5, 3], [1, 1, 0]), r"shape \(n, G\)"),
    (([[1, 0.8, 0.3, 1.2]] * 3, [0, 1, 2, 3], [1.5, 2.5, 3], [1, 1, 0]), r"in \[0, 1\]"),
    (([[1, 0.8, np.nan, 0.1]] * 3, [0, 1, 2, 3], [1.5, 2.5, 3], [1, 1, 0]), "finite"),
    ((SURV, [0, 1, 2, 3], [1.5, 2.5, 3], [0, 0, 0]), "all 3 subjects are censored"),
])
def test_antolini_bad_input(args, match):
    with pytest.raises(InputError, match=match):
        time_dependent_concordance(*args)
