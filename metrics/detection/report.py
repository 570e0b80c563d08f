"""The frozen report returned by :func:`metrics.evaluate_lvis`."""

from __future__ import annotations

import dataclasses
from typing import Any

from metrics.core.report import Report

__all__ = ["LVISReport"]


@dataclasses.dataclass(frozen=True)
class LVISReport(Report):
    """LVIS evaluation result.

    Attributes
    ----------
    mode : str
        ``"standard"``, ``"fixed"``, ``"pooled"`` or ``"all"``.
    metrics : dict
        lvis-api key names (``AP``, ``AP50``, …, ``AR@300``; ``AP-pooled-all``, …),
        −1 meaning undefined as in lvis-api. For ``mode="all"`` the keys are prefixed
        ``standard/``, ``fixed/``, ``pooled/``.
    per_category_ap : dict
        Category id → all-area AP (None where lvis-api has −1). For ``pooled`` it is
        the fixed-mode value; for ``all`` the standard-mode value.
    extras : dict
        Pooled ``AP50-``, ``AP75-``, ``AR-``, ``APs-``, ``APm-``, ``APl-pooled-p``.
    counts : dict
        Records read, removed by the per-image cap / top-K, dropped for area ≤ 0,
        unknown category, federated filter; GT annotations dropped for area ≤ 0.
    warnings : tuple of str
    params : dict
    by_mode : dict
        Mode → LVISReport, for ``mode="all"``.
    """

    mode: str
    metrics: dict[str, float]
    per_category_ap: dict[int, float | None]
    extras: dict[str, float] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    by_mode: dict[str, LVISReport] = dataclasses.field(default_factory=dict)

    def to_frame(self):
        """One row per metric (``metric``, ``value``), extras included."""
        import pandas as pd

        rows = [{"metric": k, "value": v} for k, v in {**self.metrics, **self.extras}.items()]
        return pd.DataFrame(rows, columns=["metric", "value"])

    def plot(self, ax=None):
        """Bar chart of AP, APr, APc, APf (and the pooled keys) for each mode."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        reports = self.by_mode or {self.mode: self}
        names, values = [], []
        for mode, rep in reports.items():
            for key, value in rep.metrics.items():
                if key in ("AP", "APr", "APc", "APf") or key.startswith("AP-pooled-"):
                    names.append(f"{mode}\n{key}")
                    values.append(max(value, 0.0))
        ax.bar(range(len(values)), values, color="tab:blue")
        ax.set_xticks(range(len(values)), names, fontsize=7)
        ax.set_ylabel("AP")
        ax.set_title("LVIS evaluation")
        return ax
