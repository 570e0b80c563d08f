"""Shared behaviour of the frozen ``*Report`` dataclasses returned by ``*_report`` functions."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

__all__ = ["Report", "to_builtin"]


def to_builtin(value: Any) -> Any:
    """Convert numpy / torch values nested in dicts, lists and tuples to plain Python.

    Arrays become (nested) lists, numpy scalars become ``int`` / ``float`` / ``bool``.
    NaN stays ``float('nan')``; :func:`json_ready` turns it into ``None``.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_builtin(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_builtin(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "detach") and hasattr(value, "tolist"):  # torch tensor
        return to_builtin(value.detach().cpu().tolist())
    return value


def json_ready(value: Any) -> Any:
    """Like :func:`to_builtin`, with NaN / ±inf replaced by ``None`` (strict JSON)."""
    value = to_builtin(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    return value


class Report:
    """Mixin for frozen dataclass reports: ``to_dict()``, ``to_frame()``, ``plot()``.

    Subclasses are ``@dataclasses.dataclass(frozen=True)``. Fields declared with
    ``field(repr=False)`` are left out of ``to_dict``. Override :meth:`to_frame` to
    give the natural table (per bin, per class, ...); the default is one row of the
    scalar fields.
    """

    def to_dict(self) -> dict[str, Any]:
        """All public fields as plain Python values (lists instead of arrays)."""
        return to_builtin(self)

    def to_frame(self):
        """A pandas DataFrame view; by default one row holding the scalar fields."""
        import pandas as pd

        row = {k: v for k, v in self.to_dict().items() if isinstance(v, (int, float, str, bool)) or v is None}
        return pd.DataFrame([row])
