"""One judgment-prediction model per group, for LInCo (see :func:`metrics.linco`).

Each group's model stands in for "the judges of that group": it is trained on that
group's cases only, and all K models then judge the same cases. The built-in models
are scikit-learn's own ``Ridge`` and ``LogisticRegression``; text facts go through a
``TfidfVectorizer`` pipeline (:func:`make_text_model`); any estimator with
``fit``/``predict`` works, and a torch module through :class:`TorchEstimator`.

:func:`make_linco_synthetic` generates cases with an injected group-dependent label
bias (the paper's validation design as described in ``docs/linco.md``; details ours),
and :func:`reference_models.linco_synthetic_experiment` runs that validation.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, check_int, check_option, check_positive, to_numpy

__all__ = [
    "GroupModels",
    "TorchEstimator",
    "fit_group_models",
    "linco_sample_path",
    "make_linco_synthetic",
    "make_text_model",
]

_BUILTIN_TASK = {"ridge": "regression", "logistic": "classification"}


# ----------------------------------------------------------------------------- inputs
def _is_frame(x: Any) -> bool:
    return hasattr(x, "iloc") and hasattr(x, "columns")


def as_features(X: Any, name: str = "X") -> Any:
    """Numeric 2-D features (float64), a 1-D column of texts, or a DataFrame passed through."""
    if _is_frame(X):
        if len(X) == 0:
            raise InputError(f"{name} must not be empty; got 0 rows")
        return X
    if hasattr(X, "iloc"):  # pandas Series
        X = X.to_numpy()
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype.kind in "USO"):
        arr = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
        if arr.ndim == 1 and arr.size and all(isinstance(v, str) for v in arr):
            return arr.astype(str)
    arr = to_numpy(X, name)
    if arr.ndim == 1:
        raise InputError(f"{name} must be a 2-D array (cases × features) or a 1-D column of texts; "
                         f"got a 1-D array of dtype {arr.dtype}")
    return as_float_array(arr, name, ndim=2, what="features")


def _is_text(X: Any) -> bool:
    return isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind in "US"


def take_rows(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of an array or a DataFrame."""
    return X.iloc[idx] if _is_frame(X) else X[idx]


