"""Shared behaviour of the frozen ``*Report`` dataclasses returned by ``*_report`` functions."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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
    """Base of every frozen ``*Report`` / ``*Result`` dataclass returned by a ``*_report`` function.

    Four methods, the same on every report:

    ``to_dict()``
        all public fields as plain Python values (lists instead of arrays), ready for JSON;
    ``to_frame()``
        a pandas DataFrame: the natural table of the report (per bin, per class, ...);
        by default one row of the scalar fields;
    ``plot(ax=None)``
        the report's figure on ``ax`` (a new one when ``None``); returns the Axes
        (or the Figure for a multi-panel plot); matplotlib is imported lazily;
    ``str(report)``
        a short human-readable summary: the scalar fields, one per line.

    Subclasses are ``@dataclasses.dataclass(frozen=True)``. Fields declared with
    ``field(repr=False)`` are left out of ``to_dict`` and ``str``. Every subclass
    implements :meth:`plot`.
    """

    def to_dict(self) -> dict[str, Any]:
        """All public fields as plain Python values (lists instead of arrays)."""
        return to_builtin(self)

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame view; by default one row holding the scalar fields."""
        import pandas as pd

        return pd.DataFrame([self._scalars()])

    def plot(self, ax: Axes | None = None) -> Axes | Figure:
        """Draw the report on ``ax`` (a new figure when ``None``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement plot()")

    def __str__(self) -> str:
        scalars = self._scalars()
        width = max((len(k) for k in scalars), default=0)
        lines = [type(self).__name__]
        for key, value in scalars.items():
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)
            lines.append(f"  {key:<{width}}  {shown}")
        return "\n".join(lines)

    def _scalars(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_dict().items()
                if isinstance(v, (int, float, str, bool)) or v is None}
