"""Concordance indices: Harrell's C (and its report), Uno's IPCW C, Antolini's C_td.

All three count pairs with one O(n log n) Fenwick-tree sweep (``_kernel.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from metrics.concordance._inputs import (
    as_event,
    as_vector,
    check_uno_options,
    no_pair_message,
    oriented,
    resolve_direction,
    survival_data,
    undefined,
)
from metrics.concordance._ipcw import ipcw_weights
from metrics.concordance._kernel import pair_counts, weighted_sums
from metrics.concordance.report import ConcordanceReport
from metrics.core.bootstrap import bootstrap
from metrics.core.deprecation import renamed_argument
from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.progress import Progress
from metrics.core.validation import as_float_array, check_positive

__all__ = ["concordance_index", "concordance_report", "time_dependent_concordance", "uno_concordance_index"]

F = TypeVar("F", bound=Callable[..., object])


def ratio(concordant: int, tied_risk: int, comparable: int) -> float:
    """(concordant + ½ tied_risk) / comparable with the numerator exact (a half-integer)."""
    return float((2 * int(concordant) + int(tied_risk)) / 2) / int(comparable)


# --------------------------------------------------------------------------- Harrell
@validate_options
def concordance_index(risk: npt.ArrayLike, time: npt.ArrayLike, event: npt.ArrayLike | None = None, *,
                      higher_is: Literal["risk", "survival"] | None = None, tied_tol: float | None = None,
                      compat: Literal["lifelines", "sksurv"] | None = None,
                      on_undefined: Literal["raise", "nan"] = "raise") -> float:
    r"""Harrell's concordance index.

    .. math:: C = \frac{\text{concordant} + \tfrac12\,\text{tied\_risk}}{\text{comparable}}

    An ordered pair (i, j) is comparable when subject i had the event and
    ``T_i < T_j``, or ``T_i = T_j`` with j censored (a censoring at t outlives an
    event at t). It is concordant when ``η_i − η_j > tied_tol``, discordant when
    ``η_i − η_j < −tied_tol`` and tied otherwise (the difference rounded in float64;
    equal scores, including equal infinities, are always tied).
    Harrell, Lee & Mark, Stat. Med. 15:361 (1996).

    Parameters
    ----------
    risk : array-like (n,)
        Scores; by default a higher score means earlier failure. ±inf is accepted (it
        ranks above or below every finite score, and equal infinities tie: lifelines
        scores with predicted median times, which are +inf for subjects whose survival
        curve never drops to ½); NaN is an error.
    time : array-like (n,)
        Event or censoring times (finite).
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
        :func:`concordance_report` states the direction and tie convention used.
    on_undefined : {"raise", "nan"}
        What to do when no pair is comparable (all censored, one event at the last
        time, all events tied at the last time).

    Returns
    -------
    float

    Notes
    -----
    O(n log n): one argsort of the times, one of the scores, and one latest-to-earliest
    sweep over blocks of equal time with a Fenwick tree over risk ranks. The numerator
    is computed exactly and divided once, so the value is bit-identical to lifelines
    and scikit-survival.
    """
    return _harrell(risk, time, event, higher_is, tied_tol, compat, on_undefined)[0]


def _harrell(risk: npt.ArrayLike, time: npt.ArrayLike, event: npt.ArrayLike | None, higher_is: str | None,
             tied_tol: float | None, compat: str | None, on_undefined: str
             ) -> tuple[float, np.ndarray, str, float, np.ndarray, np.ndarray, np.ndarray]:
    """C, the totals, the resolved direction and tolerance, and the oriented data."""
    direction, tol = resolve_direction(compat, higher_is, tied_tol)
    r, t, e = survival_data(risk, time, event)
    eta = oriented(r, direction)
    totals = pair_counts(eta, t, e, tol)[0]
    if totals[3] == 0:
        c = undefined(no_pair_message(t, e), on_undefined)
    else:
        c = ratio(totals[0], totals[2], totals[3])
    return c, totals, direction, tol, eta, t, e


@renamed_argument("confidence", "ci_level")
@validate_options
def concordance_report(risk: npt.ArrayLike, time: npt.ArrayLike, event: npt.ArrayLike | None = None, *,
                       higher_is: Literal["risk", "survival"] | None = None, tied_tol: float | None = None,
                       compat: Literal["lifelines", "sksurv"] | None = None,
                       on_undefined: Literal["raise", "nan"] = "raise", n_bootstrap: int = 0,
                       ci_level: float = 0.95, seed: int | np.random.Generator | None = 0,
                       progress: Progress = False) -> ConcordanceReport:
    """Harrell's C (as :func:`concordance_index`) with pair counts, conventions and a bootstrap interval.

    The report states the direction the scores were read in (``higher_is``) and the
    tie tolerance (``tied_tol``) after ``compat`` is applied, also in words
    (``report.direction``, ``report.ties``).

    Bootstrap: ``n_bootstrap`` resamples of the subjects with replacement drawn by
    ``numpy.random.default_rng(seed)`` (``rng.integers(0, n, n)`` each) through
    :func:`metrics.core.bootstrap.bootstrap`; replicates without a comparable pair are
    counted in ``n_bootstrap_undefined`` and left out; the interval is ``np.quantile``
    (linear) at ``(1 ∓ ci_level) / 2``. One O(n log n) sweep per replicate.
    ``confidence=`` is the deprecated name of ``ci_level``. ``progress``: False, True
    (a tqdm bar) or a callable ``progress(done, total)`` over the replicates.
    """
    c, totals, direction, tol, eta, t, e = _harrell(risk, time, event, higher_is, tied_tol, compat, on_undefined)

    def statistic(idx: np.ndarray) -> float:
        rep = pair_counts(eta[idx], t[idx], e[idx], tol)[0]
        return float("nan") if rep[3] == 0 else ratio(rep[0], rep[2], rep[3])

    boot = bootstrap(statistic, t.size, n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed, progress=progress)
    conc, disc, tie, comp, tied_time = (int(v) for v in totals)
    return ConcordanceReport(cindex=c, concordant=conc, discordant=disc, tied_risk=tie, tied_time=tied_time,
                             comparable=comp, ci_low=float(boot.ci_low), ci_high=float(boot.ci_high),
                             n_bootstrap=boot.n_bootstrap, n_bootstrap_undefined=boot.n_undefined,
                             ci_level=boot.ci_level, higher_is=direction, tied_tol=tol, compat=compat,
                             replicates=np.asarray(boot.replicates, dtype=float))


# --------------------------------------------------------------------------- Uno
def _lifelines_has_no_ipcw(func: F) -> F:
    """Name the reason ``compat="lifelines"`` is refused (before the generic option check)."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        if kwargs.get("compat") == "lifelines":
            raise InputError("compat must be None or 'sksurv' for Uno's C; lifelines has no IPCW concordance")
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@_lifelines_has_no_ipcw
@validate_options
def uno_concordance_index(risk: npt.ArrayLike, time: npt.ArrayLike, event: npt.ArrayLike, *,
                          train_time: npt.ArrayLike | None = None, train_event: npt.ArrayLike | None = None,
                          tau: float | None = None, higher_is: Literal["risk", "survival"] | None = None,
                          tied_tol: float | None = None, pairs: Literal["harrell", "strict"] = "harrell",
                          g_at: Literal["T", "T-"] = "T", compat: Literal["sksurv"] | None = None,
                          on_undefined: Literal["raise", "nan"] = "raise") -> float:
    r"""Uno's concordance index with inverse probability of censoring weights.

    .. math:: C_U=\frac{\sum_i w_i(\text{conc}_i+\tfrac12\text{tie}_i)}{\sum_i w_i\,\text{comp}_i},
              \qquad w_i = \hat G(T_i)^{-2}\,\mathbf 1[T_i<\tau]

    with Ĝ the reverse Kaplan–Meier of the censoring distribution fitted on
    ``(train_time, train_event)`` (default: the evaluated data) and the counts taken
    over pairs with i as the earlier member; subjects with ``T_j ≥ τ`` still serve as
    later members. Uno, Cai, Pencina, D'Agostino & Wei, Stat. Med. 30:1105 (2011).

    Parameters
    ----------
    risk, time, event : array-like (n,)
        As :func:`concordance_index` (±inf risks accepted); ``event`` is required.
    train_time, train_event : array-like, optional
        Data for Ĝ; both or neither.
    tau : float, optional
        Truncation time (> 0): events at ``T ≥ τ`` get weight 0. Needed when the
        follow-up ends in censoring only (Ĝ reaches 0).
    higher_is, tied_tol : as :func:`concordance_index`.
    pairs : {"harrell", "strict"}
        ``"harrell"`` (default): scikit-survival's rules (same-time censorings are
        later members, risk ties within ``tied_tol`` earn ½). ``"strict"``: the
        published formula: only ``T_i < T_j``, exact risk ties earn 0 and stay in the
        denominator, no tolerance.
    g_at : {"T", "T-"}
        Ĝ(T_i) right-continuous (scikit-survival) or its left limit Ĝ(T_i−).
    compat : {None, "sksurv"}
        ``"sksurv"`` equals ``sksurv.metrics.concordance_index_ipcw(train, test,
        risk, tau)[0]`` including its Ĝ lookup, which counts ``|t − u| < 2.22e-16``
        as a hit on training time u. The default equals it except at one-ulp
        differences. ``"lifelines"`` is refused (lifelines has no Uno C).
    on_undefined : {"raise", "nan"}
        No comparable pair, or a zero weighted denominator (every event at ``T ≥ τ``).

    Notes
    -----
    Same O(n log n) sweep as Harrell's C; the weighted sums are accumulated event by
    event in ``np.argsort(time)`` order as ``w*c + 0.5*w*t``, scikit-survival's
    rounding, which matters at the 1e-11 level for n ≈ 2e4.
    """
    check_uno_options(pairs, tied_tol, compat, g_at)
    direction, tol = resolve_direction(compat, higher_is, tied_tol)
    if pairs == "strict":
        tol = 0.0
    if event is None:
        raise InputError("event is required for Uno's C (censoring weights need it); got None")
    r, t, e = survival_data(risk, time, event)
    if (train_time is None) != (train_event is None):
        given = "train_time" if train_time is not None else "train_event"
        missing = "train_event" if train_time is not None else "train_time"
        raise InputError(f"{missing} is required with {given}; pass both or neither")
    if train_time is None:
        tt, te = t, e
    else:
        tt = as_vector(train_time, "train_time", "times")
        te = as_event(train_event, tt.size, "train_event")
        if te.size != tt.size:
            raise InputError(f"train_time, train_event must have the same length; "
                             f"train_time has {tt.size}, train_event has {te.size}")
        if tt.size == 0:
            raise InputError("train_time must not be empty")
    if tau is not None:
        tau = check_positive(tau, "tau")
    weight = ipcw_weights(t, e, tt, te, tau, g_at, compat == "sksurv")

    eta = oriented(r, direction)
    order = np.argsort(t)  # scikit-survival's summation order (default sort kind)
    totals, conc, tie, comp = pair_counts(eta, t, e, tol, same_time_censored=(pairs == "harrell"),
                                          per_subject=True, order=order)
    if totals[3] == 0:
        return undefined(no_pair_message(t, e), on_undefined)
    if pairs == "strict":
        tie = np.zeros_like(tie)  # exact risk ties earn 0 but stay in the denominator
    num, den = weighted_sums(e[order], weight[order], conc, tie, comp)
    if den == 0.0:
        return undefined(f"no comparable pair carries weight: every event is at a time ≥ tau={tau:g}",
                         on_undefined)
    return float(num / den)


