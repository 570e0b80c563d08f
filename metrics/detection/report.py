"""The frozen report returned by :func:`metrics.evaluate_lvis`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from metrics.core.report import Report

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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
    precision : ndarray (T, R, K) or None
        Interpolated precision of area "all" (the PR curves), per IoU threshold, recall
        point and category (sorted ids); −1 where undefined.
    category_frequency : ndarray (K,) or None
        'r' / 'c' / 'f' of each category, aligned with ``precision``.
    """

    mode: str
    metrics: dict[str, float]
    per_category_ap: dict[int, float | None]
    extras: dict[str, float] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    by_mode: dict[str, LVISReport] = dataclasses.field(default_factory=dict)
    precision: np.ndarray | None = dataclasses.field(default=None, repr=False)
    category_frequency: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row per metric (``metric``, ``value``), extras included."""
        import pandas as pd

        rows = [{"metric": k, "value": v} for k, v in {**self.metrics, **self.extras}.items()]
        return pd.DataFrame(rows, columns=["metric", "value"])

    def plot(self, ax: Axes | Sequence[Axes] | None = None) -> Figure:
        """PR curves per frequency group and AP by frequency group, for each mode.

        Left: the precision-recall curve (area all, mean over IoU thresholds and the
        group's categories) of rare, common and frequent categories and of all of them.
        Right: AP, APr, APc, APf (and AP-Pool) per mode as grouped bars with values.
        ``ax`` may be a pair of Axes; a new figure otherwise.
        """
        import matplotlib.pyplot as plt

        from metrics.detection._accumulate import IOU_THRS, REC_THRS
        from metrics.detection._plots import pr_curves_plot

        if ax is None:
            fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.15]})
        else:
            axes = list(np.atleast_1d(np.asarray(ax, dtype=object)).ravel())
            if len(axes) < 2:
                raise ValueError("ax must hold two Axes: PR curves and the AP bars")
            fig = axes[0].figure
        reports = self.by_mode or {self.mode: self}
        curve_source = reports.get("standard") or reports.get("fixed") or next(iter(reports.values()))
        if curve_source.precision is not None and curve_source.category_frequency is not None:
            freq = curve_source.category_frequency
            groups = {"all": np.ones(len(freq), bool), "rare": freq == "r", "common": freq == "c",
                      "frequent": freq == "f"}
            pr_curves_plot(curve_source.precision, IOU_THRS, REC_THRS, ax=axes[0], groups=groups,
                           title=f"LVIS precision-recall ({curve_source.mode})")
        else:
            axes[0].set_axis_off()
        _ap_bars(axes[1], reports)
        fig.tight_layout()
        return fig


def _ap_bars(ax: Axes, reports: dict[str, LVISReport]) -> None:
    keys = [("AP", "all"), ("APr", "rare"), ("APc", "common"), ("APf", "frequent")]
    colours = {"standard": "tab:blue", "fixed": "tab:green", "pooled": "tab:purple"}
    width = 0.8 / max(len(reports), 1)
    for j, (mode, rep) in enumerate(reports.items()):
        if mode == "pooled":
            values = [rep.metrics.get(f"AP-pooled-{p}", -1.0) for p in ("all", "r", "c", "f")]
        else:
            values = [rep.metrics.get(k, -1.0) for k, _ in keys]
        x = np.arange(len(keys)) + (j - (len(reports) - 1) / 2) * width
        shown = [max(v, 0.0) for v in values]
        bars = ax.bar(x, shown, width=width * 0.95, color=colours.get(mode, "tab:gray"),
                      label="AP-Pool" if mode == "pooled" else ("AP-Fixed" if mode == "fixed" else "standard AP"))
        for bar, v in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, "n/a" if v < 0 else f"{v:.3f}",
                    ha="center", va="bottom", fontsize=7, rotation=90 if len(reports) > 2 else 0)
    ax.set_xticks(np.arange(len(keys)), [f"{lbl}\n({k})" for k, lbl in keys])
    ax.set_ylabel("AP")
    top = max([max(r.metrics.values(), default=0) for r in reports.values()] + [0.1])
    ax.set_ylim(0, min(1.0, top * 1.35 + 0.05))
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("AP by frequency group", fontsize=10)
