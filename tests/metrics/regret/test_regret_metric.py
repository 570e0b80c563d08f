"""The streaming Regret Metric equals the functional form for any split, also over 2 gloo processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import InputError, Regret, dynamic_regret, external_regret, swap_regret
from tests.distributed import compute_distributed

FUNCTIONS = {"external": external_regret, "dynamic": dynamic_regret, "swap": swap_regret}


def _run(seed, T, A):
    rng = np.random.default_rng(seed)
    losses = rng.normal(size=(T, A))
    policy = rng.dirichlet(np.ones(A), size=T)
    actions = rng.integers(A, size=T)
    return losses, policy, actions


@pytest.mark.parametrize("kind", ["external", "dynamic", "swap"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 30), A=st.integers(1, 4), data=st.data())
def test_metric_equals_functional_for_any_split(kind, seed, T, A, data):
    losses, policy, actions = _run(seed, T, A)
    cuts = sorted(data.draw(st.lists(st.integers(1, T), max_size=4, unique=True)))
    bounds = [0, *[c for c in cuts if c < T], T]
    for preds in (policy, actions):
        metric = Regret(A, kind=kind)
        order = data.draw(st.permutations(range(len(bounds) - 1)))  # batches in any order
        for i in order:
            metric.update(torch.tensor(preds[bounds[i]:bounds[i + 1]]), torch.tensor(losses[bounds[i]:bounds[i + 1]]))
        expected = FUNCTIONS[kind](preds, losses)
        assert float(metric.compute()) == pytest.approx(expected, rel=1e-10, abs=1e-10)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_metric_single_rounds_and_reset():
    losses, policy, _ = _run(0, 5, 3)
    metric = Regret(3)
    for t in range(5):
        metric.update(policy[t:t + 1], losses[t:t + 1])
    assert float(metric.compute()) == pytest.approx(external_regret(policy, losses), abs=1e-12)
    metric.reset()
    with pytest.raises(InputError, match="before any update"):
        metric.compute()


def test_metric_bad_input():
    metric = Regret(2)
    with pytest.raises(InputError, match="losses must have n_actions = 2"):
        metric.update(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 2.0]]))
    with pytest.raises(InputError, match="preds rows must sum to 1"):
        metric.update(torch.tensor([[0.9, 0.0]]), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(InputError, match="preds must be integer labels in"):
        metric.update(torch.tensor([2]), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(InputError, match="losses must be finite"):
        metric.update(torch.tensor([0]), torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(InputError, match="kind must be one of"):
        Regret(2, kind="internal")
    with pytest.raises(InputError, match="n_actions"):
        Regret(0)


class AllKindsRegret(Regret):
    """Regret(kind="swap") whose compute() returns all three regrets from the merged states.

    One gloo run then checks that every state (L, Λ, Σ min ℓ, M, count) is merged by a sum.
    """

    def __init__(self, n_actions):
        super().__init__(n_actions, kind="swap")

    def compute(self):
        from metrics.regret import dynamic_from_sums, regret_from_sums, swap_from_matrix

        return torch.stack([regret_from_sums(self.learner_loss, self.cumulative_loss),
                            dynamic_from_sums(self.learner_loss, self.sum_min_loss),
                            swap_from_matrix(self.swap_matrix), self.n_rounds.double()])


def test_metric_two_gloo_processes():
    losses, policy, _ = _run(7, 40, 3)
    shards = [[(policy[:10], losses[:10]), (policy[25:], losses[25:])], [(policy[10:25], losses[10:25])]]
    value = compute_distributed("tests.metrics.regret.test_regret_metric.AllKindsRegret", {"n_actions": 3}, shards)
    expected = [f(policy, losses) for f in FUNCTIONS.values()] + [40]
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-12, atol=1e-12)
