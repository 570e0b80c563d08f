"""Inverse-probability-of-censoring weights for Uno's C (reverse Kaplan–Meier)."""

from __future__ import annotations

import numpy as np

from metrics.core.errors import InputError

__all__ = ["censoring_survival", "ipcw_weights", "lookup"]


def censoring_survival(train_time: np.ndarray, train_event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Reverse Kaplan–Meier estimate of the censoring survival Ĝ at the distinct times.

    .. math:: \hat G(t)=\prod_{s\le t}\Bigl(1-\frac{c_s}{r_s-d_s}\Bigr)

    with r_s subjects at risk (T ≥ s), d_s events and c_s censorings at s. A factor is
    1 when ``c_s = 0`` (events leave the risk set before same-time censorings); no
    censoring gives Ĝ ≡ 1. Computed with the same float operations as
    scikit-survival's ``CensoringDistributionEstimator`` (so weights agree bitwise).

    Returns
    -------
    times : float64 (m,) distinct training times, ascending
    g : float64 (m,) Ĝ at those times (right-continuous)
    """
    times, inverse, counts = np.unique(train_time, return_inverse=True, return_counts=True)
    d = np.bincount(inverse, weights=train_event.astype(np.float64), minlength=times.size).astype(np.int64)
    c = counts - d
    at_risk = train_time.size - np.concatenate(([0], np.cumsum(counts)[:-1]))
    if not (c > 0).any():
        return times, np.ones(times.size)
    denom = at_risk - d
    ratio = np.divide(c, denom, out=np.zeros(times.size), where=c != 0)
    return times, np.cumprod(1.0 - ratio)


def lookup(g_times: np.ndarray, g: np.ndarray, t: np.ndarray, g_at: str, sksurv_eps: bool) -> np.ndarray:
    """Ĝ(t) (right-continuous step) or Ĝ(t−) (left limit); 1 before the first time."""
    if g_at == "T-":
        idx = np.searchsorted(g_times, t, side="left") - 1
    elif sksurv_eps:
        # scikit-survival counts |t − u| < machine epsilon as a hit on training time u.
        idx = np.searchsorted(g_times, t, side="left")
        safe = np.minimum(idx, g_times.size - 1)
        exact = (idx < g_times.size) & (np.abs(g_times[safe] - t) < np.finfo(np.float64).eps)
        idx = np.where(exact, idx, idx - 1)
    else:
        idx = np.searchsorted(g_times, t, side="right") - 1
    out = np.ones(t.size)
    inside = idx >= 0
    out[inside] = g[idx[inside]]
    return out


def ipcw_weights(time: np.ndarray, event: np.ndarray, train_time: np.ndarray, train_event: np.ndarray,
                 tau: float | None, g_at: str, sksurv_eps: bool) -> np.ndarray:
    """``w_i = Ĝ(T_i)^-2`` for events with ``T_i < tau`` (0 otherwise); raises where Ĝ is 0 or unknown."""
    g_times, g = censoring_survival(train_time, train_event)
    weighted = event & (time < tau) if tau is not None else event.copy()
    g_i = lookup(g_times, g, time[weighted], g_at, sksurv_eps)
    beyond = time[weighted] > g_times[-1]
    # Beyond the last training time Ĝ is unknown (if it is still > 0) or 0.
    bad = beyond | (g_i == 0.0)
    if bad.any():
        t_bad = float(time[weighted][bad].min())
        if g[-1] > 0:
            limit = float(g_times[-1])
            why = f"an event at time {t_bad:g} lies beyond the last training time {limit:g}, where Ĝ is unknown"
        else:
            limit = float(g_times[np.argmax(g == 0.0)])
            why = (f"the censoring survival Ĝ is 0 from time {limit:g} on (follow-up ends in censoring), "
                   f"so the event at time {t_bad:g} would get an infinite weight")
        raise InputError(f"tau: {why}; pass tau ≤ {limit:g}")
    weight = np.zeros(time.size)
    weight[weighted] = np.square(1.0 / g_i)
    return weight
