"""LVIS detection evaluation (AP, AP-Fixed, AP-Pool, TP/FP labels) and the calibration audit.

``evaluate`` (issue 3) holds the LVIS evaluation; ``audit`` (issue 4) the detector
calibration audit. Both are re-exported here.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.detection.evaluate": ("evaluate_lvis", "ap_fixed", "ap_pool", "match_detections", "DetectionMatches"),
    "metrics.detection.report": ("LVISReport",),
    "metrics.detection.audit": ("label_detections", "detection_ece", "detection_calibration_report", "DetectionCalibrationReport"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.detection.audit import (  # noqa: F401
        DetectionCalibrationReport,
        detection_calibration_report,
        detection_ece,
        label_detections,
    )
    from metrics.detection.evaluate import DetectionMatches, ap_fixed, ap_pool, evaluate_lvis, match_detections  # noqa: F401
    from metrics.detection.report import LVISReport  # noqa: F401
