"""LInCo of a prediction matrix: hand-worked cases, properties, baseline, bad input."""

from __future__ import annotations

import importlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metrics import (
    LINCO_CLASSIFICATION_DISPERSIONS,
    LINCO_REGRESSION_DISPERSIONS,
    InputError,
    LincoReport,
    linco,
    linco_per_case,
    linco_report,
)

P = np.array([[6.0, 12.0], [12.0, 12.0], [24.0, 12.0]])
LABELS = np.array([[0, 1, 2], [0, 1, 2], [0, 2, 2], [1, 2, 2]])

# Spec hand-worked values (spec: docs "Hand-worked cases"), per case and mean.
HAND_REGRESSION = {
    "var_pop": ([56.0, 0.0], 28.0),
    "std_pop": ([math.sqrt(56.0), 0.0], math.sqrt(56.0) / 2),
    "cv_pop": ([math.sqrt(56.0) / 14.0, 0.0], 0.2672612419),
    "std_log1p": ([None, 0.0], 0.2598755567),
    "mean_abs_pairwise": ([12.0, 0.0], 6.0),
}


@pytest.mark.parametrize("dispersion", LINCO_REGRESSION_DISPERSIONS)
def test_hand_regression(dispersion):
    per_case, mean = HAND_REGRESSION[dispersion]
    tol = 1e-12 if dispersion not in ("cv_pop", "std_log1p") else 1e-10  # spec prints 10 decimals
    assert linco(P, dispersion=dispersion) == pytest.approx(mean, abs=tol)
    got = linco_per_case(P, dispersion=dispersion)
    for g, want in zip(got, per_case):
        if want is not None:
            assert g == pytest.approx(want, abs=1e-12)


def test_hand_std_log1p_exact():
    logs = np.log1p([6.0, 12.0, 24.0])
    dev = logs - logs.mean()
    want = math.sqrt((dev ** 2).sum() / 3) / 2
    assert linco(P) == pytest.approx(want, abs=1e-12)  # std_log1p is the regression default
    assert linco(P, dispersion="cv_pop") == pytest.approx(math.sqrt(56.0) / 28.0, abs=1e-12)


def test_hand_classification():
    assert linco(LABELS, task="classification") == pytest.approx(7 / 18, abs=1e-12)
    np.testing.assert_allclose(linco_per_case(LABELS, task="classification"), [1 / 2, 2 / 3, 0.0], atol=1e-12)
    m = linco(LABELS, task="classification", dispersion="one_minus_majority_fraction")
    assert m == pytest.approx(1 / 4, abs=1e-12)
    np.testing.assert_allclose(
        linco_per_case(LABELS, task="classification", dispersion="one_minus_majority_fraction"),
        [1 / 4, 1 / 2, 0.0], atol=1e-12)


def test_string_and_float_labels_match_integer_labels():
    names = np.array(["theft", "fraud", "robbery"])[LABELS]
    for d in LINCO_CLASSIFICATION_DISPERSIONS:
        want = linco(LABELS, task="classification", dispersion=d)
        assert linco(names, task="classification", dispersion=d) == want
        assert linco(names.tolist(), task="classification", dispersion=d) == want
        assert linco(LABELS.astype(float), task="classification", dispersion=d) == want
        assert linco(LABELS - 5, task="classification", dispersion=d) == want  # negative codes are labels too


def test_hand_baseline():
    flat = [[6, 12], [6, 12], [6, 12]]
    assert linco(P, dispersion="var_pop", baseline=flat) == 28.0
    with pytest.raises(InputError, match="ratio"):
        linco(P, dispersion="var_pop", baseline=flat, baseline_mode="ratio")
    b1, b2 = np.array([[6, 12], [8, 12]]), np.array([[6, 10], [10, 12]])  # var: (1, 0) → 0.5; (4, 1) → 2.5
    assert linco(P, dispersion="var_pop", baseline=[b1, b2]) == pytest.approx(28.0 - 1.5, abs=1e-12)
    assert linco(P, dispersion="var_pop", baseline=np.stack([b1, b2])) == pytest.approx(26.5, abs=1e-12)
    assert linco(P, dispersion="var_pop", baseline=[b1, b2], baseline_mode="ratio") == pytest.approx(28 / 1.5)