def as_group_labels(groups: Any, n: int, name: str = "groups") -> np.ndarray:
    """1-D group labels (numbers or strings) of length ``n``."""
    if hasattr(groups, "to_numpy") and not hasattr(groups, "detach"):
        arr = groups.to_numpy()
    elif hasattr(groups, "detach"):
        arr = to_numpy(groups, name)
    else:
        arr = np.asarray(groups)
    if arr.dtype.kind == "O":
        if all(isinstance(v, str) for v in arr.ravel()):
            arr = arr.astype(str)
        else:
            arr = to_numpy(arr, name)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D (one group label per case); got shape {arr.shape}")
    if arr.shape[0] != n:
        raise InputError(f"{name} must have one label per case: X has {n} rows, {name} has {arr.shape[0]}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputError(f"{name} must hold finite labels; element {i} is {arr[i]!r}")
    return arr


def index_groups(groups: np.ndarray, *, min_cases: int, why: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique`` of validated group labels: (labels, inverse, counts).

    Raises unless there are ≥ 2 groups and every group has ≥ ``min_cases`` cases (``why`` says
    what they are needed for, in the message).
    """
    labels, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if labels.size < 2:
        found = f"only {_py(labels[0])!r}" if labels.size else "none"
        raise InputError(f"groups must contain at least 2 distinct groups; found {found}")
    small = np.flatnonzero(counts < min_cases)
    if small.size:
        raise InputError(f"groups: every group needs at least {min_cases} {why}; group {_py(labels[small[0]])!r} "
                         f"has {counts[small[0]]}")
    return labels, inverse, counts


def as_targets(y: Any, n: int, task: str, name: str = "y") -> np.ndarray:
    """Regression: finite float64; classification: integer or string labels."""
    if task == "regression":
        arr = as_float_array(y, name, ndim=1, what="targets")
    else:
        arr = as_group_labels(y, n, name)  # same rules: numbers or strings, 1-D
        if arr.dtype.kind == "f":
            if (arr != np.round(arr)).any():
                i = int(np.flatnonzero(arr != np.round(arr))[0])
                raise InputError(f"{name} must hold class labels for task='classification'; element {i} is {arr[i]!r}")
            arr = arr.astype(np.int64)
        elif arr.dtype.kind == "b":
            arr = arr.astype(np.int64)
    if arr.shape[0] != n:
        raise InputError(f"{name} must have one value per case: X has {n} rows, {name} has {arr.shape[0]}")
    return arr


# ----------------------------------------------------------------------------- models
def _builtin_factory(name: str, alpha: float, C: float) -> Callable[[int], Any]:
    if name == "ridge":
        from sklearn.linear_model import Ridge

        return lambda seed: Ridge(alpha=alpha)  # deterministic; the intercept is not penalised
    from sklearn.linear_model import LogisticRegression

    return lambda seed: LogisticRegression(C=C, max_iter=1000)  # lbfgs, multinomial


def _estimator_factory(model: Any) -> Callable[[int], Any]:
    """An unfitted estimator instance → a factory of seeded clones."""
    from sklearn.base import clone

    def make(seed: int):
        est = clone(model)
        if hasattr(est, "get_params") and "random_state" in est.get_params():
            est.set_params(random_state=seed)
        return est

    return make


def make_text_model(task: str = "regression", *, alpha: float = 1.0, C: float = 1.0,
                    ngram_range: tuple[int, int] = (1, 2), min_df: int = 1,
                    max_features: int | None = 20000) -> Callable[[int], Any]:
    """A callable ``model(seed)`` building ``TfidfVectorizer → Ridge`` or ``→ LogisticRegression``.

    Pass it as ``model=`` to :func:`fit_group_models` / :func:`reference_models.linco_from_data`
    with X a 1-D column of fact descriptions. Every group fits its own vocabulary.
    """
    check_option(task, "task", ("regression", "classification"))
    check_positive(alpha, "alpha")
    check_positive(C, "C")

    def text_model(seed: int):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import Pipeline

        head = Ridge(alpha=alpha) if task == "regression" else LogisticRegression(C=C, max_iter=1000)
        return Pipeline([("tfidf", TfidfVectorizer(ngram_range=ngram_range, min_df=min_df,
                                                   max_features=max_features, sublinear_tf=True)),
                         ("model", head)])

    text_model.task = task  # type: ignore[attr-defined]
    return text_model


@dataclasses.dataclass
class GroupModels:
    """K fitted group models; ``predict(X)`` gives the (K, N) matrix that LInCo scores.

    Attributes
    ----------
    groups : list
        Sorted unique group labels; row k of ``predict`` is group ``groups[k]``.
    models : list
        The fitted estimators, one per group.
    task : str
        ``"regression"`` or ``"classification"``.
    target_transform : str
        ``"log1p"`` (fitted on log1p(y), predictions mapped back with expm1) or ``"none"``.
    group_sizes : list of int
        Training cases per group.
    seeds : list of int
        The seed each group's model was built with.
    """

    groups: list[Any]
    models: list[Any]
    task: str
    target_transform: str
    group_sizes: list[int]
    seeds: list[int]

    def predict(self, X: Any) -> np.ndarray:
        """(K, N) predictions of every group model on the same N cases."""
        X = as_features(X)
        rows = []
        for g, est in zip(self.groups, self.models):
            out = np.asarray(est.predict(X))
            if out.ndim == 2 and out.shape[1] == 1:
                out = out[:, 0]
            if out.ndim != 1 or out.shape[0] != len(X):
                raise InputError(f"model of group {g!r}: predict must return one value per case "
                                 f"({len(X)}); got shape {out.shape}")
            if self.task == "regression":
                out = out.astype(np.float64)
                if self.target_transform == "log1p":
                    out = np.expm1(out)
            rows.append(out)
        return np.stack(rows)


def group_seeds(seed: int, n_groups: int) -> list[int]:
    """The seed of group k: ``SeedSequence(seed).spawn(K)[k].generate_state(1)[0]``."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n_groups)]


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}")
    return int(seed)


def resolve_model(model: Any, task: str | None, *, alpha: float = 1.0, C: float = 1.0
                  ) -> tuple[Callable[[int], Any], str, str]:
    """(factory, task, kind) where kind is "builtin" or "custom"."""
    if isinstance(model, str):
        check_option(model, "model", tuple(_BUILTIN_TASK))
        implied = _BUILTIN_TASK[model]
        if task is not None and task != implied:
            raise InputError(f"model={model!r} is for task={implied!r}; got task={task!r}")
        check_positive(alpha, "alpha")
        check_positive(C, "C")
        return _builtin_factory(model, alpha, C), implied, "builtin"
    if task is None:
        task = getattr(model, "task", None)
    if task is None:
        raise InputError("task must be given ('regression' or 'classification') when model is a callable "
                         "or an estimator")
    check_option(task, "task", ("regression", "classification"))
    if hasattr(model, "fit") and hasattr(model, "predict"):
        return _estimator_factory(model), task, "custom"
    if callable(model):
        return model, task, "custom"
    raise InputError("model must be 'ridge', 'logistic', an estimator with fit/predict, or a callable "
                     f"model(seed) -> estimator; got {model!r}")


def resolve_target_transform(target_transform: Any, task: str, kind: str) -> str:
    if target_transform is None:
        return "log1p" if (task == "regression" and kind == "builtin") else "none"
    check_option(target_transform, "target_transform", ("log1p", "none"))
    if target_transform == "log1p" and task != "regression":
        raise InputError("target_transform='log1p' applies to regression only; got task='classification'")
    return target_transform


def fit_group_models(X: Any, y: Any, groups: Any, *, model: Any = "ridge", task: str | None = None,
                     seed: int = 0, target_transform: str | None = None, alpha: float = 1.0,
                     C: float = 1.0) -> GroupModels:
    """Fit one model per group on that group's cases only.

    Parameters
    ----------
    X : array-like (n, d), a 1-D column of texts, or a DataFrame
        Case features. Texts need a model that takes them (:func:`make_text_model`).
    y : array-like (n,)
        Targets: prison terms (regression) or charge labels (classification).
    groups : array-like (n,)
        Group label of each case (numbers or strings); K = number of unique labels ≥ 2,
        each with ≥ 2 cases. Rows of the prediction matrix follow the sorted labels.
    model : "ridge", "logistic", estimator, or callable ``model(seed) -> estimator``
        ``"ridge"``: ``sklearn.linear_model.Ridge(alpha=alpha)``; ``"logistic"``:
        ``LogisticRegression(C=C, max_iter=1000)`` (lbfgs, multinomial). An unfitted
        estimator is cloned per group (``random_state`` set when it has one).
    task : str, optional
        Implied by ``"ridge"`` / ``"logistic"``; required otherwise.
    seed : int
        Group k's model gets ``SeedSequence(seed).spawn(K)[k].generate_state(1)[0]``.
    target_transform : {None, "log1p", "none"}
        ``"log1p"`` fits on log1p(y) and predicts with expm1 (regression only). ``None``:
        ``"log1p"`` for the built-in ridge, ``"none"`` otherwise.
    alpha, C : float
        Regularisation of the built-in ridge and logistic models.

    Returns
    -------
    GroupModels
    """
    factory, task, kind = resolve_model(model, task, alpha=alpha, C=C)
    transform = resolve_target_transform(target_transform, task, kind)
    seed = check_seed(seed)
    X = as_features(X)
    if kind == "builtin" and (_is_text(X) or _is_frame(X)):
        what = "texts" if _is_text(X) else "a DataFrame"
        raise InputError(f"X holds {what}; the built-in {model!r} model needs a numeric 2-D array. "
                         "Pass model=make_text_model(task) for fact descriptions")
    n = len(X)
    y = as_targets(y, n, task)
    groups = as_group_labels(groups, n)
    labels, inverse, counts = index_groups(groups, min_cases=2, why="training cases")
    if transform == "log1p":
        if (y <= -1).any():
            i = int(np.flatnonzero(y <= -1)[0])
            raise InputError(f"y must be > -1 for target_transform='log1p'; element {i} is {y[i]!r}")
        y_fit = np.log1p(y)
    else:
        y_fit = y
    seeds = group_seeds(seed, labels.size)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    fitted = []
    for k, g in enumerate(_py(v) for v in labels):
        idx = order[bounds[k]:bounds[k + 1]]
        est = factory(seeds[k])
        if not (hasattr(est, "fit") and hasattr(est, "predict")):
            raise InputError(f"model(seed) must return an estimator with fit and predict; got {est!r}")
        try:
            est.fit(take_rows(X, idx), y_fit[idx])
        except InputError:
            raise
        except ValueError as exc:  # scikit-learn's message for too few cases / a single class
            raise InputError(f"model for group {g!r} could not be fitted on its {idx.size} cases: {exc}") from None
        fitted.append(est)
    return GroupModels(groups=[_py(g) for g in labels], models=fitted, task=task, target_transform=transform,
                       group_sizes=[int(c) for c in counts], seeds=seeds)


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# ----------------------------------------------------------------------------- torch adapter
class TorchEstimator:
    """scikit-learn-style adapter: trains a torch module with Adam on full-batch data.

    Parameters
    ----------
    module_factory : callable ``(n_features, n_outputs) -> torch.nn.Module``
        Builds the network; regression uses 1 output and mean squared error,
        classification one logit per class seen in training and cross-entropy.
    task : {"regression", "classification"}
    epochs, lr, weight_decay : training settings (full-batch Adam).
    random_state : int
        Seeds ``torch.manual_seed`` for the initial weights.

    Use it as ``model=TorchEstimator(factory, task="regression")``; each group gets a
    clone with its own ``random_state``.
    """

    def __init__(self, module_factory: Callable[[int, int], Any], task: str = "regression", *,
                 epochs: int = 200, lr: float = 0.01, weight_decay: float = 0.0, random_state: int = 0):
        self.module_factory = module_factory
        self.task = task
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("module_factory", "task", "epochs", "lr", "weight_decay",
                                              "random_state")}

    def set_params(self, **params: Any) -> TorchEstimator:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X: Any, y: Any) -> TorchEstimator:
        import torch

        check_option(self.task, "task", ("regression", "classification"))
        check_int(self.epochs, "epochs", min_value=1)
        Xt = torch.as_tensor(as_float_array(X, "X", ndim=2, what="features"))
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(int(self.random_state))
        try:
            if self.task == "regression":
                target = torch.as_tensor(np.asarray(y, dtype=np.float64)).reshape(-1, 1)
                self.classes_ = None
                n_out = 1
                loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = torch.nn.functional.mse_loss
            else:
                self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
                target = torch.as_tensor(codes, dtype=torch.long)
                n_out = len(self.classes_)
                loss_fn = torch.nn.functional.cross_entropy
            self.module_ = self.module_factory(Xt.shape[1], n_out).to(torch.float64)
        finally:
            torch.random.set_rng_state(gen_state)
        opt = torch.optim.Adam(self.module_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self.module_.train()
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = loss_fn(self.module_(Xt), target)
            loss.backward()
            opt.step()
        return self

    def predict(self, X: Any) -> np.ndarray:
        import torch

        Xt = torch.as_tensor(as_float_array(X, "X", ndim=2, what="features"))
        self.module_.eval()
        with torch.no_grad():
            out = self.module_(Xt).numpy()
        if self.task == "regression":
            return out[:, 0]
        assert self.classes_ is not None  # set by fit() for classification
        return self.classes_[out.argmax(axis=1)]


# ----------------------------------------------------------------------------- synthetic data
def make_linco_synthetic(level: float, *, task: str = "regression", n_groups: int = 4, n_per_group: int = 300,
                         n_features: int = 5, n_classes: int = 4, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generated cases with a group-dependent label bias of strength ``level``.

    Every random quantity is drawn before ``level`` is applied, so one seed gives the
    same cases at every level and only the injected bias changes.

    - Regression: X ~ N(0, I_d), w ~ N(0, 0.5² I), y₀ = exp(3 + x·w + 0.25 ε) months;
      group g multiplies y₀ by (1 + b_g · level), b evenly spaced on [−1, 1];
      ``level`` in [0, 1) keeps terms positive.
    - Classification: y₀ = argmax_c (x·W_c + Gumbel noise), W ~ N(0, 1); a case of
      group g takes charge g mod C when its pre-drawn u ~ U(0, 1) is < ``level``
      (``level`` in [0, 1]).

    Returns
    -------
    X : (n_groups · n_per_group, n_features) float64
    y : (n,) float64 terms or int64 charges
    groups : (n,) int64, equal-size contiguous blocks 0..n_groups−1
    """
    check_option(task, "task", ("regression", "classification"))
    n_groups = check_int(n_groups, "n_groups", min_value=2)
    n_per_group = check_int(n_per_group, "n_per_group", min_value=3)
    n_features = check_int(n_features, "n_features", min_value=1)
    n_classes = check_int(n_classes, "n_classes", min_value=2)
    seed = check_seed(seed)
    level = float(as_float_array(level, "level", ndim=0))
    upper_ok = level < 1.0 if task == "regression" else level <= 1.0
    if level < 0 or not upper_ok:
        rng_text = "[0, 1)" if task == "regression" else "[0, 1]"
        raise InputError(f"level must lie in {rng_text} for task={task!r}; got {level}")
    n = n_groups * n_per_group
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    groups = np.repeat(np.arange(n_groups, dtype=np.int64), n_per_group)
    if task == "regression":
        w = rng.normal(0.0, 0.5, n_features)
        eps = rng.standard_normal(n)
        y0 = np.exp(3.0 + X @ w + 0.25 * eps)
        b = np.linspace(-1.0, 1.0, n_groups)
        return X, y0 * (1.0 + b[groups] * level), groups
    W = rng.standard_normal((n_features, n_classes))
    gumbel = rng.gumbel(size=(n, n_classes))
    u = rng.uniform(size=n)
    y0 = np.argmax(X @ W + gumbel, axis=1).astype(np.int64)
    return X, np.where(u < level, groups % n_classes, y0), groups


def linco_sample_path() -> Path:
    """Path of the bundled LInCo sample CSV (``reference_models/data/linco_sample.csv``)."""
    from reference_models.data import sample_path

    return sample_path("linco_sample.csv")
