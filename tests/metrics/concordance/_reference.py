"""Slow, obviously-correct references for the concordance tests (O(n²) pair loops)."""

from __future__ import annotations

import bisect

import numpy as np


def pair_counts_quadratic(risk, time, event, tol, same_time_censored=True):
    """Per-event (conc, tie, comp) and totals by looking at every ordered pair."""
    risk, time, event = np.asarray(risk, float), np.asarray(time, float), np.asarray(event, bool)
    n = time.size
    conc = np.zeros(n, np.int64)
    tie = np.zeros(n, np.int64)
    comp = np.zeros(n, np.int64)
    tied_time = 0
    for i in range(n):
        if not event[i]:
            continue
        for j in range(n):
            if i == j:
                continue
            later = time[j] > time[i] or (same_time_censored and time[j] == time[i] and not event[j])
            if not later:
                continue
            comp[i] += 1
            tied_time += time[j] == time[i]
            d = float(risk[i]) - float(risk[j])  # Python floats: inf - inf is nan, silently
            if risk[i] == risk[j] or abs(d) <= tol:  # equal scores tie (also equal infinities)
                tie[i] += 1
            elif d > 0:
                conc[i] += 1
    c = int(conc.sum())
    t = int(tie.sum())
    m = int(comp.sum())
    return dict(concordant=c, tied_risk=t, comparable=m, discordant=m - c - t, tied_time=int(tied_time)), conc, tie, comp


def sweep_reference(order, time, event, rank, lo, hi, same_time_censored):
    """Plain-Python version of the kernel's sweep: a sorted list instead of a Fenwick tree."""
    pool: list[int] = []
    n = len(order)
    conc = [0] * n
    tie = [0] * n
    comp = [0] * n
    end = n
    while end > 0:
        t = time[order[end - 1]]
        start = end - 1
        while start > 0 and time[order[start - 1]] == t:
            start -= 1
        block = [order[p] for p in range(start, end)]
        if same_time_censored:
            for s in block:
                if not event[s]:
                    bisect.insort(pool, rank[s])
        for s in block:
            if event[s]:
                below = bisect.bisect_left(pool, lo[rank[s]])
                upto = bisect.bisect_right(pool, hi[rank[s]])
                conc[s], tie[s], comp[s] = below, upto - below, len(pool)
        for s in block:
            if event[s] or not same_time_censored:
                bisect.insort(pool, rank[s])
        end = start
    return np.array(conc), np.array(tie), np.array(comp)


def uno_quadratic(risk, time, event, weight, tol, strict=False):
    """Σ w(conc + ½tie) / Σ w comp over every ordered pair (exact fractions via float sums)."""
    _, conc, tie, comp = pair_counts_quadratic(risk, time, event, 0.0 if strict else tol,
                                               same_time_censored=not strict)
    if strict:
        tie = np.zeros_like(tie)
    return float(np.sum(weight * (conc + 0.5 * tie)) / np.sum(weight * comp))


def antolini_quadratic(surv, grid, time, event, adjusted=False):
    """C_td by looking at every ordered pair (pycox's rules written out)."""
    surv, grid, time, event = (np.asarray(surv, float), np.asarray(grid, float), np.asarray(time, float),
                               np.asarray(event, bool))
    col = np.clip(np.searchsorted(grid, time, side="right") - 1, 0, grid.size - 1)
    num = 0.0
    den = 0
    n = time.size
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            si, sj = surv[i, col[i]], surv[j, col[i]]
            if not adjusted:
                if event[i] and (time[i] < time[j] or (time[i] == time[j] and not event[j])):
                    den += 1
                    num += si < sj
                continue
            if time[i] < time[j] and event[i]:
                den += 1
                num += (si < sj) + 0.5 * (si == sj)
            elif time[i] == time[j] and (event[i] or event[j]):
                den += 1
                if event[i] and event[j]:
                    num += 1.0 if si == sj else 0.5
                elif event[i]:
                    num += (si < sj) + 0.5 * (si == sj)
                else:
                    num += (si > sj) + 0.5 * (si == sj)
    return num / den
