"""Binned calibration-error estimators (calibration.md §3) and ``calibration_error``.

The formulas live once, in :func:`errors_from_statistics`; the functional form, the
report (and its bootstrap), the streaming :class:`~metrics.calibration.CalibrationError`
and the command line all call it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.calibration._inputs import (
    SCOPES,
    class_columns,
    n_classes,
    scores_outcomes,
    top_label,
    validate_inputs_with_stats,
)
from metrics.calibration.binning import (
    BINNINGS,
    assign_bins,
    bin_edges,
    binned_statistics,
    uniform_edges,
)
from metrics.core.errors import InputError
from metrics.core.validation import check_bool, check_int, check_option

__all__ = ["NORMS", "calibration_error", "check_ce_options", "errors_from_statistics"]

NORMS = ("l1", "l2", "max", "average")
COMPAT_MODES = ("torchmetrics", "netcal", "uncertainty_calibration", "guo", "relplot")
_BLOCK = 1 << 22  # elements per classwise block (bounds the (N, k) float64 temporaries)


def check_ce_options(n_bins: Any, norm: Any, binning: Any, scope: Any, debiased: Any,
                     compat: Any = None) -> int:
    """Validate the shared options (§5); returns ``n_bins`` as int."""
    n_bins = check_int(n_bins, "n_bins", min_value=1)
    check_option(norm, "norm", NORMS)
    check_option(binning, "binning", BINNINGS)
    check_option(scope, "scope", SCOPES)
    debiased = check_bool(debiased, "debiased")
    if debiased and norm != "l2":
        raise InputError(f"debiased=True needs norm='l2' (Kumar et al. 2019 debias the squared error); got norm={norm!r}")
    if compat is not None:
        check_option(compat, "compat", COMPAT_MODES)
    return n_bins


def errors_from_statistics(counts: np.ndarray, sum_score: np.ndarray, sum_outcome: np.ndarray, *,
                           norm: str, debiased: bool = False, classwise: bool = False) -> float:
    r"""Calibration error from per-bin sufficient statistics.

    For each non-empty bin m: n_m samples, mean score s̄_m, mean outcome ō_m,
    g_m = |ō_m − s̄_m|, N = Σ n_m.

    - ``l1``: Σ (n_m/N) g_m  (ECE; Naeini et al. 2015, Guo et al. 2017)
    - ``l2``: sqrt(Σ (n_m/N) g_m²)
    - ``max``: max g_m (MCE, unweighted)
    - ``average``: mean of g_m over non-empty bins (netcal "ACE")
    - ``l2`` with ``debiased``: D = Σ_{n_m ≥ 2} (n_m/N)[(ō_m − s̄_m)² − ō_m(1 − ō_m)/(n_m − 1)],
      sqrt(max(D, 0)) (Kumar, Liang & Ma 2019).

    Parameters
    ----------
    counts, sum_score, sum_outcome : array (M,) or (K, M)
        Per-bin sums; rows are classes when ``classwise``.
    classwise : bool
        Aggregate per-class errors CE_k: mean (``l1``, ``average``), sqrt(mean CE_k²)
        (``l2``; debiased: clip each D_k at 0, average, square root), max (``max``).
    """
    n = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    ss = np.atleast_2d(np.asarray(sum_score, dtype=np.float64))
    so = np.atleast_2d(np.asarray(sum_outcome, dtype=np.float64))
    total = n.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise InputError("the calibration error needs at least one sample; got an empty bin histogram")
    nonempty = n > 0
    safe = np.where(nonempty, n, 1.0)
    s_bar = ss / safe
    o_bar = so / safe
    gap = np.where(nonempty, np.abs(o_bar - s_bar), 0.0)
    weight = n / total
    if norm == "l1":
        per_row = (weight * gap).sum(axis=1)
    elif norm == "max":
        per_row = gap.max(axis=1)
    elif norm == "average":
        per_row = gap.sum(axis=1) / nonempty.sum(axis=1)
    elif norm == "l2" and not debiased:
        sq = (weight * gap * gap).sum(axis=1)
        if classwise:
            return float(np.sqrt(sq.mean()))
        per_row = np.sqrt(sq)
    elif norm == "l2":
        two = n >= 2
        var = o_bar * (1.0 - o_bar) / np.where(two, n - 1.0, 1.0)
        d = np.where(two, weight * ((o_bar - s_bar) ** 2 - var), 0.0).sum(axis=1)
        return float(np.sqrt(np.maximum(d, 0.0).mean()))
    else:  # pragma: no cover - options are checked by the callers
        raise InputError(f"norm must be one of {NORMS}; got {norm!r}")
    if not classwise:
        return float(per_row[0])
    return float(per_row.max() if norm == "max" else per_row.mean())


def _classwise_statistics(p: np.ndarray, y: np.ndarray, n_bins: int, binning: str):
    """(counts, sum_score, sum_outcome) of shape (K, M) and the edges per class."""
    k_all = n_classes(p)
    n = y.size
    if binning == "uniform":
        edges = uniform_edges(n_bins)
        counts = np.zeros((k_all, n_bins), dtype=np.int64)
        sum_s = np.zeros((k_all, n_bins))
        sum_o = np.zeros((k_all, n_bins))
        step = max(1, _BLOCK // max(n, 1))
        for k0 in range(0, k_all, step):  # blocks of classes, vectorised inside
            ks = range(k0, min(k_all, k0 + step))
            s = np.stack([class_columns(p, y, k)[0] for k in ks], axis=1)
            o = y[:, None] == np.asarray(ks)[None, :]
            flat = assign_bins(s, edges) + (np.arange(len(ks)) * n_bins)[None, :]
            size = len(ks) * n_bins
            counts[k0:k0 + len(ks)] = np.bincount(flat.ravel(), minlength=size).reshape(len(ks), n_bins)
            sum_s[k0:k0 + len(ks)] = np.bincount(flat.ravel(), weights=s.ravel(), minlength=size).reshape(len(ks), n_bins)
            sum_o[k0:k0 + len(ks)] = np.bincount(flat[o], minlength=size).reshape(len(ks), n_bins)
        return counts, sum_s, sum_o, np.broadcast_to(edges, (k_all, n_bins + 1))
    stats = []
    for k in range(k_all):  # one loop step per class (not per sample): each class has its own edges
        s, o = class_columns(p, y, k)
        stats.append(binned_statistics(s, o, bin_edges(s, n_bins, "quantile")))
    width = max(st.counts.size for st in stats)

    def pad(a, fill):
        return np.concatenate([a, np.full(width - a.size, fill, dtype=np.float64)])

    counts = np.stack([pad(st.counts.astype(np.float64), 0) for st in stats]).astype(np.int64)
    sum_s = np.stack([pad(st.sum_score, 0.0) for st in stats])
    sum_o = np.stack([pad(st.sum_outcome, 0.0) for st in stats])
    edges = np.stack([np.concatenate([st.edges, np.full(width + 1 - st.edges.size, np.nan)]) for st in stats])
    return counts, sum_s, sum_o, edges


def statistics(p: np.ndarray, y: np.ndarray, n_bins: int, binning: str, scope: str, row_stats=(None, None)):
    """Per-bin (counts, sum_score, sum_outcome, edges) for validated inputs and a scope."""
    if scope == "classwise":
        return _classwise_statistics(p, y, n_bins, binning)
    s, o = top_label(p, y, *row_stats) if scope == "top_label" else scores_outcomes(p, y, scope)
    st = binned_statistics(s, o, bin_edges(s, n_bins, binning))
    return st.counts, st.sum_score, st.sum_outcome, st.edges


def calibration_error(probs: Any, labels: Any, *, n_bins: int = 15, norm: str = "l1",
                      binning: str = "uniform", scope: str = "top_label", debiased: bool = False,
                      compat: str | None = None) -> float:
    r"""Binned calibration error (ECE and its variants), calibration.md §1–§4.

    ECE = Σ_m (n_m/N) |ō_m − s̄_m| over bins of the score s (Naeini, Cooper & Hauskrecht,
    AAAI 2015; Guo et al., ICML 2017). ``norm`` picks l1 (ECE), l2 (RMS), max (MCE) or
    average (netcal ACE); ``debiased=True`` with ``l2`` is the debiased estimator of
    Kumar, Liang & Ma (NeurIPS 2019).

    Parameters
    ----------
    probs : array-like, (N,) or (N, K)
        Probabilities; a 1-D ``p`` means ``[1 − p, p]``. Finite, in [0, 1], rows summing
        to 1 within 1e-3 (no logit guessing).
    labels : array-like, (N,)
        Integer classes in [0, K) (bools and integral floats accepted).
    n_bins : int
        M ≥ 1.
    norm : {"l1", "l2", "max", "average"}
    binning : {"uniform", "quantile"}
        k/M edges, or tie-safe equal-mass edges (§2).
    scope : {"top_label", "positive_class", "classwise"}
        Score/outcome: (max_k p_k, 1[first argmax = y]); (p_1, 1[y = 1]) for K = 2; or
        every class k with its own bins, aggregated (mean; sqrt of mean square for l2;
        max for max).
    debiased : bool
        Debiased l2 (needs ``norm="l2"``).
    compat : {None, "torchmetrics", "netcal", "uncertainty_calibration", "guo", "relplot"}
        Reproduce a library exactly, quirks included (§4); unsupported combinations raise.

    Returns
    -------
    float

    Examples
    --------
    >>> from metrics import calibration_error
    >>> p = [0, .1, .2, .2, .25, .5, .5, .9, 1, 1]; y = [1, 0, 1, 0, 0, 1, 0, 1, 1, 0]
    >>> round(calibration_error(p, y, n_bins=4, scope="positive_class"), 12)
    0.265
    >>> round(calibration_error(p, y, n_bins=4, scope="positive_class", compat="torchmetrics"), 6)
    0.285
    """
    n_bins = check_ce_options(n_bins, norm, binning, scope, debiased, compat)
    if compat is not None:
        from metrics.calibration.compat import compat_calibration_error

        return compat_calibration_error(probs, labels, n_bins=n_bins, norm=norm, binning=binning,
                                        scope=scope, debiased=debiased, compat=compat)
    p, y, row_max, row_sum = validate_inputs_with_stats(probs, labels)
    counts, sum_s, sum_o, _ = statistics(p, y, n_bins, binning, scope, (row_max, row_sum))
    return errors_from_statistics(counts, sum_s, sum_o, norm=norm, debiased=debiased,
                                  classwise=scope == "classwise")
