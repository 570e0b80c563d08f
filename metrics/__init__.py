"""metricprobe metrics: functions, reports and torchmetrics Metric objects.

Every public name is re-exported here (``from metrics import calibration_error``).
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.core.errors": ("InputError",),
    "metrics.calibration.functional": ("brier_score", "calibration_error", "mmce", "smooth_ece"),
    "metrics.calibration.report": ("CalibrationReport", "calibration_report"),
    "metrics.calibration.metric": ("CalibrationError",),
    "metrics.concordance.functional": ("concordance_index", "concordance_report", "uno_concordance_index",
                                       "time_dependent_concordance"),
    "metrics.concordance.report": ("ConcordanceReport",),
    "metrics.concordance.metric": ("ConcordanceIndex",),
    "metrics.group_consistency._dispersion": ("LINCO_CLASSIFICATION_DISPERSIONS", "LINCO_REGRESSION_DISPERSIONS", "linco_per_case"),
    "metrics.group_consistency.functional": ("linco", "linco_report"),
    "metrics.group_consistency.report": ("LincoReport",),
    "metrics.group_consistency.metric": ("LInCo",),
    "metrics.detection.evaluate": ("evaluate_lvis", "ap_fixed", "ap_pool"),
    "metrics.detection.coco": ("evaluate_coco",),
    "metrics.detection.matches": ("match_detections", "DetectionMatches"),
    "metrics.detection.report": ("LVISReport",),
    "metrics.detection.coco_report": ("COCOReport",),
    "metrics.detection.audit": ("label_detections", "detection_ece", "detection_calibration_report", "DetectionCalibrationReport", "detection_categories", "reliability_bins"),
    "metrics.regret.functional": ("external_regret", "dynamic_regret", "swap_regret", "regret_curve", "variation_budget",
                                  "best_action_switches", "game_regret", "cce_gap", "contextual_bandit_regret",
                                  "log_spaced_rounds", "no_regret_test", "regret_report"),
    "metrics.regret.report": ("NoRegretTestResult", "RegretReport"),
    "metrics.regret.metric": ("Regret",),
    "metrics.threshold_consistency.functional": ("opis", "epsilon_opis", "opis_report", "recall_at_k", "map_at_r",
                                                 "r_precision"),
    "metrics.threshold_consistency.report": ("OPISReport",),
    "metrics.threshold_consistency.metric": ("OPIS",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.calibration.functional import brier_score, calibration_error, mmce, smooth_ece  # noqa: F401
    from metrics.calibration.metric import CalibrationError  # noqa: F401
    from metrics.calibration.report import CalibrationReport, calibration_report  # noqa: F401
    from metrics.concordance.functional import (  # noqa: F401
        concordance_index,
        concordance_report,
        time_dependent_concordance,
        uno_concordance_index,
    )
    from metrics.concordance.metric import ConcordanceIndex  # noqa: F401
    from metrics.concordance.report import ConcordanceReport  # noqa: F401
    from metrics.core.errors import InputError  # noqa: F401
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
    from metrics.detection.matches import DetectionMatches, match_detections  # noqa: F401
    from metrics.detection.report import LVISReport  # noqa: F401
    from metrics.group_consistency._dispersion import (  # noqa: F401
        LINCO_CLASSIFICATION_DISPERSIONS,
        LINCO_REGRESSION_DISPERSIONS,
        linco_per_case,
    )
    from metrics.group_consistency.functional import linco, linco_report  # noqa: F401
    from metrics.group_consistency.metric import LInCo  # noqa: F401
    from metrics.group_consistency.report import LincoReport  # noqa: F401
    from metrics.regret.functional import (  # noqa: F401
        best_action_switches,
        cce_gap,
        contextual_bandit_regret,
        dynamic_regret,
        external_regret,
        game_regret,
        log_spaced_rounds,
        no_regret_test,
        regret_curve,
        regret_report,
        swap_regret,
        variation_budget,
    )
    from metrics.regret.metric import Regret  # noqa: F401
    from metrics.regret.report import NoRegretTestResult, RegretReport  # noqa: F401
    from metrics.threshold_consistency.functional import (  # noqa: F401
        epsilon_opis,
        map_at_r,
        opis,
        opis_report,
        r_precision,
        recall_at_k,
    )
    from metrics.threshold_consistency.metric import OPIS  # noqa: F401
    from metrics.threshold_consistency.report import OPISReport  # noqa: F401
