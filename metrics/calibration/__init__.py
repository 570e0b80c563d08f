"""Calibration error (calibration.md): binned ECE and variants, debiased L2, smooth ECE,
MMCE, library ``compat=`` modes, a bootstrap report and a streaming Metric.

Submodules: :mod:`~metrics.calibration.binning` (the §2 edges / assignment / per-bin
sums, public and reused by the detection D-ECE and the calibrators),
:mod:`~metrics.calibration.estimators`, :mod:`~metrics.calibration.compat`,
:mod:`~metrics.calibration.smooth`, :mod:`~metrics.calibration._mmce`,
:mod:`~metrics.calibration.report`, :mod:`~metrics.calibration.metric`.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.calibration.estimators": ("calibration_error",),
    "metrics.calibration._mmce": ("mmce",),
    "metrics.calibration.smooth": ("smooth_ece",),
    "metrics.calibration.report": ("CalibrationReport", "calibration_report"),
    "metrics.calibration.metric": ("CalibrationError",),
}
# Public at this subpackage, not re-exported at the package level (generic names).
_BUILDING_BLOCKS = {
    "metrics.calibration.binning": ("BinnedStatistics", "assign_bins", "bin_edges", "binned_statistics", "quantile_edges", "uniform_edges"),
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
    from metrics.calibration.estimators import calibration_error  # noqa: F401
    from metrics.calibration.metric import CalibrationError  # noqa: F401
    from metrics.calibration._mmce import mmce  # noqa: F401
    from metrics.calibration.report import CalibrationReport, calibration_report  # noqa: F401
    from metrics.calibration.smooth import smooth_ece  # noqa: F401