def test_report_interval_from_baseline_spread():
    from scipy import stats

    bs = [np.array([[6, 12], [8, 12]]), np.array([[6, 10], [10, 12]]), np.array([[5, 12], [8, 12]])]
    vals = np.array([0.5, 2.5, 1.125])
    rep = linco_report(P, dispersion="var_pop", baseline=bs, ci_level=0.9)
    assert isinstance(rep, LincoReport)
    np.testing.assert_allclose(rep.baseline_values, vals, atol=1e-12)
    half = stats.t.ppf(0.95, 2) * vals.std(ddof=1) * math.sqrt(1 + 1 / 3)
    assert rep.value == pytest.approx(28 - vals.mean(), abs=1e-12)
    assert rep.ci_low == pytest.approx(28 - vals.mean() - half, abs=1e-12)
    assert rep.ci_high == pytest.approx(28 - vals.mean() + half, abs=1e-12)
    ratio = linco_report(P, dispersion="var_pop", baseline=bs, baseline_mode="ratio", ci_level=0.9)
    assert ratio.ci_low == pytest.approx((28 - half) / vals.mean(), abs=1e-12)
    assert linco_report(P, dispersion="var_pop", baseline=bs[0]).ci_low is None  # one baseline: no interval
    assert linco_report(P).baseline is None and linco_report(P).baseline_mode is None


def test_report_fields_and_views():
    rep = linco_report(P, dispersion="var_pop")
    d = rep.to_dict()
    assert d["value"] == 28.0 and d["raw"] == 28.0 and d["per_case"] == [56.0, 0.0]
    assert d["status"] == "reimplementation" and d["groups"] == [0, 1, 2] and d["n_eval"] == 2
    frame = rep.to_frame()
    assert frame.loc[0, "value"] == 28.0 and frame.loc[0, "n_groups"] == 3
    import matplotlib

    matplotlib.use("Agg")
    ax = rep.plot()
    assert ax.get_title().startswith("LInCo = 28")


def test_cv_pop_skips_zero_mean_cases():
    X = np.array([[0.0, 1.0, -1.0], [0.0, 3.0, 1.0]])  # case means 0, 2, 0
    rep = linco_report(X, dispersion="cv_pop")
    assert rep.n_skipped == 2 and rep.value == pytest.approx(0.5, abs=1e-15)  # std(1, 3) / 2
    assert np.isnan(rep.per_case[0]) and np.isnan(rep.per_case[2])
    with pytest.raises(InputError, match="undefined for every"):
        linco([[0.0, 0.0], [0.0, 0.0]], dispersion="cv_pop")
    assert math.isnan(linco([[0.0, 0.0], [0.0, 0.0]], dispersion="cv_pop", on_undefined="nan"))


def test_callable_dispersion():
    got = linco(P, dispersion=lambda M: M.std(axis=0))
    assert got == pytest.approx(linco(P, dispersion="std_pop"), abs=1e-12)

    def writes(M):
        M[0, 0] = 0
        return M[0]

    with pytest.raises(ValueError):  # the matrix handed over is read-only
        linco(P.copy(), dispersion=writes)
    with pytest.raises(InputError, match="shape"):
        linco(P, dispersion=lambda M: M[:, :1].ravel())
    with pytest.raises(InputError, match="finite"):
        linco(P, dispersion=lambda M: np.full(M.shape[1], np.nan))
    names = np.array([["a", "b"], ["a", "a"]])
    assert linco(names, task="classification", dispersion=lambda M: (M[0] != M[1]).astype(float)) == 0.5


