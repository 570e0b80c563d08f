"""Harrell's C: hand-worked cases, O(n²) reference, lifelines and scikit-survival, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import InputError, concordance_index, concordance_report
from metrics.concordance._kernel import risk_ranks_and_windows, sweep_counts
from tests.metrics.concordance._reference import pair_counts_quadratic, sweep_reference

CASE1 = dict(time=[2, 3, 3, 5, 5, 8], event=[1, 1, 0, 1, 1, 0], risk=[0.9, 0.5, 0.7, 0.5, 0.2, 0.5])


def test_hand_case_counts_and_value():
    rep = concordance_report(CASE1["risk"], CASE1["time"], CASE1["event"])
    assert (rep.comparable, rep.concordant, rep.discordant, rep.tied_risk, rep.tied_time) == (11, 6, 2, 3, 1)
    assert rep.cindex == 7.5 / 11
    neg = -np.asarray(CASE1["risk"])
    assert concordance_index(neg, CASE1["time"], CASE1["event"], compat="lifelines") == 7.5 / 11
    assert concordance_index(CASE1["risk"], CASE1["time"], CASE1["event"], compat="lifelines") == 3.5 / 11
    assert concordance_index(CASE1["risk"], CASE1["time"], CASE1["event"], higher_is="survival") == 3.5 / 11


def test_near_tie_inside_tolerance():
    risk, time = [0.25, 0.25 + 2e-9], [1, 2]
    assert concordance_index(risk, time) == 0.5
    assert concordance_index(risk, time, tied_tol=0) == 0.0
    assert concordance_index(-np.asarray(risk), time, compat="lifelines") == 0.0


def test_all_risks_equal_is_half():
    assert concordance_index(np.ones(5), [1, 2, 3, 4, 5], [1, 0, 1, 1, 0]) == 0.5


def test_all_censored_but_one():
    time = np.arange(1.0, 11.0)
    event = np.zeros(10, bool)
    event[3] = True
    risk = np.linspace(0, 1, 10)[::-1].copy()
    rep = concordance_report(risk, time, event)
    assert rep.comparable == 6 and rep.concordant == 6 and rep.cindex == 1.0


def _random_case(rng, n, n_times, n_risks, p_event=0.6):
    time = rng.integers(0, n_times, n).astype(float)
    event = rng.random(n) < p_event
    risk = rng.integers(0, n_risks, n) * 0.1
    return risk, time, event


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 60), n_times=st.integers(1, 8),
       n_risks=st.integers(1, 8), tol=st.sampled_from([0.0, 1e-8, 0.3]))
def test_matches_quadratic_reference(seed, n, n_times, n_risks, tol):
    rng = np.random.default_rng(seed)
    risk, time, event = _random_case(rng, n, n_times, n_risks)
    risk = risk + rng.choice([0.0, 5e-9, -5e-9], n)  # near-ties across the 1e-8 line
    ref = pair_counts_quadratic(risk, time, event, tol)[0]
    if ref["comparable"] == 0:
        assert np.isnan(concordance_index(risk, time, event, tied_tol=tol, on_undefined="nan"))
        return
    rep = concordance_report(risk, time, event, tied_tol=tol)
    got = {k: getattr(rep, k) for k in ref}
    assert got == ref
    assert rep.cindex == (ref["concordant"] + ref["tied_risk"] / 2) / ref["comparable"]
    perm = rng.permutation(n)
    assert concordance_index(risk[perm], time[perm], event[perm], tied_tol=tol) == rep.cindex


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 50), same=st.booleans(),
       tol=st.sampled_from([0.0, 1e-8, 0.3]))
def test_kernel_matches_plain_python_sweep(seed, n, same, tol):
    rng = np.random.default_rng(seed)
    risk, time, event = _random_case(rng, n, 5, 6)
    rank, lo, hi, m = risk_ranks_and_windows(risk, tol)
    order = np.argsort(time)
    # the kernel reads the subjects in time order and reports per sorted position
    totals, conc, tie, comp = sweep_counts(time[order], event[order], rank[order], lo, hi, m, tol == 0.0, same, True)
    r_conc, r_tie, r_comp = sweep_reference(order, time, event, rank, lo, hi, same)
    np.testing.assert_array_equal(conc, r_conc[order])
    np.testing.assert_array_equal(tie, r_tie[order])
    np.testing.assert_array_equal(comp, r_comp[order])
    assert totals[0] == r_conc.sum() and totals[2] == r_tie.sum() and totals[3] == r_comp.sum()


def test_tolerance_window_is_exact_per_pair():
    # values spaced at about the tolerance: the tie relation is not transitive
    rng = np.random.default_rng(3)
    risk = np.cumsum(rng.choice([0.5e-8, 1e-8, 1.5e-8], 40)) + 0.1
    rank, lo, hi, m = risk_ranks_and_windows(risk, 1e-8)
    u = np.unique(risk)
    for i in range(risk.size):
        window = np.flatnonzero(np.abs(u - risk[i]) <= 1e-8)
        assert (lo[rank[i]], hi[rank[i]]) == (window[0], window[-1])


def test_reversing_scores_without_ties_gives_one_minus_c():
    rng = np.random.default_rng(0)
    risk, time, event = rng.random(300), rng.integers(0, 30, 300).astype(float), rng.random(300) < 0.5
    assert abs(concordance_index(-risk, time, event) - (1 - concordance_index(risk, time, event))) < 1e-15


# --------------------------------------------------------------------------- libraries
def _cox_scores(name):
    import pandas as pd
    from sksurv import datasets
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    if name == "rossi":
        from lifelines.datasets import load_rossi

        df = load_rossi()
        time, event = df.pop("week").to_numpy(float), df.pop("arrest").to_numpy() == 1
        X = df.to_numpy(float)
    else:
        X, y = {"gbsg2": datasets.load_gbsg2, "whas500": datasets.load_whas500,
                "veterans": datasets.load_veterans_lung_cancer}[name]()
        X = pd.get_dummies(X, drop_first=True).astype(float).to_numpy()
        event, time = y[y.dtype.names[0]].astype(bool), y[y.dtype.names[1]].astype(float)
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
    y = np.empty(time.size, dtype=[("e", bool), ("t", float)])
    y["e"], y["t"] = event, time
    risk = CoxPHSurvivalAnalysis(alpha=1e-3).fit(X, y).predict(X)
    return risk, time, event


@pytest.mark.parametrize("name", ["gbsg2", "whas500", "veterans", "rossi"])
def test_equals_lifelines_and_sksurv_on_real_data(name):
    from lifelines.utils import concordance_index as ll_cindex
    from sksurv.metrics import concordance_index_censored

    risk, time, event = _cox_scores(name)
    assert len(np.unique(time)) < time.size  # real data with tied times
    for scores in (risk, np.round(risk, 1)):  # raw Cox scores, and heavy risk ties
        ref = concordance_index_censored(event, time, scores)
        rep = concordance_report(scores, time, event, compat="sksurv")
        assert rep.cindex == ref[0]
        assert (rep.concordant, rep.discordant, rep.tied_risk, rep.tied_time) == tuple(int(v) for v in ref[1:])
        assert concordance_index(scores, time, event) == ref[0]
        assert concordance_index(-scores, time, event, compat="lifelines") == ll_cindex(time, -scores, event)


def test_equals_libraries_on_large_synthetic_data():
    from lifelines.utils import concordance_index as ll_cindex
    from sksurv.metrics import concordance_index_censored

    rng = np.random.default_rng(1)
    n = 20_000
    time = np.round(rng.exponential(10, n), 1)
    event = rng.random(n) < 0.6
    risk = np.round(rng.normal(size=n), 2) + rng.choice([0, 3e-9], n)
    assert concordance_index(-risk, time, event, compat="lifelines") == ll_cindex(time, -risk, event)
    # sksurv is O(n²) in Python: compare on a 4000-subject slice
    s = slice(0, 4000)
    ref = concordance_index_censored(event[s], time[s], risk[s])
    rep = concordance_report(risk[s], time[s], event[s])
    assert rep.cindex == ref[0]
    assert (rep.concordant, rep.discordant, rep.tied_risk, rep.tied_time) == tuple(int(v) for v in ref[1:])


# --------------------------------------------------------------------------- inputs
def test_accepts_tensors_lists_series_and_column_vectors():
    import pandas as pd

    expect = 7.5 / 11
    r, t, e = (np.asarray(CASE1[k], float) for k in ("risk", "time", "event"))
    assert concordance_index(torch.tensor(r), torch.tensor(t), torch.tensor(e)) == expect
    assert concordance_index(list(r), pd.Series(t), e.astype(bool)) == expect
    assert concordance_index(r[:, None], t[None, :], e) == expect


def test_inputs_not_mutated():
    r, t, e = (np.asarray(CASE1[k], float) for k in ("risk", "time", "event"))
    copies = [x.copy() for x in (r, t, e)]
    concordance_report(r, t, e, higher_is="survival", n_bootstrap=5)
    for a, b in zip((r, t, e), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, match", [
    (dict(risk=[1, 2, 3], time=[1, 2]), "same length"),
    (dict(risk=[1.0], time=[1.0]), "at least 2"),
    (dict(risk=[], time=[]), "at least 2"),
    (dict(risk=[1, np.nan], time=[1, 2]), "risk must hold risk scores, not NaN.*element 1"),
    (dict(risk=[1, 2], time=[1, np.inf]), "time must be finite.*element 1"),
    (dict(risk=[1, 2], time=[1, 2], event=[1, 2]), "event must hold 0/1.*element 1 is 2"),
    (dict(risk=np.ones((2, 2)), time=np.ones((2, 2))), "risk must be a 1-D"),
    (dict(risk=[1, 2], time=[1, 2], compat="lifelines", higher_is="risk"), "conflicts with compat"),
    (dict(risk=[1, 2], time=[1, 2], compat="sksurv", tied_tol=0), "conflicts with compat"),
    (dict(risk=[1, 2], time=[1, 2], compat="R"), "compat must be one of"),
    (dict(risk=[1, 2], time=[1, 2], higher_is="hazard"), "higher_is must be one of"),
    (dict(risk=[1, 2], time=[1, 2], tied_tol=-1), "tied_tol"),
    (dict(risk=[1, 2], time=[1, 2], on_undefined="zero"), "on_undefined"),
])
def test_bad_input_raises(kwargs, match):
    with pytest.raises(InputError, match=match):
        concordance_index(**kwargs)


def test_compat_with_matching_explicit_option_is_fine():
    assert concordance_index([2, 1], [2, 1], compat="lifelines", higher_is="survival", tied_tol=0) == 1.0


@pytest.mark.parametrize("time, event, match", [
    ([1, 2, 3], [0, 0, 0], "all 3 subjects are censored"),
    ([1, 2, 3], [0, 0, 1], "only event is at the last time"),
    ([3, 3, 3], [1, 1, 1], "all 3 events are tied"),
    ([1, 3, 3], [0, 1, 1], "all 2 events are tied"),
])
def test_no_comparable_pair(time, event, match):
    with pytest.raises(InputError, match=match):
        concordance_index([0.1, 0.2, 0.3], time, event)
    assert np.isnan(concordance_index([0.1, 0.2, 0.3], time, event, on_undefined="nan"))
    rep = concordance_report([0.1, 0.2, 0.3], time, event, on_undefined="nan")
    assert np.isnan(rep.cindex) and rep.comparable == 0
    with pytest.raises(InputError, match="at least 2"):  # n < 2 raises whatever on_undefined says
        concordance_index([0.1], [1.0], [1], on_undefined="nan")


def test_bootstrap_is_seeded_and_percentile():
    rng = np.random.default_rng(5)
    risk, time, event = rng.random(80), rng.integers(0, 20, 80).astype(float), rng.random(80) < 0.5
    a = concordance_report(risk, time, event, n_bootstrap=50, seed=7)
    b = concordance_report(risk, time, event, n_bootstrap=50, seed=7)
    assert a == b and a.ci_low <= a.cindex <= a.ci_high
    # independent recomputation of the interval
    g = np.random.default_rng(7)
    vals = []
    for _ in range(50):
        idx = g.integers(0, 80, size=80)
        v = concordance_index(risk[idx], time[idx], event[idx], on_undefined="nan")
        if not np.isnan(v):
            vals.append(v)
    assert a.n_bootstrap_undefined == 50 - len(vals)
    assert (a.ci_low, a.ci_high) == tuple(np.quantile(vals, [0.025, 0.975]))
    d = a.to_dict()
    assert d["comparable"] == a.comparable and a.to_frame().shape[0] == 1
    with pytest.raises(InputError, match="n_bootstrap"):
        concordance_report(risk, time, event, n_bootstrap=-1)


# --------------------------------------------------------------------------- conventions stated
def test_report_states_direction_and_tie_conventions():
    """The direction a score is read in and the tie rule travel with every report."""
    neg = -np.asarray(CASE1["risk"])
    default = concordance_report(CASE1["risk"], CASE1["time"], CASE1["event"])
    ll = concordance_report(neg, CASE1["time"], CASE1["event"], compat="lifelines")
    assert ll.cindex == default.cindex == 7.5 / 11
    d, d_ll = default.to_dict(), ll.to_dict()
    assert (d["higher_is"], d["tied_tol"], d["compat"]) == ("risk", 1e-8, None)
    assert (d_ll["higher_is"], d_ll["tied_tol"], d_ll["compat"]) == ("survival", 0.0, "lifelines")
    assert "earlier failure" in d["direction"] and "longer survival" in d_ll["direction"]
    assert "within 1e-08" in d["ties"] and "exactly equal" in d_ll["ties"]
    assert "same time" in d["ties"]
    frame = ll.to_frame()
    assert frame.loc[0, "higher_is"] == "survival" and frame.loc[0, "tied_tol"] == 0.0
    assert "longer survival" in frame.loc[0, "direction"]
    text = str(ll)
    assert "longer survival" in text and "compat='lifelines'" in text and "exactly equal" in text
    # the flipped reading is visible: the same scores under lifelines give 1 - C here
    flipped = concordance_report(CASE1["risk"], CASE1["time"], CASE1["event"], compat="lifelines")
    assert flipped.cindex == 3.5 / 11 and flipped.higher_is == "survival"
    explicit = concordance_report(CASE1["risk"], CASE1["time"], CASE1["event"], higher_is="survival", tied_tol=0)
    assert (explicit.higher_is, explicit.tied_tol, explicit.compat) == ("survival", 0.0, None)


# --------------------------------------------------------------------------- infinite scores
def test_infinite_scores_against_lifelines_on_rossi_median_predictions():
    """lifelines scores with predicted median times, +inf for most Rossi subjects."""
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi
    from lifelines.utils import concordance_index as ll_cindex

    df = load_rossi()
    cph = CoxPHFitter().fit(df, "week", "arrest")
    median = cph.predict_median(df).to_numpy(float)
    assert np.isinf(median).sum() > 300  # the case lifelines' own tests use
    time, event = df["week"].to_numpy(float), df["arrest"].to_numpy()
    ref = ll_cindex(time, median, event)
    assert concordance_index(median, time, event, compat="lifelines") == ref
    assert concordance_index(median, time, event, higher_is="survival", tied_tol=0) == ref
    # with the default tolerance the finite scores here are far apart: the same value
    assert concordance_index(-median, time, event) == ref
    rep = concordance_report(median, time, event, compat="lifelines")
    assert rep.comparable == rep.concordant + rep.discordant + rep.tied_risk


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), tol=st.sampled_from([0.0, 1e-8, 0.3]))
def test_infinite_scores_match_quadratic_reference(seed, n, tol):
    rng = np.random.default_rng(seed)
    risk, time, event = _random_case(rng, n, 5, 4)
    risk[rng.random(n) < 0.3] = np.inf
    risk[rng.random(n) < 0.2] = -np.inf
    ref = pair_counts_quadratic(risk, time, event, tol)[0]
    if ref["comparable"] == 0:
        return
    rep = concordance_report(risk, time, event, tied_tol=tol)
    assert {k: getattr(rep, k) for k in ref} == ref
    # +inf is the highest risk: reversing the direction maps +inf to -inf exactly
    assert concordance_index(-risk, time, event, tied_tol=tol, higher_is="survival") == rep.cindex


def test_infinite_scores_in_uno_and_metric():
    from metrics import ConcordanceIndex, uno_concordance_index

    risk = np.array([np.inf, 0.5, 0.7, -np.inf, 0.2, np.inf])
    time, event = np.array(CASE1["time"], float), np.array(CASE1["event"])
    ref = pair_counts_quadratic(risk, time, event, 1e-8)[0]
    assert concordance_index(risk, time, event) == (ref["concordant"] + ref["tied_risk"] / 2) / ref["comparable"]
    finite = np.where(np.isposinf(risk), 10.0, np.where(np.isneginf(risk), -10.0, risk))
    assert uno_concordance_index(risk, time, event) == uno_concordance_index(finite, time, event)
    m = ConcordanceIndex()
    m.update(torch.tensor(risk), torch.tensor(time), torch.tensor(event))
    assert m.compute().item() == concordance_index(finite, time, event)


def test_nan_risk_and_infinite_time_are_still_errors_without_repeated_words():
    with pytest.raises(InputError, match=r"risk must hold risk scores, not NaN \(±inf is allowed\); element 1"):
        concordance_index([1.0, np.nan, 2.0], [1, 2, 3])
    with pytest.raises(InputError, match="time must be finite times; element 1 is inf") as info:
        concordance_index([1.0, 2.0, 3.0], [1, np.inf, 3])
    assert "finite finite" not in str(info.value)


# --------------------------------------------------------------------------- memory layouts
def test_any_strides_and_memory_order():
    import pandas as pd

    from metrics import time_dependent_concordance, uno_concordance_index

    rng = np.random.default_rng(11)
    n = 61
    risk, time = np.round(rng.normal(size=n), 1), rng.integers(1, 12, n).astype(float)
    event = rng.random(n) < 0.6
    expect = concordance_index(risk[::-1].copy(), time[::-1].copy(), event[::-1].copy())
    assert concordance_index(risk[::-1], time[::-1], event[::-1]) == expect
    wide = np.asfortranarray(np.stack([risk[::-1], time[::-1], event[::-1]], axis=1))
    assert concordance_index(wide[:, 0], wide[:, 1], wide[:, 2]) == expect
    assert concordance_index(wide[:, :1], wide[:, 1:2], wide[:, 2:3]) == expect  # (n, 1) Fortran columns
    view = np.repeat(np.stack([risk, time, event], 1)[::-1], 2, axis=0)[::2]  # a view of a view
    assert concordance_index(view[:, 0], view[:, 1], view[:, 2]) == expect
    series = [pd.Series(a[::-1], index=np.arange(n)[::-1] * 7) for a in (risk, time, event.astype(int))]
    assert concordance_index(*series) == expect
    tensors = [torch.tensor(a.astype(float)).flip(0) for a in (risk, time, event)]
    assert concordance_index(*tensors) == expect
    tensors_strided = [torch.tensor(np.repeat(a.astype(float), 2)).flip(0)[::2] for a in (risk, time, event)]
    assert concordance_index(*tensors_strided) == expect
    tau = float(np.quantile(time, 0.7))
    assert uno_concordance_index(risk[::-1], time[::-1], event[::-1], tau=tau) == uno_concordance_index(
        risk[::-1].copy(), time[::-1].copy(), event[::-1].copy(), tau=tau)
    surv = np.asfortranarray(np.sort(rng.random((n, 4)), axis=1)[:, ::-1])
    grid = np.array([1.0, 3.0, 6.0, 9.0])
    assert time_dependent_concordance(surv[::-1], grid[::-1][::-1], time[::-1], event[::-1]) == \
        time_dependent_concordance(surv[::-1].copy(order="C"), grid, time[::-1].copy(), event[::-1].copy())


def test_two_threaded_sort_path_equals_lifelines():
    """From 1e5 subjects the two sorts run side by side: counts unchanged."""
    from lifelines.utils import concordance_index as ll_cindex

    rng = np.random.default_rng(8)
    n = 120_000
    time = np.round(rng.exponential(10, n), 1)
    event = rng.random(n) < 0.6
    score = np.round(rng.normal(size=n), 3)
    assert concordance_index(score, time, event, compat="lifelines") == ll_cindex(time, score, event)


@pytest.mark.parametrize("kind", ["rounded", "continuous", "special"])
def test_radix_argsort_equals_stable_argsort(kind):
    from metrics.concordance._kernel import argsort_values

    rng = np.random.default_rng(12)
    n = 60_000  # above the size from which the radix sort is used
    if kind == "rounded":
        x = np.round(rng.exponential(10, n), 1)
    elif kind == "continuous":
        x = rng.normal(size=n) * 1e5
    else:
        x = rng.choice([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1e308, -1e308, 1.5, -1.5], n)
    order = argsort_values(x)
    np.testing.assert_array_equal(order, np.argsort(x, kind="stable"))
    np.testing.assert_array_equal(argsort_values(x[:100]), np.argsort(x[:100], kind="stable"))


def test_forked_child_sorts_in_its_own_thread():
    """A child forked after the parent used the sorting thread does not wait on it forever."""
    import multiprocessing as mp

    rng = np.random.default_rng(2)
    n = 110_000
    risk, time = np.round(rng.normal(size=n), 2), np.round(rng.exponential(5, n), 1)
    expect = concordance_index(risk, time)  # starts the parent's sorting thread
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(concordance_index, (risk, time)).get(timeout=120)
    assert got == expect


@pytest.mark.parametrize("kind", ["rounded", "special"])
def test_ranks_from_radix_keys_equal_ranks_from_values(kind):
    from metrics.concordance._kernel import risk_ranks_and_windows

    rng = np.random.default_rng(13)
    n = 60_000
    x = (np.round(rng.normal(size=n), 2) if kind == "rounded"
         else rng.choice([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1e308, -1e308, 1.5, -1.5], n))
    for tol in (0.0, 1e-8, 0.3):
        rank, lo, hi, m = risk_ranks_and_windows(x, tol)
        u = np.unique(x)
        np.testing.assert_array_equal(rank, np.searchsorted(u, x))
        assert m == u.size
        for r in range(m):
            with np.errstate(invalid="ignore"):  # inf - inf
                window = np.flatnonzero((u == u[r]) | (np.abs(u - u[r]) <= tol))
            assert (lo[r], hi[r]) == (window[0], window[-1])
