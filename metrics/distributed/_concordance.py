"""Harrell's and Uno's C on Dask, exact: subjects routed to time-ordered partitions, pairs counted in four parts.

Routing. From per-partition time quantiles the driver cuts the time axis into intervals
of about one input partition each. A time value held by more subjects than that (a
*heavy time*, estimated from the same quantiles) gets an interval of its own, spread
over ``k = ⌈estimated count / partition size⌉`` partitions (its subjects dealt round
robin). A subject's partition number follows from its time alone, and Dask's shuffle
(``set_index`` on that number, with explicit divisions) moves it there. Partition
numbers are in time order: a time in partition p is ≤ every time in partition q > p,
and equal only among the partitions of one heavy time. A *unit* is one ordinary
partition or all the partitions of one heavy time; times in different units differ.

Scores. The oriented scores are cut into buckets at boundaries that lie in gaps wider
than ``tied_tol`` (a boundary without such a gap is dropped), so two scores in
different buckets are never tied and their order is the buckets' order. A score value
held by more subjects than a bucket aims at (a *heavy score*, estimated from the score
quantiles) gets a bucket of its own, between the cuts v and the next float above v:
every pair inside such a one-score bucket is tied, so it is counted with the
score-free comparable pairs of parts 2–4 below, never by the kernel.

An ordered pair (i, j), i the earlier member, is counted in exactly one part:

1. same bucket: by the family kernel on that bucket's subjects (grouped by Dask's
   shuffle) with their own times, so with every time and tie rule of
   :func:`metrics.concordance_index`;
2. different buckets, same partition: the kernel's sweep over the partition with the
   bucket number as the score;
3. different buckets, different units: comparable exactly when i had the event (j's
   time is strictly later), counted from per-partition bucket histograms;
4. different buckets, two partitions of one heavy time: comparable only for an event
   and a censored subject, when censorings at the event's own time count (Harrell's C;
   Uno's unless ``pairs="strict"``), counted from those partitions' event and
   censoring histograms.

The comparable and tied-time counts do not depend on the scores: they come from parts
2–4 over all buckets, and the driver checks that they equal the concordant +
discordant + tied-risk total. Every Harrell count is an exact integer, so the result
equals the in-memory value bit for bit, whatever the partitioning.

Memory. Each pass is a separate computation whose tasks return small arrays (the items
of the last pass go straight into Dask's shuffle), so a worker holds no partition-sized
result waiting for a later pass. (For Uno's C the partition pass and the bucket items,
which both need the time-ordered partitions, are one computation of separate tasks, so
that Dask sorts once for both.) A task holds one input partition, one time-ordered
partition (about one input partition, a heavy time included) or one score bucket
(buckets are cut at score quantiles into ``min(2048, max(P, n / 250_000))`` parts for n
subjects on P input partitions: about ``max(n / 2048, min(n / P, 250_000))`` subjects
each; a heavy score's bucket is never handed to the kernel, unless a neighbouring score
within ``tied_tol`` of it merged it with another bucket). The kernel needs
about 130 bytes a subject, so a 500,000-subject task costs about 65 MiB. Dask's
peer-to-peer shuffle adds its own buffers on each worker, bounded by its settings
(``distributed.p2p.storage.buffer``, 100 MiB by default, and
``distributed.p2p.comm.buffer``), not by the number of subjects.

Uno's C adds the censoring Kaplan–Meier Ĝ. Its factors need the number at risk, known
from the partition sizes; the cumulative product runs over the units as a chain of small
tasks, each starting from the product the previous one ended with (a heavy time is one
factor, from its partitions' event counts), so every Ĝ value is the same float64
product as in memory. Each event's weight ``Ĝ(T_i)^-2`` then travels with it, and the
four parts above are summed with weights (floating sums: equal to the in-memory value
to rounding, about 1e-15 relative).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from metrics.concordance import (
    argsort_values,
    as_event,
    as_risk,
    as_vector,
    oriented,
    pair_counts,
    sweep_counts,
    weighted_sums,
)
from metrics.core.errors import InputError
from metrics.distributed import _concordance_plan as plan
from metrics.distributed._concordance_ipcw import (
    Carry,
    Ipcw,
    UnoOptions,
    carried,
    heavy_factor,
    km_factors,
    partition_weights,
)
from metrics.distributed._concordance_plan import BUCKET_NAMES, Counts, Layout, PartitionSums

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["Counts", "UnoOptions", "pair_totals"]

#: Quantiles of the scores and times each partition contributes to the bucket boundaries and the layout.
_SAMPLE = 256
#: Subjects per score bucket aimed at (each bucket is one task of the last pass, about 130 bytes a subject).
_BUCKET_ROWS = 250_000
#: Most score buckets (the client holds two partitions × buckets tables of int64).
_MAX_BUCKETS = 2048
#: The column holding each subject's time-ordered partition (the index after the shuffle).
_TARGET = "__metricprobe_partition__"

Columns = tuple[str, str, str | None]


# ----------------------------------------------------------------------------- per-partition helpers
def _validated(part: pd.DataFrame, columns: Columns, direction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float64 oriented scores, times and bool events of one partition (any length, also 0 or 1)."""
    risk_c, time_c, event_c = columns
    risk = as_risk(part[risk_c].to_numpy(), risk_c)
    time, event = _times_events(part, columns)
    return oriented(risk, direction), time, event


