"""Per-group judge models and the synthetic LInCo data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from reference_models import (
    GroupModels,
    InputError,
    TorchEstimator,
    fit_group_models,
    linco_synthetic_experiment,
    make_linco_synthetic,
    make_text_model,
)

RNG = np.random.default_rng(3)
X = RNG.standard_normal((60, 3))
GROUPS = np.array(["south", "north", "west"])[RNG.integers(0, 3, 60)]
TERMS = np.exp(2 + X @ np.array([0.4, -0.2, 0.3]) + 0.2 * RNG.standard_normal(60))
CHARGES = np.argmax(X @ RNG.standard_normal((3, 3)) + RNG.gumbel(size=(60, 3)), axis=1)


def test_ridge_per_group_matches_scikit_learn_fitted_by_hand():
    models = fit_group_models(X, TERMS, GROUPS)
    assert models.groups == ["north", "south", "west"] and models.task == "regression"
    assert models.target_transform == "log1p"
    assert models.group_sizes == [int((GROUPS == g).sum()) for g in models.groups]
    P = models.predict(X[:7])
    assert P.shape == (3, 7)
    for k, g in enumerate(models.groups):
        m = GROUPS == g
        want = np.expm1(Ridge(alpha=1.0).fit(X[m], np.log1p(TERMS[m])).predict(X[:7]))
        np.testing.assert_allclose(P[k], want, rtol=1e-12)
    raw = fit_group_models(X, TERMS, GROUPS, target_transform="none", alpha=3.0).predict(X[:5])
    m = GROUPS == "west"
    np.testing.assert_allclose(raw[2], Ridge(alpha=3.0).fit(X[m], TERMS[m]).predict(X[:5]), rtol=1e-12)


def test_logistic_per_group_matches_scikit_learn():
    models = fit_group_models(X, CHARGES, GROUPS, model="logistic", C=0.5)
    assert models.task == "classification" and models.target_transform == "none"
    P = models.predict(X)
    for k, g in enumerate(models.groups):
        m = GROUPS == g
        want = LogisticRegression(C=0.5, max_iter=1000).fit(X[m], CHARGES[m]).predict(X)
        np.testing.assert_array_equal(P[k], want)


def test_group_seeds_follow_seed_sequence_and_reach_estimators():
    models = fit_group_models(X, TERMS, GROUPS, model=DecisionTreeRegressor(max_depth=2), task="regression", seed=5)
    want = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(5).spawn(3)]
    assert models.seeds == want
    assert [m.random_state for m in models.models] == want
    seen = []

    def factory(seed):
        seen.append(seed)
        return Ridge()

    fit_group_models(X, TERMS, GROUPS, model=factory, task="regression", seed=5)
    assert seen == want


def test_torch_adapter_learns_each_group():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: extra threads only contend on the shared machine
    try:
        _check_torch_adapter(torch)
    finally:
        torch.set_num_threads(threads)


def _check_torch_adapter(torch):
    def linear(n_in, n_out):
        return torch.nn.Linear(n_in, n_out)

    y = X @ np.array([1.0, -2.0, 0.5]) + np.where(GROUPS == "west", 3.0, 0.0)
    models = fit_group_models(X, y, GROUPS, model=TorchEstimator(linear, "regression", epochs=150, lr=0.1))
    P = models.predict(X)
    np.testing.assert_allclose(P[2] - P[0], 3.0, atol=0.1)  # west minus north
    clf = fit_group_models(X, CHARGES, GROUPS, model=TorchEstimator(linear, "classification", epochs=30))
    assert set(np.unique(clf.predict(X))) <= set(np.unique(CHARGES))
    again = fit_group_models(X, CHARGES, GROUPS, model=TorchEstimator(linear, "classification", epochs=30))
    np.testing.assert_array_equal(clf.predict(X), again.predict(X))  # seeded


def test_text_pipeline():
    texts = np.array(["armed robbery with a knife", "petty theft of a bicycle", "fraud involving a large sum",
                      "theft of a phone"] * 6)
    y = np.array([60.0, 6.0, 30.0, 5.0] * 6)
    groups = np.repeat(["a", "b"], 12)
    models = fit_group_models(texts, y, groups, model=make_text_model("regression"), target_transform="log1p")
    P = models.predict(np.array(["armed robbery", "theft of a bicycle"]))
    assert P.shape == (2, 2) and np.all(P[:, 0] > P[:, 1])
    assert type(models.models[0]).__name__ == "Pipeline"


def test_groups_models_do_not_mutate_inputs():
    Xc, yc, gc = X.copy(), TERMS.copy(), GROUPS.copy()
    fit_group_models(X, TERMS, GROUPS).predict(X)
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(TERMS, yc)
    np.testing.assert_array_equal(GROUPS, gc)


@pytest.mark.parametrize("kwargs, match", [
    ({"groups": np.zeros(60)}, "at least 2 distinct groups"),
    ({"groups": np.r_[np.zeros(59), 1]}, "at least 2 training cases; group 1.0 has 1"),
    ({"groups": np.zeros(10)}, "one label per case"),
    ({"y": TERMS[:10]}, "one value per case"),
    ({"y": -TERMS}, "> -1 for target_transform='log1p'"),
    ({"model": Ridge()}, "task must be given"),
    ({"model": "logistic", "task": "regression"}, "is for task='classification'"),
    ({"model": object(), "task": "regression"}, "model must be"),
    ({"model": lambda seed: 3, "task": "regression"}, "fit and predict"),
    ({"target_transform": "sqrt"}, "target_transform"),
    ({"seed": -1}, "seed"),
    ({"X": X[:, 0]}, "2-D array"),
])
def test_bad_input(kwargs, match):
    args = {"X": X, "y": TERMS, "groups": GROUPS}
    args.update({k: kwargs.pop(k) for k in ("X", "y", "groups") if k in kwargs})
    with pytest.raises(InputError, match=match):
        fit_group_models(args["X"], args["y"], args["groups"], **kwargs)


def test_logistic_group_with_one_class_is_an_input_error():
    y = np.where(GROUPS == "north", 0, CHARGES)
    y[GROUPS == "north"] = 1
    with pytest.raises(InputError, match="group 'north' could not be fitted"):
        fit_group_models(X, y, GROUPS, model="logistic")


def test_synthetic_regression_draws_everything_before_the_level():
    X0, y0, g0 = make_linco_synthetic(0.0, seed=2, n_groups=5, n_per_group=40)
    X1, y1, g1 = make_linco_synthetic(0.6, seed=2, n_groups=5, n_per_group=40)
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(g0, g1)
    assert np.array_equal(np.bincount(g0), [40] * 5)
    b = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(y1 / y0, 1 + 0.6 * b[g0], rtol=1e-12)
    assert y0.min() > 0
    # the base term is log-linear in X with N(0, 0.5²) weights and 0.25 noise
    coef = np.linalg.lstsq(np.c_[np.ones(200), X0], np.log(y0), rcond=None)[0]
    assert coef[0] == pytest.approx(3.0, abs=0.1)


def test_synthetic_classification_flips_only_drawn_cases():
    X0, y0, g = make_linco_synthetic(0.0, task="classification", seed=1, n_per_group=200, n_classes=3)
    _, y5, _ = make_linco_synthetic(0.5, task="classification", seed=1, n_per_group=200, n_classes=3)
    _, y1, _ = make_linco_synthetic(1.0, task="classification", seed=1, n_per_group=200, n_classes=3)
    np.testing.assert_array_equal(y1, g % 3)
    changed = y5 != y0
    assert np.all(y5[changed] == (g % 3)[changed])
    flipped = (y5 == g % 3)
    assert 0.5 < flipped.mean() < 0.8  # half take the group's charge, plus those that had it anyway
    assert set(np.unique(y0)) == {0, 1, 2}


@pytest.mark.parametrize("level, task", [(1.0, "regression"), (-0.1, "regression"), (1.1, "classification")])
def test_synthetic_level_range(level, task):
    with pytest.raises(InputError, match="level must lie"):
        make_linco_synthetic(level, task=task)


def test_synthetic_experiment_table():
    frame = linco_synthetic_experiment(levels=(0.0, 0.4), seeds=(1,), dispersions=("std_log1p",), n_repeats=2,
                                       n_per_group=40)
    assert list(frame["level"]) == [0.0, 0.4]
    assert frame["value"].iloc[1] > frame["value"].iloc[0]
    assert isinstance(fit_group_models(X, TERMS, GROUPS), GroupModels)
