"""OPIS and ε-OPIS: how unevenly one distance threshold treats the classes.

Zhang, Xu, Tang, Fang, Wu, Tighe & Xing, "Threshold-Consistent Margin Loss for
Open-World Deep Metric Learning", ICLR 2024 (arXiv 2307.04047). Conventions that
the paper does not fix are parameters (see ``docs/opis.md``).

For each eligible class c (n_c ≥ ``min_class_size``) and threshold θ over the
unordered pairs a < b of normalised embeddings,

    TPR_c(θ) = #{positive pairs of c with d ≤ θ} / |P_c|,
    TNR_c(θ) = #{negative pairs touching c with d > θ} / |N_c|,  |N_c| = n_c (N − n_c),
    U_c(θ)   = (1 + β²)·TPR·TNR / (β²·TPR + TNR)   (0 when the denominator is 0),

on the grid θ_j = linspace(d_min, d_max, n) where (d_min, d_max) are the
``far_range`` quantiles of all negative-pair distances. Then

    OPIS    = mean_j  (1/T) Σ_c (U_c(θ_j) − Ū(θ_j))²,
    ε-OPIS  = mean_j  (mean of the top-k U_c(θ_j) − mean of the bottom-k)²,  k = max(1, ⌊εT⌋).

The pairs are streamed in blocks (:mod:`metrics.threshold_consistency._pairs`); the N×N matrix is never
built.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from metrics.core.errors import InputError
from metrics.core.report import Report
from metrics.threshold_consistency import _pairs
from metrics.threshold_consistency._inputs import (
    as_embeddings_and_labels,
    check_epsilon,
    check_opis_params,
    check_rank,
    resolve_device,
)

__all__ = ["opis", "epsilon_opis", "opis_report", "OPISReport"]

APPROX_BINS = 4096


# ----------------------------------------------------------------------------------------
# numpy-identical quantiles from exact order statistics


def quantile_positions(m: int, q: float, method: str) -> tuple[int, int, float | None]:
    """0-based sorted positions and weight that ``np.quantile(v, q, method=method)`` uses.

    Mirrors numpy's arithmetic (``(n - 1)·q`` virtual index, floor/ceil/around), so
    that :func:`quantile_from_order_statistics` reproduces ``np.quantile`` bit for bit
    from the two order statistics alone. ``gamma`` is None for index-only methods.
    """
    qq = np.float64(q)
    h = (m - 1) * qq
    if method in ("lower", "higher", "nearest"):
        fn = {"lower": np.floor, "higher": np.ceil, "nearest": np.around}[method]
        idx = int(fn(h))
        return idx, idx, None
    if method == "linear":
        vi = h
    else:  # midpoint
        vi = np.float64(0.5) * (np.floor(h) + np.ceil(h))
    prev = np.floor(vi)
    gamma = vi - prev
    if method == "midpoint":
        gamma = np.float64(0.0) if vi % 1 == 0 else np.float64(0.5)
    if vi >= m - 1:
        return m - 1, m - 1, float(gamma)
    if vi < 0:
        return 0, 0, float(gamma)
    return int(prev), int(prev) + 1, float(gamma)


def quantile_from_order_statistics(a: float, b: float, gamma: float | None) -> float:
    """numpy's ``_lerp``: a + (b − a)·γ, or b − (b − a)·(1 − γ) when γ ≥ 0.5."""
    if gamma is None:
        return float(a)
    a, b, g = np.float64(a), np.float64(b), np.float64(gamma)
    diff = b - a
    if g >= 0.5:
        return float(b - diff * (1 - g))
    return float(a + diff * g)


# ----------------------------------------------------------------------------------------
# per-class curves


@dataclasses.dataclass
class _Curves:
    thresholds: np.ndarray
    d_min: float
    d_max: float
    classes: np.ndarray
    n_pos: np.ndarray  # (T,)
    n_neg: np.ndarray  # (T,)
    tpr: np.ndarray  # (T, n)
    tnr: np.ndarray
    pooled_tpr: np.ndarray  # (n,)
    pooled_tnr: np.ndarray
    n_samples: int
    resolution: float


