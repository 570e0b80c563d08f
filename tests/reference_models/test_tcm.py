"""TCM loss: hand case, gradcheck, pytorch-metric-learning anchor, errors; the digits experiment."""

from __future__ import annotations

import math

import pytest
import torch

from reference_models import InputError, OPISExperimentResult, TCMLoss, run_opis_experiment


def test_hand_case():
    # (1,0),(0.6,0.8) positive at s = 0.6 -> 0.9 - 0.6 = 0.3 ; (0.6,0.8),(0,1) negative at
    # s = 0.8 -> 0.8 - 0.5 = 0.3 ; (1,0),(0,1) negative at s = 0 is not hard -> L = 0.6
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=torch.float64)
    loss = TCMLoss()(x, torch.tensor([0, 0, 1]))
    assert abs(loss.item() - 0.6) < 1e-12
    # weights scale each mean; scaling the embeddings changes nothing
    loss2 = TCMLoss(lambda_plus=2.0, lambda_minus=0.5)(x * 3.0, torch.tensor([0, 0, 1]))
    assert abs(loss2.item() - (2 * 0.3 + 0.5 * 0.3)) < 1e-12


def test_means_over_hard_pairs_only():
    # two positives: s = 0.6 (hard, 0.3) and s = 1 (easy); the mean divides by 1, not 2
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 5, 7])
    # pairs: (0,1) pos 0.6 hard; (0,2),(1,2),(0,3),(1,3),(2,3) negatives with s = 1, .6, -1, -.6, -1
    # hard negatives: s = 1 -> 0.5 and s = 0.6 -> 0.1 -> mean 0.3 ; L = 0.3 + 0.3
    assert abs(TCMLoss()(x, y).item() - 0.6) < 1e-12


def test_no_hard_pairs_keeps_graph():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    loss = TCMLoss()(x, torch.tensor([0, 0, 1]))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3])
    loss = TCMLoss(margin_plus=0.7, margin_minus=-0.1)
    assert torch.autograd.gradcheck(lambda e: loss(e, y), (x,), eps=1e-6, atol=1e-9)


def test_matches_pytorch_metric_learning():
    from pytorch_metric_learning.losses import ThresholdConsistentMarginLoss

    g = torch.Generator().manual_seed(1)
    for kw in (dict(), dict(margin_plus=0.5, margin_minus=0.1, lambda_plus=0.7, lambda_minus=1.3)):
        x = torch.randn(24, 6, generator=g, dtype=torch.float64)
        y = torch.randint(0, 4, (24,), generator=g)
        a = x.clone().requires_grad_(True)
        b = x.clone().requires_grad_(True)
        ours = TCMLoss(**kw)(a, y)
        ref = ThresholdConsistentMarginLoss(**kw)(b, y)  # ordered pairs: same means
        ours.backward()
        ref.backward()
        assert abs(ours.item() - ref.item()) < 1e-12
        assert torch.allclose(a.grad, b.grad, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kw, word", [(dict(margin_plus=1.5), "margin_plus"), (dict(margin_minus=-2), "margin_minus"),
                                      (dict(lambda_plus=-1), "lambda_plus"), (dict(lambda_minus=math.nan), "lambda_minus")])
def test_bad_params(kw, word):
    with pytest.raises(InputError, match=word):
        TCMLoss(**kw)


def test_bad_inputs_not_mutated():
    loss = TCMLoss()
    with pytest.raises(InputError, match="embeddings"):
        loss(torch.zeros(3), torch.zeros(3))
    with pytest.raises(InputError, match="labels"):
        loss(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(InputError, match="embeddings"):
        loss(torch.tensor([[math.nan, 1.0], [1.0, 0.0]]), torch.tensor([0, 1]))
    x = torch.randn(5, 3, dtype=torch.float64)
    xc = x.clone()
    loss(x, torch.tensor([0, 0, 1, 1, 2]))
    assert torch.equal(x, xc)


def test_experiment_smoke():
    res = run_opis_experiment(epochs=2, dim=8)
    assert isinstance(res, OPISExperimentResult)
    for row in (res.base, res.tcm):
        assert 0.0 <= row["opis"] <= 0.25 and 0.0 <= row["recall_at_1"] <= 1.0
    assert res.base != res.tcm  # the TCM term changes training
    assert res.to_frame().shape == (2, 4)
