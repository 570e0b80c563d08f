"""Harrell's and Uno's C on Dask, exact: a global time order from Dask's sort, pairs counted in three parts.

The subjects are put in time order with ``set_index`` and explicit divisions (Dask's
sort: partition p holds the times in ``[d_p, d_{p+1})``, so equal times never straddle
two partitions). An ordered pair (i, j) with subject i earlier is then either

1. inside one partition: counted by the family kernel on that partition, with every
   time and tie rule of :func:`metrics.concordance_index`;
2. across partitions p < q: comparable exactly when i had the event (j's time is
   strictly later). Its class (concordant / discordant / tied) depends only on the two
   scores. The scores are cut into buckets at boundaries that lie in gaps wider than
   ``tied_tol`` (a boundary without such a gap is dropped), so two scores in different
   buckets are never tied and their order is the buckets' order: those pairs are
   counted from per-partition bucket histograms. Pairs inside one bucket are counted
   by the same kernel on that bucket's subjects, with the partition index as the time
   and only strictly later partitions comparable (Dask's shuffle groups a bucket). A
   subject's partition index follows from its time and the divisions (Dask's own rule),
   so Harrell's bucket items come straight from the input partitions.

Every Harrell count is an exact integer, so the result equals the in-memory value bit
for bit, whatever the partitioning.

Memory. Each pass is a separate computation whose tasks return small arrays (the items
of the last pass go straight into Dask's shuffle), so a worker holds no partition-sized
result waiting for a later pass. (For Uno's C the partition pass and the bucket items,
which both need the time-ordered partitions, are one computation of separate tasks, so
that Dask sorts once for both.) A task holds one input partition, one time-ordered
partition (about one input partition: the divisions are quantiles of the times, but all
subjects with one time value share a partition) or one score bucket (buckets are cut
at score quantiles into ``min(2048, max(P, n / 250_000))`` parts for n subjects on P
input partitions: about ``max(n / 2048, min(n / P, 250_000))`` subjects each; a score
value shared by more subjects stays in one bucket). The kernel needs about 130
bytes a subject, so a 500,000-subject task costs about 65 MiB. Dask's peer-to-peer
shuffle adds its own buffers on each worker, bounded by its settings
(``distributed.p2p.storage.buffer``, 100 MiB by default, and
``distributed.p2p.comm.buffer``), not by the number of subjects.

Uno's C adds the censoring Kaplan–Meier Ĝ. Its factors need the number at risk, known
from the partition sizes; the cumulative product runs over the time-ordered partitions
as a chain of small tasks, each starting from the product the previous one ended with,
so every Ĝ value is the same float64 product as in memory. Each event's weight
``Ĝ(T_i)^-2`` then travels with it, and the three parts above are summed with weights
(floating sums: equal to the in-memory value to rounding, about 1e-15 relative).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from metrics.concordance import as_event, as_risk, as_vector, ipcw_weights, oriented, pair_counts, weighted_sums
from metrics.core.errors import InputError

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["Counts", "UnoOptions", "pair_totals"]

#: Quantiles of the scores and times each partition contributes to the bucket boundaries and divisions.
_SAMPLE = 256
#: Subjects per score bucket aimed at (each bucket is one task of the last pass, about 130 bytes a subject).
_BUCKET_ROWS = 250_000
#: Most score buckets (the client holds two partitions × buckets tables of int64).
_MAX_BUCKETS = 2048
_COUNT_NAMES = ("concordant", "discordant", "tied_risk", "comparable", "tied_time")

Columns = tuple[str, str, str | None]


class UnoOptions(NamedTuple):
    """Uno's C settings resolved on the client."""

    tau: float | None
    g_at: str
    strict: bool
    sksurv_eps: bool
    train: tuple[np.ndarray, np.ndarray] | None  # in-memory training data for Ĝ, or the evaluated data


class Counts(NamedTuple):
    """Harrell's totals (concordant, discordant, tied_risk, comparable, tied_time) and Uno's weighted sums."""

    totals: np.ndarray
    n: int
    numerator: float
    denominator: float


