"""The O(n log n) pair-counting sweep shared by Harrell's, Uno's and Antolini's C.

Why a compiled kernel: the sweep is inherently sequential (each time block queries a
Fenwick tree that the later blocks filled), so vectorised numpy cannot express it.
A plain-Python version of the same sweep (a sorted list instead of the tree) lives in
the tests and is compared with this one on random inputs.

Memory order. The subjects are put in time order once, before the sweep
(``time[order]``, ``event[order]`` and the risk ranks of ``risk[order]``), so the
sweep reads its inputs sequentially; the only random accesses left are those of the
Fenwick tree itself.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

__all__ = ["argsort_values", "pair_counts", "risk_ranks_and_windows", "sweep_counts", "weighted_sums"]


def risk_ranks_and_windows(risk: np.ndarray, tied_tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Dense ranks of ``risk`` and the tolerance window of ranks of each distinct value.

    ``u`` = the sorted distinct values; ``rank[i]`` is the index of ``risk[i]`` in ``u``
    (found with one argsort: no binary search per subject); the window
    ``[lo[r], hi[r]]`` of rank r holds every rank ``k`` with ``u[k] == u[r]`` or
    ``|fl(u[k] - u[r])| <= tied_tol`` (subject i's window is
    ``lo[rank[i]]..hi[rank[i]]``). ±inf are ordinary values here: equal infinities
    tie, an infinity and a finite value never do.

    The window is contiguous because ``fl(a - b)`` is monotone in ``a``; ``searchsorted``
    gives a first guess that is corrected while the exact predicate disagrees (a
    handful of vectorised passes over the distinct values, never a per-sample loop).
    Near-equal scores are never merged into one rank: the relation is not transitive.
    """
    rank = np.empty(risk.size, dtype=np.int64)
    if risk.size < _RADIX_MIN:
        u = _dense_ranks(risk, np.argsort(risk, kind="stable"), rank)
    else:
        index, keys = _radix_argsort(risk)
        u = _dense_ranks_from_keys(index, keys, rank)
    own = np.arange(u.size, dtype=np.int64)
    if tied_tol == 0.0:
        return rank, own, own, u.size
    # The window depends only on the value, so it is found once per distinct value.
    lo_u, hi_u = _windows_of_sorted_values(u, tied_tol)
    return rank, lo_u, hi_u, u.size


@njit(cache=True, nogil=True)
def _dense_ranks(values, by_value, rank):  # pragma: no cover
    """Fill ``rank[i]`` = index of ``values[i]`` among the sorted distinct values; return those values.

    ``by_value`` sorts ``values``; equal values (also -0.0 and 0.0) share a rank.
    """
    n = values.shape[0]
    distinct = np.empty(n, dtype=np.float64)
    m = 0
    for p in range(n):
        i = by_value[p]
        v = values[i]
        if m == 0 or v != distinct[m - 1]:
            distinct[m] = v
            m += 1
        rank[i] = m - 1
    return distinct[:m].copy()


#: From this many values on, :func:`argsort_values` uses the radix sort (fewer passes over memory).
_RADIX_MIN = 50_000
_DIGIT_BITS = 11
_N_DIGITS = 6  # 6 × 11 bits cover the 64-bit key
_DIGIT_MASK = (1 << _DIGIT_BITS) - 1


def argsort_values(values: np.ndarray) -> np.ndarray:
    """Stable argsort of float64 values without NaN (±inf and -0.0 allowed; -0.0 sorts as 0.0).

    Equal to ``np.argsort(values, kind="stable")``. From 50,000 values on, an LSD radix
    sort on the order-preserving 64-bit key of each float (:func:`_radix_argsort`):
    a few sequential passes instead of a comparison sort, 2–3× faster when the values
    share their leading bits (rounded times, scores in a narrow range).
    """
    if values.size < _RADIX_MIN:
        return np.argsort(values, kind="stable")
    return _radix_argsort(values)[0]


@njit(cache=True, nogil=True)
def _dense_ranks_from_keys(index, keys, rank):  # pragma: no cover
    """Like :func:`_dense_ranks`, from the radix sort's sorted keys: no read of the values.

    Equal keys are equal values (-0.0 was keyed as 0.0); each distinct value is decoded
    from its key (the inverse of the order-preserving map).
    """
    n = keys.shape[0]
    sign = np.uint64(1) << np.uint64(63)
    distinct_keys = np.empty(n, dtype=np.uint64)
    m = 0
    for p in range(n):
        k = keys[p]
        if m == 0 or k != distinct_keys[m - 1]:
            distinct_keys[m] = k
            m += 1
        rank[index[p]] = m - 1
    bits = np.empty(m, dtype=np.uint64)
    for j in range(m):
        k = distinct_keys[j]
        bits[j] = k ^ sign if k & sign else ~k
    return bits.view(np.float64)


