"""Regret on the tensors' device: no host copy in update(), forward() semantics, DDP with an empty rank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from metrics import InputError, Regret, dynamic_regret, external_regret, swap_regret
from tests.distributed import compute_with_empty_rank
from tests.guards import guard_update

FUNCTIONS = {"external": external_regret, "dynamic": dynamic_regret, "swap": swap_regret}
RNG = np.random.default_rng(4)
LOSSES = RNG.random((40, 3))
POLICY = RNG.dirichlet(np.ones(3), size=40)
ACTIONS = RNG.integers(3, size=40)


def _t(x):
    return torch.from_numpy(np.array(x))


@pytest.mark.parametrize("kind", list(FUNCTIONS))
@pytest.mark.parametrize("validate_args, max_syncs", [(True, 1), (False, 0)])
@pytest.mark.parametrize("use_actions", [False, True])
def test_update_makes_no_host_copy(kind, validate_args, max_syncs, use_actions):
    metric = Regret(3, kind=kind, validate_args=validate_args)
    preds = ACTIONS if use_actions else POLICY
    for a, b in ((0, 15), (15, 40)):
        report = guard_update(metric, _t(preds[a:b]), _t(LOSSES[a:b]))
        assert report.host_copies == 0, report.events
        assert report.syncs <= max_syncs, report.events
        assert not report.aliased
    want = FUNCTIONS[kind](preds, LOSSES)
    assert metric.compute().item() == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("preds, losses, match", [
    ([[0.9, 0.0, 0.0]], [[0.0, 1.0, 2.0]], "preds rows must sum to 1"),
    ([3], [[0.0, 1.0, 2.0]], "preds must be integer labels in"),
    ([0.5], [[0.0, 1.0, 2.0]], "preds must be integer labels"),
    ([0], [[0.0, float("nan"), 1.0]], "losses must be finite"),
])
def test_tensor_checks_give_the_numpy_messages(preds, losses, match):
    with pytest.raises(InputError, match=match):
        Regret(3).update(torch.tensor(preds), torch.tensor(losses))


def test_no_aliasing_of_a_refilled_buffer():
    metric = Regret(3, kind="swap")
    p, loss = _t(POLICY[:20]), _t(LOSSES[:20])
    metric.update(p, loss)
    p.copy_(_t(POLICY[20:]))
    loss.copy_(_t(LOSSES[20:]))
    metric.update(p, loss)
    assert metric.compute().item() == pytest.approx(swap_regret(POLICY, LOSSES), rel=1e-12)


def test_forward_keeps_state_when_a_batch_raises():
    metric = Regret(3)
    first = metric(_t(POLICY[:20]), _t(LOSSES[:20]))
    assert first.item() == pytest.approx(external_regret(POLICY[:20], LOSSES[:20]), rel=1e-12, abs=1e-12)
    with pytest.raises(InputError):
        metric(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, float("nan"), 1.0]]))
    metric(_t(POLICY[20:]), _t(LOSSES[20:]))
    # before: the failed forward() had reset the state, losing the first 20 rounds
    assert metric.compute().item() == pytest.approx(external_regret(POLICY, LOSSES), rel=1e-12)
    assert int(metric.n_rounds) == 40


def test_empty_batches_are_accepted_and_change_nothing():
    metric = Regret(3)
    metric.update(_t(POLICY), _t(LOSSES))
    metric.update(torch.empty(0, 3, dtype=torch.float64), torch.empty(0, 3, dtype=torch.float64))
    metric.update(torch.empty(0, dtype=torch.int64), torch.empty(0, 3))
    metric.update(np.empty((0, 3)), np.empty((0, 3)))
    with pytest.warns(RuntimeWarning, match="empty"):
        assert math.isnan(metric(torch.empty(0, 3), torch.empty(0, 3)).item())
    assert metric.compute().item() == pytest.approx(external_regret(POLICY, LOSSES), rel=1e-12)


def test_ddp_with_an_empty_rank():
    batches = [(ACTIONS[:25], LOSSES[:25]), (ACTIONS[25:], LOSSES[25:])]
    for value in compute_with_empty_rank("metrics.Regret", {"n_actions": 3, "kind": "swap"}, batches):
        assert value == pytest.approx(swap_regret(ACTIONS, LOSSES), rel=1e-12)
