"""The frozen report of :func:`metrics.detection_calibration_report` and its reliability diagrams."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from metrics.core.errors import InputError
from metrics.core.report import Report

__all__ = ["DetectionCalibrationReport"]


@dataclasses.dataclass(frozen=True)
class DetectionCalibrationReport(Report):
    """Calibration audit of a detector on LVIS-style data (detection.md §8).

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

    metrics: dict[str, Any]
    per_category: dict[int, dict[str, Any]]
    reliability: dict[str, dict[str, Any]]
    n_detections: int
    n_matched: int
    ap_before: dict[str, float] | None = None
    ap_after: dict[str, float] | None = None
    metrics_after: dict[str, Any] | None = None
    reliability_after: dict[str, dict[str, Any]] | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """All fields, with ``metrics``' keys also at the top level (as the authors' output)."""
        out = super().to_dict()
        return {**dict(out["metrics"]), **out}

    def to_frame(self):
        """One row per metric key: ``metric``, ``value`` and, with a calibrator, ``calibrated``."""
        import pandas as pd

        rows = []
        for key, value in self.metrics.items():
            row = {"metric": key, "value": value}
            if self.metrics_after is not None:
                row["calibrated"] = self.metrics_after.get(key)
            rows.append(row)
        for key, value in (self.ap_before or {}).items():
            rows.append({"metric": key, "value": value, "calibrated": (self.ap_after or {}).get(key)})
        return pd.DataFrame(rows)

    def plot(self, ax=None, group: str | None = None, calibrated: bool = False):
        """Reliability diagrams: precision per confidence bin, with the gap to the diagonal.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, optional
            One Axes per diagram; a new figure when None.
        group : str, optional
            One group of ``reliability`` (``"overall"``, ``"r"``, ``"c"``, ``"f"`` or a
            category id as a string); all groups when None.
        calibrated : bool
            Draw the calibrated results' diagrams (needs a calibrator).
        """
        import matplotlib.pyplot as plt

        source = self.reliability_after if calibrated else self.reliability
        if source is None:
            raise InputError("calibrated=True needs a report made with a calibrator")
        if group is not None:
            if str(group) not in source:
                raise InputError(f"group must be one of {', '.join(source)}; got {group!r}")
            names = [str(group)]
        else:
            names = list(source)
        if ax is None:
            cols = min(4, len(names))
            rows = -(-len(names) // cols)
            fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
            axes = list(axes.ravel())
            for extra in axes[len(names):]:
                extra.set_visible(False)
        else:
            axes = list(np.atleast_1d(ax).ravel())
            if len(axes) < len(names):
                raise InputError(f"ax must hold {len(names)} Axes (one per group); got {len(axes)}")
        for a, name in zip(axes, names):
            _reliability_diagram(a, source[name], name)
        if ax is None:
            axes[0].figure.tight_layout()
        return axes[0] if len(names) == 1 else axes[:len(names)]


def _reliability_diagram(ax, rel: dict[str, Any], name: str) -> None:
    edges = np.asarray(rel["edges"], dtype=float)
    precision = np.asarray(rel["precision"], dtype=float)
    conf = np.asarray(rel["mean_confidence"], dtype=float)
    left, width = edges[:-1], np.diff(edges)
    ok = np.isfinite(precision)
    ax.bar(left[ok], precision[ok], width=width[ok], align="edge", color="tab:blue", edgecolor="white",
           label="precision")
    lo = np.minimum(precision[ok], conf[ok])
    ax.bar(left[ok], np.abs(precision[ok] - conf[ok]), bottom=lo, width=width[ok], align="edge",
           color="tab:red", alpha=0.3, label="gap")
    ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("precision")
    label = {"overall": "all classes", "r": "rare", "c": "common", "f": "frequent"}.get(name, f"class {name}")
    ax.set_title(f"{label} (n={int(np.sum(rel['counts']))})", fontsize=9)
