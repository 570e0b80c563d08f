"""Unusual but legal inputs: any memory order, extreme scales, exact ties in retrieval."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import map_at_r, opis, opis_report, r_precision, recall_at_k
from metrics.threshold_consistency import _retrieval
from tests.metrics.threshold_consistency.test_opis import dense_report


def _data(seed: int = 0, n: int = 80, dim: int = 6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, size=n)
    x = rng.normal(size=(5, dim))[y] * 1.5 + rng.normal(size=(n, dim))
    return x, y


# ----------------------------------------------------------------------------------------
# strides and memory order


def _layouts(x):
    """The same values in other memory layouts: reversed twice, Fortran order, a
    strided column view, a view of a view."""
    wide = np.zeros((x.shape[0], 2 * x.shape[1]))
    wide[:, ::2] = x
    return {"reversed twice": x[::-1][::-1], "fortran": np.asfortranarray(x), "strided columns": wide[:, ::2],
            "negative column stride": x[:, ::-1][:, ::-1]}


def test_opis_any_memory_order():
    x, y = _data()
    ref = opis(x, y)
    assert abs(opis(x[::-1], y[::-1]) - ref) < 1e-12  # rows reversed: a permutation of the same set
    for name, view in _layouts(x).items():
        assert abs(opis(view, y) - ref) < 1e-12, name
    assert abs(opis(x, y[::-1][::-1]) - ref) < 1e-12


def test_retrieval_any_memory_order():
    x, y = _data(1)
    rec, ap, rp = recall_at_k(x, y, k=(1, 3)), map_at_r(x, y), r_precision(x, y)
    # rows reversed: a permutation (no ties in this continuous data, so the order is irrelevant)
    assert recall_at_k(x[::-1], y[::-1], k=(1, 3)) == pytest.approx(rec, abs=1e-12)
    assert abs(map_at_r(x[::-1], y[::-1]) - ap) < 1e-12
    assert abs(r_precision(x[::-1], y[::-1]) - rp) < 1e-12
    for name, view in _layouts(x).items():
        assert recall_at_k(view, y, k=(1, 3)) == pytest.approx(rec, abs=1e-12), name
        assert abs(map_at_r(view, y) - ap) < 1e-12, name


# ----------------------------------------------------------------------------------------
# scale: cosine geometry does not depend on a row's scale


@pytest.mark.parametrize("scale", [1e200, 1e-200, 2.0 ** 1000])
def test_opis_and_retrieval_are_scale_free(scale):
    x, y = _data(2)
    big = x * scale
    assert abs(opis(big, y) - opis(x, y)) < 1e-12
    assert abs(opis(big, y, distance="l2") - opis(x, y, distance="l2")) < 1e-12
    assert recall_at_k(big, y, k=(1, 2, 4)) == recall_at_k(x, y, k=(1, 2, 4))
    assert abs(map_at_r(big, y) - map_at_r(x, y)) < 1e-12


def test_one_row_near_the_float_limit():
    x, y = _data(3)
    extreme = x.copy()
    extreme[7] = x[7] / np.abs(x[7]).max() * 1e308  # its norm overflows float64
    extreme[11] = x[11] * 1e-310  # subnormal entries
    # the direction of rows 7 and 11 is kept: the same value as for the plain data
    assert abs(opis(extreme, y) - dense_report(x, y)["opis"]) < 1e-12
    assert recall_at_k(extreme, y, k=(1, 2)) == recall_at_k(x, y, k=(1, 2))
    assert abs(map_at_r(extreme, y) - map_at_r(x, y)) < 1e-12
    rep = opis_report(extreme, y)
    assert np.isfinite(rep.utility).all() and rep.opis > 0


# ----------------------------------------------------------------------------------------
# exact ties in retrieval: identical embeddings have one similarity


@pytest.mark.parametrize("block_rows", [None, 1, 7])
def test_identical_embeddings_tie_exactly(block_rows, monkeypatch):
    rng = np.random.default_rng(4)
    row = rng.normal(size=37)
    x = np.tile(row, (20, 1)) * 2.0 ** rng.integers(-4, 5, size=(20, 1))  # identical after normalising
    y = np.repeat(np.arange(4), 5)
    if block_rows:
        monkeypatch.setattr(_retrieval, "BLOCK_ELEMENTS", block_rows * 20)
    assert recall_at_k(x, y, k=1, ties="pessimistic") == {1: 0.0}
    assert recall_at_k(x, y, k=1, ties="optimistic") == {1: 1.0}
    assert r_precision(x, y, ties="pessimistic") == 0.0
    assert r_precision(x, y, ties="optimistic") == 1.0
    assert map_at_r(x, y, ties="optimistic") == 1.0
    # "index": the lowest gallery index first, so only class 0 (indices 0-4) hits at k = 1
    assert recall_at_k(x, y, k=1) == {1: 0.25}


@pytest.mark.parametrize("block_rows", [None, 1, 13])
def test_duplicates_at_any_position_tie(block_rows, monkeypatch):
    # 50 random directions, three copies each at shuffled positions: copies 0 and 1 in
    # class i, copy 2 in class i + 1. A class-i query has one relevant and one
    # irrelevant duplicate, both at its own similarity: R@1 is 1 optimistic, 0
    # pessimistic; a copy-2 query has two irrelevant duplicates on top: R@1 = 0.
    rng = np.random.default_rng(5)
    base = rng.normal(size=(50, 64))
    x = np.repeat(base, 3, axis=0) * 2.0 ** rng.integers(-3, 4, size=(150, 1))  # identical once normalised
    y = np.array([[i, i, (i + 1) % 50] for i in range(50)]).ravel()
    perm = rng.permutation(150)
    x, y = x[perm], y[perm]
    if block_rows:
        monkeypatch.setattr(_retrieval, "BLOCK_ELEMENTS", block_rows * 150)
    assert recall_at_k(x, y, k=1, ties="optimistic")[1] == pytest.approx(100 / 150, abs=1e-15)
    assert recall_at_k(x, y, k=1, ties="pessimistic")[1] == 0.0
    # R = 2: a class-i query's top 2 are its two duplicates (one relevant) under any rule
    for ties in ("index", "optimistic", "pessimistic"):
        assert r_precision(x, y, ties=ties) == pytest.approx(100 * 0.5 / 150, abs=1e-15)


def test_torch_input_computes_on_its_device_and_matches_numpy():
    x, y = _data(6)
    xt, yt = torch.tensor(x), torch.tensor(y)
    assert abs(opis(xt, yt) - opis(x, y)) < 1e-12
    assert recall_at_k(xt, yt, k=(1, 4)) == recall_at_k(x, y, k=(1, 4))
    assert abs(map_at_r(xt, yt) - map_at_r(x, y)) < 1e-12
    # a tensor with grad, non-contiguous, float32
    xg = torch.tensor(x.T.copy(), dtype=torch.float32, requires_grad=True).T
    assert abs(opis(xg, yt) - opis(x.astype(np.float32), y)) < 1e-12
