"""Reliability diagrams of a ``CalibrationReport`` (matplotlib, imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from metrics.calibration._estimators import errors_from_statistics
from metrics.core.validation import check_int

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metrics.calibration.report import CalibrationReport

__all__ = ["plot_report", "reliability_diagram"]

_SCORE_LABEL = {"top_label": "confidence (top-label probability)",
                "positive_class": "predicted probability of the positive class (class 1)",
                "classwise": "predicted probability of the class"}
_OUTCOME_LABEL = {"top_label": "accuracy (top label correct)",
                  "positive_class": "fraction of positives (y = 1)",
                  "classwise": "fraction of samples of the class"}


def reliability_diagram(ax: Axes, edges: np.ndarray, counts: np.ndarray, conf: np.ndarray, acc: np.ndarray, *,
                        scope: str, title: str, annotation: str | None, compact: bool = False) -> Axes:
    """Outcome bars over the true bin widths, the gap to the mean score shaded, the diagonal,
    and the bin counts as dots on a twin axis (log scale when they span > 100×)."""
    keep = ~np.isnan(edges[1:])
    counts, conf, acc = counts[keep], conf[keep], acc[keep]
    lo, hi = edges[:-1][keep], edges[1:][keep]
    ne = counts > 0
    width = hi - lo
    ax.bar(lo[ne], acc[ne], width=width[ne], align="edge", color="#4c72b0", edgecolor="white",
           label="observed", zorder=2)
    bottom = np.minimum(acc[ne], conf[ne])
    ax.bar(lo[ne], np.abs(conf[ne] - acc[ne]), bottom=bottom, width=width[ne], align="edge",
           color="#dd8452", alpha=0.45, hatch="//", edgecolor="#c44e52", label="gap to mean score", zorder=3)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration", zorder=4)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("mean predicted probability" if compact else _SCORE_LABEL.get(scope, "score"))
    ax.set_ylabel("observed" if compact else _OUTCOME_LABEL.get(scope, "observed frequency"))
    # the ECE goes in the title's second line, so it never covers bars, dots or the legend
    ax.set_title(title if not annotation else f"{title}\n{annotation}", fontsize="medium")
    twin = ax.twinx()
    centers = (lo + hi) / 2
    twin.plot(centers[ne], counts[ne], "o", color="0.25", ms=3, label="samples in bin (right axis)", zorder=5)
    top = max(1, int(counts.max()))
    if counts[ne].size and top / max(1, counts[ne].min()) > 100:
        twin.set_yscale("log")
        twin.set_ylim(0.8, top * 3)
    else:
        twin.set_ylim(0, top * 1.15)
    twin.set_ylabel("samples in bin")
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    if not compact:  # the legend goes below the axes, clear of the data
        ax.legend(handles + h2, labels + l2, loc="upper left", bbox_to_anchor=(0.0, -0.14), ncol=2,
                  fontsize="small", frameon=False)
    return ax


def _ece_text(report: CalibrationReport) -> str | None:
    if report.ece is None:
        return None
    text = f"ECE = {report.ece:.4f}"
    if report.ece_ci is not None:
        level = report.params.get("ci_level")
        text += f"  [{report.ece_ci[0]:.4f}, {report.ece_ci[1]:.4f}]"
        if isinstance(level, float):
            text += f" ({level:.0%} CI)"
    return text


def plot_report(report: CalibrationReport, ax: Axes | None = None, *, class_index: int | None = None,
                max_panels: int = 6) -> Axes | Figure:
    """Draw ``report``: one diagram, or small multiples of the worst classes for ``classwise``."""
    import matplotlib.pyplot as plt

    scope = str(report.params.get("scope", "top_label"))
    n = report.n_samples
    if report.counts.ndim == 1:
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 5.6), constrained_layout=True)
        kind = {"top_label": "top-label", "positive_class": "positive class (class 1)"}.get(scope, scope)
        return reliability_diagram(ax, report.edges, report.counts, report.mean_confidence, report.accuracy,
                                   scope=scope, title=f"Reliability diagram, {kind}, N = {n}",
                                   annotation=_ece_text(report))
    k_all = report.counts.shape[0]
    per_class = np.array([errors_from_statistics(report.counts[k], np.nan_to_num(report.mean_confidence[k])
                                                 * report.counts[k],
                                                 np.nan_to_num(report.accuracy[k]) * report.counts[k], norm="l1")
                          for k in range(k_all)])
    if class_index is not None:
        k = check_int(class_index, "class_index", min_value=0, max_value=k_all - 1)
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 5.6), constrained_layout=True)
        return reliability_diagram(ax, report.edges[k], report.counts[k], report.mean_confidence[k],
                                   report.accuracy[k], scope=scope, title=f"Reliability diagram, class {k} "
                                   f"(one-vs-rest), N = {n}", annotation=f"class {k} ECE = {per_class[k]:.4f}")
    max_panels = check_int(max_panels, "max_panels", min_value=1)
    order = np.argsort(-per_class, kind="stable")[:max_panels]
    cols = min(3, order.size)
    rows = int(np.ceil(order.size / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.9 * rows + 0.9), squeeze=False,
                             constrained_layout=True)
    for panel, k in zip(axes.ravel(), order):
        reliability_diagram(panel, report.edges[k], report.counts[k], report.mean_confidence[k],
                            report.accuracy[k], scope=scope, title=f"class {k}: ECE {per_class[k]:.4f}",
                            annotation=None, compact=True)
    for panel in axes.ravel()[order.size:]:
        panel.set_visible(False)
    shown = f"the {order.size} worst of {k_all} classes" if order.size < k_all else f"all {k_all} classes"
    head = f"Classwise reliability, {shown} (largest per-class ECE first), N = {n}"
    if report.ece is not None:
        head += f"; classwise ECE (mean over classes) = {report.ece:.4f}"
    fig.suptitle(head, fontsize="medium")
    from matplotlib.lines import Line2D

    handles, labels = axes[0, 0].get_legend_handles_labels()
    dots = Line2D([], [], marker="o", ls="", color="0.25", ms=3)
    fig.legend([*handles, dots], [*labels, "samples in bin (right axis)"], loc="outside lower center",
               ncol=4, fontsize="small", frameon=False)
    return fig
