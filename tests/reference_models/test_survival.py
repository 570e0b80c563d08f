"""CoxPHLoss vs statsmodels and lifelines, DiscreteHazardLoss hand cases, reference model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reference_models import CoxPHLoss, DiscreteHazardLoss, InputError, fit_reference_survival_model


def test_cox_hand_cases():
    zeros = torch.zeros(3, dtype=torch.float64)
    assert CoxPHLoss("breslow", "sum")(zeros, [1, 1, 2], [1, 1, 1]).item() == pytest.approx(2 * math.log(3), abs=1e-14)
    assert CoxPHLoss("efron", "sum")(zeros, [1, 1, 2], [1, 1, 1]).item() == pytest.approx(math.log(6), abs=1e-14)
    assert CoxPHLoss("efron")(zeros, [1, 1, 2], [1, 1, 1]).item() == pytest.approx(math.log(6) / 3, abs=1e-14)
    eta = torch.tensor([0.5, -0.5, 0.0, 1.0])
    args = ([1, 1, 2, 3], [1, 1, 0, 1])
    assert CoxPHLoss("breslow", "sum")(eta, *args).item() == pytest.approx(3.5746773434, abs=1e-10)
    assert CoxPHLoss("efron", "sum")(eta, *args).item() == pytest.approx(3.3654732666, abs=1e-10)


def test_cox_without_events_is_zero_in_graph():
    eta = torch.randn(4, dtype=torch.float64, requires_grad=True)
    loss = CoxPHLoss()(eta, [1, 2, 3, 4], [0, 0, 0, 0])
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(eta.grad, torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cox_equals_statsmodels_phreg(ties):
    from statsmodels.duration.hazard_regression import PHReg

    rng = np.random.default_rng(0)
    n = 300
    X = rng.normal(size=(n, 3))
    time = rng.integers(1, 25, n).astype(float)  # heavy time ties
    event = (rng.random(n) < 0.7).astype(float)
    beta = np.array([0.3, -0.7, 1.1])
    ref = PHReg(time, X, status=event, ties=ties).loglike(beta)
    got = CoxPHLoss(ties, "sum")(torch.tensor(X @ beta), time, event).item()
    assert abs(-got - ref) <= 1e-10 * max(1.0, abs(ref))


def test_cox_equals_lifelines_at_its_fit():
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    df = load_rossi()
    cph = CoxPHFitter().fit(df, "week", "arrest")  # lifelines uses Efron ties
    X = df.drop(columns=["week", "arrest"])[cph.params_.index].to_numpy(float)
    eta = torch.tensor(X @ cph.params_.to_numpy())
    got = CoxPHLoss("efron", "sum")(eta, df["week"].to_numpy(float), df["arrest"].to_numpy(float)).item()
    assert abs(-got - cph.log_likelihood_) <= 1e-8


def test_cox_gradcheck():
    rng = np.random.default_rng(1)
    time = torch.tensor(rng.integers(1, 5, 8).astype(float))
    event = torch.tensor([1, 1, 0, 1, 1, 0, 1, 1.0])
    for ties in ("breslow", "efron"):
        eta = torch.tensor(rng.normal(size=8), requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, ties=ties: CoxPHLoss(ties)(x, time, event), (eta,))


def test_discrete_hazard_hand_case_and_reductions():
    h = torch.tensor([[0.1, 0.5, 0.2], [0.1, 0.5, 0.2]], dtype=torch.float64)
    per = DiscreteHazardLoss(reduction="none")(h, [2, 2], [1, 0])
    ev = 0.5 * -math.log(0.45) + 0.5 * -math.log(0.55)
    ce = 0.5 * -math.log(0.45)
    assert per.tolist() == pytest.approx([ev, ce], abs=1e-12)
    assert per.tolist() == pytest.approx([0.6981723485, 0.3992538481], abs=1e-10)
    w = torch.tensor([2.0, 1.0])
    assert DiscreteHazardLoss(reduction="sum")(h, [2, 2], [1, 0], w).item() == pytest.approx(2 * ev + ce)
    assert DiscreteHazardLoss()(h, [2, 2], [1, 0], w).item() == pytest.approx((2 * ev + ce) / 3)
    drsa = DiscreteHazardLoss(alpha=0.5, reduction="drsa")(h, [2, 2], [1, 0]).item()
    assert drsa == pytest.approx(0.5 * -math.log(0.45) + 0.5 * (-math.log(0.55) - math.log(0.45)) / 2)
    logits = torch.log(h / (1 - h))
    assert DiscreteHazardLoss(reduction="none", from_logits=True)(logits, [2, 2], [1, 0]).tolist() == \
        pytest.approx([ev, ce], abs=1e-12)


def test_discrete_hazard_gradcheck_and_errors():
    a = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    step, event = torch.tensor([1, 3, 5, 2]), torch.tensor([1, 0, 1, 0])
    assert torch.autograd.gradcheck(lambda x: DiscreteHazardLoss(from_logits=True)(x, step, event), (a,))
    with pytest.raises(InputError, match="step"):
        DiscreteHazardLoss()(torch.full((2, 3), 0.5), [0, 2], [1, 1])
    with pytest.raises(InputError, match="hazard"):
        DiscreteHazardLoss()(torch.full((2, 3), 1.5), [1, 2], [1, 1])
    with pytest.raises(InputError, match="reduction"):
        DiscreteHazardLoss(reduction="avg")


def test_reference_model_on_rossi():
    res = fit_reference_survival_model("rossi", seed=0)
    assert res.n_train + res.n_test == 432
    assert 0.58 < res.cindex_test < 0.75 and 0.6 < res.cindex_train < 0.75
    # coefficients near lifelines' published fit on the full data (fin -0.38, prio +0.09)
    coef = dict(zip(res.feature_names, res.coef))
    assert coef["fin"] < 0 and coef["prio"] > 0


def test_losses_accept_any_strides():
    """Reversed (negative-stride) numpy inputs give the same loss as their copies."""
    eta = torch.tensor([0.5, -0.5, 0.0, 1.0])
    time, event = np.array([3.0, 2.0, 1.0, 1.0]), np.array([1, 0, 1, 1])
    expect = CoxPHLoss("efron", "sum")(eta, time[::-1].copy(), event[::-1].copy())
    assert CoxPHLoss("efron", "sum")(eta, time[::-1], event[::-1]).item() == expect.item()
    hazard = np.asfortranarray(np.array([[0.1, 0.5, 0.2], [0.3, 0.3, 0.3]]))
    step, ev = np.array([1, 2]), np.array([0, 1])
    ref = DiscreteHazardLoss()(torch.tensor(hazard[::-1].copy()), step[::-1].copy(), ev[::-1].copy())
    assert DiscreteHazardLoss()(hazard[::-1], step[::-1], ev[::-1]).item() == ref.item()


def test_options_are_checked_by_name():
    with pytest.raises(InputError, match="ties must be one of"):
        CoxPHLoss(ties="exact")
    with pytest.raises(InputError, match="reduction must be one of"):
        DiscreteHazardLoss(reduction="max")
    with pytest.raises(InputError, match="dataset must be one of"):
        fit_reference_survival_model("whas500")


def test_result_plot_shows_hazard_ratios():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = fit_reference_survival_model("rossi")
    ax = result.plot()
    assert [t.get_text() for t in ax.get_yticklabels()] != [] and "held out" in ax.get_title()
    assert len(ax.patches) == len(result.coef)
    plt.close(ax.figure)