def test_accepts_torch_lists_pandas_and_does_not_mutate():
    import pandas as pd
    import torch

    want = linco(P)
    assert linco(torch.tensor(P, dtype=torch.float32)) == pytest.approx(want, rel=1e-6)
    assert linco(torch.tensor(P)) == want
    assert linco(P.tolist()) == want
    assert linco(pd.DataFrame(P)) == want
    X = P.copy()
    L = LABELS.copy()
    B = np.array([[6.0, 12.0], [7.0, 12.0]])
    B0 = B.copy()
    for d in LINCO_REGRESSION_DISPERSIONS:
        linco_report(X, dispersion=d, baseline=[B, B])
    for d in LINCO_CLASSIFICATION_DISPERSIONS:
        linco(L, task="classification", dispersion=d)
    np.testing.assert_array_equal(X, P)
    np.testing.assert_array_equal(L, LABELS)
    np.testing.assert_array_equal(B, B0)


def test_chunking_gives_the_same_values(monkeypatch):
    disp = importlib.import_module("metrics.group_consistency._dispersion")  # `metrics.linco` is also the function

    rng = np.random.default_rng(0)
    R = rng.gamma(2.0, 10.0, size=(7, 1001))
    C = rng.integers(0, 4, size=(7, 1001))
    want = {d: linco_per_case(R, dispersion=d) for d in LINCO_REGRESSION_DISPERSIONS}
    want_c = {d: linco_per_case(C, task="classification", dispersion=d) for d in LINCO_CLASSIFICATION_DISPERSIONS}
    monkeypatch.setattr(disp, "_CHUNK_ELEMENTS", 50)  # 7 cases per chunk
    # numpy's SIMD reductions may round differently with a view's shape and alignment: equal
    # to rounding, not to the bit
    for d in LINCO_REGRESSION_DISPERSIONS:
        np.testing.assert_allclose(linco_per_case(R, dispersion=d), want[d], rtol=1e-14, atol=0)
    for d in LINCO_CLASSIFICATION_DISPERSIONS:
        np.testing.assert_allclose(linco_per_case(C, task="classification", dispersion=d), want_c[d],
                                   rtol=1e-14, atol=0)
    R[3, 500] = -1.0
    with pytest.raises(InputError, match="row 3, column 500"):
        linco(R)


@pytest.mark.parametrize("bad, kwargs, match", [
    ([1.0, 2.0], {}, "2-D"),
    ([[1.0, 2.0]], {}, "K ≥ 2"),
    (np.zeros((2, 0)), {}, "N ≥ 1"),
    ([[1.0, np.nan], [1.0, 2.0]], {}, "finite.*row 0, column 1"),
    ([[1.0, np.inf], [1.0, 2.0]], {"dispersion": "var_pop"}, "finite"),
    ([[1.0, -1.0], [1.0, 2.0]], {}, "> -1.*row 0, column 1"),
    ([[1.0, -3.0], [1.0, 2.0]], {"dispersion": "cv_pop"}, "non-negative mean.*column 1"),
    ([[1.0, 2.0], [1.0, 2.0]], {"dispersion": "gini"}, "dispersion must be one of"),
    ([[1.0, 2.0], [1.0, 2.0]], {"dispersion": "pairwise_disagreement"}, "other task"),
    ([[1, 2], [1, 2]], {"task": "classification", "dispersion": "var_pop"}, "other task"),
    ([[1, 2], [1, 2]], {"task": "ordinal"}, "task must be"),
    ([[1.5, 2], [1, 2]], {"task": "classification"}, "class labels.*row 0, column 0"),
    ([[np.nan, 2], [1, 2]], {"task": "classification"}, "class labels"),
    ([[1.0, 2.0], [1.0, 2.0]], {"baseline": [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]}, "same N = 2"),
    ([[1.0, 2.0], [1.0, 2.0]], {"baseline": [[1.0, 2.0]]}, "K ≥ 2"),
    ([[1.0, 2.0], [1.0, 2.0]], {"baseline_mode": "divide"}, "baseline_mode"),
    ([[1.0, 2.0], [1.0, 2.0]], {"on_undefined": "zero"}, "on_undefined"),
    ("abc", {}, "string"),
])
def test_bad_input(bad, kwargs, match):
    with pytest.raises(InputError, match=match):
        linco(bad, **kwargs)


