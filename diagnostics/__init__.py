"""metricprobe training diagnostics: detectors, probes, monitors and callbacks."""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.core.errors": ("InputError",),
    "diagnostics.monitors": ("Monitor", "MonitorAlert", "MonitorWarning"),
    "diagnostics.adapters": ("LightningMonitorCallback", "HFMonitorCallback"),
    "diagnostics.collapse": ("softmax_collapse_fraction", "softmax_collapse_report", "SoftmaxCollapseReport", "zero_loss_fraction", "update_absorption_fraction"),
    "diagnostics.nlm": ("nlm_alignment", "nlm_logit_alignment", "AlignmentResult", "TensorAlignment"),
    "diagnostics.collapse_monitor": ("SoftmaxCollapseMonitor", "CollapseDetected"),
    "diagnostics.conflict": ("AlignmentRecord", "ConflictResult", "PlasticityStabilityResult", "gradient_cosine", "plasticity_stability"),
    "diagnostics.entanglement": ("sequence_logps", "preference_coefficients", "EntanglementPair", "EntanglementReport", "gradient_entanglement"),
    "diagnostics.alignment_monitor": ("GradientAlignmentMonitor",),
    "diagnostics.continual": ("min_acc", "wc_acc", "windowed_forgetting", "windowed_plasticity", "continual_eval_report", "ContinualEvalReport", "ContinualEvaluationMonitor"),
    "diagnostics.instability": ("max_attention_logit", "attention_logit_bound", "QKRecorder", "z_loss", "output_logit_stats", "lr_sensitivity"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from diagnostics.adapters import HFMonitorCallback, LightningMonitorCallback  # noqa: F401
    from diagnostics.alignment_monitor import GradientAlignmentMonitor  # noqa: F401
    from diagnostics.collapse import (  # noqa: F401
        SoftmaxCollapseReport,
        softmax_collapse_fraction,
        softmax_collapse_report,
        update_absorption_fraction,
        zero_loss_fraction,
    )
    from diagnostics.collapse_monitor import CollapseDetected, SoftmaxCollapseMonitor  # noqa: F401
    from diagnostics.conflict import (  # noqa: F401
        AlignmentRecord,
        ConflictResult,
        PlasticityStabilityResult,
        gradient_cosine,
        plasticity_stability,
    )
    from diagnostics.continual import (  # noqa: F401
        ContinualEvalReport,
        ContinualEvaluationMonitor,
        continual_eval_report,
        min_acc,
        wc_acc,
        windowed_forgetting,
        windowed_plasticity,
    )
    from diagnostics.entanglement import (  # noqa: F401
        EntanglementPair,
        EntanglementReport,
        gradient_entanglement,
        preference_coefficients,
        sequence_logps,
    )
    from diagnostics.instability import (  # noqa: F401
        QKRecorder,
        attention_logit_bound,
        lr_sensitivity,
        max_attention_logit,
        output_logit_stats,
        z_loss,
    )
    from diagnostics.monitors import Monitor, MonitorAlert, MonitorWarning  # noqa: F401
    from diagnostics.nlm import AlignmentResult, TensorAlignment, nlm_alignment, nlm_logit_alignment  # noqa: F401
    from metrics.core.errors import InputError  # noqa: F401
