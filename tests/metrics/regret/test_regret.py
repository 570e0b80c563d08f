"""Regret functions: hand-worked cases, slow reference loops, identities and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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

LOSSES = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
POLICY = [[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]
ACTIONS = [0, 0, 1]


# ---------------------------------------------------------------- slow references written here


def slow_curve(losses, policy, kind):
    """Per-round Python loop straight from the definitions."""
    losses, policy = np.asarray(losses, float), np.asarray(policy, float)
    T, A = losses.shape
    out = []
    for t in range(1, T + 1):
        learner = sum(float(np.dot(losses[s], policy[s])) for s in range(t))
        if kind == "external":
            out.append(learner - min(sum(losses[s, i] for s in range(t)) for i in range(A)))
        elif kind == "dynamic":
            out.append(learner - sum(min(losses[s]) for s in range(t)))
        else:  # swap: best map φ: A → A over all A^A maps (independent of the M formula)
            best = 0.0
            for phi in itertools.product(range(A), repeat=A):
                gain = sum(policy[s, a] * (losses[s, a] - losses[s, phi[a]]) for s in range(t) for a in range(A))
                best = max(best, gain)
            out.append(best)
    return np.array(out)


def random_run(seed, T, A):
    rng = np.random.default_rng(seed)
    losses = rng.normal(size=(T, A))
    policy = rng.dirichlet(np.full(A, 0.5), size=T)
    policy /= policy.sum(axis=1, keepdims=True)
    actions = rng.integers(A, size=T)
    return losses, policy, actions


def onehot(actions, A):
    return np.eye(A)[np.asarray(actions)]


# ---------------------------------------------------------------- hand-worked cases (spec)


def test_online_hand_case():
    assert external_regret(POLICY, LOSSES) == pytest.approx(-0.5, abs=1e-12)
    assert dynamic_regret(POLICY, LOSSES) == pytest.approx(0.5, abs=1e-12)
    assert swap_regret(POLICY, LOSSES) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(regret_curve(POLICY, LOSSES), [0.5, -0.5, -0.5], atol=1e-12)
    assert variation_budget(LOSSES) == pytest.approx(2.0, abs=1e-12)
    assert best_action_switches(LOSSES) == 2
    assert external_regret(ACTIONS, LOSSES) == pytest.approx(0.0, abs=1e-12)
    assert dynamic_regret(ACTIONS, LOSSES) == pytest.approx(1.0, abs=1e-12)
    assert swap_regret(ACTIONS, LOSSES) == pytest.approx(0.0, abs=1e-12)


def test_variation_budget_norms_by_hand():
    losses = [[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]]  # one difference (1, -2, 2)
    assert variation_budget(losses, norm="inf") == pytest.approx(2.0, abs=1e-12)
    assert variation_budget(losses, norm="1") == pytest.approx(5.0, abs=1e-12)
    assert variation_budget(losses, norm="2") == pytest.approx(3.0, abs=1e-12)
    assert variation_budget([[1.0, 2.0]]) == 0.0
    assert best_action_switches([[0.0, 0.0], [1.0, 1.0]]) == 0  # ties → lowest index both times


def test_game_hand_case():
    A, B = [[0, 1], [1, 0]], [[1, 0], [0, 1]]
    pr, pc = [[1, 0], [1, 0]], [[1, 0], [0, 1]]
    np.testing.assert_allclose(game_regret(pr, pc, payoff_row=A, payoff_col=B), (0.0, 1.0), atol=1e-12)
    np.testing.assert_allclose(cce_gap(pr, pc, payoff_row=A, payoff_col=B), (0.0, 0.5), atol=1e-12)
    # utilities = negated losses
    np.testing.assert_allclose(game_regret(pr, pc, payoff_row=-np.array(A), payoff_col=-np.array(B),
                                           payoff_is="utility"), (0.0, 1.0),
                               atol=1e-12)


def test_game_realised_by_hand():
    A = np.array([[0.0, 2.0], [1.0, 0.0]])
    B = np.array([[1.0, 0.0], [3.0, 1.0]])
    ar, ac = [0, 1, 1], [1, 1, 0]
    # row: Σ A[a1,a2] = 2 + 0 + 1 = 3; deviations a=0: A[0,1]+A[0,1]+A[0,0] = 4, a=1: 0+0+1 = 1 → 3 - 1 = 2
    # col: Σ B[a1,a2] = 0 + 1 + 3 = 4; deviations b=0: B[0,0]+B[1,0]+B[1,0] = 7, b=1: 0+1+1 = 2 → 4 - 2 = 2
    assert game_regret(ar, ac, payoff_row=A, payoff_col=B) == pytest.approx((2.0, 2.0), abs=1e-12)


def test_bandit_hand_case():
    mu = [[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]
    assert contextual_bandit_regret(ACTIONS, mu) == pytest.approx(0.6, abs=1e-12)
    assert contextual_bandit_regret(ACTIONS, mu, rewards=[0, 1, 1], kind="realized") == pytest.approx(-0.1, abs=1e-12)
    assert contextual_bandit_regret(ACTIONS, labels=[1, 0, 0], kind="classification") == 2.0
    np.testing.assert_allclose(contextual_bandit_regret(ACTIONS, mu, return_curve=True), [0.6, 0.6, 0.6], atol=1e-12)


def test_report_hand_case():
    rep = regret_report(POLICY, LOSSES)
    assert (rep.external_regret, rep.dynamic_regret, rep.swap_regret) == pytest.approx((-0.5, 0.5, 0.0), abs=1e-12)
    assert rep.best_fixed_action == 1 and rep.best_fixed_loss == pytest.approx(1.0)
    assert rep.learner_loss == pytest.approx(0.5) and rep.sum_min_loss == pytest.approx(0.0)
    assert rep.variation_budget == pytest.approx(2.0) and rep.best_action_switches == 2
    d = rep.to_dict()
    assert d["curve"] == pytest.approx([0.5, -0.5, -0.5]) and "verdict" in d["test"]
    assert not rep.realized and regret_report(ACTIONS, LOSSES).realized


# ---------------------------------------------------------------- against the slow loops


@pytest.mark.parametrize("kind", ["external", "dynamic", "swap"])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 9), A=st.integers(1, 3))
def test_curves_match_slow_loops(kind, seed, T, A):
    losses, policy, actions = random_run(seed, T, A)
    np.testing.assert_allclose(regret_curve(policy, losses, kind=kind), slow_curve(losses, policy, kind),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(regret_curve(actions, losses, kind=kind),
                               slow_curve(losses, onehot(actions, A), kind), rtol=1e-10, atol=1e-10)


def test_chunked_paths_match_slow_loop(monkeypatch):
    """Force tiny chunks so the carries between chunks are exercised."""
    import metrics.regret._core as core

    monkeypatch.setattr(core, "CHUNK_ELEMENTS", 5)
    losses, policy, actions = random_run(3, 23, 3)
    for kind in ("external", "dynamic", "swap"):
        np.testing.assert_allclose(regret_curve(policy, losses, kind=kind), slow_curve(losses, policy, kind),
                                   rtol=1e-10, atol=1e-10)
    assert swap_regret(actions, losses) == pytest.approx(slow_curve(losses, onehot(actions, 3), "swap")[-1])
    diffs = np.abs(np.diff(losses, axis=0)).max(axis=1).sum()
    assert variation_budget(losses) == pytest.approx(diffs, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 40), A=st.integers(1, 6))
def test_identities(seed, T, A):
    losses, policy, actions = random_run(seed, T, A)
    for preds in (policy, actions):
        ext, dyn, swp = external_regret(preds, losses), dynamic_regret(preds, losses), swap_regret(preds, losses)
        assert swp >= ext - 1e-10 and swp >= -1e-12
        assert dyn >= ext - 1e-10
        for kind, value in (("external", ext), ("dynamic", dyn), ("swap", swp)):
            assert regret_curve(preds, losses, kind=kind)[-1] == pytest.approx(value, rel=1e-9, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 30), A1=st.integers(1, 4), A2=st.integers(1, 4))
def test_cce_gap_equals_regret_over_T(seed, T, A1, A2):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(A1, A2)), rng.normal(size=(A1, A2))
    p1, p2 = rng.dirichlet(np.ones(A1), size=T), rng.dirichlet(np.ones(A2), size=T)
    reg = np.array(game_regret(p1, p2, payoff_row=A, payoff_col=B))
    np.testing.assert_allclose(np.array(cce_gap(p1, p2, payoff_row=A, payoff_col=B)), reg / T, rtol=1e-12, atol=1e-12)
    # against the per-round definition: row player faces A π²_t, column player Bᵀ π¹_t
    l1 = np.stack([A @ p2[t] for t in range(T)])
    l2 = np.stack([B.T @ p1[t] for t in range(T)])
    assert reg[0] == pytest.approx(slow_curve(l1, p1, "external")[-1], abs=1e-10)
    assert reg[1] == pytest.approx(slow_curve(l2, p2, "external")[-1], abs=1e-10)


def test_realised_regret_expectation_is_expected_regret():
    """For an oblivious loss sequence E[Σ ℓ_t(a_t)] = Σ ⟨ℓ_t, π_t⟩ and the comparator is fixed."""
    rng = np.random.default_rng(0)
    T, A, runs = 30, 4, 1500
    losses = rng.random((T, A))
    policy = rng.dirichlet(np.ones(A), size=T)
    expected = external_regret(policy, losses)
    u = rng.random((runs, T, 1))  # inverse-CDF sampling of all runs at once
    actions = (u > np.cumsum(policy, axis=1)[None]).sum(axis=2)
    realised = np.array([external_regret(a, losses) for a in actions])
    stderr = realised.std(ddof=1) / np.sqrt(runs)
    assert abs(realised.mean() - expected) < 4 * stderr
    assert stderr < 0.05  # the check is not vacuous


# ---------------------------------------------------------------- inputs


def test_accepts_torch_lists_and_float32_alike():
    losses, policy, actions = random_run(1, 12, 3)
    ref = external_regret(policy, losses)
    assert external_regret(torch.tensor(policy), torch.tensor(losses)) == pytest.approx(ref, abs=1e-12)
    assert external_regret(policy.tolist(), losses.tolist()) == pytest.approx(ref, abs=1e-12)
    assert external_regret(actions.astype(float), losses) == external_regret(actions, losses)


def test_inputs_not_mutated():
    losses, policy, actions = random_run(2, 20, 3)
    copies = [losses.copy(), policy.copy(), actions.copy()]
    for kind in ("external", "dynamic", "swap"):
        regret_curve(policy, losses, kind=kind)
        regret_curve(actions, losses, kind=kind)
    regret_report(policy, losses)
    swap_regret(actions, losses)
    game_regret(policy, policy, payoff_row=losses[:3, :3], payoff_col=losses[:3, :3])
    for orig, arr in zip(copies, (losses, policy, actions)):
        np.testing.assert_array_equal(orig, arr)


@pytest.mark.parametrize("call, pattern", [
    (lambda: external_regret([[1.0, 0.0]], [[0.0, np.nan]]), r"losses must be finite.*row 0, column 1"),
    (lambda: external_regret([[0.7, 0.7]], [[0.0, 1.0]]), r"preds rows must sum to 1.*row 0 sums to 1\.4"),
    (lambda: external_regret([[1.0, 0.0], [1.1, -0.1]], [[0.0, 1.0]] * 2), r"preds rows.*row 1 has an entry"),
    (lambda: external_regret([[np.nan, 1.0]], [[0.0, 1.0]]), r"preds must be finite"),
    (lambda: external_regret([2], [[0.0, 1.0]]), r"preds must be integer labels in \[0, 2\)"),
    (lambda: external_regret([0.5], [[0.0, 1.0]]), r"preds must be integer labels"),
    (lambda: external_regret([0], [[0.0, 1.0]] * 2), r"preds must have one action per round"),
    (lambda: external_regret([[1.0, 0.0]] * 2, [[0.0, 1.0]]), r"preds must have shape \(T, A\)"),
    (lambda: external_regret([[[1.0, 0.0]]], [[0.0, 1.0]]), r"preds must be a \(T, A\) policy .* or \(T,\) integer"),
    (lambda: external_regret([[0.0, 1.0]], policy=None, actions=None), r"exactly one of policy / actions.*neither"),
    (lambda: external_regret([[0.0, 1.0]], policy=[[1, 0]], actions=[0]), r"exactly one of.*both"),
    (lambda: external_regret([0, 0], [[0.0, 1.0], [1.0]]), r"losses must"),
    (lambda: external_regret([], np.zeros((0, 2))), r"losses must not be empty"),
    (lambda: external_regret([0, 0], [1.0, 2.0]), r"losses must be a 2-D"),
    (lambda: regret_curve(POLICY, LOSSES, kind="internal"), r"kind must be one of"),
    (lambda: variation_budget(LOSSES, norm=2), r"norm must be one of"),
    (lambda: external_regret(POLICY, LOSSES, simplex_atol=-1), r"simplex_atol"),
    (lambda: game_regret([[1]], [[1, 0]], payoff_row=[[0, 1]], payoff_col=[[0, 1], [1, 0]]),
     r"payoff_col must have the shape"),
    (lambda: game_regret([[0, 1]], [[0, 1]], [[1]], [[1, 0]], actions_row=[0]), r"actions_row and actions_col"),
    (lambda: game_regret([[1]], [[1, 0]], payoff_row=[[0, 1]], payoff_col=[[0, 1]], payoff_is="reward"),
     r"payoff_is must be one of"),
    (lambda: game_regret([[1]], [[1, 0], [0, 1]], payoff_row=[[0, 1]], payoff_col=[[0, 1]]),
     r"preds_col must have shape"),
    (lambda: cce_gap([[1]], [[0.5, 0.6]], payoff_row=[[0, 1]], payoff_col=[[0, 1]]), r"preds_col rows must sum to 1"),
    (lambda: game_regret([0], [2], payoff_row=[[0, 1]], payoff_col=[[0, 1]]),
     r"preds_col must be integer labels in \[0, 2\)"),
    (lambda: game_regret([[1]], [0], payoff_row=[[0, 1]], payoff_col=[[0, 1]]), r"must both be policies .* or both actions"),
    (lambda: game_regret([[1]], [[1, 0]], [[0, 1]], [[0, 1]], preds_row=[[1]]), r"not both"),
    (lambda: game_regret([[1]], [[1, 0]]), r"payoff matrices as keywords"),
    (lambda: contextual_bandit_regret([0], [[0.1, np.inf]]), r"expected_reward must be finite"),
    (lambda: contextual_bandit_regret([0], [[0.1, 0.2]], kind="realized"), r"rewards is required"),
    (lambda: contextual_bandit_regret([0], kind="classification"), r"labels is required"),
    (lambda: contextual_bandit_regret([0, 1], labels=[0], kind="classification"), r"labels must have one entry"),
    (lambda: contextual_bandit_regret([0], None), r"expected_reward is required"),
    (lambda: contextual_bandit_regret([3], [[0.1, 0.2]]), r"actions must be integer labels in \[0, 2\)"),
])
def test_bad_input_raises_naming_argument(call, pattern):
    with pytest.raises(InputError, match=pattern):
        call()


def test_simplex_tolerance_is_respected_not_renormalised():
    pol = [[0.5 + 5e-7, 0.5]]
    assert external_regret(pol, [[1.0, 0.0]]) == pytest.approx(0.5 + 5e-7, abs=1e-15)
    with pytest.raises(InputError):
        external_regret(pol, [[1.0, 0.0]], simplex_atol=1e-8)


HUGE_LOSSES = np.array([[1e308, 1e308], [1e308, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("call", [
    lambda L, P: external_regret(P, L),
    lambda L, P: dynamic_regret(P, L),
    lambda L, P: swap_regret(P, L),
    lambda L, P: regret_curve(P, L),
    lambda L, P: variation_budget(L),
    lambda L, P: best_action_switches(L),
    lambda L, P: regret_report(P, L),
    lambda L, P: external_regret([0, 1, 0], L),
])
def test_losses_near_float64_max_raise_naming_losses(call):
    # Before: NaN with a numpy overflow warning, and regret_report blamed "curve" (not an argument).
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"losses must be at most .* row 0, column 0 is 1e\+308; rescale them"):
            call(HUGE_LOSSES, np.full((3, 2), 0.5))


def test_any_memory_order_and_negative_strides():
    losses, policy, actions = random_run(5, 30, 4)
    for f in (external_regret, dynamic_regret, swap_regret):
        want = f(policy[::-1].copy(), losses[::-1].copy())
        assert f(policy[::-1], losses[::-1]) == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert f(np.asfortranarray(policy), np.asfortranarray(losses)) == pytest.approx(
            f(policy, losses), rel=1e-12, abs=1e-12)
        assert f(actions[::-1], losses[::-1]) == pytest.approx(
            f(actions[::-1].copy(), losses[::-1].copy()), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(regret_curve(policy[:, ::-1], losses[:, ::-1]),
                               regret_curve(policy[:, ::-1].copy(), losses[:, ::-1].copy()), rtol=1e-12)


def test_bandit_rewards_near_float64_max_raise():
    with pytest.raises(InputError, match="expected_reward must be at most"):
        contextual_bandit_regret([0, 1], [[1e308, -1e308], [0.0, 1.0]])
    with pytest.raises(InputError, match="rewards must be at most"):
        contextual_bandit_regret([0, 1], [[1.0, 0.0], [0.0, 1.0]], rewards=[-1e308, 0.0], kind="realized")