# ----------------------------------------------------------------------------- per-partition helpers
def _validated(part: pd.DataFrame, columns: Columns, direction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float64 oriented scores, times and bool events of one partition (any length, also 0 or 1)."""
    risk_c, time_c, event_c = columns
    risk = as_risk(part[risk_c].to_numpy(), risk_c)
    time = as_vector(part[time_c].to_numpy(), time_c, "times")
    event = as_event(None if event_c is None else part[event_c].to_numpy(), time.size, event_c or "event")
    return oriented(risk, direction), time, event


def _samples(part: pd.DataFrame, columns: Columns, direction: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Score quantiles (finite scores), time quantiles (actual values) and the row count; validates."""
    eta, time, _ = _validated(part, columns, direction)
    q = np.linspace(0.0, 1.0, _SAMPLE)
    finite = eta[np.isfinite(eta)]
    scores = np.quantile(finite, q) if finite.size else np.empty(0)
    raw_time = part[columns[1]].to_numpy()
    times = np.quantile(raw_time, q, method="lower") if raw_time.size else raw_time[:0]
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


class _Carry(NamedTuple):
    """What Ĝ's chain passes from one time-ordered partition to the next."""

    n_before: int  # subjects in earlier partitions
    g_last: float  # Ĝ at the last time of the earlier partitions (1 before any time)
    zero_from: float  # first time with Ĝ = 0 (nan while Ĝ > 0)


def _km_factors(time: np.ndarray, event: np.ndarray, carry: _Carry, n_total: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Distinct times of a partition and Ĝ there, continuing the product from ``carry``.

    ``Ĝ(t) = Π_{s ≤ t} (1 − c_s / (r_s − d_s))`` with ``r_s = n_total − #{T < s}``: the
    same float64 operations, in the same order, as the in-memory reverse Kaplan–Meier.
    """
    times, inverse, counts = np.unique(time, return_inverse=True, return_counts=True)
    d = np.bincount(inverse, weights=event.astype(np.float64), minlength=times.size).astype(np.int64)
    c = counts - d
    at_risk = n_total - carry.n_before - np.concatenate(([0], np.cumsum(counts)[:-1]))
    ratio = np.divide(c, at_risk - d, out=np.zeros(times.size), where=c != 0)
    g = np.cumprod(np.concatenate(([carry.g_last], 1.0 - ratio)))[1:]
    return times, g


def _km_step(part: pd.DataFrame, columns: Columns, carry: _Carry, n_total: int) -> _Carry:
    time = as_vector(part[columns[1]].to_numpy(), columns[1], "times")
    event = as_event(None if columns[2] is None else part[columns[2]].to_numpy(), time.size, columns[2] or "event")
    if time.size == 0:
        return carry
    times, g = _km_factors(time, event, carry, n_total)
    zero_from = carry.zero_from
    if np.isnan(zero_from) and g[-1] == 0.0:
        zero_from = float(times[np.argmax(g == 0.0)])
    return _Carry(carry.n_before + int(time.size), float(g[-1]), zero_from)


def _weights(time: np.ndarray, event: np.ndarray, carry: _Carry, n_total: int, uno: UnoOptions) -> np.ndarray:
    """``w_i = Ĝ(T_i)^-2`` for events with ``T_i < tau``, 0 otherwise."""
    if uno.train is not None:  # Ĝ from in-memory training data: the in-memory weights themselves
        return ipcw_weights(time, event, uno.train[0], uno.train[1], uno.tau, uno.g_at, uno.sksurv_eps)
    times, g = _km_factors(time, event, carry, n_total)
    # the partition's own table, preceded by Ĝ at the end of the earlier partitions
    table_t = np.concatenate(([-np.inf], times))
    table_g = np.concatenate(([carry.g_last], g))
    weighted = event & (time < uno.tau) if uno.tau is not None else event.copy()
    side = "left" if uno.g_at == "T-" else "right"
    g_i = table_g[np.searchsorted(table_t, time[weighted], side=side) - 1]  # type: ignore[call-overload]
    if np.any(g_i == 0.0):
        t_bad = float(time[weighted][g_i == 0.0].min())
        limit = carry.zero_from if not np.isnan(carry.zero_from) else float(times[np.argmax(g == 0.0)])
        raise InputError(f"tau: the censoring survival Ĝ is 0 from time {limit:g} on (follow-up ends in "
                         f"censoring), so the event at time {t_bad:g} would get an infinite weight; "
                         f"pass tau ≤ {limit:g}")
    weight = np.zeros(time.size)
    weight[weighted] = np.square(1.0 / g_i)
    return weight


def _partition_index(time: np.ndarray, divisions: np.ndarray) -> np.ndarray:
    """The time-ordered partition of each time: Dask's own rule for ``set_index`` with ``divisions``."""
    index = np.searchsorted(divisions, time, side="right") - 1
    index[(index < 0) | (index >= divisions.size - 1)] = divisions.size - 2
    return index


def _partition_pass(part: pd.DataFrame, index: int, columns: Columns, direction: str, tol: float,
                    cuts: np.ndarray, divisions: np.ndarray, uno: UnoOptions | None, carry: _Carry | None,
                    n_total: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Within-partition counts, bucket histograms, time span and Uno sums (all small)."""
    eta, time, event = _validated(part, columns, direction)
    if time.size and np.any(_partition_index(part[columns[1]].to_numpy(), divisions) != index):
        raise RuntimeError("Dask's sort put a time outside its partition's divisions; the pair counts would be wrong")
    n_buckets = cuts.size + 1
    bucket = np.searchsorted(cuts, eta, side="right")
    hist = np.bincount(bucket, minlength=n_buckets).astype(np.int64)
    events = np.bincount(bucket[event], minlength=n_buckets).astype(np.int64)
    span = np.array([time.min(), time.max()]) if time.size else np.array([np.inf, -np.inf])
    sums = np.zeros(2)
    weight_hist = np.zeros(n_buckets)
    if uno is None:
        within = pair_counts(eta, time, event, tol)[0] if eta.size else np.zeros(5, dtype=np.int64)
    else:
        assert carry is not None
        weight = _weights(time, event, carry, n_total, uno) if eta.size else np.zeros(0)
        weight_hist = np.bincount(bucket, weights=weight, minlength=n_buckets)  # type: ignore[assignment]
        within = np.zeros(5, dtype=np.int64)
        if eta.size:
            order = np.argsort(time)
            within, conc, tie, comp = pair_counts(eta, time, event, tol, same_time_censored=not uno.strict,
                                                  per_subject=True, order=order)
            if uno.strict:
                tie = np.zeros_like(tie)
            num, den = weighted_sums(event[order], weight[order], conc, tie, comp)
            later = n_total - carry.n_before - eta.size  # every subject of a later partition is comparable
            sums = np.array([num, den + later * float(weight.sum())])
    return within.astype(np.int64), hist, events, span, sums, weight_hist


def _items(part: pd.DataFrame, columns: Columns, direction: str, cuts: np.ndarray, divisions: np.ndarray
           ) -> pd.DataFrame:
    """Bucket, time-ordered partition, score and event of every subject of one input partition.

    The partition index follows from the time and the divisions alone, so Harrell's items
    come straight from the input partitions, without waiting for the sort.
    """
    eta, _, event = _validated(part, columns, direction)
    return pd.DataFrame({"bucket": np.searchsorted(cuts, eta, side="right").astype(np.int32),
                         "part": _partition_index(part[columns[1]].to_numpy(), divisions).astype(np.int32),
                         "eta": eta, "event": event})


def _uno_items(part: pd.DataFrame, index: int, columns: Columns, direction: str, cuts: np.ndarray,
               uno: UnoOptions, carry: _Carry, n_total: int) -> pd.DataFrame:
    """Uno's items of one time-ordered partition: Harrell's plus each subject's weight."""
    eta, time, event = _validated(part, columns, direction)
    return pd.DataFrame({"bucket": np.searchsorted(cuts, eta, side="right").astype(np.int32),
                         "part": np.full(eta.size, index, dtype=np.int32), "eta": eta, "event": event,
                         "weight": _weights(time, event, carry, n_total, uno) if eta.size else np.zeros(0)})


def _bucket_counts(items: pd.DataFrame, tol: float, uno: UnoOptions | None) -> pd.DataFrame:
    """Pairs inside each bucket across partitions: the kernel with the partition index as time."""
    totals = np.zeros(5, dtype=np.int64)
    num = 0.0
    for _, group in items.groupby("bucket", sort=False):
        eta = group["eta"].to_numpy(np.float64)
        part = group["part"].to_numpy(np.float64)
        event = group["event"].to_numpy(bool)
        if uno is None:
            totals += pair_counts(eta, part, event, tol, same_time_censored=False)[0]
            continue
        order = np.argsort(part)
        counts, conc, tie, comp = pair_counts(eta, part, event, tol, same_time_censored=False,
                                              per_subject=True, order=order)
        totals += counts
        if uno.strict:
            tie = np.zeros_like(tie)
        num += weighted_sums(event[order], group["weight"].to_numpy(np.float64)[order], conc, tie, comp)[0]
    return pd.DataFrame([[*totals.tolist(), num]], columns=[*_COUNT_NAMES, "numerator"])


def _cut_points(samples: list[np.ndarray], n_buckets: int) -> np.ndarray:
    pooled = np.concatenate([s for s in samples if s.size] or [np.empty(0)])
    if pooled.size == 0 or n_buckets < 2:
        return np.empty(0)
    cuts = np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, n_buckets + 1)[1:-1]))
    return cuts[np.isfinite(cuts)]


