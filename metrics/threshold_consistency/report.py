"""``OPISReport``: everything behind an OPIS value, and its plot."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from metrics.core.report import Report

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["OPISReport", "N_WORST"]

N_WORST = 5  # classes named in the table and highlighted in the plot


@dataclasses.dataclass(frozen=True)
class OPISReport(Report):
    """Everything behind an OPIS value: grid, calibration range, per-class curves.

    ``opis`` follows ``params["integration"]``; ``opis_trapezoid`` is always the
    trapezoid value. Arrays ``tpr``, ``tnr``, ``utility`` are (T, n); ``var_curve``
    and ``reference_curve`` are (n,); ``per_class_opis`` is mean_j (U_c − Ū)², the
    class's own share of OPIS. ``resolution`` is 0 in exact mode and the histogram bin
    width (in distance) in approximate mode.
    """

    opis: float
    opis_trapezoid: float
    eps_opis: dict[float, float]
    d_min: float
    d_max: float
    thresholds: np.ndarray
    classes: np.ndarray
    n_classes: int
    n_samples: int
    n_pos_pairs: np.ndarray
    n_neg_pairs: np.ndarray
    tpr: np.ndarray
    tnr: np.ndarray
    utility: np.ndarray
    var_curve: np.ndarray
    reference_curve: np.ndarray
    per_class_opis: np.ndarray
    params: dict[str, object]
    resolution: float

    @property
    def T(self) -> int:  # noqa: N802 - the paper's symbol
        """Number of eligible classes."""
        return self.n_classes

    def worst_classes(self, n: int = N_WORST) -> np.ndarray:
        """Row indices of the ``n`` classes with the largest own share of OPIS, worst first."""
        order = np.argsort(-self.per_class_opis, kind="stable")
        return order[:n]

    def to_frame(self) -> pd.DataFrame:
        """One row per eligible class: sizes, pair counts, grid-mean utility, own OPIS share."""
        import pandas as pd

        return pd.DataFrame({
            "class": self.classes,
            "n_pos_pairs": self.n_pos_pairs,
            "n_neg_pairs": self.n_neg_pairs,
            "mean_utility": self.utility.mean(axis=1),
            "per_class_opis": self.per_class_opis,
        })

    def plot(self, ax: Axes | None = None) -> Axes:
        """Utility curves U_c(θ): the worst classes (largest own share of OPIS, as in the
        report's table) in colour and labelled, every other class in light grey, the
        reference curve in black with its ±√V(θ) band."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7.5, 4.8))
        th = self.thresholds
        worst = self.worst_classes(min(N_WORST, self.n_classes))
        others = np.setdiff1d(np.arange(self.n_classes), worst)
        for i, row in enumerate(self.utility[others]):
            ax.plot(th, row, color="0.75", lw=0.7, alpha=0.7, zorder=1,
                    label=f"other {others.size} classes" if i == 0 else None)
        sd = np.sqrt(self.var_curve)
        ref = self.reference_curve
        ax.fill_between(th, ref - sd, ref + sd, color="0.3", alpha=0.15, zorder=2, label="reference ± √V(θ)")
        ax.plot(th, ref, color="black", lw=2.2, zorder=4, label=f"reference ({self.params.get('reference')})")
        colours = [plt.get_cmap("tab10")(i) for i in range(10)]
        for rank, i in enumerate(worst):
            ax.plot(th, self.utility[i], color=colours[rank % len(colours)], lw=1.8, zorder=3,
                    label=f"class {self.classes[i]} (own OPIS {self.per_class_opis[i]:.3g})")
        ax.set_xlabel(f"distance threshold θ ({self.params.get('distance')}); "
                      f"range = FAR quantiles {self.params.get('far_range')}")
        ax.set_ylabel("utility U_c(θ) (F-score of TPR, TNR)")
        ax.set_title(f"OPIS = {self.opis:.4g}  (T = {self.n_classes} classes; worst {worst.size} in colour)")
        if th[-1] > th[0]:
            ax.set_xlim(th[0], th[-1])
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        fig = ax.get_figure()
        if fig is not None and hasattr(fig, "tight_layout"):
            fig.tight_layout()
        return ax
