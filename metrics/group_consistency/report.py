"""``LincoReport``: the result of :func:`metrics.linco_report` and ``reference_models.linco_from_data``."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from metrics.core.report import Report

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["STATUS", "LincoReport"]

STATUS = "reimplementation"


@dataclasses.dataclass(frozen=True, eq=False)
class LincoReport(Report):
    """Result of :func:`linco_report` / :func:`linco_from_data`.

    Attributes
    ----------
    value : float
        The corrected LInCo: ``raw - baseline`` (``"subtract"``), ``raw / baseline``
        (``"ratio"``), or ``raw`` when there is no baseline.
    raw : float
        Mean per-case dispersion of the group models' predictions.
    baseline : float or None
        Mean LInCo of the random-split (or given) baseline matrices.
    baseline_values : list of float
        LInCo of each baseline matrix.
    ci_low, ci_high : float or None
        Interval for ``value`` at ``ci_level`` from the spread of the baseline values
        (needs ≥ 2 of them): ``value ± t_{R-1} s_B sqrt(1 + 1/R)`` for ``"subtract"``,
        the same bounds divided by the baseline mean for ``"ratio"``. When the groups
        carry no inconsistency, ``raw`` and the R baseline values are exchangeable
        draws, so the interval covers the null value (0, or 1 for ratio) with
        probability ``ci_level``. It reflects training/split noise only, not the
        sampling of the evaluation cases (our choice; the paper reports no interval).
    per_case : numpy.ndarray
        (N,) per-case dispersion of the raw matrix; NaN marks a case skipped by ``cv_pop``.
    n_skipped : int
        Cases skipped because D is undefined there (``cv_pop`` with mean 0).
    groups : list
        Group labels in row order (row indices for a bare matrix).
    group_train_sizes : list of int or None
        Training cases per group model (``linco_from_data`` only).
    status : str
        ``"reimplementation"`` until the paper's text or code is checked.
    """

    value: float
    raw: float
    baseline: float | None
    baseline_values: list[float]
    dispersion: str
    task: str
    groups: list[object]
    group_train_sizes: list[int] | None
    n_eval: int
    per_case: np.ndarray
    n_skipped: int
    baseline_mode: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float = 0.95
    status: str = STATUS

    def to_frame(self) -> pd.DataFrame:
        """One row of the scalar fields plus the number of groups."""
        frame = super().to_frame()
        frame["n_groups"] = len(self.groups)
        return frame

    def plot(self, ax: Axes | None = None) -> Axes:
        """Histogram of the per-case dispersion with the raw mean and the baseline mean."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        values = self.per_case[np.isfinite(self.per_case)]
        ax.hist(values, bins=min(50, max(5, int(np.sqrt(values.size)))), color="0.7", edgecolor="0.4")
        ax.axvline(self.raw, color="C3", label=f"raw LInCo {self.raw:.4g}")
        if self.baseline is not None and np.isfinite(self.baseline):
            ax.axvline(self.baseline, color="C0", ls="--", label=f"baseline {self.baseline:.4g}")
        ax.set_xlabel(f"per-case dispersion ({self.dispersion})")
        ax.set_ylabel("cases")
        ax.set_title(f"LInCo = {self.value:.4g} ({self.task}, K = {len(self.groups)})")
        ax.legend(loc="upper right", fontsize="small")
        return ax
