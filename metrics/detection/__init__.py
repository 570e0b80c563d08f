"""Detection evaluation (LVIS and COCO: AP, AP-Fixed, AP-Pool, TP/FP labels) and the calibration audit.

``evaluate`` holds the LVIS evaluation, ``coco`` the COCO evaluation (pycocotools'
numbers), ``matches`` the per-detection labels and ``audit`` the detector calibration
audit. All share one IoU module, one matcher and one accumulator.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.detection.evaluate": ("evaluate_lvis", "ap_fixed", "ap_pool"),
    "metrics.detection.coco": ("evaluate_coco",),
    "metrics.detection.matches": ("match_detections", "DetectionMatches"),
    "metrics.detection.report": ("LVISReport",),
    "metrics.detection.coco_report": ("COCOReport",),
    "metrics.detection.audit": ("label_detections", "detection_ece", "detection_calibration_report",
                                "DetectionCalibrationReport", "detection_categories",
                                "reliability_bins"),
    "metrics.detection._results_io": ("iter_detection_chunks",),
    "metrics.detection._gt_io": ("FREQUENCIES",),
    "metrics.detection.inputs": ("GroundTruthInput", "ResultsInput", "ResultsCalibrator"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.detection._gt_io import FREQUENCIES  # noqa: F401
    from metrics.detection._results_io import iter_detection_chunks  # noqa: F401
    from metrics.detection.audit import (  # noqa: F401
        DetectionCalibrationReport,
        detection_calibration_report,
        detection_categories,
        detection_ece,
        label_detections,
        reliability_bins,
    )
    from metrics.detection.coco import evaluate_coco  # noqa: F401
    from metrics.detection.coco_report import COCOReport  # noqa: F401
    from metrics.detection.evaluate import ap_fixed, ap_pool, evaluate_lvis  # noqa: F401
    from metrics.detection.inputs import GroundTruthInput, ResultsCalibrator, ResultsInput  # noqa: F401
    from metrics.detection.matches import DetectionMatches, match_detections  # noqa: F401
    from metrics.detection.report import LVISReport  # noqa: F401
