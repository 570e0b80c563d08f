"""The O(n log n) pair-counting sweep shared by Harrell's, Uno's and Antolini's C.

Why a compiled kernel: the sweep is inherently sequential (each time block queries a
Fenwick tree that the later blocks filled), so vectorised numpy cannot express it;
``conventions.md`` approves numba for exactly this kernel. A plain-Python reference
implementation of the same sweep lives in ``tests/metrics/test_concordance_kernel.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["risk_ranks_and_windows", "sweep_counts"]


def risk_ranks_and_windows(risk: np.ndarray, tied_tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Dense ranks of ``risk`` and the tolerance window of ranks of each distinct value.

    ``u = np.unique(risk)``; ``rank[i]`` is the index of ``risk[i]`` in ``u``; the
    window ``[lo[r], hi[r]]`` of rank r holds every rank ``k`` with
    ``|fl(u[k] - u[r])| <= tied_tol`` (subject i's window is ``lo[rank[i]]..hi[rank[i]]``).
    The window is contiguous because ``fl(a - b)`` is monotone in ``a``; ``searchsorted``
    gives a first guess that is corrected while the exact predicate disagrees (a
    handful of vectorised passes over the distinct values, never a per-sample loop).
    Near-equal scores are never merged into one rank: the relation is not transitive.
    """
    u = np.unique(risk)
    rank = np.searchsorted(u, risk)
    if tied_tol == 0.0:
        own = np.arange(u.size)
        return rank, own, own, u.size
    # The window depends only on the value, so it is found once per distinct value.
    lo_u, hi_u = _windows_of_sorted_values(u, tied_tol)
    return rank, lo_u, hi_u, u.size


def _windows_of_sorted_values(u: np.ndarray, tied_tol: float) -> tuple[np.ndarray, np.ndarray]:
    """For sorted distinct ``u``: first and last k with ``|fl(u[k] - u[i])| <= tied_tol``."""
    m = u.size
    own = np.arange(m)
    lo = np.searchsorted(u, u - tied_tol, side="left")
    hi = np.searchsorted(u, u + tied_tol, side="right") - 1

    def tied(k: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.abs(u[k] - u[idx]) <= tied_tol

    for _ in range(64):  # each pass moves a window edge by one rank; 1–2 passes in practice
        changed = False
        idx = own[lo > 0]
        sel = idx[tied(lo[idx] - 1, idx)]  # rank lo-1 is tied: step down
        if sel.size:
            lo[sel] -= 1
            changed = True
        idx = own[lo < own]
        sel = idx[~tied(lo[idx], idx)]  # rank lo is not tied: step up
        if sel.size:
            lo[sel] += 1
            changed = True
        idx = own[hi < m - 1]
        sel = idx[tied(hi[idx] + 1, idx)]
        if sel.size:
            hi[sel] += 1
            changed = True
        idx = own[hi > own]
        sel = idx[~tied(hi[idx], idx)]
        if sel.size:
            hi[sel] -= 1
            changed = True
        if not changed:
            break
    return lo, hi


@njit(cache=True, nogil=True)
def sweep_counts(order, time, event, rank, lo, hi, n_ranks, same_time_censored, per_subject):
    """Count comparable pairs by a latest-to-earliest sweep over blocks of equal time.

    Parameters
    ----------
    order : int64 (n,)
        Indices sorting ``time`` ascending.
    time : float64 (n,); event : bool (n,)
    rank : int64 (n,)
        Risk rank of each subject.
    lo, hi : int64 (n_ranks,)
        Tolerance window of each rank (see :func:`risk_ranks_and_windows`).
    n_ranks : int
        Number of distinct risks.
    same_time_censored : bool
        True: an event is comparable with censorings at its own time (Harrell's
        rule as in lifelines and scikit-survival). False: only strictly later
        subjects (Uno's published formula).
    per_subject : bool
        Also return the per-subject counts (else the arrays have length 0).

    Returns
    -------
    totals : int64 (5,)
        concordant, discordant, tied_risk, comparable, tied_time.
    conc, tie, comp : int64 (n,) or (0,)
        Per event i (as the earlier member): ranks below its window, ranks inside the
        window, all subjects in the tree. Zero for censored subjects.
    """
    n = order.shape[0]
    tree = np.zeros(n_ranks + 1, dtype=np.int64)
    size = 0
    totals = np.zeros(5, dtype=np.int64)
    m = n if per_subject else 0
    conc_out = np.zeros(m, dtype=np.int64)
    tie_out = np.zeros(m, dtype=np.int64)
    comp_out = np.zeros(m, dtype=np.int64)
    end = n  # block is order[start:end]
    while end > 0:
        t = time[order[end - 1]]
        start = end - 1
        while start > 0 and time[order[start - 1]] == t:
            start -= 1
        n_cens = 0
        if same_time_censored:
            for p in range(start, end):
                s = order[p]
                if not event[s]:
                    n_cens += 1
                    k = rank[s] + 1
                    while k <= n_ranks:
                        tree[k] += 1
                        k += k & (-k)
                    size += 1
        for p in range(start, end):
            s = order[p]
            if event[s]:
                # below = #ranks < lo ; upto = #ranks <= hi
                below = 0
                k = lo[rank[s]]
                while k > 0:
                    below += tree[k]
                    k -= k & (-k)
                upto = 0
                k = hi[rank[s]] + 1
                while k > 0:
                    upto += tree[k]
                    k -= k & (-k)
                disc = size - upto
                tie = upto - below
                totals[0] += below
                totals[1] += disc
                totals[2] += tie
                totals[3] += size
                totals[4] += n_cens
                if per_subject:
                    conc_out[s] = below
                    tie_out[s] = tie
                    comp_out[s] = size
        for p in range(start, end):
            s = order[p]
            if event[s] or not same_time_censored:
                k = rank[s] + 1
                while k <= n_ranks:
                    tree[k] += 1
                    k += k & (-k)
                size += 1
        end = start
    return totals, conc_out, tie_out, comp_out


@njit(cache=True, nogil=True)
def weighted_sums(order, event, weight, conc, tie, comp):
    """Σ w_i(conc_i + ½tie_i) and Σ w_i comp_i over events in ``order``.

    Accumulated one event at a time as ``w*c + 0.5*w*t``, in the order scikit-survival
    uses, so that the rounding (and hence the last bits of Uno's C) match it.
    """
    num = 0.0
    den = 0.0
    for p in range(order.shape[0]):
        s = order[p]
        if event[s]:
            w = weight[s]
            num += w * conc[s] + 0.5 * w * tie[s]
            den += w * comp[s]
    return num, den
