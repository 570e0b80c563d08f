"""Per-class TPR / TNR curves over the calibration grid, and OPIS / ε-OPIS from them.

This is the one implementation of the OPIS formulas: :func:`metrics.opis`,
:func:`metrics.epsilon_opis`, :func:`metrics.opis_report`, :class:`metrics.OPIS` and the
command line all call :func:`compute_curves` and :func:`summarise`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt
import torch

from metrics.core.errors import InputError
from metrics.core.progress import Progress, progress_reporter
from metrics.threshold_consistency import _passes
from metrics.threshold_consistency._inputs import as_embeddings_and_labels, resolve_device
from metrics.threshold_consistency._options import OPISOptions, Rank
from metrics.threshold_consistency._pairs import prepare_pairs
from metrics.threshold_consistency.report import OPISReport

__all__ = ["Curves", "compute_curves", "summarise", "quantile_positions", "quantile_from_order_statistics",
           "f_beta", "integrate", "APPROX_BINS"]

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
        idx = int(np.floor(h) if method == "lower" else np.ceil(h) if method == "higher" else np.around(h))
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
    a64, b64, g = np.float64(a), np.float64(b), np.float64(gamma)
    diff = b64 - a64
    if g >= 0.5:
        return float(b64 - diff * (1 - g))
    return float(a64 + diff * g)


# ----------------------------------------------------------------------------------------
# per-class curves


@dataclasses.dataclass
class Curves:
    """Counts turned into rates: (T, n) per-class TPR / TNR and the pooled (n,) rates."""

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


def integrate(curve: npt.ArrayLike, integration: str) -> float:
    """Mean over the grid, or the trapezoid rule on [0, 1]: Σ (c_j + c_{j+1}) / (2(n − 1))."""
    c = np.asarray(curve, dtype=np.float64)
    if integration == "mean":
        return float(c.mean())
    return float((c[:-1] + c[1:]).sum() / (2.0 * (c.size - 1)))


def compute_curves(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor,
                   options: OPISOptions, progress: Progress = False) -> Curves:
    """Validate the inputs and compute the per-class TPR / TNR curves (the shared engine)."""
    dev = resolve_device(embeddings, options.device)
    x, lab = as_embeddings_and_labels(embeddings, labels, dev)
    uniq_t, inverse, sizes_t = torch.unique(lab, return_inverse=True, return_counts=True)
    uniq, sizes = uniq_t.cpu().numpy(), sizes_t.cpu().numpy().astype(np.int64)
    eligible = np.flatnonzero(sizes >= options.min_class_size)
    t = int(eligible.size)
    if t < 2:
        raise InputError(f"labels must contain at least 2 classes with ≥ min_class_size="
                         f"{options.min_class_size} samples; found {t}")
    slot = np.full(sizes.size, t, dtype=np.int64)
    slot[eligible] = np.arange(t)
    pairs = prepare_pairs(x, inverse, sizes, distance=options.distance, block_size=options.block_size)
    m = pairs.n_negative
    n = options.n_thresholds
    slot_t = torch.as_tensor(slot, device=dev)
    n_total = int(x.shape[0])
    n_c = sizes[eligible]
    n_pos = n_c * (n_c - 1) // 2
    n_neg = n_c * (n_total - n_c)
    n_passes = 3 if options.mode == "exact" else 1
    with progress_reporter(progress, pairs.n_blocks * n_passes, "OPIS pair blocks") as reporter:
        if options.mode == "exact":
            plan = [quantile_positions(m, f, options.quantile_method) for f in options.far_range]
            ranks = [r for p in plan for r in p[:2]]
            # one pass when a sampled guess of the close pairs holds (checked), else a
            # histogram pass, then the order statistics and the counts (one pass when few)
            stats = None
            candidates = _passes.guess_candidates(pairs, max(ranks) / max(m, 1), reporter)
            if candidates is not None:
                stats = _passes.order_statistics_from_candidates(pairs, ranks, candidates)
                if stats is not None and reporter is not None:
                    reporter.update(pairs.n_blocks)  # the histogram pass it replaces
            if stats is None:
                hist = _passes.negative_histogram(pairs, reporter)
                candidates = _passes.collect_candidates(pairs, ranks, hist, reporter)
                if candidates is not None:
                    stats = _passes.order_statistics_from_candidates(pairs, ranks, candidates)
                if stats is None:
                    candidates = None
                    stats = _passes.resolve_order_statistics(pairs, ranks, hist, reporter)
            d_min, d_max = (quantile_from_order_statistics(stats[p[0]], stats[p[1]], p[2]) for p in plan)
            thresholds = np.linspace(d_min, d_max, n)
            pos, touch, all_pairs = _passes.count_buckets(
                pairs, torch.as_tensor(thresholds, device=dev), inclusive=options.inclusive,
                class_slot=slot_t, n_slots=t + 1, progress=reporter, candidates=candidates)
            del candidates
            neg = touch - 2 * pos
            tp = np.cumsum(pos[:t], axis=1)[:, :n]
            fp = np.cumsum(neg[:t], axis=1)[:, :n]
            pooled_pos = pos.sum(axis=0)
            pooled_neg = all_pairs - pooled_pos
            ptp = np.cumsum(pooled_pos)[:n]
            pfp = np.cumsum(pooled_neg)[:n]
            resolution = 0.0
        else:
            pos, touch, all_pairs = _passes.count_histograms(pairs, APPROX_BINS, class_slot=slot_t,
                                                             n_slots=t + 1, progress=reporter)
            neg = touch - 2 * pos
            pooled_pos = pos.sum(axis=0)
            pooled_neg = all_pairs - pooled_pos
            d_min, d_max = (_histogram_quantile(pooled_neg, f, options.quantile_method) for f in options.far_range)
            thresholds = np.linspace(d_min, d_max, n)
            tp = _histogram_cdf(pos[:t], thresholds)
            fp = _histogram_cdf(neg[:t], thresholds)
            ptp = _histogram_cdf(pooled_pos[None], thresholds)[0]
            pfp = _histogram_cdf(pooled_neg[None], thresholds)[0]
            resolution = 2.0 / APPROX_BINS
    p_total = int(pooled_pos.sum())
    tpr = tp / n_pos[:, None]
    tnr = (n_neg[:, None] - fp) / n_neg[:, None]
    return Curves(thresholds=thresholds, d_min=float(d_min), d_max=float(d_max), classes=uniq[eligible],
                  n_pos=n_pos, n_neg=n_neg, tpr=tpr, tnr=tnr, pooled_tpr=ptp / p_total,
                  pooled_tnr=(m - pfp) / m, n_samples=n_total, resolution=resolution)


def _histogram_quantile(hist: np.ndarray, q: float, method: str) -> float:
    """Approximate quantile: values spread evenly inside their bin of [0, 2]."""
    m = int(hist.sum())
    width = 2.0 / hist.size
    i0, i1, gamma = quantile_positions(m, q, method)
    cum = np.cumsum(hist)

    def order_stat(r: int) -> float:
        k = int(np.searchsorted(cum, r, side="right"))
        below = cum[k] - hist[k]
        return float(width * (k + (r - below + 0.5) / hist[k]))

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


def _gap_curve(utility: np.ndarray, classes: np.ndarray, epsilon: float, rank: Rank) -> np.ndarray:
    """Best-minus-worst gap per threshold for the ε-tails of the classes."""
    t = utility.shape[0]
    k = max(1, int(math.floor(epsilon * t + 1e-9)))
    if rank == "per_threshold":
        ordered = np.sort(utility, axis=0)
        return ordered[-k:].mean(axis=0) - ordered[:k].mean(axis=0)
    order = np.lexsort((classes, utility.mean(axis=1)))  # ascending by (grid mean, label)
    return utility[order[-k:]].mean(axis=0) - utility[order[:k]].mean(axis=0)


def summarise(curves: Curves, options: OPISOptions, epsilons: tuple[float, ...], rank: Rank) -> OPISReport:
    """OPIS, ε-OPIS for each ε and the curves behind them, as an :class:`OPISReport`.

    V(θ_j) = (1/T) Σ_c (U_c(θ_j) − Ū(θ_j))²; OPIS = mean_j V (or the trapezoid rule);
    ε-OPIS = mean_j gap_j².
    """
    utility = f_beta(curves.tpr, curves.tnr, options.beta)
    if options.reference == "class_mean":
        ref = utility.mean(axis=0)
    else:
        ref = f_beta(curves.pooled_tpr, curves.pooled_tnr, options.beta)
    sq = (utility - ref[None, :]) ** 2
    var_curve = sq.mean(axis=0)
    eps = {e: integrate(_gap_curve(utility, curves.classes, e, rank) ** 2, options.integration)
           for e in epsilons}
    return OPISReport(
        opis=integrate(var_curve, options.integration), opis_trapezoid=integrate(var_curve, "trapezoid"),
        eps_opis=eps, d_min=curves.d_min, d_max=curves.d_max, thresholds=curves.thresholds,
        classes=curves.classes, n_classes=int(curves.classes.size), n_samples=curves.n_samples,
        n_pos_pairs=curves.n_pos, n_neg_pairs=curves.n_neg, tpr=curves.tpr, tnr=curves.tnr, utility=utility,
        var_curve=var_curve, reference_curve=ref, per_class_opis=sq.mean(axis=1),
        params={**options.as_dict(), "rank": rank}, resolution=curves.resolution)
