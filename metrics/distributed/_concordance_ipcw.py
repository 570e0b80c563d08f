"""Uno's C on Dask: the censoring Kaplan–Meier Ĝ carried across the time-ordered partitions, and the weights.

``Ĝ(t) = Π_{s ≤ t} (1 − c_s / (r_s − d_s))``. The number at risk ``r_s`` follows from the
sizes of the earlier partitions, so the product runs as a chain of small tasks, each
starting from the product the previous one ended with; a heavy time (spread over several
partitions) is one factor, from the event counts of all its partitions. Every Ĝ value is
the same float64 product as in memory.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metrics.concordance import ipcw_weights
from metrics.core.errors import InputError

__all__ = ["Carry", "Ipcw", "UnoOptions", "carried", "heavy_factor", "km_factors", "partition_weights"]


class UnoOptions(NamedTuple):
    """Uno's C settings resolved on the client."""

    tau: float | None
    g_at: str
    strict: bool
    sksurv_eps: bool
    train: tuple[np.ndarray, np.ndarray] | None  # in-memory training data for Ĝ, or the evaluated data


class Carry(NamedTuple):
    """What Ĝ's chain passes from one unit to the next."""

    n_before: int  # subjects in earlier units
    g_last: float  # Ĝ at the last time of the earlier units (1 before any time)
    zero_from: float  # first time with Ĝ = 0 (nan while Ĝ > 0)


def km_factors(time: np.ndarray, event: np.ndarray, carry: Carry, n_total: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct times of an ordinary partition and Ĝ there, continuing the product from ``carry``.

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


def carried(carry: Carry, n: int, times: np.ndarray, g: np.ndarray) -> Carry:
    """The carry after a unit of ``n`` subjects whose distinct times ``times`` have Ĝ values ``g``."""
    zero_from = carry.zero_from
    if np.isnan(zero_from) and g.size and g[-1] == 0.0:
        zero_from = float(times[np.argmax(g == 0.0)])
    return Carry(carry.n_before + n, float(g[-1]) if g.size else carry.g_last, zero_from)


def heavy_factor(carry: Carry, counts: list[tuple[int, int]], value: float, n_total: int) -> Carry:
    """The chain's step over a heavy time: one factor from the event counts of all its partitions."""
    n = sum(c[0] for c in counts)
    if n == 0:
        return carry
    d = sum(c[1] for c in counts)
    ratio = (n - d) / (n_total - carry.n_before - d) if n > d else 0.0
    return carried(carry, n, np.array([value]), np.array([carry.g_last * (1.0 - ratio)]))


def _event_weights(time: np.ndarray, event: np.ndarray, carry: Carry, table: tuple[np.ndarray, np.ndarray],
                   uno: UnoOptions) -> np.ndarray:
    """``w_i = Ĝ(T_i)^-2`` for events with ``T_i < tau``, 0 otherwise; ``table`` is Ĝ at the unit's times."""
    if uno.train is not None:  # Ĝ from in-memory training data: the in-memory weights themselves
        return ipcw_weights(time, event, uno.train[0], uno.train[1], uno.tau, uno.g_at, uno.sksurv_eps)
    times, g = table
    # the unit's own table, preceded by Ĝ at the end of the earlier units
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


class Ipcw(NamedTuple):
    """A partition's place in Ĝ's chain: the carry before its unit, and Ĝ after it for a heavy time."""

    carry: Carry
    heavy: tuple[float, float] | None  # (the heavy time, Ĝ there)


def partition_weights(time: np.ndarray, event: np.ndarray, ipcw: Ipcw, n_total: int, uno: UnoOptions
                      ) -> np.ndarray:
    """Each subject's weight in one time-ordered partition (Ĝ from its own times, or the heavy time's)."""
    if ipcw.heavy is not None:
        table = (np.array([ipcw.heavy[0]]), np.array([ipcw.heavy[1]]))
    else:
        table = km_factors(time, event, ipcw.carry, n_total)
    return _event_weights(time, event, ipcw.carry, table, uno)
