"""Coercion and checks shared by the concordance functions."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, check_positive, describe_position, to_numpy

HigherIs = Literal["risk", "survival"]
Compat = Literal["lifelines", "sksurv"]
OnUndefined = Literal["raise", "nan"]

DEFAULT_TIED_TOL = 1e-8
#: (direction, tie tolerance) that each ``compat`` fixes.
COMPAT_CONVENTIONS: dict[str, tuple[HigherIs, float]] = {
    "lifelines": ("survival", 0.0),
    "sksurv": ("risk", DEFAULT_TIED_TOL),
}


def as_vector(x: npt.ArrayLike, name: str, what: str, *, allow_inf: bool = False) -> np.ndarray:
    """Float64 1-D array; (n, 1) and (1, n) are flattened; any strides or memory order.

    ``allow_inf``: ±inf is accepted (it ranks above or below every finite value), NaN never.
    """
    arr = to_numpy(x, name)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of {what}; got shape {arr.shape}")
    out = as_float_array(arr, name, ndim=1, what=what, allow_empty=True, finite=not allow_inf)
    if allow_inf:
        bad = np.isnan(out)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{name} must hold {what}, not NaN (±inf is allowed); "
                             f"{describe_position(out.shape, i)} is nan")
    return out


def as_risk(x: npt.ArrayLike, name: str = "risk") -> np.ndarray:
    """Risk scores: float64, 1-D, NaN rejected, ±inf accepted."""
    return as_vector(x, name, "risk scores", allow_inf=True)


def as_event(event: npt.ArrayLike | None, n: int, name: str = "event") -> np.ndarray:
    """Boolean event indicator; ``None`` means every subject had the event.

    Only bools and the numbers 0 / 1 are accepted (lifelines would silently treat 2
    as an event).
    """
    if event is None:
        return np.ones(n, dtype=bool)
    arr = to_numpy(event, name)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of 0/1 or bool event indicators; got shape {arr.shape}")
    if arr.dtype.kind == "b":
        return np.ascontiguousarray(arr)
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{name} must hold 0/1 or bool event indicators; found dtype {arr.dtype}")
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name} must hold 0/1 or bool event indicators; element {i} is {arr[i].item()!r}")
    return arr == 1


def survival_data(risk: npt.ArrayLike, time: npt.ArrayLike, event: npt.ArrayLike | None, *,
                  risk_name: str = "risk", time_name: str = "time",
                  event_name: str = "event") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``(risk, time, event)``: 1-D, equal lengths, n ≥ 2, finite times, no NaN risk."""
    r = as_risk(risk, risk_name)
    t = as_vector(time, time_name, "times")
    e = as_event(event, t.size, event_name)
    lengths = {risk_name: r.size, time_name: t.size, event_name: e.size}
    if len(set(lengths.values())) > 1:
        text = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise InputError(f"{', '.join(lengths)} must have the same length; {text}")
    if t.size < 2:
        raise InputError(f"{time_name} must hold at least 2 subjects to form a pair; got {t.size}")
    return r, t, e


def resolve_direction(compat: str | None, higher_is: str | None,
                      tied_tol: float | None) -> tuple[HigherIs, float]:
    """Apply ``compat``'s fixed settings; reject a conflicting explicit option.

    The option values themselves are checked by the public functions' ``Literal``
    annotations; this resolves the defaults and the conflicts.
    """
    if tied_tol is not None:
        tied_tol = check_positive(tied_tol, "tied_tol", allow_zero=True)
    if compat is None:
        direction: HigherIs = "survival" if higher_is == "survival" else "risk"
        return direction, DEFAULT_TIED_TOL if tied_tol is None else tied_tol
    want_dir, want_tol = COMPAT_CONVENTIONS[compat]
    if higher_is is not None and higher_is != want_dir:
        raise InputError(f"higher_is={higher_is!r} conflicts with compat={compat!r}, which fixes "
                         f"higher_is={want_dir!r}; drop one of them")
    if tied_tol is not None and tied_tol != want_tol:
        raise InputError(f"tied_tol={tied_tol!r} conflicts with compat={compat!r}, which fixes "
                         f"tied_tol={want_tol!r}; drop one of them")
    return want_dir, want_tol



def check_uno_options(pairs: str, tied_tol: float | None, compat: str | None, g_at: str) -> None:
    """Reject the combinations of Uno's C options that contradict each other.

    ``pairs="strict"`` compares exact risks only, and scikit-survival (``compat="sksurv"``)
    uses Harrell's pairs and reads the censoring survival at T.
    """
    if pairs == "strict":
        if tied_tol not in (None, 0, 0.0):
            raise InputError(f"tied_tol={tied_tol!r} conflicts with pairs='strict', which uses exact risk ties")
        if compat is not None:
            raise InputError("compat='sksurv' conflicts with pairs='strict'; scikit-survival uses Harrell's pairs")
    if compat is not None and g_at != "T":
        raise InputError("compat='sksurv' conflicts with g_at='T-'; scikit-survival reads Ĝ(T)")


def oriented(risk: np.ndarray, higher_is: str) -> np.ndarray:
    """Scores with 'higher means earlier failure'; negation is exact (also for ±inf)."""
    return -risk if higher_is == "survival" else risk


def no_pair_message(time: np.ndarray, event: np.ndarray) -> str:
    """Name the degenerate case that left no comparable pair."""
    n_events = int(event.sum())
    if n_events == 0:
        return f"no comparable pair: all {time.size} subjects are censored (event is all 0)"
    t_last = time[event].max()
    if n_events == 1:
        return (f"no comparable pair: the only event is at the last time {t_last:g} with no "
                "later or same-time censored subject")
    return (f"no comparable pair: all {n_events} events are tied at the last time {t_last:g} "
            "(simultaneous events are not comparable)")


def undefined(message: str, on_undefined: str) -> float:
    """Raise or return NaN according to ``on_undefined``."""
    if on_undefined == "nan":
        return float("nan")
    raise InputError(message + "; the concordance is undefined (pass on_undefined='nan' to get nan)")
