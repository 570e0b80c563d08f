"""metrics.OPIS (torchmetrics): batched updates and a two-process gloo merge equal the function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import OPIS, InputError, opis
from tests.distributed import compute_distributed
from tests.metrics.threshold_consistency.test_opis import _imbalanced


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


# ----------------------------------------------------------------------------------------
# training-time semantics


def _batches():
    x, y = _data()
    return [(x[:50], y[:50]), (x[50:90], y[50:90]), (x[90:], y[90:])]


def test_update_has_no_host_copy_and_one_sync():
    from tests.guards import guard_update

    x, y = _data()
    for validate, max_syncs in ((True, 1), (False, 0)):
        m = OPIS(validate_args=validate)
        for dtype in (torch.float32, torch.float64):
            report = guard_update(m, torch.tensor(x[:60], dtype=dtype), torch.tensor(y[:60]))
            assert report.host_copies == 0, report.events
            assert report.syncs <= max_syncs, report.events
            assert report.aliased == [], report.aliased
        report = guard_update(m, torch.tensor(x[:60]), torch.tensor(y[:60], dtype=torch.float64))
        assert report.host_copies == 0 and report.syncs <= max_syncs, report.events


def test_refilled_buffer_does_not_rewrite_earlier_batches():
    batches = _batches()
    m = OPIS()
    emb_buf = torch.empty(60, 6, dtype=torch.float64)
    lab_buf = torch.empty(60, dtype=torch.int64)
    for xb, yb in batches:
        emb_buf[:len(yb)] = torch.from_numpy(xb)  # one buffer refilled per batch, as a data loader does
        lab_buf[:len(yb)] = torch.from_numpy(yb)
        m.update(emb_buf[:len(yb)], lab_buf[:len(yb)])
    x, y = _data()
    assert abs(float(m.compute()) - opis(x, y)) < 1e-12


@pytest.mark.parametrize("call", ["update", "forward"])
def test_fractional_labels_and_width_changes_raise_at_the_batch(call):
    m = OPIS()
    x, y = _data()
    getattr(m, call)(torch.tensor(x[:60]), torch.tensor(y[:60]))
    with pytest.raises(InputError, match="labels"):
        getattr(m, call)(torch.tensor(x[:3]), torch.tensor([0.0, 0.7, 1.0]))
    with pytest.raises(InputError, match="width"):
        getattr(m, call)(torch.zeros(4, 5, dtype=torch.float64), torch.tensor([0, 0, 1, 1]))
    with pytest.raises(InputError, match="embeddings"):
        getattr(m, call)(torch.tensor([[float("nan")] * 6]), torch.tensor([0]))
    getattr(m, call)(torch.tensor(x[60:]), torch.tensor(y[60:], dtype=torch.float32))  # integral floats are fine
    assert abs(float(m.compute()) - opis(x, y)) < 1e-12


def test_forward_keeps_state_and_undefined_batches_give_nan():
    x, y = _data()
    m = OPIS()
    first = m(torch.tensor(x[:60]), torch.tensor(y[:60]))
    assert abs(float(first) - opis(x[:60], y[:60])) < 1e-12
    with pytest.raises(InputError):
        m(torch.tensor(x[60:63]), torch.tensor([0.5, 1.0, 2.0]))
    one_class = np.flatnonzero(y[60:] == y[60])[:3] + 60
    with pytest.warns(RuntimeWarning, match="undefined"):
        value = m(torch.tensor(x[one_class]), torch.tensor(y[one_class]))
    assert torch.isnan(value)
    rest = np.setdiff1d(np.arange(60, 120), one_class)
    m(torch.tensor(x[rest]), torch.tensor(y[rest]))
    order = np.concatenate([np.arange(60), one_class, rest])
    assert abs(float(m.compute()) - opis(x[order], y[order])) < 1e-12


def test_empty_batches_change_nothing():
    x, y = _data()
    m = OPIS()
    m.update(torch.zeros(0, 6, dtype=torch.float64), torch.zeros(0, dtype=torch.int64))
    m.update(torch.tensor(x), torch.tensor(y))
    m.update(torch.zeros(0, 6), torch.zeros(0))
    assert torch.isnan(m(torch.zeros(0, 6), torch.zeros(0, dtype=torch.int64)))
    assert abs(float(m.compute()) - opis(x, y)) < 1e-12


def test_distributed_with_an_empty_rank():
    from tests.distributed import compute_with_empty_rank, union

    batches = _batches()
    x, y = union(batches)
    for value in compute_with_empty_rank("metrics.OPIS", {"n_thresholds": 21}, batches):
        assert abs(float(value) - opis(x, y, n_thresholds=21)) < 1e-12


def test_state_dict_and_pickle_round_trip():
    import copy
    import pickle

    x, y = _data()
    m = OPIS(far_range=(0.02, 0.2))
    m.update(torch.tensor(x[:70]), torch.tensor(y[:70]))
    clone = pickle.loads(pickle.dumps(m))
    twin = copy.deepcopy(m)
    for other in (clone, twin):
        other.update(torch.tensor(x[70:]), torch.tensor(y[70:]))
        assert abs(float(other.compute()) - opis(x, y, far_range=(0.02, 0.2))) < 1e-12
