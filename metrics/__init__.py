"""metricprobe metrics: functions, reports and torchmetrics Metric objects.

Every public name is re-exported here (``from metrics import calibration_error``).
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.core.errors": ("InputError",),
    "metrics.calibration.estimators": ("calibration_error",),
    "metrics.calibration._mmce": ("mmce",),
    "metrics.calibration.smooth": ("smooth_ece",),
    "metrics.calibration.report": ("CalibrationReport", "calibration_report"),
    "metrics.calibration.metric": ("CalibrationError",),
    "metrics.concordance.harrell": ("ConcordanceReport", "concordance_index", "concordance_report"),
    "metrics.concordance.uno": ("uno_concordance_index",),
    "metrics.concordance.antolini": ("time_dependent_concordance",),
    "metrics.concordance.metric": ("ConcordanceIndex",),
    "metrics.group_consistency._dispersion": ("LINCO_CLASSIFICATION_DISPERSIONS", "LINCO_REGRESSION_DISPERSIONS", "linco_per_case"),
    "metrics.group_consistency._core": ("LincoReport", "linco", "linco_report"),
    "metrics.group_consistency._metric": ("LInCo",),
    "metrics.detection.evaluate": ("evaluate_lvis", "ap_fixed", "ap_pool", "match_detections", "DetectionMatches"),
    "metrics.detection.report": ("LVISReport",),
    "metrics.detection.audit": ("label_detections", "detection_ece", "detection_calibration_report", "DetectionCalibrationReport"),
    "metrics.regret.online": ("external_regret", "dynamic_regret", "swap_regret", "regret_curve", "variation_budget", "best_action_switches"),
    "metrics.regret.games": ("game_regret", "cce_gap"),
    "metrics.regret.bandit": ("contextual_bandit_regret",),
    "metrics.regret.no_regret": ("NoRegretTestResult", "no_regret_test"),
    "metrics.regret.report": ("RegretReport", "regret_report"),
    "metrics.regret.metric": ("Regret",),
    "metrics.threshold_consistency.core": ("opis", "epsilon_opis", "opis_report", "OPISReport"),
    "metrics.threshold_consistency.retrieval": ("recall_at_k", "map_at_r", "r_precision"),
    "metrics.threshold_consistency.metric": ("OPIS",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.calibration.estimators import calibration_error  # noqa: F401
    from metrics.calibration.metric import CalibrationError  # noqa: F401
    from metrics.calibration._mmce import mmce  # noqa: F401
    from metrics.calibration.report import CalibrationReport, calibration_report  # noqa: F401
    from metrics.calibration.smooth import smooth_ece  # noqa: F401
    from metrics.concordance.antolini import time_dependent_concordance  # noqa: F401
    from metrics.concordance.harrell import ConcordanceReport, concordance_index, concordance_report  # noqa: F401
    from metrics.concordance.metric import ConcordanceIndex  # noqa: F401
    from metrics.concordance.uno import uno_concordance_index  # noqa: F401
    from metrics.core.errors import InputError  # noqa: F401
    from metrics.detection.audit import (  # noqa: F401
        DetectionCalibrationReport,
        detection_calibration_report,
        detection_ece,
        label_detections,
    )
    from metrics.detection.evaluate import DetectionMatches, ap_fixed, ap_pool, evaluate_lvis, match_detections  # noqa: F401
    from metrics.detection.report import LVISReport  # noqa: F401
    from metrics.group_consistency._core import LincoReport, linco, linco_report  # noqa: F401
    from metrics.group_consistency._dispersion import (  # noqa: F401
        LINCO_CLASSIFICATION_DISPERSIONS,
        LINCO_REGRESSION_DISPERSIONS,
        linco_per_case,
    )
    from metrics.group_consistency._metric import LInCo  # noqa: F401
    from metrics.regret.bandit import contextual_bandit_regret  # noqa: F401
    from metrics.regret.games import cce_gap, game_regret  # noqa: F401
    from metrics.regret.metric import Regret  # noqa: F401
    from metrics.regret.no_regret import NoRegretTestResult, no_regret_test  # noqa: F401
    from metrics.regret.online import (  # noqa: F401
        best_action_switches,
        dynamic_regret,
        external_regret,
        regret_curve,
        swap_regret,
        variation_budget,
    )
    from metrics.regret.report import RegretReport, regret_report  # noqa: F401
    from metrics.threshold_consistency.core import OPISReport, epsilon_opis, opis, opis_report  # noqa: F401
    from metrics.threshold_consistency.metric import OPIS  # noqa: F401
    from metrics.threshold_consistency.retrieval import map_at_r, r_precision, recall_at_k  # noqa: F401
