"""Renamed arguments and functions keep working for one release, with a warning."""

from __future__ import annotations

import functools
import typing
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from metrics.core.errors import InputError

__all__ = ["deprecated_alias", "renamed_argument"]

F = TypeVar("F", bound=Callable[..., Any])


def renamed_argument(old: str, new: str, *, convert: Callable[[Any], Any] | None = None) -> Callable[[F], F]:
    """Decorator: keyword ``old`` still works as ``new`` (optionally converted), with a
    :class:`DeprecationWarning` naming the replacement. Passing both is an :class:`InputError`.

    ``convert`` maps an old value to the new meaning, e.g. ``alpha`` to ``ci_level``:
    ``renamed_argument("alpha", "ci_level", convert=lambda a: 1 - a)``.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise InputError(f"{func.__name__}: pass {new}= only ({old}= is its deprecated name)")
                value = kwargs.pop(old)
                kwargs[new] = convert(value) if convert is not None else value
                warnings.warn(f"{func.__name__}({old}=...) is deprecated; use {new}= instead",
                              DeprecationWarning, stacklevel=2)
            return func(*args, **kwargs)

        return typing.cast(F, wrapper)

    return decorate


def deprecated_alias(replacement: F, old_name: str) -> F:
    """A function named ``old_name`` that calls ``replacement`` with a :class:`DeprecationWarning`."""

    @functools.wraps(replacement)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{old_name} is deprecated; use {replacement.__name__} instead",
                      DeprecationWarning, stacklevel=2)
        return replacement(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    return typing.cast(F, alias)




