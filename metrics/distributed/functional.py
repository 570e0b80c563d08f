"""Metrics on Dask: the in-memory functions' options and values, for data on many shards.

Each function maps the shards to the family Metric's state (:mod:`._states`), merges the
states in a tree on the cluster, and computes the value once. Sum states (binned counts
and sums) make the result independent of the partitioning: integer counts are
bit-identical to the in-memory ones, float64 sums agree to rounding (they are added in
another order: ulps of each sum, more with more shards). A value that is a small difference
of such sums moves by those ulps: the ECE by ulps of the mean score rather than of the ECE,
which exceeded 1e-12 of the ECE (not 1e-12 absolute) at 2e8 rows in 200 shards.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from metrics.concordance import as_event, as_vector, check_uno_options, ratio, resolve_direction
from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.validation import check_positive
from metrics.distributed._calibration import merged_state, metric_options, report_from_state
from metrics.distributed._concordance import Counts, UnoOptions, pair_totals
from metrics.distributed._frames import as_dask_frame, check_columns, local_shuffle
from metrics.distributed._linco_regret import linco_states, regret_state
from metrics.distributed._states import finalize_state

if TYPE_CHECKING:
    import dask.dataframe as dd

    from metrics.calibration import CalibrationReport
    from metrics.concordance import ConcordanceReport
    from metrics.group_consistency import LincoReport

__all__ = ["calibration_error", "calibration_report", "concordance_index", "concordance_report", "external_regret",
           "linco", "linco_report", "uno_concordance_index"]


def calibration_error(data: dd.DataFrame | str, *, prob_columns: Sequence[str], label_column: str,
                      n_bins: int = 15, norm: Literal["l1", "l2", "max"] = "l1",
                      scope: Literal["top_label", "classwise", "positive_class"] = "top_label",
                      debiased: bool = False, binning: Literal["uniform"] = "uniform",
                      scheduler: str | None = None) -> float:
    r"""Binned calibration error of probabilities stored on many shards.

    The same number as :func:`metrics.calibration_error` on the concatenated rows, with
    the same options (uniform bins; see that function for the estimator). Each task
    returns a fixed-size state; it holds one 65,536-row batch of a Parquet file (a
    Parquet path glob is read with PyArrow, one file per task) or one partition (a Dask
    DataFrame, a JSON Lines or CSV glob), so worker memory does not grow with the rows.

    Parameters
    ----------
    data : dask.dataframe.DataFrame or str
        The predictions, one row per sample; a string is a path glob of Parquet
        (``*.parquet``), JSON Lines (``*.jsonl``) or CSV (``*.csv``) shards.
    prob_columns : sequence of str
        The probability columns in class order (one column: probabilities of class 1).
    label_column : str
        The integer class label column.
    n_bins, norm, scope, debiased
        As :func:`metrics.calibration_error`.
    binning : {"uniform"}
        Quantile bins need every score's global rank; they are not offered here rather
        than approximated.
    scheduler : str, optional
        A Dask scheduler name (``"synchronous"``, ``"threads"``, ``"processes"``); by
        default the active ``dask.distributed`` client, else Dask's default.

    Returns
    -------
    float

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> frame = dd.from_pandas(pd.DataFrame({"p0": [.9, .2, .6, .3], "p1": [.1, .8, .4, .7],
    ...                                      "y": [0, 1, 1, 1]}), npartitions=2)
    >>> round(calibration_error(frame, prob_columns=["p0", "p1"], label_column="y", n_bins=5), 6)
    0.15
    """
    options = metric_options(prob_columns, n_bins=n_bins, norm=norm, scope=scope, debiased=debiased,
                             binning=binning)
    state = merged_state(data, prob_columns, label_column, options, scheduler)
    return float(finalize_state(state))  # type: ignore[arg-type]


def calibration_report(data: dd.DataFrame | str, *, prob_columns: Sequence[str], label_column: str,
                       n_bins: int = 15, scope: Literal["top_label", "classwise", "positive_class"] = "top_label",
                       binning: Literal["uniform"] = "uniform", n_bootstrap: int = 0,
                       scheduler: str | None = None) -> CalibrationReport:
    r"""Per-bin reliability table and every norm (ECE, MCE, ACE, L2, debiased L2) of sharded predictions.

    The same :class:`~metrics.calibration.CalibrationReport` as
    :func:`metrics.calibration_report` on the concatenated rows (counts identical, the
    rest to rounding), built from one merged ``CalibrationError`` state.

    Parameters
    ----------
    data, prob_columns, label_column, n_bins, scope, binning, scheduler
        As :func:`calibration_error`.
    n_bootstrap : int
        Must be 0: a bootstrap resamples rows with replacement, which needs every row
        again per replicate; it is not offered on Dask rather than approximated.

    Returns
    -------
    CalibrationReport
        ``ci`` and ``ece_ci`` are None.
    """
    if n_bootstrap:
        raise InputError(f"n_bootstrap: a bootstrap interval is not computed on Dask (each replicate resamples "
                         f"every row); pass n_bootstrap=0, got {n_bootstrap!r}")
    options = metric_options(prob_columns, n_bins=n_bins, norm="l1", scope=scope, debiased=False,
                             binning=binning)
    return report_from_state(merged_state(data, prob_columns, label_column, options, scheduler), options)


@validate_options
def concordance_index(data: dd.DataFrame | str, *, risk_column: str, time_column: str,
                      event_column: str | None = None, higher_is: Literal["risk", "survival"] | None = None,
                      tied_tol: float | None = None, compat: Literal["lifelines", "sksurv"] | None = None,
                      on_undefined: Literal["raise", "nan"] = "raise", scheduler: str | None = None) -> float:
    r"""Harrell's concordance index of subjects stored on many shards, exact.

    The same number as :func:`metrics.concordance_index` on the concatenated rows (bit
    for bit: every pair count is an exact integer), with the same options and
    conventions. Dask's own sort puts the subjects in time order; the pairs are then
    counted inside each partition, across partitions by score buckets, and inside each
    bucket (see :mod:`metrics.distributed._concordance`). Each task holds one input
    partition, one time-ordered partition or one score bucket (about
    ``max(n / 2048, min(n / P, 250_000))`` subjects for n subjects on P input
    partitions), and returns small arrays, so worker memory does not grow with the number
    of subjects, apart from Dask's shuffle buffers (bounded by its own settings). The
    exceptions: one time value (or one score value) shared by very many subjects stays
    in one partition (or bucket).

    Parameters
    ----------
    data : dask.dataframe.DataFrame or str
        One row per subject; a string is a path glob of Parquet / JSON Lines / CSV shards.
    risk_column, time_column : str
        The score and the event-or-censoring time columns.
    event_column : str, optional
        1 for an observed event, 0 for censoring; default: every subject had the event.
    higher_is, tied_tol, compat, on_undefined
        As :func:`metrics.concordance_index`.
    scheduler : str, optional
        A Dask scheduler name; by default the active client, else Dask's default.

    Returns
    -------
    float

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> frame = dd.from_pandas(pd.DataFrame({"time": [2, 3, 3, 5, 5, 8], "event": [1, 1, 0, 1, 1, 0],
    ...                                      "risk": [.9, .5, .7, .5, .2, .5]}), npartitions=3)
    >>> concordance_index(frame, risk_column="risk", time_column="time", event_column="event") == 7.5 / 11
    True
    """
    counts = _counts(data, risk_column, time_column, event_column, higher_is, tied_tol, compat, None, scheduler)
    if counts.totals[3] == 0:
        return _undefined(on_undefined)
    return ratio(int(counts.totals[0]), int(counts.totals[2]), int(counts.totals[3]))


@validate_options
def concordance_report(data: dd.DataFrame | str, *, risk_column: str, time_column: str,
                       event_column: str | None = None, higher_is: Literal["risk", "survival"] | None = None,
                       tied_tol: float | None = None, compat: Literal["lifelines", "sksurv"] | None = None,
                       on_undefined: Literal["raise", "nan"] = "raise", n_bootstrap: int = 0,
                       scheduler: str | None = None) -> ConcordanceReport:
    """Harrell's C with its exact pair counts and conventions (as :func:`metrics.concordance_report`).

    The counts are identical to the in-memory report's; ``n_bootstrap`` must be 0 (a
    bootstrap resamples every subject per replicate and is not offered on Dask).
    Parameters as :func:`concordance_index`.
    """
    from metrics.concordance import ConcordanceReport

    if n_bootstrap:
        raise InputError(f"n_bootstrap: a bootstrap interval is not computed on Dask (each replicate resamples "
                         f"every subject); pass n_bootstrap=0, got {n_bootstrap!r}")
    direction, tol = resolve_direction(compat, higher_is, tied_tol)
    counts = _counts(data, risk_column, time_column, event_column, higher_is, tied_tol, compat, None, scheduler)
    conc, disc, tie, comp, tied_time = (int(v) for v in counts.totals)
    c = _undefined(on_undefined) if comp == 0 else ratio(conc, tie, comp)
    nan = float("nan")
    return ConcordanceReport(cindex=c, concordant=conc, discordant=disc, tied_risk=tie, tied_time=tied_time,
                             comparable=comp, ci_low=nan, ci_high=nan, n_bootstrap=0, n_bootstrap_undefined=0,
                             ci_level=0.95, higher_is=direction, tied_tol=tol, compat=compat,
                             replicates=np.empty(0))


@validate_options
def uno_concordance_index(data: dd.DataFrame | str, *, risk_column: str, time_column: str, event_column: str,
                          train_time: npt.ArrayLike | None = None, train_event: npt.ArrayLike | None = None,
                          tau: float | None = None, higher_is: Literal["risk", "survival"] | None = None,
                          tied_tol: float | None = None, pairs: Literal["harrell", "strict"] = "harrell",
                          g_at: Literal["T", "T-"] = "T", compat: Literal["sksurv"] | None = None,
                          on_undefined: Literal["raise", "nan"] = "raise", scheduler: str | None = None) -> float:
    r"""Uno's IPCW concordance index of subjects stored on many shards.

    The same number as :func:`metrics.uno_concordance_index` on the concatenated rows,
    to rounding, with the same options: the weighted sums are added in another order
    (<= 1e-12 relative up to thousands of subjects; at millions the in-memory value,
    summed one event at a time to match scikit-survival's last bits, is the less exact of
    the two, a few 1e-12 relative off the exact value). The pair counts are those of :func:`concordance_index` (exact
    integers); the censoring Kaplan–Meier Ĝ is a cumulative product carried across the
    time-ordered partitions, so each weight ``Ĝ(T_i)^-2`` is the in-memory float.

    Parameters
    ----------
    data : dask.dataframe.DataFrame or str
        One row per subject; a string is a path glob of Parquet / JSON Lines / CSV shards.
    risk_column, time_column, event_column : str
        The score, time and 0/1 event columns.
    train_time, train_event : array-like, optional
        In-memory training data for Ĝ (both or neither); default: Ĝ of the evaluated
        data, computed on the cluster.
    tau, higher_is, tied_tol, pairs, g_at, compat, on_undefined
        As :func:`metrics.uno_concordance_index`.
    scheduler : str, optional
        A Dask scheduler name; by default the active client, else Dask's default.

    Returns
    -------
    float
    """
    if compat == "lifelines":  # pragma: no cover - refused by the Literal check first
        raise InputError("compat must be None or 'sksurv' for Uno's C; lifelines has no IPCW concordance")
    check_uno_options(pairs, tied_tol, compat, g_at)
    if (train_time is None) != (train_event is None):
        given = "train_time" if train_time is not None else "train_event"
        missing = "train_event" if train_time is not None else "train_time"
        raise InputError(f"{missing} is required with {given}; pass both or neither")
    train = None
    if train_time is not None:
        tt = as_vector(train_time, "train_time", "times")
        te = as_event(train_event, tt.size, "train_event")
        if te.size != tt.size:
            raise InputError(f"train_time, train_event must have the same length; "
                             f"train_time has {tt.size}, train_event has {te.size}")
        if tt.size == 0:
            raise InputError("train_time must not be empty")
        train = (tt, te)
    if tau is not None:
        tau = check_positive(tau, "tau")
    uno = UnoOptions(tau=tau, g_at=g_at, strict=pairs == "strict", sksurv_eps=compat == "sksurv", train=train)
    counts = _counts(data, risk_column, time_column, event_column, higher_is,
                     0.0 if pairs == "strict" else tied_tol, compat, uno, scheduler)
    if counts.totals[3] == 0:
        return _undefined(on_undefined)
    if counts.denominator == 0.0:
        return _undefined(on_undefined, f"no comparable pair carries weight: every event is at a time ≥ tau={tau:g}")
    return float(counts.numerator / counts.denominator)


def _counts(data: dd.DataFrame | str, risk_column: str, time_column: str, event_column: str | None,
            higher_is: str | None, tied_tol: float | None, compat: str | None, uno: UnoOptions | None,
            scheduler: str | None) -> Counts:
    direction, tol = resolve_direction(compat, higher_is, tied_tol)
    frame = as_dask_frame(data)
    names = [risk_column, time_column] + ([event_column] if event_column is not None else [])
    check_columns(frame, names, "columns")
    with local_shuffle(scheduler):
        return pair_totals(frame, (risk_column, time_column, event_column), direction=direction, tol=tol,
                           uno=uno, scheduler=scheduler)


def _undefined(on_undefined: str, why: str = "no comparable pair (every subject censored, one event at the "
               "last time, or every event tied at the last time)") -> float:
    if on_undefined == "nan":
        return float("nan")
    raise InputError(f"data: {why}; the concordance is undefined (pass on_undefined='nan' to get nan)")


def linco(data: dd.DataFrame | str, *, model_columns: Sequence[str], task: Literal["regression", "classification"]
          = "regression", dispersion: str | None = None,
          baseline_columns: Sequence[Sequence[str]] | None = None,
          baseline_mode: Literal["subtract", "ratio"] = "subtract",
          on_undefined: Literal["raise", "nan"] = "raise", scheduler: str | None = None) -> float:
    r"""LInCo of group models' predictions stored one case per row on many shards.

    The same number as :func:`metrics.linco` on the (K, N) matrix whose row k is
    ``model_columns[k]`` (to rounding: the state is Σ D in float64 and the int64 numbers
    of included and skipped cases, the :class:`metrics.LInCo` Metric's state).

    Parameters
    ----------
    data : dask.dataframe.DataFrame or str
        One row per case; a string is a path glob of Parquet / JSON Lines / CSV shards.
    model_columns : sequence of str
        The K ≥ 2 group models' prediction columns.
    task, dispersion, baseline_mode, on_undefined
        As :func:`metrics.linco` (``dispersion`` by name).
    baseline_columns : sequence of sequences of str, optional
        One column list per random-split baseline (its K' models on the same cases).
    scheduler : str, optional
        A Dask scheduler name; by default the active client, else Dask's default.

    Returns
    -------
    float
    """
    return linco_report(data, model_columns=model_columns, task=task, dispersion=dispersion,
                        baseline_columns=baseline_columns, baseline_mode=baseline_mode,
                        on_undefined=on_undefined, scheduler=scheduler).value


def linco_report(data: dd.DataFrame | str, *, model_columns: Sequence[str],
                 task: Literal["regression", "classification"] = "regression", dispersion: str | None = None,
                 baseline_columns: Sequence[Sequence[str]] | None = None,
                 baseline_mode: Literal["subtract", "ratio"] = "subtract",
                 on_undefined: Literal["raise", "nan"] = "raise", ci_level: float = 0.95,
                 scheduler: str | None = None) -> LincoReport:
    r"""LInCo with its raw value, baselines and interval, as :func:`metrics.linco_report`.

    Every field equals the in-memory report's on the (K, N) matrix (counts exactly, the
    rest to rounding) except ``per_case``, which is empty: one value per case would
    gather every row of the data on the client. Parameters as :func:`linco`, plus
    ``ci_level`` (the interval from the spread of two or more baselines).

    Returns
    -------
    LincoReport
        ``per_case`` is an empty array; ``n_eval`` counts every case, ``n_skipped`` those
        where the dispersion is undefined.
    """
    from metrics.core.validation import check_fraction
    from metrics.group_consistency import LInCo, LincoReport
    from metrics.group_consistency._dispersion import dispersion_name
    from metrics.group_consistency.functional import combine_with_baseline

    if callable(dispersion):
        raise InputError("dispersion: pass a dispersion name on Dask (a callable would be shipped to every worker)")
    ci_level = check_fraction(ci_level, "ci_level")
    probe = LInCo(task=task, dispersion=dispersion, on_undefined=on_undefined)  # type: ignore[arg-type]
    make = functools.partial(LInCo, task=task, dispersion=dispersion,  # type: ignore[arg-type]
                             on_undefined=on_undefined)
    states = linco_states(data, model_columns, list(baseline_columns or []), make, scheduler)
    raw = float(finalize_state(states[0]))  # type: ignore[arg-type]
    baselines = [float(finalize_state(s)) for s in states[1:]]  # type: ignore[arg-type]
    value, mean, lo, hi = combine_with_baseline(raw, baselines, baseline_mode, ci_level)
    n_skipped = int(states[0].n_skipped)  # type: ignore[arg-type]
    n_eval = int(states[0].n_included) + n_skipped  # type: ignore[arg-type]
    name = dispersion_name(probe.dispersion)
    return LincoReport(value=float(value), raw=raw, baseline=mean, baseline_values=baselines, dispersion=name,
                       task=task, groups=list(range(len(model_columns))), group_train_sizes=None,
                       n_eval=n_eval, per_case=np.empty(0), n_skipped=n_skipped,
                       baseline_mode=baseline_mode if baselines else None, ci_low=lo, ci_high=hi,
                       ci_level=ci_level)


def external_regret(data: dd.DataFrame | str, *, loss_columns: Sequence[str],
                    policy_columns: Sequence[str] | None = None, action_column: str | None = None,
                    simplex_atol: float = 1e-6, scheduler: str | None = None) -> float:
    r"""External regret of rounds stored one per row on many shards.

    The same number as :func:`metrics.external_regret` on all rounds (to rounding): the
    state is the :class:`metrics.Regret` Metric's sums (cumulative loss per action,
    learner loss) and round count, which do not depend on the order of the rounds.

    Parameters
    ----------
    data : dask.dataframe.DataFrame or str
        One row per round; a string is a path glob of Parquet / JSON Lines / CSV shards.
    loss_columns : sequence of str
        The A loss columns ℓ_t(0), …, ℓ_t(A−1).
    policy_columns : sequence of str, optional
        The learner's policy π_t, one column per action (expected regret).
    action_column : str, optional
        The action played (realised regret). Exactly one of the two.
    simplex_atol : float
        As :func:`metrics.external_regret`.
    scheduler : str, optional
        A Dask scheduler name; by default the active client, else Dask's default.

    Returns
    -------
    float
    """
    from metrics.regret import Regret

    options: dict[str, Any] = {"n_actions": len(loss_columns), "kind": "external", "simplex_atol": simplex_atol}
    Regret(**options)  # validate the options on the client
    state = regret_state(data, loss_columns, policy_columns, action_column, options, scheduler)
    return float(finalize_state(state))  # type: ignore[arg-type]
