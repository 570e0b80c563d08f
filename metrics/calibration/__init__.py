"""Calibration error: binned ECE and variants, debiased L2, smooth ECE, MMCE, the Brier
score, library ``compat=`` modes, a bootstrap report and a streaming Metric.

Modules: :mod:`~metrics.calibration.functional` (the public functions),
:mod:`~metrics.calibration.report` (``calibration_report`` and its reliability diagram),
:mod:`~metrics.calibration.metric` (``CalibrationError``), and
:mod:`~metrics.calibration.binning` (edges, assignment and per-bin sums, public building
blocks reused by the detection D-ECE and the calibrators).
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.calibration.functional": ("brier_score", "calibration_error", "mmce", "smooth_ece"),
    "metrics.calibration.report": ("CalibrationReport", "calibration_report"),
    "metrics.calibration.metric": ("CalibrationError",),
}
# Public at this subpackage, not re-exported at the package level (generic names).
_BUILDING_BLOCKS = {
    "metrics.calibration.binning": ("BinnedStatistics", "assign_bins", "bin_edges", "binned_statistics",
                                    "quantile_edges", "uniform_edges"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _BUILDING_BLOCKS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.calibration.binning import (  # noqa: F401
        BinnedStatistics,
        assign_bins,
        bin_edges,
        binned_statistics,
        quantile_edges,
        uniform_edges,
    )
    from metrics.calibration.functional import brier_score, calibration_error, mmce, smooth_ece  # noqa: F401
    from metrics.calibration.metric import CalibrationError  # noqa: F401
    from metrics.calibration.report import CalibrationReport, calibration_report  # noqa: F401
