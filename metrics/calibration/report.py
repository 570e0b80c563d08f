"""``calibration_report``: per-bin table, every norm, a seeded bootstrap interval and a
reliability diagram (calibration.md §5)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from metrics.calibration._inputs import (
    class_columns,
    n_classes,
    scores_outcomes,
    validate_inputs,
)
from metrics.calibration.binning import assign_bins, uniform_edges
from metrics.calibration.estimators import (
    check_ce_options,
    errors_from_statistics,
    statistics,
)
from metrics.core.report import Report
from metrics.core.validation import as_generator, check_fraction, check_int, check_option

__all__ = ["CI_METHODS", "CalibrationReport", "bootstrap_replicates", "calibration_report"]

CI_METHODS = ("percentile", "basic")
#: report field → (norm, debiased)
_FIELDS = {"ece": ("l1", False), "mce": ("max", False), "ace": ("average", False),
           "l2": ("l2", False), "l2_debiased": ("l2", True)}


@dataclasses.dataclass(frozen=True)
class CalibrationReport(Report):
    """Result of :func:`calibration_report`.

    Per-bin arrays are (M',) or (K, M') for ``classwise``; ``mean_confidence`` and
    ``accuracy`` are NaN for empty bins (``nonempty`` is False, ``counts`` 0).
    ``ci`` holds a (lo, hi) interval for each of ece, mce, ace, l2, l2_debiased when
    ``n_bootstrap > 0``; ``ece_ci`` is ``ci["ece"]``.
    """

    edges: np.ndarray
    counts: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    nonempty: np.ndarray
    ece: float | None
    mce: float | None
    ace: float | None
    l2: float | None
    l2_debiased: float | None
    ece_ci: tuple[float, float] | None
    ci: dict[str, tuple[float, float]] | None
    n_samples: int
    params: dict[str, Any]

    def to_frame(self):
        """One row per bin (and class for ``classwise``)."""
        import pandas as pd

        counts = np.atleast_2d(self.counts)
        edges = np.atleast_2d(self.edges)
        conf = np.atleast_2d(self.mean_confidence)
        acc = np.atleast_2d(self.accuracy)
        rows = []
        for k in range(counts.shape[0]):
            for m in range(counts.shape[1]):
                row = {"bin": m, "lower": edges[k, m], "upper": edges[k, m + 1], "count": int(counts[k, m]),
                       "mean_confidence": conf[k, m], "accuracy": acc[k, m],
                       "gap": abs(acc[k, m] - conf[k, m])}
                if counts.shape[0] > 1 or self.params.get("scope") == "classwise":
                    row = {"class": k, **row}
                rows.append(row)
        return pd.DataFrame(rows)

    def plot(self, ax=None, *, class_index: int | None = None):
        """Reliability diagram: accuracy bars over the true bin widths, gap to the mean
        confidence shaded, the diagonal, and bin counts on a twin axis.

        For ``classwise`` reports pick ``class_index`` (default 0). Returns the axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 5))
        counts, edges = self.counts, self.edges
        conf, acc = self.mean_confidence, self.accuracy
        title = "Reliability diagram"
        if counts.ndim == 2:
            k = 0 if class_index is None else check_int(class_index, "class_index", min_value=0,
                                                        max_value=counts.shape[0] - 1)
            counts, edges, conf, acc = counts[k], edges[k], conf[k], acc[k]
            title += f" (class {k})"
        keep = ~np.isnan(edges[1:])
        counts, conf, acc = counts[keep], conf[keep], acc[keep]
        lo, hi = edges[:-1][keep], edges[1:][keep]
        ne = counts > 0
        width = hi - lo
        ax.bar(lo[ne], acc[ne], width=width[ne], align="edge", color="#4c72b0", edgecolor="white",
               label="accuracy", zorder=2)
        bottom = np.minimum(acc[ne], conf[ne])
        ax.bar(lo[ne], np.abs(conf[ne] - acc[ne]), bottom=bottom, width=width[ne], align="edge",
               color="#dd8452", alpha=0.45, hatch="//", edgecolor="#c44e52", label="gap to confidence", zorder=3)
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration", zorder=4)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        if self.ece is not None:
            text = f"ECE = {self.ece:.4f}"
            if self.ece_ci is not None:
                text += f" [{self.ece_ci[0]:.4f}, {self.ece_ci[1]:.4f}]"
            ax.text(0.03, 0.95, text, transform=ax.transAxes, va="top")
        ax.set_title(title)
        twin = ax.twinx()
        centers = (lo + hi) / 2
        twin.plot(centers[ne], counts[ne], "o", color="0.3", ms=3, label="count")
        twin.set_ylabel("count")
        twin.set_ylim(0, max(1, counts.max()) * 1.1)
        ax.legend(loc="lower right", fontsize="small")
        return ax


