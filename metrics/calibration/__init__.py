"""Calibration error (calibration.md): binned ECE and variants, debiased L2, smooth ECE,
MMCE, library ``compat=`` modes, a bootstrap report and a streaming Metric.

Submodules: :mod:`~metrics.calibration.binning` (the §2 edges / assignment / per-bin
sums, public and reused by the detection D-ECE and the calibrators),
:mod:`~metrics.calibration.estimators`, :mod:`~metrics.calibration.compat`,
:mod:`~metrics.calibration.smooth`, :mod:`~metrics.calibration.mmce`,
:mod:`~metrics.calibration.report`, :mod:`~metrics.calibration.metric`.
"""

from metrics.calibration.binning import (  # noqa: F401 - public at metrics.calibration.*
                                         BinnedStatistics,
                                         assign_bins,
                                         bin_edges,
                                         binned_statistics,
                                         quantile_edges,
                                         uniform_edges,
)
from metrics.calibration.estimators import calibration_error
from metrics.calibration.metric import CalibrationError
from metrics.calibration.mmce import mmce
from metrics.calibration.report import CalibrationReport, calibration_report
from metrics.calibration.smooth import smooth_ece

__all__ = [
                                         "CalibrationError",
                                         "CalibrationReport",
                                         "calibration_error",
                                         "calibration_report",
                                         "mmce",
                                         "smooth_ece",
]
# The §2 binning functions are public at ``metrics.calibration.*`` (bin_edges, assign_bins,
# binned_statistics, ...) but not re-exported at ``metrics.*``: their names are generic.
