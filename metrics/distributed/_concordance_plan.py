"""Harrell's and Uno's C on Dask, the driver's side: where subjects go, and how the four parts add up.

See :mod:`metrics.distributed._concordance` for the algorithm.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["BUCKET_NAMES", "Counts", "Layout", "PartitionSums", "check_order", "combine", "cut_points",
           "one_score_buckets", "partition_of", "time_layout"]

BUCKET_NAMES = ("concordant", "discordant", "tied_risk", "numerator")


class Counts(NamedTuple):
    """Harrell's totals (concordant, discordant, tied_risk, comparable, tied_time) and Uno's weighted sums."""

    totals: np.ndarray
    n: int
    numerator: float
    denominator: float


class Layout(NamedTuple):
    """Time interval i (``[bounds[i], bounds[i+1])``, the last one closed) goes to partitions
    ``first[i] .. first[i] + spread[i] - 1``; ``spread[i] > 1`` only for a heavy time's own interval."""

    bounds: np.ndarray
    first: np.ndarray
    spread: np.ndarray

    @property
    def n_partitions(self) -> int:
        return int(self.first[-1] + self.spread[-1])


class PartitionSums(NamedTuple):
    """What the pass over one time-ordered partition returns (all small)."""

    within: np.ndarray  # concordant, discordant (different buckets), comparable, tied time (all), ties in a one-score bucket
    hist: np.ndarray  # subjects per bucket
    events: np.ndarray  # events per bucket
    span: np.ndarray  # first and last time
    sums: np.ndarray  # Uno: Σ w·concordant (different buckets), Σ w·comparable, Σ w·ties in a one-score bucket
    weight_hist: np.ndarray  # Uno: Σ w per bucket


def partition_of(time: np.ndarray, layout: Layout) -> np.ndarray:
    """Each subject's time-ordered partition; a heavy time's subjects are dealt over its partitions in turn."""
    interval = np.clip(np.searchsorted(layout.bounds, time, side="right") - 1, 0, layout.first.size - 1)
    target = layout.first[interval]
    spread = layout.spread[interval]
    dealt = spread > 1
    if dealt.any():
        turn = np.cumsum(dealt) - 1
        target[dealt] += turn[dealt] % spread[dealt]
    return target


