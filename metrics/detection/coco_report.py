"""The frozen report returned by :func:`metrics.evaluate_coco`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from metrics.core.report import Report

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["COCOReport"]


@dataclasses.dataclass(frozen=True)
class COCOReport(Report):
    """COCO evaluation result (pycocotools ``COCOeval`` numbers, AP-Fixed, AP-Pool).

    Attributes
    ----------
    mode : str
        ``"standard"``, ``"fixed"``, ``"pooled"`` or ``"all"``.
    iou_type : str
    stats : dict
        standard bbox / segm: ``AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs,
        ARm, ARl`` (the ``max_dets`` values name the AR keys); keypoints: ``AP, AP50,
        AP75, APm, APl, AR, AR50, AR75, ARm, ARl``; fixed: ``AP`` … ``ARl@-1``;
        pooled: ``AP-pooled-all``. −1 means undefined, as in pycocotools. For
        ``mode="all"`` the keys are prefixed ``standard/``, ``fixed/``, ``pooled/``.
    stats_array : ndarray
        The same numbers in ``COCOeval.stats`` order (float64).
    precision, scores : ndarray (T, R, K, A, M)
    recall : ndarray (T, K, A, M)
        The arrays ``COCOeval.eval`` holds (−1 where pycocotools has −1); for
        ``mode="all"`` those of the standard mode.
    per_category_ap : dict
        Category id → all-area AP at the largest ``max_dets`` (None where undefined).
    extras : dict
        Pooled ``AP50-``, ``AP75-``, ``AR-``, ``APs-``, ``APm-``, ``APl-pooled-all``.
    counts : dict
    warnings : tuple of str
    params : dict
        ``iou_thresholds``, ``recall_thresholds``, ``area_ranges`` (label → [lo, hi]),
        ``max_dets``, ``use_cats``, ``img_ids`` / ``cat_ids`` (evaluated ids), ...
    by_mode : dict
        Mode → COCOReport, for ``mode="all"``.
    """

    mode: str
    iou_type: str
    stats: dict[str, float]
    stats_array: np.ndarray = dataclasses.field(repr=False)
    precision: np.ndarray = dataclasses.field(repr=False)
    recall: np.ndarray = dataclasses.field(repr=False)
    scores: np.ndarray = dataclasses.field(repr=False)
    per_category_ap: dict[int, float | None] = dataclasses.field(default_factory=dict)
    extras: dict[str, float] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    by_mode: dict[str, COCOReport] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def metrics(self) -> dict[str, float]:
        """``stats`` (the name ``LVISReport`` uses)."""
        return self.stats

    def summary_lines(self) -> list[str]:
        """The lines ``COCOeval.summarize()`` prints (standard mode), with the same labels."""
        rep = self.by_mode.get("standard", self) if self.mode == "all" else self
        if rep.mode != "standard":
            return [f"{k:<18} = {v:0.3f}" for k, v in rep.stats.items()]
        thr = np.asarray(self.params["iou_thresholds"])
        max_dets = list(self.params["max_dets"])
        top = max_dets[-1]
        span = f"{thr[0]:0.2f}:{thr[-1]:0.2f}"
        spec: list[tuple[bool, str, str, int]] = []  # (ap?, iou text, area, maxDets)
        keys = list(rep.stats)
        for key in keys:
            ap = key.startswith("AP")
            tail = key[2:]
            iou = span
            area = "all"
            md = top
            if tail in ("50", "75"):
                iou = f"0.{tail}"
            elif tail in ("s", "m", "l"):
                area = {"s": "small", "m": "medium", "l": "large"}[tail]
            elif tail.isdigit():
                md = int(tail)
            spec.append((ap, iou, area, md))
        lines = []
        for (ap, iou, area, md), value in zip(spec, rep.stats.values()):
            title = "Average Precision" if ap else "Average Recall"
            kind = "(AP)" if ap else "(AR)"
            lines.append(f" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6s} | maxDets={md:>3d} ] = {value:0.3f}")
        return lines

    def __str__(self) -> str:
        head = f"COCO {self.iou_type} evaluation ({self.mode})"
        body = self.summary_lines()
        if self.mode == "all":
            body += [f"{k:<24} = {v:0.3f}" for k, v in self.stats.items() if not k.startswith("standard/")]
        return "\n".join([head, *body])

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic (``metric``, ``value``), extras included."""
        import pandas as pd

        rows = [{"metric": k, "value": v} for k, v in {**self.stats, **self.extras}.items()]
        return pd.DataFrame(rows, columns=["metric", "value"])

    def plot(self, ax: Axes | None = None) -> Axes:
        """Precision-recall curves (area all, largest maxDets), mean over categories with GT.

        One curve for IoU 0.50, one for 0.75 and the mean over all IoU thresholds
        (whose area under the curve is AP); categories are averaged where defined.
        """
        from metrics.detection._plots import pr_curves_plot

        rep = self.by_mode.get("standard", self) if self.mode == "all" else self
        thr = np.asarray(self.params["iou_thresholds"])
        rec = np.asarray(self.params["recall_thresholds"])
        prec = rep.precision[:, :, :, 0, -1]  # (T, R, K)
        return pr_curves_plot(prec, thr, rec, title=f"COCO {self.iou_type} precision-recall ({rep.mode})", ax=ax,
                              ap=rep.stats.get("AP", rep.stats.get("AP-pooled-all")))