def _times_events(part: pd.DataFrame, columns: Columns) -> tuple[np.ndarray, np.ndarray]:
    time = as_vector(part[columns[1]].to_numpy(), columns[1], "times")
    event = as_event(None if columns[2] is None else part[columns[2]].to_numpy(), time.size, columns[2] or "event")
    return time, event


def _samples(part: pd.DataFrame, columns: Columns, direction: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Score and time quantiles (actual values; finite scores only) and the row count; validates."""
    eta, time, _ = _validated(part, columns, direction)
    q = np.linspace(0.0, 1.0, _SAMPLE)
    finite = eta[np.isfinite(eta)]
    scores = np.quantile(finite, q, method="lower") if finite.size else np.empty(0)
    times = np.quantile(time, q, method="lower") if time.size else time
    return scores, times, int(time.size)


def _neighbours(part: pd.DataFrame, columns: Columns, direction: str, cuts: np.ndarray) -> np.ndarray:
    """For each cut c: the largest score below c and the smallest score at or above c."""
    eta = np.sort(_validated(part, columns, direction)[0])
    if eta.size == 0:
        return np.stack([np.full(cuts.size, -np.inf), np.full(cuts.size, np.inf)])
    pos = np.searchsorted(eta, cuts, side="left")
    below = np.where(pos > 0, eta[np.maximum(pos - 1, 0)], -np.inf)
    above = np.where(pos < eta.size, eta[np.minimum(pos, eta.size - 1)], np.inf)
    return np.stack([below, above])


def _with_target(part: pd.DataFrame, columns: Columns, layout: Layout) -> pd.DataFrame:
    time = as_vector(part[columns[1]].to_numpy(), columns[1], "times")
    return part.assign(**{_TARGET: plan.partition_of(time, layout)})


def _km_step(part: pd.DataFrame, columns: Columns, carry: Carry, n_total: int) -> Carry:
    """The chain's step over an ordinary partition."""
    time, event = _times_events(part, columns)
    return carried(carry, time.size, *km_factors(time, event, carry, n_total)) if time.size else carry


def _event_counts(part: pd.DataFrame, columns: Columns) -> tuple[int, int]:
    """Subjects and events of one partition of a heavy time."""
    time, event = _times_events(part, columns)
    return int(time.size), int(event.sum())


def _partition_pass(part: pd.DataFrame, index: int, columns: Columns, direction: str, cuts: np.ndarray,
                    solo: np.ndarray, same_time_censored: bool, uno: UnoOptions | None, ipcw: Ipcw | None,
                    n_total: int) -> PartitionSums:
    """Pairs inside the partition: of different buckets, all comparable ones, ties in one-score buckets."""
    eta, time, event = _validated(part, columns, direction)
    if time.size and np.any(part.index.to_numpy() != index):
        raise RuntimeError("Dask's shuffle put a subject in another partition than its own; the counts would be wrong")
    n_buckets = cuts.size + 1
    bucket = np.searchsorted(cuts, eta, side="right")
    hist = np.bincount(bucket, minlength=n_buckets).astype(np.int64)
    events = np.bincount(bucket[event], minlength=n_buckets).astype(np.int64)
    span = np.array([time.min(), time.max()]) if time.size else np.array([np.inf, -np.inf])
    order = argsort_values(time)
    ranks = np.arange(n_buckets, dtype=np.int64)  # the bucket is the score: every window is its own bucket
    sorted_bucket = bucket[order].astype(np.int64)
    totals, conc, tie, comp = sweep_counts(time[order], event[order], sorted_bucket, ranks, ranks, n_buckets,
                                           True, same_time_censored, True)
    in_solo = solo[sorted_bucket]  # all pairs of a one-score bucket are tied
    within = np.append(totals[[0, 1, 3, 4]], tie[in_solo].sum()).astype(np.int64)
    sums = np.zeros(3)
    weight_hist: np.ndarray = np.zeros(n_buckets)
    if uno is not None and time.size:
        assert ipcw is not None
        weight = partition_weights(time, event, ipcw, n_total, uno)
        weight_hist = np.bincount(bucket, weights=weight, minlength=n_buckets)
        sorted_weight = weight[order]
        num, den = weighted_sums(event[order], sorted_weight, conc, np.zeros_like(conc), comp)
        sums = np.array([num, den, float(sorted_weight[in_solo] @ tie[in_solo])])
    return PartitionSums(within, hist, events, span, sums, weight_hist)


def _bucket_items(eta: np.ndarray, time: np.ndarray, event: np.ndarray, cuts: np.ndarray, solo: np.ndarray,
                  **extra: np.ndarray) -> pd.DataFrame:
    """Bucket, time, score and event (and ``extra`` columns) of the subjects outside one-score buckets."""
    bucket = np.searchsorted(cuts, eta, side="right")
    keep = ~solo[bucket]
    columns = {"bucket": bucket.astype(np.int32), "time": time, "eta": eta, "event": event, **extra}
    return pd.DataFrame({name: values[keep] for name, values in columns.items()})


def _items(part: pd.DataFrame, columns: Columns, direction: str, cuts: np.ndarray, solo: np.ndarray
           ) -> pd.DataFrame:
    """Harrell's items of one partition (any order: input partitions need no sort)."""
    return _bucket_items(*_validated(part, columns, direction), cuts, solo)


def _uno_items(part: pd.DataFrame, columns: Columns, direction: str, cuts: np.ndarray, solo: np.ndarray,
               uno: UnoOptions, ipcw: Ipcw, n_total: int) -> pd.DataFrame:
    """Uno's items of one time-ordered partition: Harrell's plus each subject's weight."""
    eta, time, event = _validated(part, columns, direction)
    weight = partition_weights(time, event, ipcw, n_total, uno) if time.size else np.zeros(0)
    return _bucket_items(eta, time, event, cuts, solo, weight=weight)


def _bucket_counts(items: pd.DataFrame, tol: float, same_time_censored: bool, uno: UnoOptions | None
                   ) -> pd.DataFrame:
    """Pairs inside each bucket: the kernel on the bucket's subjects with their own times."""
    totals = np.zeros(3, dtype=np.int64)
    num = 0.0
    for _, group in items.groupby("bucket", sort=False):
        eta = group["eta"].to_numpy(np.float64)
        time = group["time"].to_numpy(np.float64)
        event = group["event"].to_numpy(bool)
        order = argsort_values(time)
        counts, conc, tie, comp = pair_counts(eta, time, event, tol, same_time_censored=same_time_censored,
                                              per_subject=uno is not None, order=order)
        totals += counts[:3]
        if uno is not None:
            if uno.strict:
                tie = np.zeros_like(tie)
            num += weighted_sums(event[order], group["weight"].to_numpy(np.float64)[order], conc, tie, comp)[0]
    return pd.DataFrame([[*totals.tolist(), num]], columns=list(BUCKET_NAMES))


# ----------------------------------------------------------------------------- driver
def pair_totals(frame: dd.DataFrame, columns: Columns, *, direction: str, tol: float, uno: UnoOptions | None,
                scheduler: str | None) -> Counts:
    """Pair counts of every subject on every shard (and Uno's weighted sums when ``uno`` is given)."""
    import dask
    import dask.dataframe as dd

    frame = frame[[c for c in columns if c is not None]]
    raw = frame.to_delayed()
    # pass 1 (input order): validation, score quantiles for the buckets, time quantiles for the layout
    (samples,) = dask.compute([dask.delayed(_samples)(p, columns, direction) for p in raw], scheduler=scheduler)
    n_total = sum(s[2] for s in samples)
    if n_total < 2:
        raise InputError(f"{columns[1]} must hold at least 2 subjects to form a pair; got {n_total}")
    n_buckets = min(_MAX_BUCKETS, max(len(raw), -(-n_total // _BUCKET_ROWS)))  # at least one per partition
    cuts = plan.cut_points([(s[0], s[2]) for s in samples], n_buckets)
    if cuts.size:
        # pass 2: keep a boundary only where the scores on its two sides can never tie
        (sides,) = dask.compute([dask.delayed(_neighbours)(p, columns, direction, cuts) for p in raw],
                                scheduler=scheduler)
        below = np.max([s[0] for s in sides], axis=0)
        above = np.min([s[1] for s in sides], axis=0)
        with np.errstate(invalid="ignore", over="ignore"):
            gap = above - below
        cuts = cuts[gap > tol]
    solo = plan.one_score_buckets(cuts)
    layout = plan.time_layout([(s[1], s[2]) for s in samples], max(1, len(raw)))
    n_parts = layout.n_partitions
    targeted = frame.map_partitions(_with_target, columns, layout,
                                    meta=frame._meta.assign(**{_TARGET: np.empty(0, np.int64)}))
    ordered = targeted.set_index(_TARGET, divisions=list(range(n_parts + 1)))
    same_time_censored = uno is None or not uno.strict
    ipcw: list[Ipcw | None] = [None] * n_parts
    if uno is not None:
        # pass 3 (time order): Ĝ's product carried from unit to unit, one small task each
        carry = Carry(0, 1.0, float("nan"))
        chain = []
        parts = ordered.to_delayed()
        for first, spread, value in zip(layout.first, layout.spread, layout.bounds, strict=False):
            chain.append(carry)
            if spread == 1:
                carry = dask.delayed(_km_step)(parts[first], columns, carry, n_total)
            else:
                counts = [dask.delayed(_event_counts)(p, columns) for p in parts[first:first + spread]]
                carry = dask.delayed(heavy_factor)(carry, counts, float(value), n_total)
        chain.append(carry)
        (carries,) = dask.compute(chain, scheduler=scheduler)
        for u, (first, spread, value) in enumerate(zip(layout.first, layout.spread, layout.bounds, strict=False)):
            heavy = (float(value), carries[u + 1].g_last) if spread > 1 else None
            ipcw[first:first + spread] = [Ipcw(carries[u], heavy)] * spread
    # one pass over the time-ordered partitions: pairs of different buckets inside each, histograms (small)
    passes = [dask.delayed(_partition_pass)(p, i, columns, direction, cuts, solo, same_time_censored, uno,
                                            ipcw[i], n_total)
              for i, p in enumerate(ordered.to_delayed())]
    # and: every subject's bucket item, Dask's shuffle by bucket, the pairs inside each bucket
    meta = {"bucket": np.empty(0, np.int32), "time": np.empty(0, np.float64), "eta": np.empty(0, np.float64),
            "event": np.empty(0, bool)}
    if uno is None:  # from the input partitions (no second sort)
        items = frame.map_partitions(_items, columns, direction, cuts, solo, meta=pd.DataFrame(meta),
                                     enforce_metadata=False)
    else:  # the weights need Ĝ's chain, which follows the time-ordered partitions
        meta["weight"] = np.empty(0, np.float64)
        items = dd.from_delayed([dask.delayed(_uno_items)(p, columns, direction, cuts, solo, uno, ipcw[i], n_total)
                                 for i, p in enumerate(ordered.to_delayed())],
                                meta=pd.DataFrame(meta), verify_meta=False)
    out_meta = pd.DataFrame({**{k: np.empty(0, np.int64) for k in BUCKET_NAMES[:3]}, "numerator": np.empty(0)})
    bucket_totals = items.shuffle("bucket", npartitions=cuts.size + 1).map_partitions(
        _bucket_counts, tol, same_time_censored, uno, meta=out_meta)
    if uno is None:  # two computations: nothing partition-sized waits for the other
        (small_vals,) = dask.compute(passes, scheduler=scheduler)
        (bucket_frame,) = dask.compute(bucket_totals, scheduler=scheduler)
    else:  # one, so that Dask sorts once for both (separate tasks: each returns as soon as it ends)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Computing mixed collections", category=UserWarning)
            small_vals, bucket_frame = dask.compute(passes, bucket_totals, scheduler=scheduler)
    tie_weight = 0.0 if uno is not None and uno.strict else 0.5
    return plan.combine(small_vals, bucket_frame, layout, solo, same_time_censored, tie_weight, n_total)