def estimated_counts(given: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sampled values and their estimated counts: each partition's share of samples
    equal to the value, times that partition's size."""
    pooled = np.concatenate([s for s, _ in given])
    values, where = np.unique(pooled, return_inverse=True)
    share = np.concatenate([np.full(s.size, n / s.size) for s, n in given])
    return values, np.bincount(where, weights=share, minlength=values.size)


def cut_points(samples: list[tuple[np.ndarray, int]], n_buckets: int) -> np.ndarray:
    """Score quantiles; a score held by more subjects than a bucket aims at gets a bucket of its own."""
    given = [(s, n) for s, n in samples if s.size]
    if not given or n_buckets < 2:
        return np.empty(0)
    pooled = np.concatenate([s for s, _ in given])
    values, estimate = estimated_counts(given)
    heavy = values[estimate > sum(n for _, n in given) / n_buckets]
    cuts = np.unique(np.concatenate([np.quantile(pooled, np.linspace(0.0, 1.0, n_buckets + 1)[1:-1]), heavy,
                                     np.nextafter(heavy, np.inf)]))
    return cuts[np.isfinite(cuts)]


def one_score_buckets(cuts: np.ndarray) -> np.ndarray:
    """Buckets that hold a single score value v (between the cuts v and the next float above v)."""
    solo = np.zeros(cuts.size + 1, dtype=bool)
    solo[1:-1] = cuts[1:] == np.nextafter(cuts[:-1], np.inf)
    return solo


def time_layout(samples: list[tuple[np.ndarray, int]], npartitions: int) -> Layout:
    """Time intervals of about one input partition each; a heavy time spread over partitions of its own."""
    given = [(s, n) for s, n in samples if s.size]
    pooled = np.concatenate([s for s, _ in given])
    per_part = -(-sum(n for _, n in given) // npartitions)
    bounds = np.quantile(pooled, np.linspace(0.0, 1.0, npartitions + 1), method="lower")
    values, estimate = estimated_counts(given)
    heavy = estimate > per_part
    bounds = np.unique(np.concatenate([bounds, [pooled.min(), pooled.max()], values[heavy],
                                       np.nextafter(values[heavy], np.inf)]))
    if bounds.size == 1:
        bounds = np.repeat(bounds, 2)
    spread = np.ones(bounds.size - 1, dtype=np.int64)
    spread[np.searchsorted(bounds, values[heavy])] = np.ceil(estimate[heavy] / per_part).astype(np.int64)
    first = np.concatenate(([0], np.cumsum(spread)[:-1])).astype(np.int64)
    return Layout(bounds, first, spread)


def pairs_below(x: np.ndarray, y: np.ndarray) -> int | float:
    """Σ over rows and buckets b of x[b] · Σ_{b' < b} y[b'] (x may be float weights)."""
    return (x * (np.cumsum(y, axis=-1) - y)).sum()


def pairs_above(x: np.ndarray, y: np.ndarray) -> int:
    """Σ over rows and buckets b of x[b] · Σ_{b' > b} y[b']."""
    return int((x * (y.sum(axis=-1, keepdims=True) - np.cumsum(y, axis=-1))).sum())


def combine(small_vals: list[PartitionSums], bucket_frame: pd.DataFrame, layout: Layout, solo: np.ndarray,
             same_time_censored: bool, tie_weight: float, n_total: int) -> Counts:
    """Add the four parts: same bucket, same partition, different units, two partitions of one heavy time.

    Pairs in a one-score bucket are all tied: they are counted with the score-free
    comparable pairs (parts 2–4) instead of by the kernel.
    """
    within = np.array([s.within for s in small_vals], dtype=np.int64).sum(axis=0)
    hist = np.array([s.hist for s in small_vals], dtype=np.int64)
    events = np.array([s.events for s in small_vals], dtype=np.int64)
    weight_hist = np.array([s.weight_hist for s in small_vals])
    check_order(np.array([s.span for s in small_vals]), hist.sum(axis=1) > 0, layout)
    conc, disc, comparable, tied_time, tied_risk = (int(v) for v in within)
    numerator, denominator, tied_weight = np.sum([s.sums for s in small_vals], axis=0).tolist()
    # different units: every subject of a later unit has a strictly later time
    unit_hist = np.add.reduceat(hist, layout.first, axis=0)
    unit_events = np.add.reduceat(events, layout.first, axis=0)
    unit_weight = np.add.reduceat(weight_hist, layout.first, axis=0)
    later = np.cumsum(unit_hist[::-1], axis=0)[::-1]
    later = np.vstack([later[1:], np.zeros((1, hist.shape[1]), dtype=np.int64)])  # strictly later units
    conc += int(pairs_below(unit_events, later))
    disc += pairs_above(unit_events, later)
    comparable += int((unit_events.sum(axis=1) * later.sum(axis=1)).sum())
    tied_risk += int((unit_events[:, solo] * later[:, solo]).sum())
    numerator += float(pairs_below(unit_weight, later))
    denominator += float((unit_weight.sum(axis=1) * later.sum(axis=1)).sum())
    tied_weight += float((unit_weight[:, solo] * later[:, solo]).sum())
    # two partitions of one heavy time: an event and a censoring at the same time, when those pairs count
    if same_time_censored:
        for first, spread in zip(layout.first, layout.spread, strict=True):
            if spread == 1:
                continue
            rows = slice(first, first + spread)
            e, c, w = events[rows], hist[rows] - events[rows], weight_hist[rows]
            et, ct, wt = e.sum(axis=0), c.sum(axis=0), w.sum(axis=0)
            conc += int(pairs_below(et, ct) - pairs_below(e, c))
            disc += pairs_above(et, ct) - pairs_above(e, c)
            pairs = int(et.sum() * ct.sum() - (e.sum(axis=1) * c.sum(axis=1)).sum())
            comparable += pairs
            tied_time += pairs
            tied_risk += int(et[solo] @ ct[solo] - (e[:, solo] * c[:, solo]).sum())
            numerator += float(pairs_below(wt, ct) - pairs_below(w, c))
            denominator += float(wt.sum() * ct.sum() - (w.sum(axis=1) * c.sum(axis=1)).sum())
            tied_weight += float(wt[solo] @ ct[solo] - (w[:, solo] * c[:, solo]).sum())
    # same bucket, outside the one-score buckets
    same = bucket_frame[list(BUCKET_NAMES)].sum() if len(bucket_frame) else pd.Series(0, index=BUCKET_NAMES)
    conc += int(same["concordant"])
    disc += int(same["discordant"])
    tied_risk += int(same["tied_risk"])
    numerator += float(same["numerator"]) + tie_weight * tied_weight
    if conc + disc + tied_risk != comparable:
        raise RuntimeError(f"the pair counts do not add up ({conc} + {disc} + {tied_risk} ≠ {comparable} "
                           f"comparable pairs); Dask returned partitions other than those asked for")
    totals = np.array([conc, disc, tied_risk, comparable, tied_time], dtype=np.int64)
    return Counts(totals, n_total, numerator, denominator)


def check_order(spans: np.ndarray, nonempty: np.ndarray, layout: Layout) -> None:
    """Times must increase strictly from unit to unit, and a heavy time's partitions hold only that time."""
    unit = np.repeat(np.arange(layout.first.size), layout.spread)
    lo = np.full(layout.first.size, np.inf)
    hi = np.full(layout.first.size, -np.inf)
    np.minimum.at(lo, unit[nonempty], spans[nonempty, 0])
    np.maximum.at(hi, unit[nonempty], spans[nonempty, 1])
    filled = np.isfinite(lo)
    heavy = (layout.spread > 1) & filled
    if (np.any(lo[filled][1:] <= hi[filled][:-1]) or np.any(lo[heavy] != layout.bounds[:-1][heavy])
            or np.any(hi[heavy] != layout.bounds[:-1][heavy])):
        raise RuntimeError("Dask's shuffle left equal times in two units; the pair counts would be wrong")
