"""The LInCo torchmetrics Metric: batches and two gloo processes equal the functional value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from metrics import LINCO_CLASSIFICATION_DISPERSIONS, LINCO_REGRESSION_DISPERSIONS, InputError, LInCo, linco
from tests.distributed import compute_distributed

RNG = np.random.default_rng(7)
TERMS = RNG.gamma(2.0, 12.0, size=(5, 90))
CHARGES = RNG.integers(0, 4, size=(5, 90))


@pytest.mark.parametrize("dispersion", LINCO_REGRESSION_DISPERSIONS)
def test_batches_equal_functional_regression(dispersion):
    metric = LInCo(dispersion=dispersion)
    for a, b in ((0, 10), (10, 47), (47, 90)):
        metric.update(torch.from_numpy(TERMS[:, a:b]))
    assert metric.compute().item() == pytest.approx(linco(TERMS, dispersion=dispersion), rel=1e-12)


@pytest.mark.parametrize("dispersion", LINCO_CLASSIFICATION_DISPERSIONS)
def test_batches_equal_functional_classification(dispersion):
    metric = LInCo("classification", dispersion)
    for a, b in ((0, 33), (33, 90)):
        metric.update(torch.from_numpy(CHARGES[:, a:b]))
    want = linco(CHARGES, task="classification", dispersion=dispersion)
    assert metric.compute().item() == pytest.approx(want, rel=1e-12)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_skipped_cases_counted_and_reset():
    metric = LInCo(dispersion="cv_pop")
    metric.update(torch.tensor([[0.0, 1.0], [0.0, 3.0]]))
    metric.update(torch.tensor([[2.0], [2.0]]))
    assert metric.compute().item() == pytest.approx(0.25)  # (0.5 + 0) / 2, one case skipped
    assert int(metric.n_skipped) == 1 and int(metric.n_included) == 2
    metric.reset()
    with pytest.raises(InputError, match="no case"):
        metric.compute()
    nan_metric = LInCo(dispersion="cv_pop", on_undefined="nan")
    nan_metric.update(torch.zeros(2, 3))
    assert math.isnan(nan_metric.compute().item())


def test_bad_updates():
    metric = LInCo()
    metric.update(torch.ones(3, 4))
    with pytest.raises(InputError, match="same K = 3"):
        metric.update(torch.ones(2, 4))
    with pytest.raises(InputError, match="finite"):
        metric.update(torch.tensor([[1.0, float("nan")], [1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(InputError, match="2-D"):
        metric.update(torch.ones(4))
    with pytest.raises(InputError, match="other task"):
        LInCo("classification", "std_pop")


def test_distributed_two_gloo_processes():
    shards = [[(TERMS[:, :30],), (TERMS[:, 30:41],)], [(TERMS[:, 41:],)]]
    value = compute_distributed("metrics.LInCo", {"dispersion": "mean_abs_pairwise"}, shards)
    assert value == pytest.approx(linco(TERMS, dispersion="mean_abs_pairwise"), rel=1e-12)
