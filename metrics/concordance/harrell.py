"""Harrell's concordance index, its pair counts and a bootstrap interval."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from metrics.concordance._inputs import (
    ON_UNDEFINED,
    no_pair_message,
    oriented,
    resolve_direction,
    survival_data,
    undefined,
)
from metrics.concordance._kernel import risk_ranks_and_windows, sweep_counts
from metrics.core.report import Report
from metrics.core.validation import as_generator, check_fraction, check_int, check_option

__all__ = ["concordance_index", "concordance_report", "ConcordanceReport", "pair_counts"]


def pair_counts(risk: np.ndarray, time: np.ndarray, event: np.ndarray, tied_tol: float, *,
                same_time_censored: bool = True, per_subject: bool = False, order: np.ndarray | None = None):
    """Pair counts of validated float64 inputs (``risk`` higher = earlier failure).

    Returns the kernel's ``(totals, conc, tie, comp)``; totals are concordant,
    discordant, tied_risk, comparable, tied_time. O(n log n) time, O(n) memory.
    """
    rank, lo, hi, m = risk_ranks_and_windows(risk, tied_tol)
    if order is None:
        order = np.argsort(time)
    return sweep_counts(order, time, event, rank, lo, hi, m, same_time_censored, per_subject)


def ratio(concordant: int, tied_risk: int, comparable: int) -> float:
    """(concordant + ½ tied_risk) / comparable with the numerator exact (a half-integer)."""
    return float((2 * int(concordant) + int(tied_risk)) / 2) / int(comparable)


def concordance_index(risk: Any, time: Any, event: Any = None, *, higher_is: str | None = None,
                      tied_tol: float | None = None, compat: str | None = None,
                      on_undefined: str = "raise") -> float:
    r"""Harrell's concordance index.

    .. math:: C = \frac{\text{concordant} + \tfrac12\,\text{tied\_risk}}{\text{comparable}}

    An ordered pair (i, j) is comparable when subject i had the event and
    ``T_i < T_j``, or ``T_i = T_j`` with j censored (a censoring at t outlives an
    event at t). It is concordant when ``η_i − η_j > tied_tol``, discordant when
    ``η_i − η_j < −tied_tol`` and tied otherwise (the difference rounded in float64).
    Harrell, Lee & Mark, Stat. Med. 15:361 (1996).

    Parameters
    ----------
    risk : array-like (n,)
        Scores; by default a higher score means earlier failure.
    time : array-like (n,)
        Event or censoring times.
    event : array-like (n,), optional
        1 / True for an observed event, 0 / False for censoring; default all events.
    higher_is : {"risk", "survival"}, default "risk"
        ``"survival"``: the scores are predicted times or survival probabilities and
        are negated (exactly).
    tied_tol : float, default 1e-8
        Absolute per-pair tolerance for a risk tie; 0 means exact equality.
    compat : {None, "lifelines", "sksurv"}
        ``"lifelines"`` fixes ``higher_is="survival"``, ``tied_tol=0`` and equals
        ``lifelines.utils.concordance_index(time, risk, event)``; ``"sksurv"`` fixes
        ``higher_is="risk"``, ``tied_tol=1e-8`` and equals
        ``sksurv.metrics.concordance_index_censored(event, time, risk)[0]`` (this is
        also the default). An explicit conflicting option raises ``InputError``.
    on_undefined : {"raise", "nan"}
        What to do when no pair is comparable (all censored, one event at the last
        time, all events tied at the last time).

    Returns
    -------
    float

    Notes
    -----
    O(n log n): one latest-to-earliest sweep over blocks of equal time with a Fenwick
    tree over risk ranks (see ``docs/concordance.md``). Numerator computed exactly and
    divided once, so the value is bit-identical to lifelines and scikit-survival.
    """
    rep = _counts(risk, time, event, higher_is, tied_tol, compat, on_undefined)
    return rep[0]


def _counts(risk, time, event, higher_is, tied_tol, compat, on_undefined):
    check_option(on_undefined, "on_undefined", ON_UNDEFINED)
    direction, tol = resolve_direction(compat, higher_is, tied_tol, ("lifelines", "sksurv"))
    r, t, e = survival_data(risk, time, event)
    eta = oriented(r, direction)
    totals = pair_counts(eta, t, e, tol)[0]
    conc, disc, tie, comp, tied_time = (int(v) for v in totals)
    if comp == 0:
        c = undefined(no_pair_message(t, e), on_undefined)
    else:
        c = ratio(conc, tie, comp)
    return c, conc, disc, tie, comp, tied_time, eta, t, e, tol


@dataclasses.dataclass(frozen=True)
class ConcordanceReport(Report):
    """Harrell's C with its pair counts and a percentile bootstrap interval.

    Attributes
    ----------
    cindex : float
    concordant, discordant, tied_risk, tied_time, comparable : int
        ``comparable = concordant + discordant + tied_risk``; ``tied_time`` counts
        comparable pairs with equal times (event vs censoring).
    ci_low, ci_high : float
        Percentile interval over the defined bootstrap replicates (NaN when
        ``n_bootstrap = 0`` or every replicate was undefined).
    n_bootstrap, n_bootstrap_undefined : int
        Replicates drawn, and those without a comparable pair (left out).
    """

    cindex: float
    concordant: int
    discordant: int
    tied_risk: int
    tied_time: int
    comparable: int
    ci_low: float
    ci_high: float
    n_bootstrap: int
    n_bootstrap_undefined: int
    confidence: float = 0.95


def concordance_report(risk: Any, time: Any, event: Any = None, *, higher_is: str | None = None,
                       tied_tol: float | None = None, compat: str | None = None,
                       on_undefined: str = "raise", n_bootstrap: int = 0, confidence: float = 0.95,
                       seed: Any = 0) -> ConcordanceReport:
    """Harrell's C (as :func:`concordance_index`) with pair counts and a bootstrap CI.

    Bootstrap: ``n_bootstrap`` resamples of the subjects with replacement drawn by
    ``numpy.random.default_rng(seed)`` (``rng.integers(0, n, n)`` each); replicates
    without a comparable pair are counted in ``n_bootstrap_undefined`` and left out;
    the interval is ``np.quantile`` (linear) at ``(1 ∓ confidence) / 2``.
    """
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", min_value=0)
    confidence = check_fraction(confidence, "confidence")
    rng = as_generator(seed)
    c, conc, disc, tie, comp, tied_time, eta, t, e, tol = _counts(
        risk, time, event, higher_is, tied_tol, compat, on_undefined)
    values = []
    n_undefined = 0
    n = t.size
    for _ in range(n_bootstrap):  # one O(n log n) sweep per replicate
        idx = rng.integers(0, n, size=n)
        totals = pair_counts(eta[idx], t[idx], e[idx], tol)[0]
        if totals[3] == 0:
            n_undefined += 1
        else:
            values.append(ratio(totals[0], totals[2], totals[3]))
    if values:
        alpha = (1.0 - confidence) / 2.0
        lo, hi = np.quantile(np.asarray(values), [alpha, 1.0 - alpha])
        ci_low, ci_high = float(lo), float(hi)
    else:
        ci_low = ci_high = float("nan")
    return ConcordanceReport(cindex=c, concordant=conc, discordant=disc, tied_risk=tie, tied_time=tied_time,
                             comparable=comp, ci_low=ci_low, ci_high=ci_high, n_bootstrap=n_bootstrap,
                             n_bootstrap_undefined=n_undefined, confidence=confidence)
