"""The host-copy / synchronisation guard catches what it must and passes clean torch code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics import Metric

from tests.guards import GuardedTensor, guard, guard_call, guard_update, unwrap, wrap


def _clean(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    z = (x * 2 + y).exp().log1p()
    z = torch.where(z > 1, z, torch.zeros_like(z))
    counts = torch.bincount(y.long(), minlength=4)
    return z.sum() + counts.sum() + z.to(torch.float64).mean() + z[1:].cumsum(0).max()


def test_clean_torch_code_records_nothing():
    x, y = torch.rand(8), torch.randint(0, 4, (8,)).float()
    value, report = guard_call(_clean, x, y)
    assert report.host_copies == 0 and report.syncs == 0, report.events
    assert type(value) is torch.Tensor
    assert torch.allclose(value, _clean(x, y))


@pytest.mark.parametrize(
    "fn, copies, syncs",
    [
        (lambda x: x.cpu(), 1, 0),
        (lambda x: x.numpy(), 1, 0),
        (lambda x: np.asarray(x), 1, 0),
        (lambda x: x.to("cpu"), 1, 0),
        (lambda x: x.to(device="cpu"), 1, 0),
        (lambda x: x.tolist(), 1, 1),
        (lambda x: x.sum().item(), 0, 1),
        (lambda x: bool(x.any()), 0, 1),
        (lambda x: float(x.sum()), 0, 1),
        (lambda x: int(x.sum()), 0, 1),
        (lambda x: x[x > 0.5], 0, 1),
        (lambda x: x.nonzero(), 0, 1),
        (lambda x: torch.unique(x), 0, 1),
        (lambda x: torch.bincount((x * 3).long()), 0, 1),
        (lambda x: f"{x.sum():.3f}", 0, 1),
    ],
)
def test_each_host_copy_and_sync_is_counted_once(fn, copies, syncs):
    _, report = guard_call(fn, torch.rand(6))
    assert (report.host_copies, report.syncs) == (copies, syncs), report.events


def test_results_of_operations_stay_guarded():
    """A copy made several operations after the input is still seen."""

    def late_copy(x):
        y = torch.nn.functional.softmax(x * 3, dim=-1)
        z = y.reshape(-1)[::2].clone()
        return z.cpu()

    _, report = guard_call(late_copy, torch.rand(4, 3))
    assert report.host_copies == 1
    assert "test_guards.py" in report.events[0]


def test_nothing_is_recorded_outside_the_guard_and_unwrap_restores_plain_tensors():
    x = wrap(torch.rand(3))
    assert isinstance(x, GuardedTensor)
    x.sum().item()  # no active guard: nothing to record, no error
    plain = unwrap([x, (x,), {"a": x}])
    assert type(plain[0]) is torch.Tensor and type(plain[1][0]) is torch.Tensor and type(plain[2]["a"]) is torch.Tensor
    with pytest.raises(RuntimeError), guard(), guard():
        pass


class _Histogram(Metric):
    """A clean Metric: bins on the input's device, one validation sync."""

    def __init__(self, validate_args: bool = True):
        super().__init__()
        self.validate_args = validate_args
        self.add_state("counts", torch.zeros(4, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("values", [], dist_reduce_fx="cat")

    def update(self, x: torch.Tensor) -> None:
        if self.validate_args and not bool(((x >= 0) & (x < 1)).all()):
            raise ValueError("x out of range")
        self.counts += torch.bincount((x * 4).long(), minlength=4)
        self.values.append(x.detach().clone())

    def compute(self):
        return self.counts


class _Leaky(_Histogram):
    """Copies to the host and keeps a view of its input."""

    def update(self, x: torch.Tensor) -> None:
        counts = np.bincount((x.numpy() * 4).astype(np.int64), minlength=4)
        self.counts += torch.from_numpy(counts)
        self.values.append(x[:])


def test_guard_update_passes_a_clean_metric_and_leaves_plain_states():
    m = _Histogram()
    report = guard_update(m, torch.rand(10))
    assert (report.host_copies, report.syncs, report.aliased) == (0, 1, [])
    assert type(m.counts) is torch.Tensor and all(type(v) is torch.Tensor for v in m.values)
    assert guard_update(_Histogram(validate_args=False), torch.rand(10)).syncs == 0
    m.to(torch.device("cpu"))  # moving to the metric's own device is not a host copy
    assert int(m.compute().sum()) == 10


def test_guard_update_catches_host_copies_and_aliasing():
    x = torch.rand(10)
    m = _Leaky()
    report = guard_update(m, x)
    assert report.host_copies == 1 and report.aliased == ["values"], report
    assert type(m.counts) is torch.Tensor and type(m.values[0]) is torch.Tensor


def test_guard_update_unwraps_even_when_update_raises():
    m = _Histogram()
    with pytest.raises(ValueError):
        guard_update(m, torch.full((3,), 2.0))
    assert type(m.counts) is torch.Tensor
