"""``linco_from_data``: LInCo measured from raw data. Split, fit one model per group, predict shared cases, correct by a baseline."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from metrics.core.validation import check_fraction, check_int, check_option
from metrics.group_consistency import (
    LINCO_CLASSIFICATION_DISPERSIONS,
    LINCO_REGRESSION_DISPERSIONS,
    LincoReport,
    as_prediction_matrix,
    check_task,
    combine_with_baseline,
    dispersion_name,
    mean_of_included,
    per_case_values,
    resolve_dispersion,
)
from reference_models.group_models import (
    as_features,
    as_group_labels,
    as_targets,
    check_seed,
    fit_group_models,
    index_groups,
    make_linco_synthetic,
    resolve_model,
    resolve_target_transform,
    take_rows,
)

__all__ = ["linco_from_data", "linco_synthetic_experiment"]


@dataclasses.dataclass(frozen=True)
class GroupPredictions:
    """Predictions of the real group models and of each random-split repeat on E."""

    raw: np.ndarray  # (K, |E|)
    baselines: list[np.ndarray]  # n_repeats × (K, |E|)
    groups: list[Any]
    group_train_sizes: list[int]
    eval_index: np.ndarray
    task: str


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def group_predictions(X: Any, y: Any, groups: Any, *, task: str = "regression", model: Any = None,
                      test_size: float = 0.2, baseline: str | None = "random_split", n_repeats: int = 5,
                      target_transform: str | None = None, seed: int = 0) -> GroupPredictions:
    """Steps 1-4 of :func:`linco_from_data`: every prediction matrix, before any dispersion."""
    task = check_task(task)
    if model is None:
        model = "ridge" if task == "regression" else "logistic"
    # validate model / task / transform up front (fit_group_models checks them again)
    _, _, kind = resolve_model(model, task)
    resolve_target_transform(target_transform, task, kind)
    test_size = check_fraction(test_size, "test_size")
    check_option(baseline, "baseline", ("random_split", None))
    n_repeats = check_int(n_repeats, "n_repeats", min_value=1)
    seed = check_seed(seed)
    X = as_features(X)
    n = len(X)
    groups = as_group_labels(groups, n)
    y = as_targets(y, n, task)  # every case, the held-out ones included
    labels, inverse, counts = index_groups(groups, min_cases=3,
                                           why="cases (≥ 1 for evaluation, ≥ 2 for training)")
    split_ss, baseline_ss, model_ss = np.random.SeedSequence(seed).spawn(3)
    model_seeds = [int(s) for s in model_ss.generate_state(1 + n_repeats)]

    # 2. per group, hold out round(test_size * n_g) cases (≥ 1 drawn, ≥ 2 left); pool them in group order
    split_rng = np.random.default_rng(split_ss)
    eval_parts, train_parts = [], []
    for k in range(labels.size):
        idx = np.flatnonzero(inverse == k)
        n_test = min(max(_round_half_up(test_size * idx.size), 1), idx.size - 2)
        drawn = np.zeros(idx.size, dtype=bool)
        drawn[split_rng.choice(idx.size, size=n_test, replace=False)] = True
        eval_parts.append(idx[drawn])
        train_parts.append(idx[~drawn])
    eval_index = np.concatenate(eval_parts)
    train_index = np.concatenate(train_parts)
    train_sizes = [int(p.size) for p in train_parts]
    X_eval = take_rows(X, eval_index)
    fit = dict(model=model, task=task, target_transform=target_transform)

    # 3. the real group models
    models = fit_group_models(take_rows(X, train_index), y[train_index],
                              groups[train_index], seed=model_seeds[0], **fit)
    raw = models.predict(X_eval)

    # 4. random splits of the pooled training cases into pieces of the real sizes
    baselines = []
    if baseline == "random_split":
        base_rng = np.random.default_rng(baseline_ss)
        pseudo = np.repeat(np.arange(labels.size), train_sizes)
        for r in range(n_repeats):
            perm = base_rng.permutation(train_index)
            b_models = fit_group_models(take_rows(X, perm), y[perm], pseudo,
                                        seed=model_seeds[1 + r], **fit)
            baselines.append(b_models.predict(X_eval))
    return GroupPredictions(raw=raw, baselines=baselines, groups=models.groups, group_train_sizes=train_sizes,
                            eval_index=eval_index, task=task)


def report_from_predictions(preds: GroupPredictions, *, dispersion: str | Callable | None = None,
                            baseline_mode: str = "subtract", ci_level: float = 0.95) -> LincoReport:
    """Step 5 of :func:`linco_from_data` for one dispersion."""
    dispersion = resolve_dispersion(dispersion, preds.task)
    check_option(baseline_mode, "baseline_mode", ("subtract", "ratio"))
    ci_level = check_fraction(ci_level, "ci_level")

    def score(P: np.ndarray, name: str):
        matrix = as_prediction_matrix(P, name, preds.task)
        per_case = per_case_values(matrix, task=preds.task, dispersion=dispersion, name=name,
                                   labels=P if callable(dispersion) and preds.task == "classification" else None)
        mean, n_skipped = mean_of_included(per_case, "raise", name)
        return mean, per_case, n_skipped

    raw, per_case, n_skipped = score(preds.raw, "group-model predictions")
    baseline_values = [score(B, f"baseline repeat {r}")[0] for r, B in enumerate(preds.baselines)]
    value, mean, lo, hi = combine_with_baseline(raw, baseline_values, baseline_mode, ci_level)
    return LincoReport(
        value=float(value), raw=raw, baseline=mean, baseline_values=baseline_values,
        dispersion=dispersion_name(dispersion), task=preds.task, groups=list(preds.groups),
        group_train_sizes=list(preds.group_train_sizes), n_eval=int(preds.eval_index.size), per_case=per_case,
        n_skipped=n_skipped, baseline_mode=baseline_mode if baseline_values else None,
        ci_low=lo, ci_high=hi, ci_level=ci_level,
    )


def linco_from_data(X: Any, y: Any, groups: Any, *, task: str = "regression", model: Any = None,
                    dispersion: str | Callable | None = None, test_size: float = 0.2,
                    baseline: str | None = "random_split", baseline_mode: str = "subtract", n_repeats: int = 5,
                    target_transform: str | None = None, seed: int = 0, ci_level: float = 0.95) -> LincoReport:
    """LInCo end to end: one model per group, judged on shared held-out cases.

    1. ``SeedSequence(seed)`` is split into streams for the split, the baseline and the models.
    2. In each group, round(``test_size`` · n_g) cases (half up; ≥ 1 drawn, ≥ 2 left) are
       held out; pooled in group order they form the shared evaluation set E.
    3. One model per group is fitted on the rest (:func:`reference_models.fit_group_models`),
       and raw = ``linco(models.predict(X[E]))``.
    4. Baseline (``baseline="random_split"``), for r = 1..``n_repeats``: the pooled training
       cases are permuted and cut into K pieces of the real group sizes; models fitted on
       the pieces predict E and give LInCo(B_r).
    5. value = raw − mean_r LInCo(B_r) (``"subtract"``) or raw / mean (``"ratio"``), with an
       interval from the spread of the B_r (see :class:`LincoReport`).

    Parameters
    ----------
    X : array-like (n, d), a 1-D column of texts, or a DataFrame
        Texts need a text model, e.g. ``model=reference_models.make_text_model(task)``.
    y : array-like (n,)
        Prison terms (regression) or charge labels (classification).
    groups : array-like (n,)
        Group of each case; ≥ 2 groups, each with ≥ 3 cases.
    task : {"regression", "classification"}
    model : None, "ridge", "logistic", estimator or callable ``model(seed)``
        None picks ``"ridge"`` for regression and ``"logistic"`` for classification.
    dispersion : str or callable, optional
        As in :func:`metrics.linco`.
    test_size : float in (0, 1)
        Fraction held out within each group.
    baseline : {"random_split", None}
    baseline_mode : {"subtract", "ratio"}
    n_repeats : int
        Random splits averaged for the baseline (≥ 2 for an interval).
    target_transform : {None, "log1p", "none"}
        See :func:`reference_models.fit_group_models` (None: log1p for the built-in ridge).
    seed : int
        The same seed gives the same report, bit for bit.
    ci_level : float
        Level of the interval.

    Returns
    -------
    LincoReport
    """
    resolve_dispersion(dispersion, check_task(task))  # fail before any model is fitted
    check_option(baseline_mode, "baseline_mode", ("subtract", "ratio"))
    check_fraction(ci_level, "ci_level")
    preds = group_predictions(X, y, groups, task=task, model=model, test_size=test_size, baseline=baseline,
                              n_repeats=n_repeats, target_transform=target_transform, seed=seed)
    return report_from_predictions(preds, dispersion=dispersion, baseline_mode=baseline_mode, ci_level=ci_level)


def linco_synthetic_experiment(levels: Sequence[float] = (0.0, 0.15, 0.3, 0.45), seeds: Sequence[int] = (0, 1, 2),
                               *, task: str = "regression", dispersions: Sequence[str] | None = None,
                               n_repeats: int = 5, **synthetic_options: Any):
    """The synthetic validation: corrected LInCo against the injected bias level.

    For every seed and level, generates :func:`make_linco_synthetic` cases (generator
    and split share the seed) and runs :func:`reference_models.linco_from_data` with its
    defaults (``target_transform="log1p"`` for regression). Returns a DataFrame with
    columns ``seed, level, dispersion, value, raw, baseline, ci_low, ci_high``.
    """
    import pandas as pd

    check_option(task, "task", ("regression", "classification"))
    if dispersions is None:
        dispersions = LINCO_REGRESSION_DISPERSIONS if task == "regression" else LINCO_CLASSIFICATION_DISPERSIONS
    extra: dict[str, Any] = {"target_transform": "log1p"} if task == "regression" else {}
    rows = []
    for seed in seeds:
        for level in levels:
            X, y, groups = make_linco_synthetic(level, task=task, seed=seed, **synthetic_options)
            for dispersion in dispersions:
                rep = linco_from_data(X, y, groups, task=task, dispersion=dispersion, n_repeats=n_repeats,
                                      seed=seed, **extra)
                rows.append({"seed": seed, "level": float(level), "dispersion": dispersion, "value": rep.value,
                             "raw": rep.raw, "baseline": rep.baseline, "ci_low": rep.ci_low,
                             "ci_high": rep.ci_high})
    return pd.DataFrame(rows)