# --------------------------------------------------------------------------- properties
def _float_matrices(min_k=2, max_k=7, max_n=12):
    shapes = st.tuples(st.integers(min_k, max_k), st.integers(1, max_n))
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=st.floats(0.0, 1e3, allow_nan=False)))


def _label_matrices():
    shapes = st.tuples(st.integers(2, 8), st.integers(1, 12))
    return shapes.flatmap(lambda s: hnp.arrays(np.int64, s, elements=st.integers(0, 3)))


def _loop_mean_abs_pairwise(M):
    K = M.shape[0]
    return np.array([sum(abs(M[a, j] - M[b, j]) for a, b in itertools.combinations(range(K), 2)) * 2 / (K * (K - 1))
                     for j in range(M.shape[1])])


def _loop_pairwise_disagreement(M):
    K = M.shape[0]
    return np.array([np.mean([M[a, j] != M[b, j] for a, b in itertools.combinations(range(K), 2)])
                     for j in range(M.shape[1])])


@settings(max_examples=30, deadline=None)
@given(_float_matrices(), st.randoms(use_true_random=False))
def test_permutation_invariance(M, rnd):
    rows, cols = list(range(M.shape[0])), list(range(M.shape[1]))
    rnd.shuffle(rows)
    rnd.shuffle(cols)
    for d in ("var_pop", "std_pop", "std_log1p", "mean_abs_pairwise"):
        base = linco_per_case(M, dispersion=d)
        np.testing.assert_allclose(linco_per_case(M[rows], dispersion=d), base, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(linco_per_case(M[:, cols], dispersion=d), base[cols], rtol=1e-9, atol=1e-9)
        assert linco(M[rows][:, cols], dispersion=d) == pytest.approx(linco(M, dispersion=d), rel=1e-9, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(_label_matrices(), st.randoms(use_true_random=False))
def test_label_dispersions_match_loops_and_permutations(M, rnd):
    got = linco_per_case(M, task="classification")
    np.testing.assert_allclose(got, _loop_pairwise_disagreement(M), atol=1e-12)
    majority = [1 - max(np.bincount(M[:, j])) / M.shape[0] for j in range(M.shape[1])]
    np.testing.assert_allclose(linco_per_case(M, task="classification", dispersion="one_minus_majority_fraction"),
                               majority, atol=1e-12)
    rows = list(range(M.shape[0]))
    rnd.shuffle(rows)
    np.testing.assert_allclose(linco_per_case(M[rows], task="classification"), got, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(_float_matrices())
def test_mean_abs_pairwise_matches_pair_loop(M):
    np.testing.assert_allclose(linco_per_case(M, dispersion="mean_abs_pairwise"), _loop_mean_abs_pairwise(M),
                               rtol=1e-10, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 10), elements=st.floats(-0.5, 1e4, allow_nan=False)),
       st.integers(2, 9))
def test_equal_rows_give_zero(row, K):
    M = np.tile(row, (K, 1))
    for d in ("var_pop", "std_pop", "std_log1p", "mean_abs_pairwise"):
        assert np.all(linco_per_case(M, dispersion=d) == 0.0)
    labels = np.tile(np.arange(row.size), (K, 1))
    for d in LINCO_CLASSIFICATION_DISPERSIONS:
        assert np.all(linco_per_case(labels, task="classification", dispersion=d) == 0.0)


@settings(max_examples=30, deadline=None)
@given(_float_matrices(), st.floats(0.01, 100.0))
def test_scaling(M, c):
    assert linco(c * M, dispersion="var_pop") == pytest.approx(c * c * linco(M, dispersion="var_pop"),
                                                               rel=1e-9, abs=1e-9)
    assert linco(c * M, dispersion="std_pop") == pytest.approx(c * linco(M, dispersion="std_pop"), rel=1e-9, abs=1e-9)
    assert linco(c * M, dispersion="mean_abs_pairwise") == pytest.approx(
        c * linco(M, dispersion="mean_abs_pairwise"), rel=1e-9, abs=1e-9)


# --------------------------------------------------------------------------- overflow
HUGE = np.array([[1e308, 6.0, 12.0], [-1e308, 12.0, 12.0], [1e308, 24.0, 12.0]])


def test_huge_values_give_the_exact_value_where_it_is_representable():
    # Before: (x - x0) overflowed to inf, the case became NaN and was "skipped"; the
    # mean of the other cases came back as the answer.
    std_big = 1e308 * math.sqrt(8 / 9)  # std_pop of (1, -1, 1), times 1e308
    want_std = (std_big + math.sqrt(56) + 0.0) / 3
    assert linco(HUGE, dispersion="std_pop") == pytest.approx(want_std, rel=1e-12)
    per_case = linco_per_case(HUGE, dispersion="std_pop")
    assert per_case[0] == pytest.approx(std_big, rel=1e-14) and np.isfinite(per_case).all()
    cv = linco_per_case(HUGE, dispersion="cv_pop")  # mean 1e308 / 3, so cv = 2 sqrt(2)
    assert cv[0] == pytest.approx(2 * math.sqrt(2), rel=1e-14)
    assert linco_report(HUGE, dispersion="cv_pop").n_skipped == 0
    # two cases near the top of the range: their sum overflows, their mean does not
    two = np.array([[1e308, 1e308], [-1e308, -1e308], [1e308, 1e308]])
    assert linco(two, dispersion="std_pop") == pytest.approx(std_big, rel=1e-14)


def test_values_beyond_float64_raise_naming_predictions():
    # mean |x_a - x_b| over the pairs of (1, -1, 1) * 1e308 is 4/3 * 1e308: representable
    assert linco_per_case(HUGE, dispersion="mean_abs_pairwise")[0] == pytest.approx(4 / 3 * 1e308, rel=1e-14)
    with pytest.raises(InputError, match=r"predictions: the var_pop of column 0 exceeds the float64 range"):
        linco(HUGE, dispersion="var_pop")  # 8/9 * 1e616
    with pytest.raises(InputError, match=r"predictions: the mean_abs_pairwise of column 1 exceeds"):
        linco([[1.0, 1e308], [2.0, -1e308]], dispersion="mean_abs_pairwise")  # 2e308


def test_any_memory_order_and_negative_strides():
    rng = np.random.default_rng(3)
    P = rng.gamma(2.0, 10.0, size=(6, 40))
    C = rng.integers(0, 3, size=(6, 40))
    for d in LINCO_REGRESSION_DISPERSIONS:
        want = linco(np.ascontiguousarray(P[::-1, ::-1]), dispersion=d)
        assert linco(P[::-1, ::-1], dispersion=d) == pytest.approx(want, rel=1e-12)
        assert linco(np.asfortranarray(P), dispersion=d) == pytest.approx(linco(P, dispersion=d), rel=1e-12)
        assert linco(P[:, ::2][:, ::-1], dispersion=d) == pytest.approx(
            linco(P[:, ::2][:, ::-1].copy(), dispersion=d), rel=1e-12)
    for d in LINCO_CLASSIFICATION_DISPERSIONS:
        want = linco(np.ascontiguousarray(C[:, ::-1]), task="classification", dispersion=d)
        assert linco(C[:, ::-1], task="classification", dispersion=d) == want


def test_cv_pop_negative_mean_found_without_overflow():
    P = np.array([[1e308, 1.0], [1e308, 1.0], [-1e308, 1.0], [-1e308, 1.0], [-1e308, 1.0]])
    with pytest.raises(InputError, match="non-negative mean.*column 0"):
        linco(P, dispersion="cv_pop")
