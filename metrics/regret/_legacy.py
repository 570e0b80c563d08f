"""The previous argument order, kept for one release with a ``DeprecationWarning``.

Before, the losses came first and what the learner played was a keyword:
``external_regret(losses, policy=...)`` / ``(losses, actions=...)``, and the games took
``game_regret(payoff_row, payoff_col, policy_row, policy_col, *, actions_row=..., actions_col=...)``.
Now predictions come first everywhere: ``external_regret(preds, losses)`` and
``game_regret(preds_row, preds_col, *, payoff_row=..., payoff_col=...)``.

An old call is recognised only by what cannot occur in a new one (an old keyword, or more
positional arguments than the new form takes), never by the values, so arguments are never
silently swapped; a call mixing both forms raises :class:`InputError` showing both.
"""

from __future__ import annotations

import contextlib
import functools
import typing
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from metrics.core.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])

_ONLINE_OLD = ("policy", "actions")
_GAME_OLD = ("policy_row", "policy_col", "actions_row", "actions_col")


def _ndim(x: Any) -> int | None:
    try:
        return int(np.ndim(x)) if not hasattr(x, "ndim") else int(x.ndim)
    except (TypeError, ValueError):  # ragged: the function's own validation answers
        return None


@contextlib.contextmanager
def _named(names: dict[str, str]) -> Iterator[None]:
    """An error about ``preds`` names the argument the old-style caller passed (``policy`` / ``actions``)."""
    try:
        yield
    except InputError as exc:
        text = str(exc)
        for new, old in names.items():
            if text.startswith(new + " "):
                raise InputError(old + text[len(new):]) from None
        raise


def _ndim_len(x: Any) -> int:
    return int(x.shape[0]) if hasattr(x, "shape") else len(x)


def _check_old_shape(value: Any, key: str) -> None:
    """An old ``policy=`` must stay a policy and ``actions=`` stay actions (no reinterpretation)."""
    want = 2 if key.startswith("policy") else 1
    got = _ndim(value)
    if got is not None and got != want:
        what = "a 2-D (T, A) policy" if want == 2 else "a 1-D (T,) array of actions"
        raise InputError(f"{key} must be {what}; got {got} dimension(s)")


def losses_first(func: F) -> F:
    """Accept the old ``f(losses, *, policy=None, actions=None, ...)`` as ``f(preds, losses, ...)``."""
    name = func.__name__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        old = {k: kwargs.pop(k) for k in _ONLINE_OLD if k in kwargs}
        if not old:
            return func(*args, **kwargs)
        if len(args) > 1 or "preds" in kwargs:
            raise InputError(
                f"{name}: pass what the learner played either as preds in {name}(preds, losses) or, deprecated, "
                f"as {name}(losses, policy=...) / {name}(losses, actions=...); got both preds and "
                f"{' and '.join(k + '=' for k in old)}")
        given = {k: v for k, v in old.items() if v is not None}
        if len(given) != 1:
            raise InputError("exactly one of policy / actions must be given; got "
                             + ("neither" if not given else "both"))
        if args:
            losses = args[0]
            if "losses" in kwargs:
                raise InputError(f"{name}: losses given twice (positionally and as losses=)")
        elif "losses" in kwargs:
            losses = kwargs.pop("losses")
        else:
            raise InputError(f"{name}(losses, {next(iter(given))}=...) needs losses; use {name}(preds, losses)")
        (key, value), = given.items()
        _check_old_shape(value, key)
        what = "the (T, A) policy" if key == "policy" else "the (T,) actions"
        warnings.warn(f"{name}(losses, {key}=...) is deprecated; use {name}(preds, losses) with {what} as preds",
                      DeprecationWarning, stacklevel=2)
        with _named({"preds": key}):
            return func(value, losses, **kwargs)

    return typing.cast(F, wrapper)


def payoffs_first(*, takes_actions: bool) -> Callable[[F], F]:
    """Accept the old ``f(payoff_row, payoff_col, policy_row, policy_col, *, actions_row, actions_col, ...)``
    as ``f(preds_row, preds_col, *, payoff_row, payoff_col, ...)``.

    ``takes_actions``: the old form had ``actions_row`` / ``actions_col`` (realised regret).
    """
    return functools.partial(_payoffs_first, takes_actions=takes_actions)  # type: ignore[return-value]


