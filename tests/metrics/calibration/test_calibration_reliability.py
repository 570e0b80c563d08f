"""Unusual layouts and sizes: negative strides, huge n_bins, netcal's float32 MMCE, the Brier score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import InputError, brier_score, calibration_error, calibration_report, mmce
from tests.metrics.calibration._calibration_cases import make_case


@pytest.mark.parametrize("compat", [None, "torchmetrics", "netcal", "uncertainty_calibration", "guo", "relplot"])
def test_any_strides_and_memory_order(compat):
    p, y = make_case("random", n=300, seed=1)
    ref = calibration_error(p[::-1].copy(), y[::-1].copy(), compat=compat)
    assert calibration_error(p[::-1], y[::-1], compat=compat) == ref
    big = np.zeros((p.shape[0], 2 * p.shape[1]))
    big[:, ::2] = p
    view = big[::-1, ::2]  # a view of a view: negative row stride, column stride 2
    np.testing.assert_array_equal(view, p[::-1])
    assert calibration_error(view, y[::-1], compat=compat) == ref
    assert calibration_error(np.asfortranarray(p[::-1]), y[::-1], compat=compat) == ref
    assert calibration_error(p, y[::-1][::-1], compat=compat) == calibration_error(p, y, compat=compat)


def test_negative_strides_elsewhere():
    p, y = make_case("random", n=300, seed=2)
    assert calibration_report(p[::-1], y[::-1]).ece == calibration_error(p[::-1].copy(), y[::-1].copy())
    assert mmce(p[::-1], y[::-1]) == pytest.approx(mmce(p[::-1].copy(), y[::-1].copy()), rel=1e-12)
    assert calibration_error(torch.from_numpy(p).flip(0), torch.from_numpy(y).flip(0)) == \
        calibration_error(p[::-1].copy(), y[::-1].copy())


def test_huge_n_bins_is_an_input_error():
    p, y = make_case("random", n=50)
    with pytest.raises(InputError, match="n_bins"):
        calibration_error(p, y, n_bins=10 ** 12)
    with pytest.raises(InputError, match="n_bins"):  # K·M = 1e8 bins
        calibration_error(np.full((10, 1000), 1e-3), np.zeros(10, int), n_bins=100_000, scope="classwise")


def test_mmce_netcal_reproduces_float32_rounding():
    import netcal.metrics.confidence as nc

    p, y = make_case("random", k=5, n=700, seed=6)
    p32 = p.astype(np.float32)
    ref = nc.MMCE().measure(p32, y)
    assert mmce(p32, y, compat="netcal") == pytest.approx(ref, rel=1e-12)
    pb = p32[:, 0] / (p32[:, 0] + p32[:, 1])
    yb = (y == 0).astype(int)
    assert mmce(pb.astype(np.float32), yb, compat="netcal") == pytest.approx(
        nc.MMCE().measure(pb.astype(np.float32), yb), rel=1e-12)


def test_brier_score_equals_sklearn():
    from sklearn.metrics import brier_score_loss

    p, y = make_case("random", k=5, n=400, seed=7)
    assert brier_score(p, y) == pytest.approx(brier_score_loss(y, p, labels=list(range(5))), rel=1e-12)
    hand = np.mean(np.sum((p - np.eye(5)[y]) ** 2, axis=1))
    assert brier_score(torch.from_numpy(p), torch.from_numpy(y)) == pytest.approx(hand, rel=1e-12)
    pb = np.array([.2, .7, .9])
    yb = np.array([0, 1, 0])
    assert brier_score(pb, yb) == pytest.approx((.04 + .09 + .81) / 3, rel=1e-12)
    assert brier_score(np.stack([1 - pb, pb], 1), yb) == pytest.approx(brier_score_loss(yb, pb), rel=1e-12)
    with pytest.raises(InputError, match="labels"):
        brier_score(pb, [0, 2, 1])
