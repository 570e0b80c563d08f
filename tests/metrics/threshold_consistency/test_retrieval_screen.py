"""Float32 screening of the retrieval ranking: same ranks as float64, with exact ties.

The reference ranks every query's whole list in numpy: float64 similarities of the
normalised rows (one value per distinct row, gathered back, so copies tie exactly),
then ``np.lexsort`` by (−s, tie preference, gallery index).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import map_at_r, r_precision, recall_at_k
from metrics.threshold_consistency import _retrieval, _screen
from metrics.threshold_consistency._screen import Screen, screening_margin
from tests.metrics.threshold_consistency.test_opis import _lattice

KS = (1, 2, 5, 16)


def full_sort_reference(x, y, ties):
    x = np.asarray(x, dtype=np.float64)
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    distinct, column_of = np.unique(xn, axis=0, return_inverse=True)
    s = (xn @ distinct.T)[:, column_of.ravel()]
    n = len(y)
    hits = {k: 0 for k in KS}
    ap = rp = 0.0
    nq = 0
    for q in range(n):
        r = int((y == y[q]).sum()) - 1
        if r < 1:
            continue
        nq += 1
        others = np.delete(np.arange(n), q)
        rel = y[others] == y[q]
        pref = np.zeros(n - 1) if ties == "index" else (~rel if ties == "optimistic" else rel).astype(float)
        ranked = rel[np.lexsort((others, pref, -s[q, others]))]
        for k in KS:
            hits[k] += bool(ranked[:k].any())
        top = ranked[:r]
        ap += float((np.cumsum(top) / np.arange(1, r + 1))[top].sum()) / r
        rp += top.sum() / r
    return {k: v / nq for k, v in hits.items()}, ap / nq, rp / nq


def _check(x, y, ties, monkeypatch=None, block_rows=None):
    if block_rows:
        monkeypatch.setattr(_retrieval, "BLOCK_ELEMENTS", block_rows * len(y))
    rec, ap, rp = full_sort_reference(x, y, ties)
    assert recall_at_k(x, y, k=KS, ties=ties) == pytest.approx(rec, abs=1e-12)
    assert abs(map_at_r(x, y, ties=ties) - ap) < 1e-12
    assert abs(r_precision(x, y, ties=ties) - rp) < 1e-12


def _clustered(rng, n, d, n_classes):
    centres = rng.normal(size=(n_classes, d))
    y = rng.integers(0, n_classes, size=n)
    return centres[y] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=n_classes)[y, None], y


@pytest.mark.parametrize("ties", ["index", "optimistic", "pessimistic"])
def test_screened_ranks_equal_the_full_float64_sort(ties, monkeypatch):
    rng = np.random.default_rng(21)
    # 1,203 rows, 40 classes: the top list (about 50 of 1,202) is searched in groups of
    # 4 columns, and the last 3 columns, in no group, are searched directly
    x, y = _clustered(rng, 1203, 24, 40)
    x[100:130] = x[7]  # 31 copies across classes: more ties at the boundary than the list's slack
    _check(x, y, ties, monkeypatch, block_rows=97)


@pytest.mark.parametrize("ties", ["index", "optimistic", "pessimistic"])
def test_exact_lattice_ties_in_long_lists(ties, monkeypatch):
    # dot products of the 24-cell are exact: thousands of exact ties at every depth
    x, y = _lattice(np.random.default_rng(8), 500)
    _check(x, y, ties, monkeypatch, block_rows=111)


@pytest.mark.parametrize("ties", ["index", "optimistic", "pessimistic"])
def test_neighbours_closer_than_float32_are_ranked_in_float64(ties):
    # similarities 1 − k·1e-10: far apart in float64, identical in float32. Relevant
    # and irrelevant items alternate, so the float32 order alone would be wrong.
    rng = np.random.default_rng(2)
    n = 400
    angle = np.sqrt(2e-10 * rng.permutation(n))
    x = np.stack([np.cos(angle), np.sin(angle), np.zeros(n)], axis=1)
    x[::7, 2] = 1.0  # some far items, so the near ones are a cluster inside the list
    y = np.arange(n) % 3
    assert screening_margin(3, torch.device("cpu")) > 1e-7  # the cluster is inside the margin
    _check(x, y, ties)


def test_screening_equals_the_float64_path(monkeypatch):
    rng = np.random.default_rng(4)
    x, y = _clustered(rng, 1500, 32, 30)
    x[::50] = x[3]
    ours = [recall_at_k(x, y, k=KS), map_at_r(x, y), r_precision(x, y)]
    monkeypatch.setattr(Screen, "build", classmethod(lambda cls, *a: None))
    plain = [recall_at_k(x, y, k=KS), map_at_r(x, y), r_precision(x, y)]
    assert ours[0] == plain[0]
    assert abs(ours[1] - plain[1]) < 1e-12 and abs(ours[2] - plain[2]) < 1e-12


@pytest.mark.parametrize("d", [2, 37, 128, 1024])
def test_margin_bounds_the_float32_error(d):
    rng = np.random.default_rng(d)
    x = torch.tensor(rng.normal(size=(300, d)) * rng.choice([1e-30, 1.0, 1e30], size=(300, 1)))
    x[:5] = 0.0
    xn = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    s64 = xn @ xn.T
    s32 = (xn.float() @ xn.float().T).double()
    margin = screening_margin(d, torch.device("cpu"))
    assert margin is not None and (s32 - s64).abs().max().item() <= margin


def test_reduced_precision_products_turn_screening_off():
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")  # TF32 / bfloat16 products allowed
        assert screening_margin(128, torch.device("cpu")) is None
        rng = np.random.default_rng(1)
        x, y = _clustered(rng, 300, 16, 10)
        rec, ap, rp = full_sort_reference(x, y, "index")
        assert abs(map_at_r(x, y) - ap) < 1e-12
    finally:
        torch.set_float32_matmul_precision(before)
    assert screening_margin(100_000, torch.device("cpu")) is None  # margin too wide to help
    assert _screen.CHUNK >= 2
