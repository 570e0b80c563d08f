"""metrics.OPIS (torchmetrics): batched updates and a two-process gloo merge equal the function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import OPIS, InputError, opis
from tests.distributed import compute_distributed
from tests.metrics.test_opis import _imbalanced


def _data():
    rng = np.random.default_rng(21)
    return _imbalanced(rng, 120, 6)


def test_batched_updates_equal_functional():
    x, y = _data()
    m = OPIS(far_range=(0.02, 0.2), n_thresholds=51)
    for s in (slice(0, 50), slice(50, 51), slice(51, 120)):
        m.update(torch.tensor(x[s]), torch.tensor(y[s]))
    value = m.compute()
    assert value.dtype == torch.float64
    assert abs(float(value) - opis(x, y, far_range=(0.02, 0.2), n_thresholds=51)) < 1e-12
    m.reset()
    with pytest.raises(InputError):
        m.compute()


def test_distributed_merge_equals_functional():
    x, y = _data()
    shards = [[(x[:40], y[:40]), (x[40:70], y[40:70])], [(x[70:], y[70:])]]
    got = compute_distributed("metrics.OPIS", {"reference": "pooled"}, shards)
    assert abs(float(got) - opis(x, y, reference="pooled")) < 1e-12


def test_bad_update_and_params():
    m = OPIS()
    with pytest.raises(InputError, match="embeddings"):
        m.update(torch.zeros(3), torch.zeros(3))
    with pytest.raises(InputError, match="labels"):
        m.update(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(InputError, match="embeddings"):
        m.update(torch.tensor([[float("nan"), 0.0]]), torch.zeros(1))
    with pytest.raises(InputError, match="far_range"):
        OPIS(far_range=(0.5, 0.2))
