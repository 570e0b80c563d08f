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


# --------------------------------------------------------------------------- training-time semantics
def _batches(n_batches=4, size=40, seed=3):
    risk, time, event = _data(n_batches * size, seed=seed)
    return [(risk[s], time[s], event[s]) for s in np.array_split(np.arange(risk.size), n_batches)]


@pytest.mark.parametrize("event_dtype", [torch.float64, torch.bool, torch.int64, torch.float32])
def test_update_makes_no_host_copy_and_at_most_one_sync(event_dtype):
    from tests.guards import guard_update

    risk, time, event = _data(60)
    args = (torch.tensor(risk, dtype=torch.float32), torch.tensor(time), torch.tensor(event).to(event_dtype))
    m = ConcordanceIndex()
    report = guard_update(m, *args)
    assert report.host_copies == 0 and report.syncs <= 1, report.events
    assert not report.aliased
    quiet = ConcordanceIndex(validate_args=False)
    report = guard_update(quiet, *args)
    assert report.host_copies == 0 and report.syncs == 0, report.events
    report = guard_update(quiet, args[0], args[1])  # event defaults to all events
    assert report.host_copies == 0 and report.syncs == 0, report.events
    assert m.compute().item() == concordance_index(risk.astype(np.float32), time, event)


def test_states_are_copies_not_views():
    """A loop that refills one buffer per batch does not rewrite earlier batches."""
    batches = _batches()
    buffers = [torch.empty(40, dtype=torch.float64) for _ in range(3)]
    m = ConcordanceIndex()
    for batch in batches:
        for buf, values in zip(buffers, batch):
            buf.copy_(torch.from_numpy(values))
        m.update(*buffers)
    union = [np.concatenate(parts) for parts in zip(*batches)]
    assert m.compute().item() == concordance_index(*union)


def test_forward_keeps_state_when_a_batch_raises():
    batches = _batches()
    m = ConcordanceIndex()
    for b in batches[:2]:
        m(*(torch.tensor(a) for a in b))
    bad = (torch.tensor([0.1, np.nan]), torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0]))
    with pytest.raises(InputError, match="NaN"):
        m(*bad)
    with pytest.raises(InputError, match="event must hold 0/1"):
        m(torch.tensor([0.1, 0.2]), torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]))
    with pytest.raises(InputError, match="same length"):
        m(torch.tensor([0.1, 0.2]), torch.tensor([1.0, 2.0, 3.0]))
    for b in batches[2:]:
        m(*(torch.tensor(a) for a in b))
    union = [np.concatenate(parts) for parts in zip(*batches)]
    assert m.compute().item() == concordance_index(*union)


def test_forward_on_a_batch_without_comparable_pair_returns_nan_once():
    batches = _batches()
    m = ConcordanceIndex()
    value = m(*(torch.tensor(a) for a in batches[0]))
    assert value.item() == concordance_index(*batches[0])
    censored = (np.array([0.3, 0.1]), np.array([2.0, 5.0]), np.array([0.0, 0.0]))
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(m(*(torch.tensor(a) for a in censored)).item())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning is given once
        assert np.isnan(m(*(torch.tensor(a) for a in censored)).item())
        assert np.isnan(m(torch.zeros(0), torch.zeros(0), torch.zeros(0)).item())  # empty batch
    m(*(torch.tensor(a) for a in batches[1]))
    union = [np.concatenate(parts) for parts in zip(batches[0], censored, censored, batches[1])]
    assert m.compute().item() == concordance_index(*union)


def test_empty_batches_change_nothing():
    batches = _batches()
    m = ConcordanceIndex()
    m.update(torch.zeros(0), torch.zeros(0), torch.zeros(0))
    m.update(np.zeros(0), np.zeros(0))
    for b in batches:
        m.update(*(torch.tensor(a) for a in b))
        m.update(torch.zeros(0, dtype=torch.float64), torch.zeros(0), torch.zeros(0, dtype=torch.bool))
    union = [np.concatenate(parts) for parts in zip(*batches)]
    assert m.compute().item() == concordance_index(*union)


def test_state_dict_merge_and_deepcopy():
    import copy
    import pickle

    batches = _batches()
    a, b = ConcordanceIndex(), ConcordanceIndex()
    for x in batches[:2]:
        a.update(*(torch.tensor(v) for v in x))
    for x in batches[2:]:
        b.update(*(torch.tensor(v) for v in x))
    union = [np.concatenate(parts) for parts in zip(*batches)]
    c = copy.deepcopy(a)
    c.merge_state(b)
    assert c.compute().item() == concordance_index(*union)
    d = pickle.loads(pickle.dumps(a))
    assert d.compute().item() == a.compute().item()


def test_two_gloo_processes_with_an_empty_rank():
    """Rank 0 never calls update() (uneven shards); both ranks get the value on the union."""
    from tests.distributed import compute_distributed_all, union

    batches = _batches(3, 50, seed=9)
    values = compute_distributed_all("metrics.ConcordanceIndex", {"compat": "lifelines"}, [[], batches])
    expect = concordance_index(*union(batches), compat="lifelines")
    assert values == [expect, expect]