def _quantiles(reps: np.ndarray, theta: float, confidence: float, method: str) -> tuple[float, float]:
    alpha = 1.0 - confidence
    q_lo, q_hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    if method == "percentile":
        return float(q_lo), float(q_hi)
    return float(2 * theta - q_hi), float(2 * theta - q_lo)


def _all_errors(counts, sum_s, sum_o, classwise: bool) -> dict[str, float]:
    return {name: errors_from_statistics(counts, sum_s, sum_o, norm=norm, debiased=deb, classwise=classwise)
            for name, (norm, deb) in _FIELDS.items()}


def bootstrap_replicates(p: np.ndarray, y: np.ndarray, *, n_bins: int, binning: str, scope: str,
                         n_bootstrap: int, rng: np.random.Generator, fast: bool = True,
                         compat: str | None = None, progress=None) -> dict[str, np.ndarray]:
    """Replicate values of every report norm (ece, mce, ace, l2, l2_debiased).

    Replicate b resamples idx = ``rng.integers(0, N, size=N)`` and recomputes with the
    same settings. With fixed (uniform) edges and no ``compat`` the fast path bins each
    sample once and weights it by its multiplicity ``bincount(idx)``; otherwise
    (``fast=False``, quantile edges re-derived per replicate, or compat) the resample is
    materialised. Both give the same numbers up to float64 summation order.
    """
    n = y.size
    classwise = scope == "classwise"
    loop = progress(range(n_bootstrap)) if progress is not None else range(n_bootstrap)
    out = {name: np.empty(n_bootstrap) for name in _FIELDS}
    if compat is not None:
        from metrics.calibration.compat import compat_calibration_error

        names = [name for name, (norm, deb) in _FIELDS.items() if _compat_supports(compat, norm, binning, scope, deb)]
        for name in _FIELDS:
            if name not in names:
                out[name] = None
        for b in loop:
            idx = rng.integers(0, n, size=n)
            for name in names:
                norm, deb = _FIELDS[name]
                out[name][b] = compat_calibration_error(p[idx], y[idx], n_bins=n_bins, norm=norm, binning=binning,
                                                        scope=scope, debiased=deb, compat=compat)
        return out
    if fast and binning == "uniform":
        edges = uniform_edges(n_bins)
        if classwise:
            k_all = n_classes(p)
            cols = [class_columns(p, y, k) for k in range(k_all)]
            s = np.stack([c[0] for c in cols])          # (K, N)
            o = np.stack([c[1] for c in cols]).astype(np.float64)
            flat = (assign_bins(s, edges) + (np.arange(k_all) * n_bins)[:, None]).ravel()
            s_flat, o_flat = s.ravel(), o.ravel()
            size, shape = k_all * n_bins, (k_all, n_bins)
        else:
            s, o = scores_outcomes(p, y, scope)
            flat, s_flat, o_flat = assign_bins(s, edges), s, o.astype(np.float64)
            size, shape = n_bins, (n_bins,)
        for b in loop:
            w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
            wf = np.tile(w, k_all) if classwise else w
            counts = np.bincount(flat, weights=wf, minlength=size).reshape(shape)
            sum_s = np.bincount(flat, weights=wf * s_flat, minlength=size).reshape(shape)
            sum_o = np.bincount(flat, weights=wf * o_flat, minlength=size).reshape(shape)
            for name, value in _all_errors(counts, sum_s, sum_o, classwise).items():
                out[name][b] = value
        return out
    for b in loop:
        idx = rng.integers(0, n, size=n)
        counts, sum_s, sum_o, _ = statistics(p[idx], y[idx], n_bins, binning, scope)
        for name, value in _all_errors(counts, sum_s, sum_o, classwise).items():
            out[name][b] = value
    return out


