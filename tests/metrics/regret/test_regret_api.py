"""The argument order (predictions first, the old order deprecated) and the torch path of every function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import (
    InputError,
    best_action_switches,
    cce_gap,
    contextual_bandit_regret,
    dynamic_regret,
    external_regret,
    game_regret,
    regret_curve,
    regret_report,
    swap_regret,
    variation_budget,
)
from tests.guards import guard_call

RNG = np.random.default_rng(11)
T, A = 57, 4
LOSSES = RNG.normal(size=(T, A))
POLICY = RNG.dirichlet(np.ones(A), size=T)
ACTIONS = RNG.integers(A, size=T)
PAYOFF_ROW, PAYOFF_COL = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
P_ROW, P_COL = RNG.dirichlet(np.ones(3), size=T), RNG.dirichlet(np.ones(2), size=T)
A_ROW, A_COL = RNG.integers(3, size=T), RNG.integers(2, size=T)
MU = RNG.random((T, A))
REWARDS = RNG.random(T)
ONLINE = [external_regret, dynamic_regret, swap_regret]


# ---------------------------------------------------------------- the old order, deprecated


@pytest.mark.parametrize("f", [*ONLINE, regret_curve])
def test_old_order_still_works_with_a_warning(f):
    for key, preds in (("policy", POLICY), ("actions", ACTIONS)):
        with pytest.warns(DeprecationWarning, match=rf"{f.__name__}\(losses, {key}=...\) is deprecated; use "
                                                    rf"{f.__name__}\(preds, losses\)"):
            old = f(LOSSES, **{key: preds})
        np.testing.assert_allclose(old, f(preds, LOSSES), rtol=1e-15)
    with pytest.warns(DeprecationWarning):
        np.testing.assert_allclose(f(losses=LOSSES, policy=POLICY), f(preds=POLICY, losses=LOSSES), rtol=1e-15)


def test_old_order_of_the_report():
    with pytest.warns(DeprecationWarning, match=r"regret_report\(losses, actions=...\)"):
        old = regret_report(LOSSES, actions=ACTIONS, eval_points=5)
    assert old.to_dict() == regret_report(ACTIONS, LOSSES, eval_points=5).to_dict()


def test_old_order_of_the_games():
    with pytest.warns(DeprecationWarning, match=r"game_regret\(payoff_row, payoff_col, policy_row, policy_col\) "
                                                r"is deprecated"):
        old = game_regret(PAYOFF_ROW, PAYOFF_COL, P_ROW, P_COL)
    assert old == game_regret(P_ROW, P_COL, payoff_row=PAYOFF_ROW, payoff_col=PAYOFF_COL)
    with pytest.warns(DeprecationWarning, match="actions_row, actions_col"):
        old = game_regret(PAYOFF_ROW, PAYOFF_COL, actions_row=A_ROW, actions_col=A_COL)
    assert old == game_regret(A_ROW, A_COL, payoff_row=PAYOFF_ROW, payoff_col=PAYOFF_COL)
    with pytest.warns(DeprecationWarning, match="cce_gap"):
        old = cce_gap(PAYOFF_ROW, PAYOFF_COL, policy_row=P_ROW, policy_col=P_COL, payoff_is="utility")
    assert old == cce_gap(P_ROW, P_COL, payoff_row=PAYOFF_ROW, payoff_col=PAYOFF_COL, payoff_is="utility")


@pytest.mark.parametrize("call, pattern", [
    # both forms at once: never guessed, always explained
    (lambda: external_regret(POLICY, LOSSES, policy=POLICY), r"either as preds .* or, deprecated, as"),
    (lambda: external_regret(LOSSES, policy=POLICY, preds=POLICY), r"got both preds and policy="),
    # an old policy= stays a policy, an old actions= stays actions
    (lambda: external_regret(LOSSES, policy=ACTIONS), r"policy must be a 2-D \(T, A\) policy"),
    (lambda: external_regret(LOSSES, actions=POLICY), r"actions must be a 1-D \(T,\) array of actions"),
    (lambda: game_regret(PAYOFF_ROW, PAYOFF_COL, A_ROW, P_COL), r"policy_row must be a 2-D"),
    (lambda: cce_gap(PAYOFF_ROW, PAYOFF_COL, actions_row=A_ROW, actions_col=A_COL), r"cce_gap takes no actions_row"),
    (lambda: game_regret(P_ROW, P_COL, PAYOFF_ROW, PAYOFF_COL, preds_row=P_ROW), r"not both"),
    (lambda: game_regret(P_ROW, P_COL), r"game_regret\(preds_row, preds_col, \*, payoff_row=..., payoff_col=...\)"),
])
def test_mixed_or_reinterpreted_calls_raise(call, pattern):
    with pytest.raises(InputError, match=pattern):
        call()


def test_new_order_emits_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        external_regret(POLICY, LOSSES)
        regret_curve(ACTIONS, LOSSES, kind="swap")
        regret_report(POLICY, LOSSES)
        game_regret(P_ROW, P_COL, payoff_row=PAYOFF_ROW, payoff_col=PAYOFF_COL)
        cce_gap(A_ROW, A_COL, payoff_row=PAYOFF_ROW, payoff_col=PAYOFF_COL)


# ---------------------------------------------------------------- torch = numpy


def _t(x, dtype=None):
    return torch.from_numpy(np.array(x)).to(dtype) if dtype is not None else torch.from_numpy(np.array(x))


@pytest.mark.parametrize("f", ONLINE)
@pytest.mark.parametrize("use_actions", [False, True])
def test_torch_equals_numpy(f, use_actions):
    preds = ACTIONS if use_actions else POLICY
    want = f(preds, LOSSES)
    assert f(_t(preds), _t(LOSSES)) == pytest.approx(want, rel=1e-12, abs=1e-12)
    # only one of them a tensor: computed in torch too
    assert f(preds, _t(LOSSES)) == pytest.approx(want, rel=1e-12, abs=1e-12)
    # float32 input: both paths sum the same float32 values in float64
    p32, l32 = (preds if use_actions else preds.astype(np.float32)), LOSSES.astype(np.float32)
    assert f(_t(p32), _t(l32), simplex_atol=1e-5) == pytest.approx(f(p32, l32, simplex_atol=1e-5), rel=1e-12)


@pytest.mark.parametrize("kind", ["external", "dynamic", "swap"])
def test_torch_curve_equals_numpy(kind, monkeypatch):
    import metrics.regret._core as core

    monkeypatch.setattr(core, "CHUNK_ELEMENTS", 7)  # several chunks, carries between them
    for preds in (POLICY, ACTIONS):
        want = regret_curve(preds, LOSSES, kind=kind)
        got = regret_curve(_t(preds), _t(LOSSES), kind=kind)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_torch_losses_only_functions_and_report():
    for norm in ("inf", "1", "2"):
        assert variation_budget(_t(LOSSES), norm=norm) == pytest.approx(variation_budget(LOSSES, norm=norm),
                                                                        rel=1e-12)
    assert best_action_switches(_t(LOSSES)) == best_action_switches(LOSSES)
    for preds in (POLICY, ACTIONS):
        got, want = regret_report(_t(preds), _t(LOSSES)).to_dict(), regret_report(preds, LOSSES).to_dict()
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
            elif key != "curve":
                assert got[key] == value, key
        np.testing.assert_allclose(got["curve"], want["curve"], rtol=1e-12, atol=1e-12)


def test_torch_games_and_bandits_equal_numpy():
    for pr, pc in ((P_ROW, P_COL), (A_ROW, A_COL)):
        for f in (game_regret, cce_gap):
            want = f(pr, pc, payoff_row=PAYOFF_ROW, payoff_col=PAYOFF_COL)
            got = f(_t(pr), _t(pc), payoff_row=_t(PAYOFF_ROW), payoff_col=PAYOFF_COL)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for kw in ({}, {"rewards": REWARDS, "kind": "realized"}):
        want = contextual_bandit_regret(ACTIONS, MU, **kw)
        tkw = {k: _t(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        assert contextual_bandit_regret(_t(ACTIONS), _t(MU), **tkw) == pytest.approx(want, rel=1e-12)
        np.testing.assert_allclose(contextual_bandit_regret(_t(ACTIONS), _t(MU), return_curve=True, **tkw).numpy(),
                                   contextual_bandit_regret(ACTIONS, MU, return_curve=True, **kw), rtol=1e-12)
    labels = (ACTIONS + RNG.integers(0, 2, size=T)) % A
    assert contextual_bandit_regret(_t(ACTIONS), labels=_t(labels), kind="classification") == \
        contextual_bandit_regret(ACTIONS, labels=labels, kind="classification")


@pytest.mark.parametrize("call", [
    lambda P, L: external_regret(P, L),
    lambda P, L: dynamic_regret(P, L),
    lambda P, L: swap_regret(P, L),
    lambda P, L: variation_budget(L),
])
@pytest.mark.parametrize("use_actions", [False, True])
def test_torch_path_reads_the_device_once_and_copies_nothing(call, use_actions):
    preds = ACTIONS if use_actions else POLICY
    value, report = guard_call(call, _t(preds), _t(LOSSES))
    assert report.host_copies == 0, report.events
    assert report.syncs <= 1, report.events
    assert value == pytest.approx(call(preds, LOSSES), rel=1e-12, abs=1e-12)


def test_torch_curve_copies_nothing():
    curve, report = guard_call(regret_curve, _t(POLICY), _t(LOSSES), kind="swap")
    assert report.host_copies == 0 and report.syncs <= 1, report.events
    assert isinstance(curve, torch.Tensor)


@pytest.mark.parametrize("preds, losses, pattern", [
    ([[0.7, 0.7]], [[0.0, 1.0]], r"preds rows must sum to 1.*row 0 sums to 1\.4"),
    ([[np.nan, 1.0]], [[0.0, 1.0]], r"preds must be finite"),
    ([2], [[0.0, 1.0]], r"preds must be integer labels in \[0, 2\)"),
    ([0.5], [[0.0, 1.0]], r"preds must be integer labels"),
    ([0], [[0.0, 1.0]] * 2, r"preds must have one action per round"),
    ([[1.0, 0.0]] * 2, [[0.0, 1.0]], r"preds must have shape \(T, A\)"),
    ([0], [[0.0, np.inf]], r"losses must be finite.*row 0, column 1"),
    ([0, 1, 0], [[1e308, 1e308], [1e308, 0.0], [0.0, 1.0]], r"losses must be at most"),
    ([0], [1.0, 2.0], r"losses must be a 2-D"),
])
@pytest.mark.parametrize("f", [*ONLINE, regret_curve])
def test_torch_errors_match_numpy(f, preds, losses, pattern):
    with pytest.raises(InputError, match=pattern):
        f(preds, losses)
    with pytest.raises(InputError, match=pattern):
        f(torch.tensor(preds, dtype=torch.float64 if np.ndim(preds) == 2 else None),
          torch.tensor(losses, dtype=torch.float64))


def test_torch_inputs_not_mutated_and_grad_ignored():
    losses = _t(LOSSES).requires_grad_(True)
    policy = _t(POLICY)
    before = (losses.detach().clone(), policy.clone())
    external_regret(policy, losses)
    regret_curve(policy, losses, kind="swap")
    assert torch.equal(losses.detach(), before[0]) and torch.equal(policy, before[1])


def test_old_order_errors_name_the_old_argument():
    with pytest.warns(DeprecationWarning), pytest.raises(InputError, match=r"^policy rows must sum to 1"):
        external_regret([[0.0, 1.0]], policy=[[0.7, 0.7]])
    with pytest.warns(DeprecationWarning), pytest.raises(InputError, match=r"^actions must be integer labels"):
        regret_report([[0.0, 1.0]], actions=[2])
    with pytest.warns(DeprecationWarning), pytest.raises(InputError, match=r"^policy_col rows must sum to 1"):
        cce_gap([[0, 1]], [[0, 1]], [[1]], [[0.5, 0.6]])
    with pytest.warns(DeprecationWarning), pytest.raises(InputError, match=r"^actions_col must be integer labels"):
        game_regret([[0, 1]], [[0, 1]], actions_row=[0], actions_col=[2])