def _divisions(samples: list[np.ndarray], npartitions: int) -> list[object]:
    """Sorted distinct time boundaries from the pooled per-partition time quantiles (actual values)."""
    pooled = np.concatenate([s for s in samples if s.size])
    bounds = np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, npartitions + 1), method="lower"))
    bounds = np.unique(np.concatenate([bounds, [pooled.min(), pooled.max()]]))
    out = bounds.tolist()
    return out if len(out) > 1 else out * 2


# ----------------------------------------------------------------------------- driver
def pair_totals(frame: dd.DataFrame, columns: Columns, *, direction: str, tol: float, uno: UnoOptions | None,
                scheduler: str | None) -> Counts:
    """Pair counts of every subject on every shard (and Uno's weighted sums when ``uno`` is given)."""
    import dask
    import dask.dataframe as dd

    frame = frame[[c for c in columns if c is not None]]
    raw = frame.to_delayed()
    # pass 1 (input order): validation, score quantiles for the buckets, time quantiles for the sort
    (samples,) = dask.compute([dask.delayed(_samples)(p, columns, direction) for p in raw], scheduler=scheduler)
    n_total = sum(s[2] for s in samples)
    if n_total < 2:
        raise InputError(f"{columns[1]} must hold at least 2 subjects to form a pair; got {n_total}")
    n_buckets = min(_MAX_BUCKETS, max(len(raw), -(-n_total // _BUCKET_ROWS)))  # at least one per partition
    cuts = _cut_points([s[0] for s in samples], n_buckets)
    if cuts.size:
        # pass 2: keep a boundary only where the scores on its two sides can never tie
        (sides,) = dask.compute([dask.delayed(_neighbours)(p, columns, direction, cuts) for p in raw],
                                scheduler=scheduler)
        below = np.max([s[0] for s in sides], axis=0)
        above = np.min([s[1] for s in sides], axis=0)
        with np.errstate(invalid="ignore", over="ignore"):
            gap = above - below
        cuts = cuts[gap > tol]
    divisions = _divisions([s[1] for s in samples], max(1, len(raw)))
    ordered = frame.set_index(columns[1], drop=False, divisions=divisions)
    carries: list[_Carry | None] = [None] * ordered.npartitions
    if uno is not None:
        # pass 3 (time order): Ĝ's product carried from partition to partition, one small task each
        carry = _Carry(0, 1.0, float("nan"))
        chain = []
        for p in ordered.to_delayed():
            chain.append(carry)
            carry = dask.delayed(_km_step)(p, columns, carry, n_total)
        (carries,) = dask.compute(chain, scheduler=scheduler)
    bounds = np.asarray(divisions)
    # one pass over the time-ordered partitions: within-partition counts and histograms (small results)
    passes = [dask.delayed(_partition_pass)(p, i, columns, direction, tol, cuts, bounds, uno, carries[i], n_total)
              for i, p in enumerate(ordered.to_delayed())]
    # and: every subject's bucket item, Dask's shuffle by bucket, the pairs inside each bucket
    meta = {"bucket": np.empty(0, np.int32), "part": np.empty(0, np.int32), "eta": np.empty(0, np.float64),
            "event": np.empty(0, bool)}
    if uno is None:  # from the input partitions (no second sort)
        items = frame.map_partitions(_items, columns, direction, cuts, bounds, meta=pd.DataFrame(meta),
                                     enforce_metadata=False)
    else:  # the weights need Ĝ's chain, which follows the time-ordered partitions
        meta["weight"] = np.empty(0, np.float64)
        items = dd.from_delayed([dask.delayed(_uno_items)(p, i, columns, direction, cuts, uno, carries[i], n_total)
                                 for i, p in enumerate(ordered.to_delayed())],
                                meta=pd.DataFrame(meta), verify_meta=False)
    n_out = cuts.size + 1
    out_meta = pd.DataFrame({**{k: np.empty(0, np.int64) for k in _COUNT_NAMES}, "numerator": np.empty(0)})
    bucket_totals = items.shuffle("bucket", npartitions=n_out).map_partitions(_bucket_counts, tol, uno, meta=out_meta)
    if uno is None:  # two computations: nothing partition-sized waits for the other
        (small_vals,) = dask.compute(passes, scheduler=scheduler)
        (bucket_frame,) = dask.compute(bucket_totals, scheduler=scheduler)
    else:  # one, so that Dask sorts once for both (separate tasks: each returns as soon as it ends)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Computing mixed collections", category=UserWarning)
            small_vals, bucket_frame = dask.compute(passes, bucket_totals, scheduler=scheduler)
    within: np.ndarray = np.sum([s[0] for s in small_vals], axis=0, dtype=np.int64)  # type: ignore[assignment]
    hist = np.array([s[1] for s in small_vals], dtype=np.int64)
    events = np.array([s[2] for s in small_vals], dtype=np.int64)
    spans = np.array([s[3] for s in small_vals])
    nonempty = spans[hist.sum(axis=1) > 0]
    if nonempty.shape[0] > 1 and not np.all(nonempty[:-1, 1] < nonempty[1:, 0]):
        raise RuntimeError("Dask's sort left equal times in two partitions; the pair counts would be wrong")
    # pairs across partitions and buckets: from the histograms
    later = np.cumsum(hist[::-1], axis=0)[::-1]
    later = np.vstack([later[1:], np.zeros((1, hist.shape[1]), dtype=np.int64)])  # strictly later partitions
    below = np.cumsum(later, axis=1) - later
    above = later.sum(axis=1, keepdims=True) - np.cumsum(later, axis=1)
    conc_cross = int((events * below).sum())
    disc_cross = int((events * above).sum())
    same_bucket = (bucket_frame[list(_COUNT_NAMES)].sum().to_numpy(np.int64) if len(bucket_frame)
                   else np.zeros(5, np.int64))
    totals: np.ndarray = np.array(within, dtype=np.int64)
    totals[0] += conc_cross + same_bucket[0]
    totals[1] += disc_cross + same_bucket[1]
    totals[2] += same_bucket[2]
    totals[3] += conc_cross + disc_cross + same_bucket[3]
    numerator = denominator = 0.0
    if uno is not None:
        weight_hist = np.array([s[5] for s in small_vals])
        numerator = (float(sum(s[4][0] for s in small_vals)) + float((weight_hist * below).sum())
                     + float(bucket_frame["numerator"].sum()))
        denominator = float(sum(s[4][1] for s in small_vals))
    return Counts(totals, n_total, numerator, denominator)