def _validate_old_policies(policies: tuple[Any, Any], n_rounds: int, payoff_row: Any, simplex_atol: Any) -> None:
    """The old form validated policies passed alongside the actions; keep doing so."""
    from metrics.core.validation import as_float_array
    from metrics.regret._inputs import as_policy, check_atol

    shape = as_float_array(payoff_row, "payoff_row", ndim=2, what="payoffs (an (A1, A2) matrix)").shape
    atol = check_atol(simplex_atol)
    if policies[0] is None or policies[1] is None:
        raise InputError("policy_row and policy_col are both required; got "
                         f"{'None' if policies[0] is None else 'an array'} and "
                         f"{'None' if policies[1] is None else 'an array'}")
    p1 = as_float_array(policies[0], "policy_row", ndim=2, finite=False, what="probability rows")
    if p1.shape[0] != n_rounds:
        raise InputError(f"policy_row must have one row per round (T = {n_rounds} actions); got {p1.shape[0]}")
    as_policy(p1, n_rounds, shape[0], atol, "policy_row")
    as_policy(policies[1], n_rounds, shape[1], atol, "policy_col")


def _payoffs_first(func: F, *, takes_actions: bool) -> F:
    name = func.__name__
    positional = ("payoff_row", "payoff_col", "policy_row", "policy_col")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        is_old = len(args) > 2 or any(k in kwargs for k in _GAME_OLD)
        if not is_old:
            if "payoff_row" not in kwargs or "payoff_col" not in kwargs:
                raise InputError(
                    f"{name} takes {name}(preds_row, preds_col, *, payoff_row=..., payoff_col=...) with the payoff "
                    f"matrices as keywords; the old {name}(payoff_row, payoff_col, policy_row, policy_col) is "
                    "deprecated")
            return func(*args, **kwargs)
        if "preds_row" in kwargs or "preds_col" in kwargs:
            raise InputError(f"{name}: use either preds_row / preds_col (new) or policy_* / actions_* (deprecated), "
                             "not both")
        if len(args) > len(positional):
            raise InputError(f"{name} takes at most 4 positional arguments in its deprecated form; got {len(args)}")
        old = dict(zip(positional, args))
        for key in (*positional, "actions_row", "actions_col"):
            if key in kwargs:
                if key in old:
                    raise InputError(f"{name}: {key} given twice (positionally and as {key}=)")
                old[key] = kwargs.pop(key)
        for key in ("payoff_row", "payoff_col"):
            if old.get(key) is None:
                raise InputError(f"{name}: {key} is required; got None")
        acts = (old.get("actions_row"), old.get("actions_col"))
        pols = (old.get("policy_row"), old.get("policy_col"))
        if (acts[0] is None) != (acts[1] is None):
            raise InputError("actions_row and actions_col must be given together (realised regret) or both "
                             f"omitted (expected regret); got only {'actions_row' if acts[1] is None else 'actions_col'}")
        if acts[0] is not None and takes_actions:
            chosen, keys = acts, ("actions_row", "actions_col")
        elif acts[0] is not None:
            raise InputError(f"{name} takes no actions_row / actions_col; pass the policies")
        else:
            if pols[0] is None or pols[1] is None:
                raise InputError("policy_row and policy_col are both required; got "
                                 f"{'None' if pols[0] is None else 'an array'} and "
                                 f"{'None' if pols[1] is None else 'an array'}")
            chosen, keys = pols, ("policy_row", "policy_col")
        for value, key in zip(chosen, keys):
            _check_old_shape(value, key)
        if keys[0] == "actions_row" and (pols[0] is not None or pols[1] is not None):
            _validate_old_policies(pols, _ndim_len(acts[0]), old["payoff_row"], kwargs.get("simplex_atol", 1e-6))
        warnings.warn(f"{name}(payoff_row, payoff_col, {keys[0]}, {keys[1]}) is deprecated; use "
                      f"{name}({keys[0]}, {keys[1]}, payoff_row=..., payoff_col=...) (the predictions first)",
                      DeprecationWarning, stacklevel=2)
        with _named({"preds_row": keys[0], "preds_col": keys[1]}):
            return func(chosen[0], chosen[1], payoff_row=old["payoff_row"], payoff_col=old["payoff_col"], **kwargs)

    return typing.cast(F, wrapper)
