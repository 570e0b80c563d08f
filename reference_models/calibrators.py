"""Post-hoc calibrators: fit on held-out predictions, then transform.

Every calibrator follows the scikit-learn pattern: ``fit(...)`` returns ``self``,
``transform(...)`` returns new arrays, inputs are never modified, and bad input raises
:class:`metrics.InputError`.

- :class:`TemperatureScaling` (Guo et al. 2017): one scalar T minimising the NLL,
  solved exactly (bracket + safeguarded Newton) instead of LBFGS.
- :class:`HistogramBinning` (Zadrozny & Elkan 2001): each bin of the package's binning maps
  to its mean outcome.
- :class:`PlattScaling` (Platt 1999; Lin, Lin & Weng 2007): σ(a·logit(s) + b) with
  smoothed targets, solved by Newton with backtracking.
- :class:`IsotonicCalibration` (Zadrozny & Elkan 2002): scikit-learn's
  ``IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)``.
- :class:`CorrectnessAwareCalibrator` (Liu et al., arXiv 2404.13016): a per-sample
  temperature predicted from the softmax of transformed views (see
  :mod:`reference_models._correctness_aware`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from metrics.calibration import assign_bins, bin_edges
from metrics.core.errors import InputError
from metrics.core.validation import (
    as_float_array,
    as_label_array,
    as_probabilities,
    check_bool,
    check_int,
    check_option,
    check_same_length,
)
from reference_models._correctness_aware import CorrectnessAwareCalibrator

__all__ = [
    "TemperatureScaling",
    "HistogramBinning",
    "PlattScaling",
    "IsotonicCalibration",
    "CorrectnessAwareCalibrator",
]

_CHUNK_ELEMENTS = 1 << 22  # rows × classes per chunk in the temperature solver (~32 MB float64)


def _not_fitted(obj: Any, attr: str) -> None:
    if not hasattr(obj, attr):
        raise InputError(f"{type(obj).__name__} is not fitted; call fit(...) before transform(...)")


# --------------------------------------------------------------------------- inputs
def _scores_and_outcomes(probs: Any, labels: Any, scope: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(score, outcome, K) for ``top_label`` / ``positive_class``."""
    p = as_probabilities(probs, "probs")
    k = 2 if p.ndim == 1 else p.shape[1]
    y = as_label_array(labels, "labels", n_classes=max(k, 2))
    check_same_length(probs=p, labels=y)
    return _scores(p, scope), _outcomes(p, y, scope), k


def _scores(p: np.ndarray, scope: str) -> np.ndarray:
    if p.ndim == 1:
        return p.copy()
    if scope == "positive_class":
        if p.shape[1] != 2:
            raise InputError(f"probs must have 2 columns for scope='positive_class'; got {p.shape[1]}")
        return p[:, 1].copy()
    if p.shape[1] == 1:
        return p[:, 0].copy()
    return p.max(axis=1)


def _outcomes(p: np.ndarray, y: np.ndarray, scope: str) -> np.ndarray:
    if p.ndim == 1:
        if scope == "positive_class":
            return (y == 1).astype(np.float64)
        # top label of [1-p, p]: class 1 when p > 1/2 (first argmax on the tie p = 1/2)
        return ((p > 0.5).astype(np.int64) == y).astype(np.float64)
    if scope == "positive_class":
        return (y == 1).astype(np.float64)
    return (p.argmax(axis=1) == y).astype(np.float64)


def _transform_scores(probs: Any, scope: str, n_columns: int | None = None) -> np.ndarray:
    p = as_probabilities(probs, "probs")
    if n_columns is not None and p.ndim == 2 and p.shape[1] != n_columns:
        raise InputError(f"probs must have {n_columns} columns as at fit time; got {p.shape[1]}")
    return _scores(p, scope)


# --------------------------------------------------------------------------- temperature
def _as_logits(logits: Any) -> np.ndarray:
    z = as_float_array(logits, "logits", ndim=(1, 2), what="logits")
    if z.ndim == 1:
        z = np.stack([np.zeros_like(z), z], axis=1)  # an (N,) logit z means [0, z]
    if z.shape[1] < 2:
        raise InputError(f"logits must have at least 2 columns; got shape {z.shape}")
    return z


