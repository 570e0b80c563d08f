"""ConcordanceIndex (torchmetrics): equals the functional value over batches and two processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import ConcordanceIndex, InputError, concordance_index
from tests.distributed import compute_distributed


def _data(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return (np.round(rng.normal(size=n), 1), rng.integers(0, 40, n).astype(float),
            (rng.random(n) < 0.6).astype(float))


def test_many_updates_equal_functional():
    risk, time, event = _data()
    metric = ConcordanceIndex(higher_is="survival", tied_tol=0.0)
    for s in np.array_split(np.arange(risk.size), 7):
        metric.update(torch.tensor(risk[s]), torch.tensor(time[s]), torch.tensor(event[s]))
    expect = concordance_index(risk, time, event, higher_is="survival", tied_tol=0.0)
    assert metric.compute().item() == expect
    metric.reset()
    metric.update(risk, time)  # event defaults to all events
    assert metric.compute().item() == concordance_index(risk, time, higher_is="survival", tied_tol=0.0)


def test_compat_and_errors():
    with pytest.raises(InputError, match="conflicts"):
        ConcordanceIndex(compat="lifelines", higher_is="risk")
    m = ConcordanceIndex()
    with pytest.raises(InputError, match="before any update"):
        m.compute()
    with pytest.raises(InputError, match="same length"):
        m.update([1.0, 2.0], [1.0, 2.0, 3.0])


def test_two_gloo_processes_equal_functional():
    risk, time, event = _data(300, seed=1)
    parts = np.array_split(np.arange(risk.size), 3)
    shards = [[(risk[parts[0]], time[parts[0]], event[parts[0]])],
              [(risk[parts[1]], time[parts[1]], event[parts[1]]), (risk[parts[2]], time[parts[2]], event[parts[2]])]]
    value = compute_distributed("metrics.ConcordanceIndex", {}, shards)
    assert value == concordance_index(risk, time, event)
