"""Figures shared by the detection reports: precision-recall curves and AP bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__: list[str] = []


def mean_curve(precision: np.ndarray) -> np.ndarray:
    """(R,) mean over the last axis of entries > −1 (NaN where none)."""
    valid = precision > -1
    n = valid.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, np.where(valid, precision, 0.0).sum(axis=-1) / np.maximum(n, 1), np.nan)


def pr_curves_plot(precision: np.ndarray, iou_thrs: np.ndarray, rec_thrs: np.ndarray, *, title: str,
                   ax: Axes | None = None, ap: float | None = None,
                   groups: dict[str, np.ndarray] | None = None) -> Axes:
    """PR curves from interpolated precision (T, R, K).

    Without ``groups``: IoU 0.50, 0.75 and the mean over thresholds, averaged over
    categories. With ``groups`` (label → (K,) bool mask): one curve per group, mean over
    thresholds, each labelled with its AP.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.2))
    if groups:
        colours = ["tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple"]
        for (label, mask), colour in zip(groups.items(), colours):
            if not mask.any():
                continue
            flat = np.moveaxis(precision[:, :, mask], 0, -1).reshape(len(rec_thrs), -1)  # (R, T*K)
            curve = mean_curve(flat)
            if np.isnan(curve).all():
                continue
            ax.plot(rec_thrs, curve, color=colour, linewidth=1.8,
                    label=f"{label}: AP {np.nanmean(curve):.3f} ({int(mask.sum())} cat.)")
    else:
        styles = []
        for target, colour in ((0.5, "tab:blue"), (0.75, "tab:orange")):
            hit = np.flatnonzero(np.isclose(iou_thrs, target))
            if hit.size:
                styles.append((f"IoU={target:.2f}", precision[hit[0]], colour, "-"))
        styles.append((f"IoU={iou_thrs[0]:.2f}:{iou_thrs[-1]:.2f} (mean)",
                       np.moveaxis(precision, 0, -1).reshape(len(rec_thrs), -1), "black", "--"))
        for label, prec, colour, line in styles:
            curve = mean_curve(prec)
            if np.isnan(curve).all():
                continue
            ax.plot(rec_thrs, curve, color=colour, linestyle=line, linewidth=1.8,
                    label=f"{label}: area {np.nanmean(curve):.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("interpolated precision")
    ax.grid(alpha=0.3)
    ax.set_title(title + (f"\nAP = {ap:.3f}" if ap is not None and ap >= 0 else ""), fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower left")
    return ax