# --------------------------------------------------------------------------- Antolini
def _column_counts(column: np.ndarray, time: np.ndarray, event: np.ndarray,
                   same_time_censored: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-subject pair counts (subject order) with risk = −S (lower survival = earlier failure), exact ties."""
    order = np.argsort(time, kind="stable")
    _, conc_s, tie_s, comp_s = pair_counts(-column, time, event, 0.0, same_time_censored=same_time_censored,
                                           per_subject=True, order=order)
    out = []
    for sorted_counts in (conc_s, tie_s, comp_s):
        counts = np.empty_like(sorted_counts)
        counts[order] = sorted_counts
        out.append(counts)
    return out[0], out[1], out[2]


@validate_options
def time_dependent_concordance(survival: npt.ArrayLike, time_grid: npt.ArrayLike, time: npt.ArrayLike,
                               event: npt.ArrayLike, *, method: Literal["antolini", "adj_antolini"] = "antolini",
                               on_undefined: Literal["raise", "nan"] = "raise") -> float:
    r"""Antolini's time-dependent concordance index C_td.

    .. math:: C_{td}=\frac{\sum_{(i,j)\ \text{comparable}}\mathbf 1[S_i(T_i)<S_j(T_i)]}
                         {\#\text{comparable}}

    Both curves are read at the earlier member's time with the post-step lookup
    ``k(t) = clip(searchsorted(grid, t, side="right") − 1, 0, G − 1)`` (as pycox).
    Comparable pairs as in Harrell's C; prediction ties score 0. The direction is
    fixed: a higher survival probability means longer survival.
    Antolini, Boracchi & Biganzoli, Stat. Med. 24:3927 (2005).

    Parameters
    ----------
    survival : array-like (n, G)
        ``survival[i, k] = S_i(time_grid[k])`` in [0, 1]; rows are subjects (pycox
        takes the transpose).
    time_grid : array-like (G,)
        Strictly increasing finite times.
    time, event : array-like (n,)
        Observed times and event indicators (0/1 or bool).
    method : {"antolini", "adj_antolini"}
        ``"adj_antolini"`` reproduces pycox's default ``concordance_td``: same-time
        ordered pairs with at least one event are comparable (each counted in both
        orders), prediction ties score ½, two simultaneous events score 1 if their
        predictions are equal, else ½.
    on_undefined : {"raise", "nan"}

    Notes
    -----
    For each grid column that holds an event time, one O(n log n) Fenwick sweep
    (the kernel of :func:`concordance_index`) with risk ``−S[:, k]`` over the
    subjects at or after the column's first event: O(G' n log n) with G' ≤ G the
    number of such columns, against pycox's O(n²).
    """
    t = as_vector(time, "time", "times")
    e = as_event(event, t.size)
    grid = as_vector(time_grid, "time_grid", "times")
    if grid.size == 0:
        raise InputError("time_grid must not be empty")
    steps = np.diff(grid)
    if (steps <= 0).any():
        k = int(np.flatnonzero(steps <= 0)[0])
        raise InputError(f"time_grid must be strictly increasing; element {k + 1} ({grid[k + 1]!r}) "
                         f"does not exceed element {k} ({grid[k]!r})")
    surv = as_float_array(survival, "survival", ndim=2, min_value=0.0, max_value=1.0,
                          what="survival probabilities", allow_empty=True)
    if surv.shape != (t.size, grid.size):
        raise InputError(f"survival must have shape (n, G) = ({t.size}, {grid.size}) matching time and "
                         f"time_grid; got {surv.shape}")
    if e.size != t.size:
        raise InputError(f"time, event must have the same length; time has {t.size}, event has {e.size}")
    if t.size < 2:
        raise InputError(f"time must hold at least 2 subjects to form a pair; got {t.size}")

    col = np.clip(np.searchsorted(grid, t, side="right") - 1, 0, grid.size - 1)
    adjusted = method == "adj_antolini"
    num2 = 0  # twice the numerator (integer: halves appear only in the adjusted method)
    den = 0
    event_cols = np.unique(col[e])
    for k in event_cols:  # one sweep per grid column holding an event (not per sample)
        in_col = e & (col == k)
        keep = t >= t[in_col].min()  # earlier subjects never pair with these events
        tk, ek, sk, ck = t[keep], e[keep], surv[keep, k], in_col[keep]
        conc, tie, comp = _column_counts(sk, tk, ek, True)
        if not adjusted:
            num2 += 2 * int(conc[ck].sum())
            den += int(comp[ck].sum())
            continue
        conc_b, tie_b, comp_b = _column_counts(sk, tk, ek, False)
        # strictly later pairs once, same-time event–censoring pairs twice (both orders)
        num2 += int((2 * conc[ck] + tie[ck]).sum()) + int((2 * (conc - conc_b)[ck] + (tie - tie_b)[ck]).sum())
        den += int(comp[ck].sum()) + int((comp - comp_b)[ck].sum())
        # simultaneous events: both orders, 1 each if predictions equal else ½
        tv, sv = tk[ck], sk[ck] + 0.0  # + 0.0 folds -0.0 into 0.0
        _, per_time = np.unique(tv, return_counts=True)
        n_pairs = int((per_time * (per_time - 1) // 2).sum())
        if n_pairs:
            _, per_value = np.unique(np.stack([tv, sv], axis=1), axis=0, return_counts=True)
            equal = int((per_value * (per_value - 1) // 2).sum())
            num2 += 2 * (n_pairs + equal)
            den += 2 * n_pairs
    if den == 0:
        return undefined(no_pair_message(t, e), on_undefined)
    return float((num2 / 2) / den)
