"""Lazy package exports: a package lists its public names; modules load on first use.

Importing ``metrics`` (or ``diagnostics``, ``reference_models``, ``metricprobe``) must
stay cheap: the command line answers ``--help`` without loading torch. Each package
``__init__`` declares which module holds each public name and binds the module-level
``__getattr__`` / ``__dir__`` returned here (PEP 562); a name is imported the first time
it is looked up, then cached in the package namespace.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]],
                 building_blocks: Mapping[str, Sequence[str]] | None = None,
                 ) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to sequence of str
        Module name (absolute) → the public names it defines.
    building_blocks : mapping of str to sequence of str, optional
        Like ``exports``, for names that are public at this package but left out of
        ``__all__`` (generic names that a parent package does not re-export).

    Returns
    -------
    tuple
        ``__all__`` (every name, in declaration order), the module ``__getattr__``
        that imports a name's module on first access, and ``__dir__``.
    """
    where: dict[str, str] = {}
    for table in (exports, building_blocks or {}):
        for module, names in table.items():
            for name in names:
                if name in where:
                    raise RuntimeError(f"{package}: {name!r} is exported by both {where[name]} and {module}")
                where[name] = module
    public = [name for names in exports.values() for name in names]

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(sys.modules[package])))

    return public, __getattr__, __dir__
