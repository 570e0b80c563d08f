"""Default calibration error, binning, smooth ECE and MMCE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import InputError, calibration_error, mmce, smooth_ece
from metrics.calibration import assign_bins, bin_edges, binned_statistics
from tests.metrics.calibration._calibration_cases import binary_case, make_case

A_P = np.array([0, .1, .2, .2, .25, .5, .5, .9, 1, 1])
A_Y = np.array([1, 0, 1, 0, 0, 1, 0, 1, 1, 0])
B_P = np.array([.1, .2, .2, .2, .4, .6, .8, .9])
B_Y = np.array([0, 0, 1, 0, 1, 1, 1, 1])


def slow_ce(scores, outcomes, edges, norm="l1", debiased=False):
    """Per-bin Python loop over the binning and estimator definitions (independent of the package)."""
    n = len(scores)
    gaps, weights, d = [], [], 0.0
    for m in range(len(edges) - 1):
        lo, hi = edges[m], edges[m + 1]
        last = m == len(edges) - 2
        inside = [i for i in range(n) if lo <= scores[i] and (scores[i] < hi or (last and scores[i] <= hi))]
        if not inside:
            continue
        s_bar = sum(scores[i] for i in inside) / len(inside)
        o_bar = sum(outcomes[i] for i in inside) / len(inside)
        gaps.append(abs(o_bar - s_bar))
        weights.append(len(inside) / n)
        if len(inside) >= 2:
            d += len(inside) / n * ((o_bar - s_bar) ** 2 - o_bar * (1 - o_bar) / (len(inside) - 1))
    g, w = np.array(gaps), np.array(weights)
    if debiased:
        return np.sqrt(max(d, 0.0))
    return {"l1": (w * g).sum(), "l2": np.sqrt((w * g * g).sum()), "max": g.max(), "average": g.mean()}[norm]


# ----------------------------------------------------------------- hand cases
def test_hand_case_a():
    kw = dict(n_bins=4, scope="positive_class")
    st_ = binned_statistics(A_P, A_Y, bin_edges(A_P, 4))
    assert st_.counts.tolist() == [4, 1, 2, 3]
    assert calibration_error(A_P, A_Y, **kw) == pytest.approx(0.265, abs=1e-15)
    assert calibration_error(A_P, A_Y, norm="max", **kw) == pytest.approx(0.375, abs=1e-15)
    assert calibration_error(A_P, A_Y, norm="average", **kw) == pytest.approx(0.23125, abs=1e-15)
    assert calibration_error(A_P, A_Y, norm="l2", **kw) == pytest.approx(np.sqrt(0.0895), abs=1e-15)
    assert calibration_error(A_P, A_Y, norm="l2", debiased=True, **kw) == 0.0
    # D = -0.0334 (hand): 0.4(0.140625 - 1/12) + 0.2(0 - 0.25) + 0.3(0.09 - 1/9)
    from metrics.calibration._estimators import errors_from_statistics
    n, s, o = st_.counts, st_.sum_score, st_.sum_outcome
    two = n >= 2
    d = (n[two] / 10 * ((o[two] / n[two] - s[two] / n[two]) ** 2
                        - (o[two] / n[two]) * (1 - o[two] / n[two]) / (n[two] - 1))).sum()
    assert d == pytest.approx(-0.0334166667, abs=1e-9)
    assert errors_from_statistics(n, s, o, norm="l2", debiased=True) == 0.0
    assert calibration_error(A_P, A_Y, compat="torchmetrics", **kw) == pytest.approx(0.285, abs=1e-15)
    assert calibration_error(A_P, A_Y, compat="netcal", **kw) == pytest.approx(0.265, abs=1e-15)
    assert calibration_error(A_P, A_Y, compat="uncertainty_calibration", **kw) == pytest.approx(0.215, abs=1e-15)
    assert calibration_error(A_P, A_Y, compat="guo", **kw) == pytest.approx(0.115, abs=1e-15)
    assert calibration_error(A_P, A_Y, compat="relplot", **kw) == pytest.approx(0.285, abs=1e-15)


def test_hand_case_b():
    kw = dict(n_bins=4, binning="quantile", scope="positive_class")
    np.testing.assert_array_equal(bin_edges(B_P, 4, "quantile"), [0, .2, (.2 + .4) / 2, (.6 + .8) / 2, 1])
    np.testing.assert_allclose(bin_edges(B_P, 4, "quantile"), [0, .2, .3, .7, 1], atol=1e-15)
    assert binned_statistics(B_P, B_Y, bin_edges(B_P, 4, "quantile")).counts.tolist() == [1, 3, 2, 2]
    assert calibration_error(B_P, B_Y, **kw) == pytest.approx(0.225, abs=1e-15)
    assert calibration_error(B_P, B_Y, compat="netcal", **kw) == pytest.approx(0.225, abs=1e-15)
    assert calibration_error(B_P, B_Y, compat="uncertainty_calibration", **kw) == pytest.approx(0.2, abs=1e-15)
    tied = np.array([.2] * 5 + [.5, .8, .9])
    np.testing.assert_array_equal(bin_edges(tied, 4, "quantile"), [0, .2, (.5 + .8) / 2, 1])
    assert assign_bins(tied, bin_edges(tied, 4, "quantile")).tolist() == [1] * 6 + [2, 2]  # tie on an edge goes up
    with pytest.raises(InputError):
        calibration_error(tied, B_Y, compat="netcal", **kw)


def dense_mmce(s, r, bw):
    """The N×N definition, summed in row blocks."""
    total = 0.0
    for i in range(0, s.size, 1000):
        total += np.sum(r[i:i + 1000, None] * r[None, :] * np.exp(-np.abs(s[i:i + 1000, None] - s[None, :]) / bw))
    return np.sqrt(total) / s.size


def test_mmce_hand_and_dense():
    assert mmce([[.2, .8], [.6, .4]], [1, 1]) == pytest.approx(0.2522065828, abs=1e-10)
    p, y = make_case("random", k=5, n=5000, seed=3)
    s, o = p.max(1), (p.argmax(1) == y).astype(float)
    assert mmce(p, y) == pytest.approx(dense_mmce(s, o - s, 0.4), rel=1e-10)
    for bw in (0.01, 2.0):
        assert mmce(p[:1500], y[:1500], bandwidth=bw) == pytest.approx(
            dense_mmce(s[:1500], (o - s)[:1500], bw), rel=1e-9)
    import netcal.metrics.confidence as nc
    assert mmce(p[:800], y[:800], compat="netcal") == pytest.approx(nc.MMCE().measure(p[:800], y[:800]), rel=1e-10)
    pb, yb = binary_case("random", n=800)
    assert mmce(pb, yb, compat="netcal") == pytest.approx(nc.MMCE().measure(pb, yb), rel=1e-10)


@pytest.mark.parametrize("case", ["random", "grid", "ones", "zero_one", "single", "ties"])
def test_smooth_ece_equals_relplot(case):
    relplot = pytest.importorskip("relplot")
    p, y = make_case(case, n=300)
    s, o = p.max(1), (p.argmax(1) == y).astype(float)
    ref, ref_sigma = relplot.smECE(s, o, return_width=True)
    ours, sigma = smooth_ece(p, y, return_sigma=True)
    assert sigma == ref_sigma
    assert ours == pytest.approx(ref, abs=1e-9)
    pb, yb = binary_case(case, n=300)
    ref = relplot.smECE(pb, yb.astype(float))
    assert smooth_ece(pb, yb, scope="positive_class") == pytest.approx(ref, abs=1e-9)


# ----------------------------------------------------------------- binning
def test_uniform_edges_are_k_over_m():
    e = bin_edges(None, 10)
    assert e[3] == 3 / 10 and e[3] != np.linspace(0, 1, 11)[3]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2 ** 31))
def test_fast_uniform_assignment_equals_searchsorted(m, seed):
    rng = np.random.default_rng(seed)
    e = bin_edges(None, m)
    grid = np.arange(m + 1) / m
    s = np.concatenate([rng.random(200), grid, np.nextafter(grid, 0).clip(0, 1), np.nextafter(grid, 1).clip(0, 1),
                        rng.integers(0, 11, 50) / 10, [0.0, 1.0]])
    assert assign_bins(s, e).tolist() == np.searchsorted(e[1:-1], s, side="right").tolist()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0.0, .1, .2, .25, .5, .7, 1.0]) | st.floats(0, 1), min_size=1, max_size=60),
       st.integers(1, 20))
def test_quantile_edges_rule(scores, m):
    s = np.array(scores)
    e = bin_edges(s, m, "quantile")
    chunks = np.array_split(np.sort(s), min(m, s.size))
    mids = [(chunks[j][-1] + chunks[j + 1][0]) / 2.0 for j in range(len(chunks) - 1)]
    np.testing.assert_array_equal(e, np.unique(np.concatenate([[0.0], mids, [1.0]])))
    b = assign_bins(s, e)
    for v in np.unique(s):  # ties never straddle bins
        assert np.unique(b[s == v]).size == 1


# ----------------------------------------------------------------- default vs slow reference
@pytest.mark.parametrize("case", ["random", "on_edge", "grid", "ones", "ties", "single"])
@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_default_matches_slow_loop(case, binning):
    p, y = make_case(case, n=120)
    s, o = p.max(1), (p.argmax(1) == y).astype(float)
    edges = bin_edges(s, 10, binning)
    for norm in ("l1", "l2", "max", "average"):
        assert calibration_error(p, y, n_bins=10, norm=norm, binning=binning) == pytest.approx(
            slow_ce(s, o, edges, norm), abs=1e-13)
    assert calibration_error(p, y, n_bins=10, norm="l2", binning=binning, debiased=True) == pytest.approx(
        slow_ce(s, o, edges, debiased=True), abs=1e-13)
    # classwise: each class with its own bins, aggregated as documented
    for norm in ("l1", "l2", "max", "average"):
        per = [slow_ce(p[:, k], (y == k).astype(float), bin_edges(p[:, k], 10, binning), norm) for k in range(4)]
        agg = {"l1": np.mean(per), "average": np.mean(per), "max": np.max(per),
               "l2": np.sqrt(np.mean(np.square(per)))}[norm]
        assert calibration_error(p, y, n_bins=10, norm=norm, binning=binning, scope="classwise") == pytest.approx(
            agg, abs=1e-13)
    per = [max(slow_ce(p[:, k], (y == k).astype(float), bin_edges(p[:, k], 10, binning), debiased=True), 0) ** 2
           for k in range(4)]
    assert calibration_error(p, y, n_bins=10, norm="l2", debiased=True, binning=binning,
                             scope="classwise") == pytest.approx(np.sqrt(np.mean(per)), abs=1e-13)


def test_one_d_means_two_columns_and_input_types():
    p = np.random.default_rng(0).random(300)
    y = (np.random.default_rng(1).random(300) < p).astype(int)
    two = np.stack([1 - p, p], 1)
    for scope in ("top_label", "positive_class", "classwise"):
        assert calibration_error(p, y, scope=scope) == pytest.approx(calibration_error(two, y, scope=scope), abs=1e-15)
    ref = calibration_error(two, y)
    assert calibration_error(torch.from_numpy(two), torch.from_numpy(y)) == ref
    assert calibration_error(two.tolist(), y.tolist()) == ref
    assert calibration_error(two, y.astype(bool)) == ref
    assert calibration_error(two, y.astype(float)) == ref
    assert calibration_error(two.astype(np.float32), y) == pytest.approx(ref, abs=1e-6)


def test_argmax_ties_go_to_the_first_class():
    p = np.array([[.4, .4, .2], [.3, .35, .35], [.5, .5, 0]] * 30000)  # large enough for the torch path
    y = np.array([0, 1, 1] * 30000)
    s, o = p.max(1), (np.argmax(p, 1) == y)
    assert calibration_error(p, y, n_bins=5) == pytest.approx(slow_ce(s[:3], o[:3].astype(float), bin_edges(None, 5)),
                                                              abs=1e-12)


# ----------------------------------------------------------------- properties
@settings(max_examples=12, deadline=None)
@given(st.integers(1, 60), st.integers(2, 5), st.integers(1, 20), st.integers(0, 2 ** 31),
       st.sampled_from(["uniform", "quantile"]), st.sampled_from(["top_label", "classwise"]))
def test_permutation_invariance_and_bounds(n, k, m, seed, binning, scope):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k) * 0.5, size=n)
    y = rng.integers(0, k, size=n)
    perm = rng.permutation(n)
    for norm in ("l1", "l2", "max", "average"):
        v = calibration_error(p, y, n_bins=m, norm=norm, binning=binning, scope=scope)
        assert 0.0 <= v <= 1.0
        assert calibration_error(p[perm], y[perm], n_bins=m, norm=norm, binning=binning, scope=scope) == \
            pytest.approx(v, abs=1e-12)
    l1 = calibration_error(p, y, n_bins=m, binning=binning, scope=scope)
    l2 = calibration_error(p, y, n_bins=m, norm="l2", binning=binning, scope=scope)
    mx = calibration_error(p, y, n_bins=m, norm="max", binning=binning, scope=scope)
    assert l1 <= l2 + 1e-12 and l2 <= mx + 1e-12
    assert calibration_error(p, y, n_bins=m, norm="l2", debiased=True, binning=binning, scope=scope) <= l2 + 1e-12
    if scope == "top_label":
        v, sigma = smooth_ece(p, y, return_sigma=True)
        assert 0 <= v <= 1 and 0 < sigma <= 1
        assert 0 <= mmce(p, y) <= 1


# ----------------------------------------------------------------- bad input
GOOD_P = np.array([[.7, .3], [.4, .6], [.5, .5]])
GOOD_Y = np.array([0, 1, 1])


@pytest.mark.parametrize("kwargs,arg", [
    (dict(probs=np.array([[.7, .3], [np.nan, .6], [.5, .5]])), "probs"),
    (dict(probs=np.array([[.7, .3], [np.inf, .6], [.5, .5]])), "probs"),
    (dict(probs=np.array([[.7, .3], [-.1, 1.1], [.5, .5]])), "probs"),
    (dict(probs=np.array([[.7, .5], [.4, .6], [.5, .5]])), "probs"),        # row sums to 1.2
    (dict(probs=np.zeros((3, 2, 2))), "probs"),
    (dict(probs=np.zeros((0, 2)), labels=np.zeros(0, int)), "probs"),
    (dict(probs=np.ones((3, 1))), "probs"),
    (dict(labels=np.array([0, 1, 2])), "labels"),
    (dict(labels=np.array([0, 1, -1])), "labels"),
    (dict(labels=np.array([0, .5, 1])), "labels"),
    (dict(labels=np.array([0, 1])), "labels"),
    (dict(n_bins=0), "n_bins"),
    (dict(n_bins=2.5), "n_bins"),
    (dict(norm="l3"), "norm"),
    (dict(binning="kmeans"), "binning"),
    (dict(scope="top"), "scope"),
    (dict(debiased=True), "debiased"),
    (dict(debiased="yes", norm="l2"), "debiased"),
    (dict(compat="sklearn"), "compat"),
    (dict(probs=np.full((3, 3), 1 / 3), labels=np.array([0, 1, 2]), scope="positive_class"), "positive_class"),
])
def test_bad_inputs_raise_naming_the_argument(kwargs, arg):
    args = dict(probs=GOOD_P, labels=GOOD_Y)
    args.update(kwargs)
    with pytest.raises(InputError, match=arg):
        calibration_error(args.pop("probs"), args.pop("labels"), **args)


def test_bad_inputs_fast_validation_path_names_the_element():
    p, y = make_case("random", n=70000)
    p[65000, 2] = np.nan
    with pytest.raises(InputError, match="row 65000"):
        calibration_error(p, y)
    p, y = make_case("random", n=70000)
    p[123] *= 1.5
    with pytest.raises(InputError, match="row 123"):
        calibration_error(p.astype(np.float32), y)


def test_smooth_ece_and_mmce_reject_classwise_and_bad_bandwidth():
    with pytest.raises(InputError, match="classwise"):
        smooth_ece(GOOD_P, GOOD_Y, scope="classwise")
    with pytest.raises(InputError, match="classwise"):
        mmce(GOOD_P, GOOD_Y, scope="classwise")
    with pytest.raises(InputError, match="bandwidth"):
        mmce(GOOD_P, GOOD_Y, bandwidth=0)


def test_inputs_not_mutated():
    p, y = make_case("ones", n=200)
    p32 = p.astype(np.float32)
    t = torch.from_numpy(p.copy())
    copies = (p.copy(), y.copy(), p32.copy(), t.clone())
    for compat in (None, "torchmetrics", "netcal", "uncertainty_calibration", "guo", "relplot"):
        kw = dict(scope="top_label")
        calibration_error(p, y, compat=compat, **kw)
        calibration_error(p32, y, compat=compat, **kw)
        calibration_error(t, y, compat=compat, **kw)
    calibration_error(p, y, binning="quantile", scope="classwise")
    smooth_ece(p, y)
    mmce(p, y)
    np.testing.assert_array_equal(p, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    np.testing.assert_array_equal(p32, copies[2])
    assert torch.equal(t, copies[3])
