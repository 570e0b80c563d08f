"""The frozen report of :func:`metrics.detection_calibration_report` and its reliability diagrams."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from metrics.core.errors import InputError
from metrics.core.report import Report

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DetectionCalibrationReport", "CategoryCalibration"]

_GROUP_LABELS = {"overall": "all classes", "r": "rare", "c": "common", "f": "frequent"}


class CategoryCalibration(TypedDict):
    """The audit of one category."""

    frequency: str  # r / c / f; empty for COCO
    n: int  # labelled detections
    n_matched: int  # true positives
    ece: float | None
    mce: float | None


@dataclasses.dataclass(frozen=True)
class DetectionCalibrationReport(Report):
    """Calibration audit of a detector on LVIS or COCO data.

    Attributes
    ----------
    metrics : dict
        The authors' keys: ``ece-overall``, ``ece-per-class`` (mean over classes with
        labelled detections), ``ece-freq-{r,c,f}`` (the group's detections pooled),
        ``ece-per-class-{r,c,f}``; likewise ``mce-overall`` and ``mce-freq-{r,c,f}``;
        ``sparse_mass`` (share of detections in joint bins below ``min_bin_count``).
        ``None`` where a group has no labelled detections (or no bin is kept).
    per_category : dict
        Category id → {frequency, n, n_matched, ece, mce}.
    reliability : dict
        Group name → confidence-only bins {edges, counts, mean_confidence, precision}
        (NaN for empty bins) for the groups of ``group_by``.
    n_detections, n_matched : int
        Labelled detections and true positives.
    ap_before, ap_after : dict or None
        AP (standard), APr/APc/APf, AP-Fixed, AP-Pool (and its r/c/f pools) of the results
        and of the calibrated results, when a calibrator was given.
    metrics_after, reliability_after : dict or None
        The audit of the calibrated results, when a calibrator was given.
    params : dict
    warnings : tuple of str
    """

    metrics: dict[str, float | None]
    per_category: dict[int, CategoryCalibration]
    reliability: dict[str, dict[str, np.ndarray]]
    n_detections: int
    n_matched: int
    ap_before: dict[str, float] | None = None
    ap_after: dict[str, float] | None = None
    metrics_after: dict[str, float | None] | None = None
    reliability_after: dict[str, dict[str, np.ndarray]] | None = None
    params: dict[str, object] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """All fields, with ``metrics``' keys also at the top level (as the authors' output)."""
        out = super().to_dict()
        return {**dict(out["metrics"]), **out}

    def to_frame(self) -> pd.DataFrame:
        """One row per metric key: ``metric``, ``value`` and, with a calibrator, ``calibrated``."""
        import pandas as pd

        rows: list[dict[str, object]] = []
        for key, value in self.metrics.items():
            row: dict[str, object] = {"metric": key, "value": value}
            if self.metrics_after is not None:
                row["calibrated"] = self.metrics_after.get(key)
            rows.append(row)
        for key, value in (self.ap_before or {}).items():
            rows.append({"metric": key, "value": value, "calibrated": (self.ap_after or {}).get(key)})
        return pd.DataFrame(rows)

    def plot(self, ax: Axes | Sequence[Axes] | None = None, group: str | None = None,
             calibrated: bool | None = None) -> Axes | Figure:
        """Reliability diagrams: precision per confidence bin against the diagonal.

        Each panel states its group, whether the scores are before or after calibration,
        its ECE over the confidence bins drawn, Σ_b (n_b/N)|precision_b − conf_b|, and N.
        A bin's bar is as opaque as its share of the panel's largest bin, its count is
        written above it, and the dot at (mean confidence, precision) has an area
        proportional to the count, so a bin of 2 detections does not look like one of
        500. Empty bins are not drawn.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, optional
            One Axes per diagram; a new figure when None.
        group : str, optional
            One group of ``reliability`` (``"overall"``, ``"r"``, ``"c"``, ``"f"`` or a
            category id as a string); all groups when None.
        calibrated : bool, optional
            ``False``: the results as given; ``True``: the calibrated results (needs a
            calibrator); ``None`` (default): both, before on the first row and after on
            the second, when the report has a calibrator, else the results as given.

        Returns
        -------
        matplotlib Axes (one diagram) or the Figure holding the diagrams (``fig.axes``)
        """
        import matplotlib.pyplot as plt

        if calibrated and self.reliability_after is None:
            raise InputError("calibrated=True needs a report made with a calibrator")
        has_after = self.reliability_after is not None
        states = [False, True] if calibrated is None and has_after else [bool(calibrated)]
        names = list(self.reliability) if group is None else [str(group)]
        if group is not None and str(group) not in self.reliability:
            raise InputError(f"group must be one of {', '.join(self.reliability)}; got {group!r}")
        n_panels = len(names) * len(states)
        if ax is None:
            cols = len(names) if len(states) == 2 else min(4, len(names))
            rows = -(-n_panels // cols)
            fig, grid = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.5 * rows), squeeze=False)
            axes = list(grid.ravel())
            for extra in axes[n_panels:]:
                extra.set_visible(False)
        else:
            axes = list(np.atleast_1d(np.asarray(ax, dtype=object)).ravel())
            if len(axes) < n_panels:
                raise InputError(f"ax must hold {n_panels} Axes (one per diagram); got {len(axes)}")
        panels = [(state, name) for state in states for name in names]
        for k, (a, (state, name)) in enumerate(zip(axes, panels)):
            source = self.reliability_after if state else self.reliability
            assert source is not None
            stage = ("after calibration" if state else "before calibration") if has_after else None
            _reliability_diagram(a, source[name], name, stage, legend=k == 0)
        if ax is None:
            fig = axes[0].figure
            if len(states) == 2:
                fig.suptitle(f"Reliability before (top) and after (bottom) calibration: "
                             f"{self.params.get('calibrator', '')}", fontsize=10)
            fig.tight_layout()
        return axes[0] if n_panels == 1 else axes[0].figure


def reliability_ece(rel: dict[str, np.ndarray]) -> float | None:
    """Σ_b (n_b/N)|precision_b − conf_b| over the non-empty confidence bins of one diagram."""
    counts = np.asarray(rel["counts"], dtype=float)
    total = counts.sum()
    if total == 0:
        return None
    ok = counts > 0
    gaps = np.abs(np.asarray(rel["precision"], dtype=float)[ok] - np.asarray(rel["mean_confidence"], dtype=float)[ok])
    return float(np.sum(counts[ok] / total * gaps))


def _reliability_diagram(ax: Axes, rel: dict[str, np.ndarray], name: str, stage: str | None,
                         legend: bool = True) -> None:
    edges = np.asarray(rel["edges"], dtype=float)
    counts = np.asarray(rel["counts"], dtype=np.int64)
    precision = np.asarray(rel["precision"], dtype=float)
    conf = np.asarray(rel["mean_confidence"], dtype=float)
    ok = counts > 0  # empty bins: nothing drawn
    left, width = edges[:-1][ok], np.diff(edges)[ok]
    n_ok, p_ok, c_ok = counts[ok], precision[ok], conf[ok]
    share = n_ok / max(int(n_ok.max()) if n_ok.size else 1, 1)
    alpha = 0.15 + 0.75 * share  # opacity by count: sparse bins fade
    from matplotlib.colors import to_rgba

    blue = np.tile(to_rgba("tab:blue"), (n_ok.size, 1))
    blue[:, 3] = alpha
    red = np.tile(to_rgba("tab:red"), (n_ok.size, 1))
    red[:, 3] = 0.35 * alpha
    ax.bar(left, p_ok, width=width, align="edge", color=blue, edgecolor="white", linewidth=0.5)
    ax.bar(left, np.abs(p_ok - c_ok), bottom=np.minimum(p_ok, c_ok), width=width, align="edge", color=red,
           linewidth=0)
    ax.scatter(c_ok, p_ok, s=12 + 120 * np.sqrt(share), color="navy", zorder=3, edgecolor="white",
               linewidth=0.5)
    for x, w, k in zip(left, width, n_ok):  # the detections per bin, in a row above the diagram
        ax.text(x + w / 2, 1.035, _count_label(int(k)), ha="center", va="bottom", fontsize=5.5, rotation=90,
                color="dimgray")
    ax.axhline(1.02, color="lightgray", linewidth=0.6)
    ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1)
    if legend:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [Patch(color="tab:blue", alpha=0.8, label="precision (opacity ∝ count)"),
                   Patch(color="tab:red", alpha=0.35, label="gap to mean confidence"),
                   Line2D([], [], marker="o", linestyle="", color="navy", label="(conf., prec.), area ∝ count"),
                   Line2D([], [], linestyle="", label="numbers on top: detections per bin")]
        ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(0.0, 0.9), frameon=False)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.13)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlabel("confidence")
    ax.set_ylabel("precision")
    label = _GROUP_LABELS.get(name, f"class {name}")
    ece = reliability_ece(rel)
    first = label + (f": {stage}" if stage else "")
    second = f"ECE over these bins {ece:.3f}, n={int(counts.sum())}" if ece is not None else "no detections"
    ax.set_title(f"{first}\n{second}", fontsize=9)


def _count_label(k: int) -> str:
    return f"{k / 1000:.1f}k" if k >= 10_000 else str(k)
