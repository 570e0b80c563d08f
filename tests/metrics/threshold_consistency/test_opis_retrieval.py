"""Recall@k, MAP@R, R-precision: hand case, a slow full-sort reference, torchmetrics and PML."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from metrics import InputError, map_at_r, r_precision, recall_at_k
from tests.metrics.threshold_consistency.test_opis import HAND_X, HAND_Y, _lattice


def test_hand_case():
    # query (0,1) ties (1,0) with (-3,0) at similarity 0: "index" puts (1,0) (index 0) first
    assert recall_at_k(HAND_X, HAND_Y, k=(1, 2)) == {1: 0.5, 2: 0.75}
    assert recall_at_k(HAND_X, HAND_Y, k=(1, 2), ties="optimistic") == {1: 0.5, 2: 1.0}
    assert recall_at_k(HAND_X, HAND_Y, k=2, ties="pessimistic") == {2: 0.75}
    assert map_at_r(HAND_X, HAND_Y) == 0.5
    assert r_precision(HAND_X, HAND_Y) == 0.5


def slow_scores(x, y, ks, ties):
    """Full sort of every query's list by (-s, preference, index) in plain Python."""
    x = np.asarray(x, dtype=np.float64)
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(y)
    hits = {k: [] for k in ks}
    aps, rps = [], []
    for q in range(n):
        r = int((y == y[q]).sum()) - 1
        if r < 1:
            continue
        s = xn[q] @ xn.T  # one row against the whole gallery
        items = [j for j in range(n) if j != q]

        def key(j, q=q, s=s):
            rel = y[j] == y[q]
            pref = 0 if ties == "index" else (0 if rel else 1) if ties == "optimistic" else (1 if rel else 0)
            return (-s[j], pref, j)

        rel = [y[j] == y[q] for j in sorted(items, key=key)]
        for k in ks:
            hits[k].append(any(rel[:k]))
        prec = np.cumsum(rel[:r]) / np.arange(1, r + 1)
        aps.append(float(sum(p for p, t in zip(prec, rel[:r]) if t) / r))
        rps.append(sum(rel[:r]) / r)
    return {k: float(np.mean(v)) for k, v in hits.items()}, float(np.mean(aps)), float(np.mean(rps))


@pytest.mark.parametrize("ties", ["index", "optimistic", "pessimistic"])
def test_matches_slow_reference_with_ties(ties, monkeypatch):
    from metrics.threshold_consistency import _retrieval

    rng = np.random.default_rng(11)
    x, y = _lattice(rng, 70)  # exact similarities: many ties, identical embeddings, singletons
    xc = rng.normal(size=(60, 6))
    yc = rng.integers(0, 7, size=60)
    xc[5:9] = xc[30]  # identical embeddings across classes
    for xx, yy in ((x, y), (xc, yc)):
        ks = (1, 2, 3, 8)
        rec, ap, rp = slow_scores(xx, yy, ks, ties)
        for block in (None, 3):
            if block:
                monkeypatch.setattr(_retrieval, "BLOCK_ELEMENTS", block * len(yy))
            assert recall_at_k(xx, yy, k=ks, ties=ties) == pytest.approx(rec, abs=1e-12)
            assert abs(map_at_r(xx, yy, ties=ties) - ap) < 1e-12
            assert abs(r_precision(xx, yy, ties=ties) - rp) < 1e-12


def test_matches_torchmetrics_hit_rate():
    from torchmetrics.retrieval import RetrievalHitRate

    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 8))
    y = rng.integers(0, 6, size=80)
    y[0] = 40  # a singleton: not a query
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = xn @ xn.T
    q, g = np.nonzero(~np.eye(80, dtype=bool))
    keep = np.isin(q, np.flatnonzero(np.bincount(y)[y] >= 2))
    q, g = q[keep], g[keep]
    ours = recall_at_k(x, y, k=(1, 4, 8))
    for k in (1, 4, 8):
        ref = RetrievalHitRate(top_k=k)(torch.tensor(s[q, g]), torch.tensor(y[q] == y[g]), indexes=torch.tensor(q))
        # torchmetrics averages the per-query hits in float32; a difference of one query is 1/79
        assert abs(ours[k] - float(ref)) < 1e-6


def _pml(x, y):
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    calc = AccuracyCalculator(include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
                              k="max_bin_count", knn_func=CustomKNN(CosineSimilarity()), device=torch.device("cpu"))
    xt = torch.tensor(x, dtype=torch.float64)
    return calc.get_accuracy(xt, torch.tensor(y), xt, torch.tensor(y), ref_includes_query=True)


def test_matches_pytorch_metric_learning():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 10))
    y = rng.integers(0, 8, size=120)
    y[:2] = [50, 51]  # singletons: PML drops them as "lone" queries, as we do
    acc = _pml(x, y)
    assert abs(acc["precision_at_1"] - recall_at_k(x, y, k=1)[1]) < 1e-12
    assert abs(acc["r_precision"] - r_precision(x, y)) < 1e-12
    assert abs(acc["mean_average_precision_at_r"] - map_at_r(x, y)) < 1e-12


def test_pytorch_metric_learning_within_tie_bounds():
    # with exact ties PML's order among equal similarities is topk's; it must lie
    # between our optimistic and pessimistic values. (PML also drops the first
    # neighbour as the query itself, which is wrong when a duplicate comes first; the
    # lattice set has ties but rows are perturbed to avoid identical embeddings here.)
    rng = np.random.default_rng(9)
    x, y = _lattice(rng, 24)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    uniq, first = np.unique(x, axis=0, return_index=True)
    x, y = x[np.sort(first)], y[np.sort(first)]
    acc = _pml(x, y)
    for name, fn in (("r_precision", r_precision), ("mean_average_precision_at_r", map_at_r)):
        lo, hi = fn(x, y, ties="pessimistic"), fn(x, y, ties="optimistic")
        assert lo - 1e-12 <= acc[name] <= hi + 1e-12
    lo, hi = recall_at_k(x, y, k=1, ties="pessimistic")[1], recall_at_k(x, y, k=1, ties="optimistic")[1]
    assert lo - 1e-12 <= acc["precision_at_1"] <= hi + 1e-12


def test_no_mutation_and_torch_input():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    xc, yc = x.copy(), y.copy()
    a = recall_at_k(x, y, k=(1, 2))
    b = recall_at_k(torch.from_numpy(x), torch.from_numpy(y), k=(1, 2))
    assert a == b
    np.testing.assert_array_equal(x, xc)
    np.testing.assert_array_equal(y, yc)
    assert math.isfinite(map_at_r(x, y))


@pytest.mark.parametrize("kwargs, word", [
    (dict(k=4), "k"), (dict(k=0), "k"), (dict(k=(1, "a")), "k"), (dict(k=()), "k"), (dict(k=1.5), "k"),
    (dict(ties="random"), "ties"),
])
def test_bad_k_and_ties(kwargs, word):
    with pytest.raises(InputError, match=word):
        recall_at_k(HAND_X, HAND_Y, **kwargs)


def test_bad_inputs():
    with pytest.raises(InputError, match="labels"):
        map_at_r(HAND_X, [0, 1, 2, 3])  # all singletons: no query
    with pytest.raises(InputError, match="embeddings"):
        r_precision(np.array([[np.nan, 1.0], [1.0, 0.0]]), [0, 0])
    with pytest.raises(InputError, match="labels"):
        recall_at_k(HAND_X, [0, 0, 1], k=1)