def _temperature_gradient(z: np.ndarray, zy: np.ndarray, beta: float) -> tuple[float, float]:
    """g(β) = mean(E_softmax(βz)[z] − z_y) and g'(β) = mean(Var_softmax(βz)[z]), chunked."""
    n, k = z.shape
    rows = max(1, _CHUNK_ELEMENTS // k)
    g = 0.0
    h = 0.0
    for start in range(0, n, rows):
        zc = z[start:start + rows]
        a = beta * zc
        a -= a.max(axis=1, keepdims=True)
        w = np.exp(a)
        w /= w.sum(axis=1, keepdims=True)
        mean = np.einsum("ij,ij->i", w, zc)
        centred = zc - mean[:, None]
        var = np.einsum("ij,ij->i", w, centred * centred)
        g += float((mean - zy[start:start + rows]).sum())
        h += float(var.sum())
    return g / n, h / n


class TemperatureScaling:
    """Temperature scaling (Guo, Pleiss, Sun & Weinberger, ICML 2017).

    Fits β = 1/T minimising the mean negative log-likelihood

        L(β) = mean_i [ logsumexp(β z_i) − β z_{i, y_i} ],

    which is convex in β with derivative g(β) = mean_i(E_{softmax(βz_i)}[z] − z_{i,y_i})
    (non-decreasing). The root of g is bracketed in [1e-4, 1e4] and found by a safeguarded
    Newton iteration (bisection whenever a Newton step leaves the bracket) in float64,
    until |Δβ| ≤ 1e-12 β. If g has no root in the bracket, the nearer bound is used and a
    ``UserWarning`` is issued (separable data drive T → 0). If g vanishes on the whole
    bracket (every logit row constant) the NLL is flat and T = 1.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature T = 1/β.
    """

    BETA_BOUNDS = (1e-4, 1e4)

    def fit(self, logits: npt.ArrayLike, labels: npt.ArrayLike) -> TemperatureScaling:
        """Fit T on ``logits`` (N,) or (N, K) and integer ``labels``; an (N,) z means [0, z]."""
        z = _as_logits(logits)
        y = as_label_array(labels, "labels", n_classes=z.shape[1])
        check_same_length(logits=z, labels=y)
        zy = z[np.arange(z.shape[0]), y]
        self.temperature_ = 1.0 / self._solve(z, zy)
        self.n_classes_ = z.shape[1]
        return self

    def _solve(self, z: np.ndarray, zy: np.ndarray) -> float:
        lo, hi = self.BETA_BOUNDS
        g_lo, _ = _temperature_gradient(z, zy, lo)
        g_hi, _ = _temperature_gradient(z, zy, hi)
        if g_lo >= 0 and g_hi <= 0:
            return 1.0  # g ≡ 0 on the bracket: flat likelihood
        if g_lo >= 0:
            warnings.warn(f"temperature: the NLL is minimised below β = {lo:g}; using T = {1 / lo:g}",
                          UserWarning, stacklevel=3)
            return lo
        if g_hi <= 0:
            warnings.warn(f"temperature: the NLL is minimised above β = {hi:g} (separable data?); "
                          f"using T = {1 / hi:g}", UserWarning, stacklevel=3)
            return hi
        beta = 1.0
        for _ in range(500):
            g, h = _temperature_gradient(z, zy, beta)
            if g == 0.0:
                return beta
            if g < 0:
                lo = beta
            else:
                hi = beta
            step = g / h if h > 0 else np.inf
            new = beta - step
            if not (lo < new < hi):
                new = 0.5 * (lo + hi)
            if abs(new - beta) <= 1e-12 * beta:
                return new
            beta = new
        return beta  # pragma: no cover - bisection alone converges well before 500 steps

    def transform(self, logits: npt.ArrayLike) -> np.ndarray:
        """softmax(z / T): (N, K) for 2-D logits; σ(z / T) as (N,) for 1-D logits."""
        _not_fitted(self, "temperature_")
        raw = as_float_array(logits, "logits", ndim=(1, 2), what="logits")
        if raw.ndim == 1:
            return _sigmoid(raw / self.temperature_)
        z = _as_logits(raw)
        a = z / self.temperature_
        a = a - a.max(axis=1, keepdims=True)
        e = np.exp(a)
        return e / e.sum(axis=1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


# --------------------------------------------------------------------------- histogram binning
class HistogramBinning:
    """Histogram binning (Zadrozny & Elkan, ICML 2001).

    The scores are cut into the package's bins (``uniform`` k/M edges or tie-safe
    ``quantile`` edges from the fit data; [e_k, e_{k+1}) with the last bin closed). Each bin
    maps to its mean outcome ō_m on the fit data; an empty bin maps to its midpoint.

    Parameters
    ----------
    n_bins : int
        Number of bins M ≥ 1.
    binning : {"uniform", "quantile"}
    scope : {"top_label", "positive_class", "classwise"}
        ``top_label`` and ``positive_class`` return (N,) calibrated scores; ``classwise``
        fits one binner per class and returns (N, K) rows renormalised to sum to 1
        (an all-zero row becomes 1/K).

    Attributes
    ----------
    edges_ : ndarray (M'+1,) or list of K arrays (classwise)
    values_ : ndarray (M',) or list of K arrays (classwise)
    """

    def __init__(self, n_bins: int = 15, binning: str = "uniform", scope: str = "top_label") -> None:
        self.n_bins = check_int(n_bins, "n_bins", min_value=1)
        self.binning = check_option(binning, "binning", ("uniform", "quantile"))
        self.scope = check_option(scope, "scope", ("top_label", "positive_class", "classwise"))

    def _fit_one(self, s: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        edges = bin_edges(s, self.n_bins, self.binning)
        m = edges.size - 1
        idx = assign_bins(s, edges)
        counts = np.bincount(idx, minlength=m)
        sums = np.bincount(idx, weights=o, minlength=m)
        mid = (edges[:-1] + edges[1:]) / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(counts > 0, sums / np.maximum(counts, 1), mid)
        return edges, values

    def fit(self, probs: npt.ArrayLike, labels: npt.ArrayLike) -> HistogramBinning:
        """Fit on probabilities (N,) or (N, K) and integer labels."""
        if self.scope != "classwise":
            s, o, k = _scores_and_outcomes(probs, labels, self.scope)
            self.edges_, self.values_ = self._fit_one(s, o)
            self.n_classes_ = k
            return self
        p = as_probabilities(probs, "probs")
        p2 = np.stack([1.0 - p, p], axis=1) if p.ndim == 1 else p
        y = as_label_array(labels, "labels", n_classes=p2.shape[1])
        check_same_length(probs=p2, labels=y)
        fitted = [self._fit_one(p2[:, c], (y == c).astype(np.float64)) for c in range(p2.shape[1])]
        self.edges_ = [e for e, _ in fitted]  # type: ignore[assignment]
        self.values_ = [v for _, v in fitted]  # type: ignore[assignment]
        self.n_classes_ = p2.shape[1]
        return self

    def transform(self, probs: npt.ArrayLike) -> np.ndarray:
        """Calibrated scores: (N,) for top_label / positive_class, (N, K) for classwise."""
        _not_fitted(self, "values_")
        if self.scope != "classwise":
            s = _transform_scores(probs, self.scope, self.n_classes_)
            return self.values_[assign_bins(s, self.edges_)]
        p = as_probabilities(probs, "probs")
        p2 = np.stack([1.0 - p, p], axis=1) if p.ndim == 1 else p
        if p2.shape[1] != self.n_classes_:
            raise InputError(f"probs must have {self.n_classes_} columns as at fit time; got {p2.shape[1]}")
        out = np.empty(p2.shape, dtype=np.float64)
        for c in range(self.n_classes_):  # one vectorised lookup per class
            out[:, c] = self.values_[c][assign_bins(p2[:, c], self.edges_[c])]
        total = out.sum(axis=1, keepdims=True)
        zero = total[:, 0] == 0
        out[~zero] /= total[~zero]
        out[zero] = 1.0 / self.n_classes_
        return out


# --------------------------------------------------------------------------- Platt scaling
def _logit(s: np.ndarray) -> np.ndarray:
    c = np.clip(s, 1e-12, 1.0 - 1e-12)
    return np.log(c) - np.log1p(-c)


def _platt_objective(theta: np.ndarray, x: np.ndarray, t: np.ndarray) -> float:
    f = theta[0] * x + theta[1]
    return float(np.sum(np.logaddexp(0.0, f) - t * f))


class PlattScaling:
    """Platt scaling (Platt 1999; the Newton method of Lin, Lin & Weng 2007).

    Model q(s) = σ(a·x + b) with x = logit(clip(s, 1e-12, 1 − 1e-12)). (a, b) minimise the
    cross-entropy Σ[log(1 + e^{a x_i + b}) − t_i (a x_i + b)] by Newton's method with a
    backtracking (Armijo) line search, until the step satisfies max|Δ| ≤ 1e-10.
    With ``smooth_targets`` (Platt's rule) the targets are t₊ = (N₊+1)/(N₊+2) for positives
    and t₋ = 1/(N₋+2) for negatives, which keeps the optimum finite on separable data.

    Parameters
    ----------
    smooth_targets : bool
    scope : {"positive_class", "top_label"}
        The score modelled: p₁ (1-D p or the second column of (N, 2)) or max_k p_k
        with outcome "the top label is right".

    Attributes
    ----------
    slope_, intercept_ : float
        a and b.
    """

    TOL = 1e-10
    MAX_ITER = 200

    def __init__(self, smooth_targets: bool = True, scope: str = "positive_class") -> None:
        self.smooth_targets = check_bool(smooth_targets, "smooth_targets")
        self.scope = check_option(scope, "scope", ("positive_class", "top_label"))

    def fit(self, probs: npt.ArrayLike, labels: npt.ArrayLike) -> PlattScaling:
        s, o, k = _scores_and_outcomes(probs, labels, self.scope)
        x = _logit(s)
        pos = o > 0.5
        n_pos = int(pos.sum())
        n_neg = o.size - n_pos
        if self.smooth_targets:
            t = np.where(pos, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
        else:
            t = o.astype(np.float64)
        theta = np.array([0.0, np.log((n_pos + 1.0) / (n_neg + 1.0))])
        loss = _platt_objective(theta, x, t)
        converged = False
        for _ in range(self.MAX_ITER):
            f = theta[0] * x + theta[1]
            q = _sigmoid(f)
            r = q - t
            grad = np.array([np.dot(r, x), r.sum()])
            w = q * (1.0 - q)
            hess = np.array([[np.dot(w, x * x), np.dot(w, x)], [np.dot(w, x), w.sum()]])
            step = -np.linalg.lstsq(hess, grad, rcond=None)[0]  # min-norm step if H is singular
            slope = float(np.dot(grad, step))
            # Armijo backtracking; the slack of a few ulps of the loss lets the last Newton
            # steps (whose decrease is below rounding) through, so (a, b) converge fully.
            slack = 1e-13 * max(1.0, abs(loss))
            alpha = 1.0
            while True:
                cand = theta + alpha * step
                new_loss = _platt_objective(cand, x, t)
                if new_loss <= loss + 1e-4 * alpha * slope + slack:
                    break
                alpha *= 0.5
                if alpha < 1e-10:  # no decrease possible along the Newton direction
                    cand, new_loss = theta, loss
                    break
            delta = cand - theta
            theta, loss = cand, new_loss
            if np.max(np.abs(delta)) <= self.TOL:
                converged = True
                break
        if not converged:
            warnings.warn("PlattScaling: Newton did not converge in "
                          f"{self.MAX_ITER} iterations (separable data without smooth_targets?)",
                          UserWarning, stacklevel=2)
        self.slope_, self.intercept_ = float(theta[0]), float(theta[1])
        self.n_classes_ = k
        return self

    def transform(self, probs: npt.ArrayLike) -> np.ndarray:
        """σ(a·logit(s) + b) as (N,)."""
        _not_fitted(self, "slope_")
        s = _transform_scores(probs, self.scope, self.n_classes_)
        return _sigmoid(self.slope_ * _logit(s) + self.intercept_)


# --------------------------------------------------------------------------- isotonic
class IsotonicCalibration:
    """Isotonic-regression calibration (Zadrozny & Elkan, KDD 2002).

    Exactly scikit-learn's ``IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)``
    fitted on (score, outcome): the pool-adjacent-violators fit, linear interpolation
    between its thresholds, and clipping outside the fitted range.

    Parameters
    ----------
    scope : {"positive_class", "top_label"}

    Attributes
    ----------
    regressor_ : sklearn.isotonic.IsotonicRegression
    """

    def __init__(self, scope: str = "positive_class") -> None:
        self.scope = check_option(scope, "scope", ("positive_class", "top_label"))

    def fit(self, probs: npt.ArrayLike, labels: npt.ArrayLike) -> IsotonicCalibration:
        from sklearn.isotonic import IsotonicRegression

        s, o, k = _scores_and_outcomes(probs, labels, self.scope)
        self.regressor_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, o)
        self.n_classes_ = k
        return self

    def transform(self, probs: npt.ArrayLike) -> np.ndarray:
        """The isotonic map of the scores, (N,)."""
        _not_fitted(self, "regressor_")
        s = _transform_scores(probs, self.scope, self.n_classes_)
        return np.asarray(self.regressor_.predict(s), dtype=np.float64)
