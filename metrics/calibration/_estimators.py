"""Binned calibration-error estimators from per-bin sums, and the shared option checks.

The formulas live once, in :func:`errors_from_statistics`; the functional form, the
report (and its bootstrap), the streaming ``CalibrationError`` and the command line all
call it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.options import allowed_values, check_choice
from metrics.core.validation import check_bool, check_int

__all__ = ["Binning", "Compat", "MAX_BINS", "NORMS", "Norm", "Scope", "check_ce_options", "errors_from_statistics"]

Norm = Literal["l1", "l2", "max", "average"]
Binning = Literal["uniform", "quantile"]
Scope = Literal["top_label", "positive_class", "classwise"]
Compat = Literal["torchmetrics", "netcal", "uncertainty_calibration", "guo", "relplot"]
NORMS: tuple[str, ...] = ("l1", "l2", "max", "average")
#: more bins than this is never a useful histogram of scores, and would only exhaust memory
MAX_BINS = 1_000_000


def check_ce_options(n_bins: object, norm: object, binning: object, scope: object, debiased: object,
                     compat: object = None) -> int:
    """Validate the shared options; returns ``n_bins`` as int (1 ≤ n_bins ≤ 1,000,000)."""
    n_bins = check_int(n_bins, "n_bins", min_value=1, max_value=MAX_BINS)
    check_choice(norm, "norm", _values(Norm))
    check_choice(binning, "binning", _values(Binning))
    check_choice(scope, "scope", _values(Scope))
    debiased = check_bool(debiased, "debiased")
    if debiased and norm != "l2":
        raise InputError(f"debiased=True needs norm='l2' (Kumar et al. 2019 debias the squared error); got norm={norm!r}")
    if compat is not None:
        check_choice(compat, "compat", _values(Compat))
    return n_bins


def _values(option: object) -> tuple[object, ...]:
    values = allowed_values(option)
    assert values is not None
    return values


def errors_from_statistics(counts: npt.ArrayLike, sum_score: npt.ArrayLike, sum_outcome: npt.ArrayLike, *,
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
