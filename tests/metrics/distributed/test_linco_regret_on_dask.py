"""LInCo, external regret and the regret report on Dask equal the in-memory values, whatever the partitioning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

import metrics  # noqa: E402
from metrics import InputError  # noqa: E402
from metrics.distributed import external_regret, linco, linco_report, regret_report  # noqa: E402

SYNC = "synchronous"
MODELS = [f"court_{k}" for k in range(5)]


def _terms(n=600, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 12.0, size=n)
    terms = np.round(base[None, :] * rng.lognormal(0.0, 0.3, size=(5, n)), 1)
    terms[:, :7] = 0.0  # cases every model gives 0: skipped by cv_pop
    return terms


@pytest.mark.parametrize("dispersion", ["std_log1p", "var_pop", "cv_pop", "mean_abs_pairwise"])
@pytest.mark.parametrize("npartitions", [1, 4, 9])
def test_linco_regression(dispersion, npartitions):
    terms = _terms()
    df = pd.DataFrame(terms.T, columns=MODELS)
    expected = metrics.linco(terms, dispersion=dispersion)
    got = linco(dd.from_pandas(df, npartitions=npartitions), model_columns=MODELS, dispersion=dispersion,
                scheduler=SYNC)
    assert got == pytest.approx(expected, rel=1e-12)


def test_linco_hand_case_and_classification():
    df = pd.DataFrame({"a": [6, 12], "b": [12, 12], "c": [24, 12]})
    assert linco(dd.from_pandas(df, npartitions=2), model_columns=["a", "b", "c"], dispersion="var_pop",
                 scheduler=SYNC) == 28.0
    rng = np.random.default_rng(1)
    charges = rng.choice(["theft", "fraud", "robbery"], size=(4, 300))
    frame = dd.from_pandas(pd.DataFrame(charges.T, columns=MODELS[:4]), npartitions=5)
    for dispersion in ("pairwise_disagreement", "one_minus_majority_fraction"):
        got = linco(frame, model_columns=MODELS[:4], task="classification", dispersion=dispersion, scheduler=SYNC)
        assert got == pytest.approx(metrics.linco(charges, task="classification", dispersion=dispersion),
                                    rel=1e-12)


@pytest.mark.parametrize("mode", ["subtract", "ratio"])
def test_linco_with_baselines(mode):
    terms, splits = _terms(seed=2), [_terms(seed=3 + r)[:3] for r in range(3)]
    df = pd.DataFrame(terms.T, columns=MODELS)
    baseline_columns = []
    for r, split in enumerate(splits):
        names = [f"split{r}_{k}" for k in range(3)]
        df[names] = split.T
        baseline_columns.append(names)
    expected = metrics.linco(terms, baseline=splits, baseline_mode=mode)
    got = linco(dd.from_pandas(df, npartitions=4), model_columns=MODELS, baseline_columns=baseline_columns,
                baseline_mode=mode, scheduler=SYNC)
    assert got == pytest.approx(expected, rel=1e-12)


def test_linco_undefined_and_bad_input():
    df = pd.DataFrame(np.zeros((20, 3)), columns=MODELS[:3])
    frame = dd.from_pandas(df, npartitions=2)
    with pytest.raises(InputError):
        linco(frame, model_columns=MODELS[:3], dispersion="cv_pop", scheduler=SYNC)
    assert np.isnan(linco(frame, model_columns=MODELS[:3], dispersion="cv_pop", on_undefined="nan",
                          scheduler=SYNC))
    with pytest.raises(InputError, match="model_columns: no column"):
        linco(frame, model_columns=["court_9", "court_0"], scheduler=SYNC)
    with pytest.raises(InputError):
        linco(frame, model_columns=MODELS[:3], dispersion="entropy", scheduler=SYNC)


def _rounds(t=2000, a=4, seed=0):
    rng = np.random.default_rng(seed)
    losses = rng.random((t, a)) + np.linspace(0, 0.3, a)
    weights = np.exp(-0.05 * np.cumsum(losses, axis=0))
    policy = weights / weights.sum(axis=1, keepdims=True)
    actions = np.array([rng.choice(a, p=p) for p in policy])
    return losses, policy, actions


@pytest.mark.parametrize("npartitions", [1, 3, 8])
def test_external_regret_policy_and_actions(npartitions):
    losses, policy, actions = _rounds()
    loss_cols, policy_cols = [f"loss_{i}" for i in range(4)], [f"pi_{i}" for i in range(4)]
    df = pd.DataFrame(np.hstack([losses, policy]), columns=loss_cols + policy_cols).assign(action=actions)
    frame = dd.from_pandas(df.sample(frac=1.0, random_state=npartitions), npartitions=npartitions)  # any order
    got = external_regret(frame, loss_columns=loss_cols, policy_columns=policy_cols, scheduler=SYNC)
    assert got == pytest.approx(metrics.external_regret(policy, losses), rel=1e-12)
    got = external_regret(frame, loss_columns=loss_cols, action_column="action", scheduler=SYNC)
    assert got == pytest.approx(metrics.external_regret(actions, losses), rel=1e-12)


def test_external_regret_hand_case_and_bad_input():
    # two rounds, two actions: learner loss 1 + 0.5, best fixed action 0 with 0 + 1 = 1 -> regret 0.5
    df = pd.DataFrame({"l0": [0.0, 1.0], "l1": [1.0, 0.0], "a": [1, 0]})
    frame = dd.from_pandas(df, npartitions=2)
    assert external_regret(frame, loss_columns=["l0", "l1"], action_column="a", scheduler=SYNC) == 1.0
    with pytest.raises(InputError, match="exactly one"):
        external_regret(frame, loss_columns=["l0", "l1"], scheduler=SYNC)
    with pytest.raises(InputError):
        external_regret(dd.from_pandas(df.assign(a=[0, 5]), npartitions=1), loss_columns=["l0", "l1"],
                        action_column="a", scheduler=SYNC)


def _straightforward_curve(losses, per_round_learner):
    """R_t = sum_{s<=t} learner_s - min_a sum_{s<=t} losses_s(a), one cumulative sum each."""
    return np.cumsum(per_round_learner) - np.cumsum(losses, axis=0).min(axis=1)


@pytest.mark.parametrize("npartitions", [1, 4])
def test_regret_report_rounds_sorted_by_dask(npartitions):
    losses, policy, actions = _rounds()
    loss_cols, policy_cols = [f"loss_{i}" for i in range(4)], [f"pi_{i}" for i in range(4)]
    df = pd.DataFrame(np.hstack([losses, policy]), columns=loss_cols + policy_cols).assign(
        action=actions, round=np.arange(1, len(actions) + 1) * 10)
    frame = dd.from_pandas(df.sample(frac=1.0, random_state=npartitions), npartitions=npartitions, sort=False)
    for preds, kw, learner in ((policy, {"policy_columns": policy_cols}, (losses * policy).sum(1)),
                               (actions, {"action_column": "action"}, losses[np.arange(len(actions)), actions])):
        got = regret_report(frame, loss_columns=loss_cols, round_column="round", eval_points=7, scheduler=SYNC, **kw)
        want = metrics.regret_report(preds, losses, eval_points=7)
        for field in ("external_regret", "dynamic_regret", "swap_regret", "best_fixed_loss", "learner_loss",
                      "sum_min_loss", "variation_budget"):
            assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-12), field
        for field in ("best_fixed_action", "best_action_switches", "n_rounds", "n_actions", "realized"):
            assert getattr(got, field) == getattr(want, field), field
        assert got.curve == pytest.approx(_straightforward_curve(losses, learner), rel=1e-12, abs=1e-12)
        assert got.test.eval_points.tolist() == want.test.eval_points.tolist()
        assert got.test.eval_points_rule == want.test.eval_points_rule
        assert (got.test.trend_statistic, got.test.trend_n) == (want.test.trend_statistic, want.test.trend_n)
        assert got.test.slope == pytest.approx(want.test.slope, rel=1e-9)


def test_regret_report_hand_case_across_partitions():
    # rounds stored backwards, one per partition; actions 1, 0, 0 on losses (0,1), (1,0), (0,1):
    # learner 1, 2, 2; action totals (0,1), (1,1), (1,2) -> R_t = 1, 1, 1; V_T (inf) = 1 + 1; switches 2
    df = pd.DataFrame({"t": [3, 2, 1], "l0": [0.0, 1.0, 0.0], "l1": [1.0, 0.0, 1.0], "a": [0, 0, 1]})
    rep = regret_report(dd.from_pandas(df, npartitions=3, sort=False), loss_columns=["l0", "l1"],
                        action_column="a", round_column="t", eval_points="all", scheduler=SYNC)
    assert rep.curve.tolist() == [1.0, 1.0, 1.0]
    assert (rep.external_regret, rep.variation_budget, rep.best_action_switches, rep.n_rounds) == (1.0, 2.0, 2, 3)
    assert rep.realized and rep.best_fixed_action == 0 and rep.test.eval_points.tolist() == [1, 2, 3]


def test_regret_report_bad_input():
    df = pd.DataFrame({"t": [1, 2, 2], "l0": [0.0, 1.0, 0.0], "l1": [1.0, 0.0, 1.0], "p0": [0.5, 0.5, 0.3],
                       "p1": [0.5, 0.5, 0.7]})
    frame = dd.from_pandas(df, npartitions=2)
    with pytest.raises(InputError, match="round 2 appears more than once"):
        regret_report(frame, loss_columns=["l0", "l1"], policy_columns=["p0", "p1"], round_column="t",
                      scheduler=SYNC)
    off_simplex = dd.from_pandas(df.assign(p1=[0.5, 0.5, 0.9]), npartitions=2)
    with pytest.raises(InputError, match="sum to 1"):
        regret_report(off_simplex, loss_columns=["l0", "l1"], policy_columns=["p0", "p1"], scheduler=SYNC)
    with pytest.raises(InputError, match="exactly one"):
        regret_report(frame, loss_columns=["l0", "l1"], scheduler=SYNC)
    with pytest.raises(InputError, match="no column 'round'"):
        regret_report(frame, loss_columns=["l0", "l1"], action_column="t", round_column="round", scheduler=SYNC)


def test_linco_report_fields_equal_in_memory():
    terms = _terms()
    splits = [np.round(terms[[0, 1, 2]] * 1.1, 1), np.round(terms[[2, 3, 4]] * 0.9, 1)]
    df = pd.DataFrame(terms.T, columns=MODELS)
    for r, split in enumerate(splits):
        for k in range(3):
            df[f"split{r}_{k}"] = split[k]
    got = linco_report(dd.from_pandas(df, npartitions=4), model_columns=MODELS, dispersion="cv_pop",
                       baseline_columns=[[f"split{r}_{k}" for k in range(3)] for r in range(2)], scheduler=SYNC)
    want = metrics.linco_report(terms, dispersion="cv_pop", baseline=splits)
    for field in ("value", "raw", "baseline", "ci_low", "ci_high"):
        assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-12), field
    assert (got.n_eval, got.n_skipped, got.dispersion, got.groups) == (want.n_eval, want.n_skipped,
                                                                       want.dispersion, want.groups)
    assert got.n_skipped == 7 and got.per_case.size == 0


def test_regret_report_on_the_cluster_and_local_schedulers_beside_it(local_client):
    """Sorting on the two-process cluster; a local scheduler still works while that client exists
    (Dask's default shuffle is then peer-to-peer, which only the cluster's workers can run)."""
    losses, policy, actions = _rounds()
    loss_cols = [f"loss_{i}" for i in range(4)]
    df = pd.DataFrame(losses, columns=loss_cols).assign(action=actions, t=np.arange(len(actions)))
    frame = dd.from_pandas(df.sample(frac=1.0, random_state=5), npartitions=4, sort=False)
    want = metrics.regret_report(actions, losses)
    for scheduler in (None, SYNC):
        got = regret_report(frame, loss_columns=loss_cols, action_column="action", round_column="t",
                            scheduler=scheduler)
        assert got.external_regret == pytest.approx(want.external_regret, rel=1e-12)
        assert got.variation_budget == pytest.approx(want.variation_budget, rel=1e-12)
        assert got.best_action_switches == want.best_action_switches
        assert got.test.trend_statistic == want.test.trend_statistic