def f_beta(tpr: np.ndarray, tnr: np.ndarray, beta: float) -> np.ndarray:
    """U = (1 + β²)·TPR·TNR / (β²·TPR + TNR), and 0 where the denominator is 0."""
    b2 = beta * beta
    den = b2 * tpr + tnr
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (1.0 + b2) * tpr * tnr / den
    return np.where(den > 0, u, 0.0)


def integrate(curve: np.ndarray, integration: str) -> float:
    """Mean over the grid, or the trapezoid rule on [0, 1]: Σ (c_j + c_{j+1}) / (2(n − 1))."""
    curve = np.asarray(curve, dtype=np.float64)
    if integration == "mean":
        return float(curve.mean())
    return float((curve[:-1] + curve[1:]).sum() / (2.0 * (curve.size - 1)))


def _class_slots(sizes: np.ndarray, min_class_size: int) -> tuple[np.ndarray, int]:
    eligible = np.flatnonzero(sizes >= min_class_size)
    t = int(eligible.size)
    slot = np.full(sizes.size, t, dtype=np.int64)
    slot[eligible] = np.arange(t)
    return slot, t


def compute_curves(embeddings: Any, labels: Any, params: dict, device: Any = None, progress=None) -> _Curves:
    """Validate the inputs and compute the per-class TPR / TNR curves (the shared engine)."""
    dev = resolve_device(embeddings, device)
    x, lab = as_embeddings_and_labels(embeddings, labels, dev)
    uniq, inverse = np.unique(lab, return_inverse=True)
    sizes = np.bincount(inverse, minlength=uniq.size)
    slot, t = _class_slots(sizes, params["min_class_size"])
    if t < 2:
        raise InputError(f"labels must contain at least 2 classes with ≥ min_class_size="
                         f"{params['min_class_size']} samples; found {t}")
    pairs, _ = _pairs.prepare_pairs(x, inverse, uniq.size, distance=params["distance"],
                                    block_size=params["block_size"])
    m = pairs.n_negative
    if m == 0:  # unreachable with two eligible classes; kept as the spec's explicit error
        raise InputError("labels must give at least one negative pair (two different classes)")
    n = params["n_thresholds"]
    slot_t = torch.as_tensor(slot, device=dev)
    n_total = x.shape[0]
    eligible = np.flatnonzero(slot < t)
    n_c = sizes[eligible].astype(np.int64)
    n_pos = n_c * (n_c - 1) // 2
    n_neg = n_c * (n_total - n_c)
    if params["mode"] == "exact":
        hist = _pairs.negative_histogram(pairs, progress)
        plan = [quantile_positions(m, f, params["quantile_method"]) for f in params["far_range"]]
        stats = _pairs.resolve_order_statistics(pairs, [r for p in plan for r in p[:2]], hist, progress)
        d_min, d_max = (quantile_from_order_statistics(stats[p[0]], stats[p[1]], p[2]) for p in plan)
        thresholds = np.linspace(d_min, d_max, n)
        pos, touch, all_pairs = _pairs.count_buckets(
            pairs, torch.as_tensor(thresholds, device=dev), inclusive=params["inclusive"],
            class_slot=slot_t, n_slots=t + 1, progress=progress)
        neg = touch - 2 * pos
        tp = np.cumsum(pos[:t], axis=1)[:, :n]
        fp = np.cumsum(neg[:t], axis=1)[:, :n]
        pooled_pos = pos.sum(axis=0)
        pooled_neg = all_pairs - pooled_pos
        ptp = np.cumsum(pooled_pos)[:n]
        pfp = np.cumsum(pooled_neg)[:n]
        resolution = 0.0
    else:
        pos, touch, all_pairs = _pairs.count_histograms(pairs, APPROX_BINS, class_slot=slot_t, n_slots=t + 1,
                                                        progress=progress)
        neg = touch - 2 * pos
        pooled_pos = pos.sum(axis=0)
        pooled_neg = all_pairs - pooled_pos
        d_min, d_max = (_histogram_quantile(pooled_neg, f, params["quantile_method"]) for f in params["far_range"])
        thresholds = np.linspace(d_min, d_max, n)
        tp = _histogram_cdf(pos[:t], thresholds)
        fp = _histogram_cdf(neg[:t], thresholds)
        ptp = _histogram_cdf(pooled_pos[None], thresholds)[0]
        pfp = _histogram_cdf(pooled_neg[None], thresholds)[0]
        resolution = 2.0 / APPROX_BINS
    p_total = int(pooled_pos.sum())
    tpr = tp / n_pos[:, None]
    tnr = (n_neg[:, None] - fp) / n_neg[:, None]
    return _Curves(thresholds=thresholds, d_min=float(d_min), d_max=float(d_max), classes=uniq[eligible],
                   n_pos=n_pos, n_neg=n_neg, tpr=tpr, tnr=tnr, pooled_tpr=ptp / p_total,
                   pooled_tnr=(m - pfp) / m, n_samples=int(n_total), resolution=resolution)