def _compat_supports(compat: str, norm: str, binning: str, scope: str, debiased: bool) -> bool:
    from metrics.calibration.compat import SUPPORTED

    norms, binnings, scopes, debias_ok = SUPPORTED[compat]
    return norm in norms and binning in binnings and scope in scopes and (debias_ok or not debiased)


def calibration_report(probs: Any, labels: Any, *, n_bins: int = 15, binning: str = "uniform",
                       scope: str = "top_label", compat: str | None = None, n_bootstrap: int = 0,
                       confidence: float = 0.9, ci_method: str = "percentile", seed: Any = 0,
                       progress=None) -> CalibrationReport:
    r"""Per-bin reliability table, ECE / MCE / ACE / L2 / debiased L2, and bootstrap intervals.

    Parameters
    ----------
    probs, labels, n_bins, binning, scope
        As :func:`~metrics.calibration_error`.
    compat : str, optional
        Scalars from that library's mode (``None`` for norms it lacks); the per-bin
        table always uses our binning (§2).
    n_bootstrap : int ≥ 0
        Replicates (0 = no interval). Replicate b uses idx = rng.integers(0, N, size=N)
        with rng = ``np.random.default_rng(seed)``; quantile edges are re-derived per
        replicate.
    confidence : float in (0, 1)
        With α = 1 − confidence and Q the replicate quantiles (``np.quantile``):
        percentile [Q(α/2), Q(1−α/2)], basic [2θ̂ − Q(1−α/2), 2θ̂ − Q(α/2)].
    ci_method : {"percentile", "basic"}
    seed : int or numpy Generator
    progress : callable, optional
        Wraps the replicate loop (the CLI passes a progress bar).

    Examples
    --------
    >>> from metrics import calibration_report
    >>> rep = calibration_report([.9, .8, .7, .6], [0, 1, 1, 0], n_bins=5, n_bootstrap=200)
    >>> rep.ece_ci is not None
    True
    """
    n_bins = check_ce_options(n_bins, "l1", binning, scope, False, compat)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", min_value=0)
    confidence = check_fraction(confidence, "confidence")
    check_option(ci_method, "ci_method", CI_METHODS)
    rng = as_generator(seed, "seed")
    p, y = validate_inputs(probs, labels)
    classwise = scope == "classwise"
    counts, sum_s, sum_o, edges = statistics(p, y, n_bins, binning, scope)
    if compat is None:
        values = _all_errors(counts, sum_s, sum_o, classwise)
    else:
        from metrics.calibration.compat import compat_calibration_error

        values = {name: (compat_calibration_error(p, y, n_bins=n_bins, norm=norm, binning=binning, scope=scope,
                                                  debiased=deb, compat=compat)
                         if _compat_supports(compat, norm, binning, scope, deb) else None)
                  for name, (norm, deb) in _FIELDS.items()}
    ci = None
    if n_bootstrap:
        reps = bootstrap_replicates(p, y, n_bins=n_bins, binning=binning, scope=scope, n_bootstrap=n_bootstrap,
                                    rng=rng, compat=compat, progress=progress)
        ci = {name: _quantiles(r, values[name], confidence, ci_method)
              for name, r in reps.items() if r is not None}
    counts = np.asarray(counts)
    nonempty = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(nonempty, sum_s / counts, np.nan)
        accuracy = np.where(nonempty, sum_o / counts, np.nan)
    params = {"n_bins": n_bins, "binning": binning, "scope": scope, "compat": compat, "n_bootstrap": n_bootstrap,
              "confidence": confidence, "ci_method": ci_method,
              "seed": seed if not isinstance(seed, np.random.Generator) else "Generator"}
    return CalibrationReport(edges=np.array(edges), counts=counts.astype(np.int64), mean_confidence=mean_conf,
                             accuracy=accuracy, nonempty=nonempty, ece=values["ece"], mce=values["mce"],
                             ace=values["ace"], l2=values["l2"], l2_debiased=values["l2_debiased"],
                             ece_ci=None if ci is None else ci.get("ece"), ci=ci, n_samples=int(y.size),
                             params=params)