@njit(cache=True, nogil=True)
def _radix_argsort(values):  # pragma: no cover
    """LSD radix argsort (11-bit digits, stable) of float64 values without NaN; also the sorted keys.

    The key of x is its IEEE-754 bit pattern with the sign bit set for x ≥ 0 and every
    bit flipped for x < 0, which orders keys as the values (-0.0 is first mapped to
    0.0). One pass counts the six digit histograms; each digit whose histogram is not
    a single bucket then costs one stable scatter of (key, index).
    """
    n = values.shape[0]
    bits = values.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    mask = np.uint64(_DIGIT_MASK)
    keys = np.empty(n, dtype=np.uint64)
    counts = np.zeros((_N_DIGITS, _DIGIT_MASK + 1), dtype=np.int64)
    for i in range(n):
        k = bits[i]
        if k == sign:  # -0.0 sorts as 0.0
            k = np.uint64(0)
        if k & sign:
            k = ~k
        else:
            k = k | sign
        keys[i] = k
        for p in range(_N_DIGITS):
            counts[p, np.intp((k >> np.uint64(p * _DIGIT_BITS)) & mask)] += 1
    index = np.arange(n)
    keys_out = np.empty(n, dtype=np.uint64)
    index_out = np.empty(n, dtype=np.int64)
    offsets = np.empty(_DIGIT_MASK + 1, dtype=np.int64)
    for p in range(_N_DIGITS):
        c = counts[p]
        if c.max() == n:
            continue  # every key has the same digit here: the pass would change nothing
        total = 0
        for d in range(_DIGIT_MASK + 1):
            offsets[d] = total
            total += c[d]
        shift = np.uint64(p * _DIGIT_BITS)
        for i in range(n):
            k = keys[i]
            d = np.intp((k >> shift) & mask)
            pos = offsets[d]
            offsets[d] = pos + 1
            keys_out[pos] = k
            index_out[pos] = index[i]
        keys, keys_out = keys_out, keys
        index, index_out = index_out, index
    return index, keys


def _windows_of_sorted_values(u: np.ndarray, tied_tol: float) -> tuple[np.ndarray, np.ndarray]:
    """For sorted distinct ``u``: first and last k with ``|fl(u[k] - u[i])| <= tied_tol``."""
    m = u.size
    own = np.arange(m)
    with np.errstate(invalid="ignore"):  # inf - inf: an infinity is tied only with itself
        lo = np.searchsorted(u, u - tied_tol, side="left")
        hi = np.searchsorted(u, u + tied_tol, side="right") - 1
        lo = np.minimum(lo, own)
        hi = np.maximum(hi, own)

        def tied(k: np.ndarray, idx: np.ndarray) -> np.ndarray:
            return (k == idx) | (np.abs(u[k] - u[idx]) <= tied_tol)

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


