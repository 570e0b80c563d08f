"""Option arguments declared once: ``Literal`` annotations are the validation.

A public function annotates each option parameter with ``typing.Literal[...]`` (or
``Literal[...] | None``) and carries :func:`validate_options`; a call with any other
value raises :class:`~metrics.core.errors.InputError` naming the argument and the
allowed values. The annotation is the single statement of what is allowed: the
signature, the docs and the check cannot disagree.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from metrics.core.errors import InputError

__all__ = ["allowed_values", "check_choice", "validate_options"]

F = TypeVar("F", bound=Callable[..., Any])


def allowed_values(annotation: object) -> tuple[object, ...] | None:
    """The values a ``Literal`` annotation admits (``None`` included for ``Literal[...] | None``);
    ``None`` when the annotation is not a Literal option."""
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        parts = typing.get_args(annotation)
        literals = [p for p in parts if typing.get_origin(p) is Literal]
        others = [p for p in parts if typing.get_origin(p) is not Literal]
        if literals and all(p is type(None) for p in others):
            values: list[object] = [v for p in literals for v in typing.get_args(p)]
            if others:
                values.append(None)
            return tuple(values)
    return None


def check_choice(value: object, name: str, allowed: tuple[object, ...]) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``allowed`` (compared by type and value)."""
    for option in allowed:
        if value is option or (type(value) is type(option) and value == option):
            return
    shown = ", ".join(repr(v) for v in allowed)
    raise InputError(f"{name} must be one of {shown}; got {value!r}")


def _annotations(func: Callable[..., Any]) -> dict[str, object]:
    """The function's annotations, evaluated one by one: a name imported only for type
    checking (``if TYPE_CHECKING:``) cannot be an option and is skipped."""
    out: dict[str, object] = {}
    original = inspect.unwrap(func)  # through functools.wraps layers, to the defining module
    namespace = getattr(original, "__globals__", {})
    for name, hint in getattr(original, "__annotations__", {}).items():
        if isinstance(hint, str):
            try:
                hint = eval(hint, dict(namespace))  # noqa: S307 - the function's own annotation
            except (NameError, AttributeError, TypeError, SyntaxError):
                continue
        out[name] = hint
    return out


def validate_options(func: F) -> F:
    """Decorator: check every ``Literal``-annotated argument of ``func`` on each call.

    Example
    -------
    >>> @validate_options
    ... def score(x, *, binning: Literal["uniform", "quantile"] = "uniform"): ...
    >>> score(1, binning="quantiles")
    Traceback (most recent call last):
    metrics.core.errors.InputError: binning must be one of 'uniform', 'quantile'; got 'quantiles'
    """
    options = {name: values for name, hint in _annotations(func).items()
               if name != "return" and (values := allowed_values(hint)) is not None}
    positional = [p.name for p in inspect.signature(func).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # unknown keywords pass through: the function (or a deprecation shim) answers them
        for name, value in [*zip(positional, args), *kwargs.items()]:
            allowed = options.get(name)
            if allowed is not None:
                check_choice(value, name, allowed)
        return func(*args, **kwargs)

    return typing.cast(F, wrapper)