def _histogram_quantile(hist: np.ndarray, q: float, method: str) -> float:
    """Approximate quantile: values spread evenly inside their bin of [0, 2]."""
    m = int(hist.sum())
    width = 2.0 / hist.size
    i0, i1, gamma = quantile_positions(m, q, method)
    cum = np.cumsum(hist)

    def order_stat(r: int) -> float:
        k = int(np.searchsorted(cum, r, side="right"))
        below = cum[k] - hist[k]
        return width * (k + (r - below + 0.5) / hist[k])

    return quantile_from_order_statistics(order_stat(i0), order_stat(i1), gamma)


def _histogram_cdf(hist: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Counts ≤ θ per row, linear inside the bin that holds θ."""
    n_bins = hist.shape[1]
    width = 2.0 / n_bins
    cum = np.concatenate([np.zeros((hist.shape[0], 1)), np.cumsum(hist, axis=1)], axis=1)
    pos = np.clip(thresholds / width, 0.0, n_bins)
    k = np.minimum(np.floor(pos).astype(np.int64), n_bins - 1)
    frac = pos - k
    return cum[:, k] + hist[:, k] * frac


# ----------------------------------------------------------------------------------------
# OPIS from the curves


def _reference_curve(utility: np.ndarray, curves: _Curves, params: dict) -> np.ndarray:
    if params["reference"] == "class_mean":
        return utility.mean(axis=0)
    return f_beta(curves.pooled_tpr, curves.pooled_tnr, params["beta"])


def _gap_curve(utility: np.ndarray, classes: np.ndarray, epsilon: float, rank: str) -> np.ndarray:
    """Best-minus-worst gap per threshold for the ε-tails of the classes."""
    t = utility.shape[0]
    k = max(1, int(math.floor(epsilon * t + 1e-9)))
    if rank == "per_threshold":
        ordered = np.sort(utility, axis=0)
        return ordered[-k:].mean(axis=0) - ordered[:k].mean(axis=0)
    order = np.lexsort((classes, utility.mean(axis=1)))  # ascending by (grid mean, label)
    return utility[order[-k:]].mean(axis=0) - utility[order[:k]].mean(axis=0)


def _opis_params(far_range, n_thresholds, beta, distance, reference, min_class_size, inclusive, integration,
                 quantile_method, mode, block_size) -> dict:
    return check_opis_params(far_range=far_range, n_thresholds=n_thresholds, beta=beta, distance=distance,
                             reference=reference, min_class_size=min_class_size, inclusive=inclusive,
                             integration=integration, quantile_method=quantile_method, mode=mode,
                             block_size=block_size)


def opis(embeddings: Any, labels: Any, *, far_range: tuple[float, float] = (0.01, 0.1), n_thresholds: int = 101,
         beta: float = 1.0, distance: str = "cosine", reference: str = "class_mean", min_class_size: int = 2,
         inclusive: bool = True, integration: str = "mean", quantile_method: str = "linear",
         mode: str = "exact", device: Any = None, block_size: int | None = None) -> float:
    """Operating-Point-Inconsistency Score (Zhang et al., ICLR 2024). Lower is better; ≤ 0.25.

    OPIS = mean_j (1/T) Σ_c (U_c(θ_j) − Ū(θ_j))² over the calibration grid
    θ_j = linspace(d_min, d_max, n_thresholds), where U_c is the F_β of class c's TPR
    and TNR and Ū the class mean (or the pooled utility, ``reference="pooled"``).

    Parameters
    ----------
    embeddings : array-like (N, d)
        Finite embeddings (numpy, torch on any device, lists). Each row is divided by
        max(‖x‖, 1e-12); an all-zero row therefore has cosine distance 1 to everything.
    labels : array-like (N,)
        Non-negative integer class labels.
    far_range : (f_lo, f_hi)
        Quantiles of all negative-pair distances giving d_min and d_max.
    n_thresholds, beta, distance, reference, min_class_size, inclusive, integration, quantile_method
        See the spec table in ``docs/opis.md``.
    mode : {"exact", "approx"}
        ``"exact"``: three streamed passes, equal to the dense computation.
        ``"approx"``: one pass of 4096-bin per-class histograms (d within one bin).
    device : torch device, optional
        Where to compute (default: the embeddings' device, else CPU).
    block_size : int, optional
        Rows per block; None keeps one block's distance matrix at ≤ 32 MB.

    Returns
    -------
    float
    """
    params = _opis_params(far_range, n_thresholds, beta, distance, reference, min_class_size, inclusive,
                          integration, quantile_method, mode, block_size)
    return _report(compute_curves(embeddings, labels, params, device), params, (), "per_threshold").opis


def epsilon_opis(embeddings: Any, labels: Any, *, epsilon: float = 0.1, rank: str = "per_threshold",
                 far_range: tuple[float, float] = (0.01, 0.1), n_thresholds: int = 101, beta: float = 1.0,
                 distance: str = "cosine", reference: str = "class_mean", min_class_size: int = 2,
                 inclusive: bool = True, integration: str = "mean", quantile_method: str = "linear",
                 mode: str = "exact", device: Any = None, block_size: int | None = None) -> float:
    """ε-OPIS: the squared utility gap between the best and the worst ε-fraction of classes.

    k = max(1, ⌊ε·T + 1e-9⌋) classes per tail; gap_j = mean(top k U_c(θ_j)) −
    mean(bottom k U_c(θ_j)) with the classes ranked at each threshold
    (``rank="per_threshold"``) or once by their grid-mean utility (``"once"``, ties
    broken by label); ε-OPIS = mean_j gap_j² (or the trapezoid rule). ``reference``
    does not enter ε-OPIS. Other parameters as :func:`opis`.
    """
    params = _opis_params(far_range, n_thresholds, beta, distance, reference, min_class_size, inclusive,
                          integration, quantile_method, mode, block_size)
    eps = check_epsilon(epsilon)
    rank = check_rank(rank)
    rep = _report(compute_curves(embeddings, labels, params, device), params, (eps,), rank)
    return rep.eps_opis[eps]


@dataclasses.dataclass(frozen=True)
class OPISReport(Report):
    """Everything behind an OPIS value: grid, calibration range, per-class curves.

    ``opis`` follows ``params["integration"]``; ``opis_trapezoid`` is always the
    trapezoid value. Arrays ``tpr``, ``tnr``, ``utility`` are (T, n); ``var_curve``
    and ``reference_curve`` are (n,). ``resolution`` is 0 in exact mode and the
    histogram bin width (in distance) in approximate mode.
    """

    opis: float
    opis_trapezoid: float
    eps_opis: dict
    d_min: float
    d_max: float
    thresholds: np.ndarray
    classes: np.ndarray
    n_classes: int
    n_samples: int
    n_pos_pairs: np.ndarray
    n_neg_pairs: np.ndarray
    tpr: np.ndarray
    tnr: np.ndarray
    utility: np.ndarray
    var_curve: np.ndarray
    reference_curve: np.ndarray
    per_class_opis: np.ndarray
    params: dict
    resolution: float

    @property
    def T(self) -> int:  # noqa: N802 - the paper's symbol
        """Number of eligible classes."""
        return self.n_classes

    def to_frame(self):
        """One row per eligible class: sizes, pair counts, grid-mean utility, own OPIS share."""
        import pandas as pd

        return pd.DataFrame({
            "class": self.classes,
            "n_pos_pairs": self.n_pos_pairs,
            "n_neg_pairs": self.n_neg_pairs,
            "mean_utility": self.utility.mean(axis=1),
            "per_class_opis": self.per_class_opis,
        })

    def plot(self, ax=None):
        """Utility curves per class, their reference curve and the ±√V band."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        th = self.thresholds
        many = self.n_classes > 40
        for row in self.utility:
            ax.plot(th, row, color="0.6" if many else None, lw=0.6 if many else 1.0, alpha=0.5 if many else 0.8)
        sd = np.sqrt(self.var_curve)
        ref = self.reference_curve
        ax.fill_between(th, ref - sd, ref + sd, color="tab:orange", alpha=0.25, label="reference ± √V(θ)")
        ax.plot(th, ref, color="black", lw=2.0, label=f"reference ({self.params.get('reference')})")
        ax.set_xlabel(f"distance threshold θ ({self.params.get('distance')})")
        ax.set_ylabel("utility U_c(θ)")
        ax.set_title(f"OPIS = {self.opis:.4g}  (T = {self.n_classes})")
        ax.set_xlim(th[0], th[-1]) if th[-1] > th[0] else None
        ax.legend(loc="best", fontsize=8)
        return ax


def _report(curves: _Curves, params: dict, epsilons: tuple, rank: str) -> OPISReport:
    utility = f_beta(curves.tpr, curves.tnr, params["beta"])
    ref = _reference_curve(utility, curves, params)
    sq = (utility - ref[None, :]) ** 2
    var_curve = sq.mean(axis=0)
    eps = {e: integrate(_gap_curve(utility, curves.classes, e, rank) ** 2, params["integration"])
           for e in epsilons}
    return OPISReport(
        opis=integrate(var_curve, params["integration"]), opis_trapezoid=integrate(var_curve, "trapezoid"),
        eps_opis=eps, d_min=curves.d_min, d_max=curves.d_max, thresholds=curves.thresholds,
        classes=curves.classes, n_classes=int(curves.classes.size), n_samples=curves.n_samples,
        n_pos_pairs=curves.n_pos, n_neg_pairs=curves.n_neg, tpr=curves.tpr, tnr=curves.tnr, utility=utility,
        var_curve=var_curve, reference_curve=ref, per_class_opis=sq.mean(axis=1),
        params={**params, "rank": rank}, resolution=curves.resolution)


def opis_report(embeddings: Any, labels: Any, *, epsilons: tuple[float, ...] = (0.1,), rank: str = "per_threshold",
                far_range: tuple[float, float] = (0.01, 0.1), n_thresholds: int = 101, beta: float = 1.0,
                distance: str = "cosine", reference: str = "class_mean", min_class_size: int = 2,
                inclusive: bool = True, integration: str = "mean", quantile_method: str = "linear",
                mode: str = "exact", device: Any = None, block_size: int | None = None,
                _progress=None) -> OPISReport:
    """OPIS, ε-OPIS for each ε in ``epsilons`` and the curves behind them (one streamed run).

    Parameters as :func:`opis` and :func:`epsilon_opis`. Returns an :class:`OPISReport`.
    """
    params = _opis_params(far_range, n_thresholds, beta, distance, reference, min_class_size, inclusive,
                          integration, quantile_method, mode, block_size)
    if isinstance(epsilons, (int, float)):
        epsilons = (epsilons,)
    eps = tuple(check_epsilon(e, "epsilons") for e in epsilons)
    rank = check_rank(rank)
    return _report(compute_curves(embeddings, labels, params, device, _progress), params, eps, rank)