def pair_counts(risk: np.ndarray, time: np.ndarray, event: np.ndarray, tied_tol: float, *,
                same_time_censored: bool = True, per_subject: bool = False,
                order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pair counts of validated float64 inputs (``risk`` higher = earlier failure).

    Returns the kernel's ``(totals, conc, tie, comp)``; totals are concordant,
    discordant, tied_risk, comparable, tied_time. The per-subject arrays (when
    ``per_subject``) are in **time order**: entry p belongs to subject ``order[p]``
    (``order`` defaults to a stable argsort of ``time``). O(n log n) time, O(n) memory.
    """
    if order is None and time.size >= _PARALLEL_MIN:
        # the two sorts are independent: sort the times in a second thread (numpy releases the GIL)
        pending = _sorter().submit(argsort_values, time)
        rank, lo, hi, m = risk_ranks_and_windows(risk, tied_tol)
        order = pending.result()
        rank = rank[order]
    else:
        if order is None:
            order = argsort_values(time)
        rank, lo, hi, m = risk_ranks_and_windows(risk[order], tied_tol)
    return sweep_counts(time[order], event[order], rank, lo, hi, m, tied_tol == 0.0,
                        same_time_censored, per_subject)


#: From this many subjects on, the time sort runs in a second thread beside the risk sort.
_PARALLEL_MIN = 100_000
_SORTER: dict[int, ThreadPoolExecutor] = {}


def _sorter() -> ThreadPoolExecutor:
    """One worker thread per process, created on first use (a forked child makes its own:
    the parent's thread does not exist there)."""
    pid = os.getpid()
    if pid not in _SORTER:
        _SORTER.clear()
        _SORTER[pid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="concordance-sort")
    return _SORTER[pid]


@njit(cache=True, nogil=True)
def sweep_counts(time, event, rank, lo, hi, n_ranks, exact, same_time_censored, per_subject):  # pragma: no cover
    """Count comparable pairs by a latest-to-earliest sweep over blocks of equal time.

    Parameters
    ----------
    time : float64 (n,)
        Times in ascending order.
    event : bool (n,)
        Event indicators, in the same order.
    rank : int64 (n,)
        Risk rank of each subject, in the same order.
    lo, hi : int64 (n_ranks,)
        Tolerance window of each rank (see :func:`risk_ranks_and_windows`).
    n_ranks : int
        Number of distinct risks.
    exact : bool
        Every window is its own rank (``tied_tol = 0``): ``lo`` and ``hi`` are not read.
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
        Per event at sorted position p (as the earlier member): ranks below its
        window, ranks inside the window, all subjects in the tree. Zero for censored
        subjects.
    """
    n = time.shape[0]
    tree = np.zeros(n_ranks + 1, dtype=np.int64)  # Fenwick tree of counts over ranks
    count = np.zeros(n_ranks, dtype=np.int64)  # plain counts: #rank r = prefix(r+1) - prefix(r)
    size = 0
    conc_total = 0
    disc_total = 0
    tie_total = 0
    comp_total = 0
    tied_time_total = 0
    m = n if per_subject else 0
    conc_out = np.zeros(m, dtype=np.int64)
    tie_out = np.zeros(m, dtype=np.int64)
    comp_out = np.zeros(m, dtype=np.int64)
    end = n  # block is [start, end)
    while end > 0:
        t = time[end - 1]
        start = end - 1
        while start > 0 and time[start - 1] == t:
            start -= 1
        n_cens = 0
        if same_time_censored:
            for p in range(start, end):
                if not event[p]:
                    n_cens += 1
                    r = rank[p]
                    count[r] += 1
                    k = r + 1
                    while k <= n_ranks:
                        tree[k] += 1
                        k += k & (-k)
                    size += 1
        for p in range(start, end):
            if event[p]:
                r = rank[p]
                if exact:
                    a = r
                    b = r
                else:
                    a = lo[r]
                    b = hi[r]
                # below = #ranks < a ; upto = #ranks <= b
                below = 0
                k = a
                while k > 0:
                    below += tree[k]
                    k -= k & (-k)
                if a == r and b == r:
                    upto = below + count[r]
                else:
                    upto = 0
                    k = b + 1
                    while k > 0:
                        upto += tree[k]
                        k -= k & (-k)
                tie = upto - below
                conc_total += below
                disc_total += size - upto
                tie_total += tie
                comp_total += size
                tied_time_total += n_cens
                if per_subject:
                    conc_out[p] = below
                    tie_out[p] = tie
                    comp_out[p] = size
        for p in range(start, end):
            if event[p] or not same_time_censored:
                r = rank[p]
                count[r] += 1
                k = r + 1
                while k <= n_ranks:
                    tree[k] += 1
                    k += k & (-k)
                size += 1
        end = start
    totals = np.empty(5, dtype=np.int64)
    totals[0] = conc_total
    totals[1] = disc_total
    totals[2] = tie_total
    totals[3] = comp_total
    totals[4] = tied_time_total
    return totals, conc_out, tie_out, comp_out


@njit(cache=True, nogil=True)
def weighted_sums(event, weight, conc, tie, comp):  # pragma: no cover
    """Σ w_p(conc_p + ½tie_p) and Σ w_p comp_p over events, in array order.

    Accumulated one event at a time as ``w*c + 0.5*w*t``, in the order scikit-survival
    uses (time order from ``np.argsort(time)``), so that the rounding (and hence the
    last bits of Uno's C) match it.
    """
    num = 0.0
    den = 0.0
    for p in range(event.shape[0]):
        if event[p]:
            w = weight[p]
            num += w * conc[p] + 0.5 * w * tie[p]
            den += w * comp[p]
    return num, den
