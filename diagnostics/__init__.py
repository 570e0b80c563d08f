"""metricprobe training diagnostics: detectors, probes, monitors and callbacks."""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.core.errors": ("InputError",),
    "diagnostics.monitors": ("Monitor", "MonitorAlert", "MonitorWarning", "LightningMonitorCallback", "HFMonitorCallback"),
    "diagnostics.collapse": ("softmax_collapse_fraction", "softmax_collapse_report", "SoftmaxCollapseReport", "zero_loss_fraction", "update_absorption_fraction", "nlm_alignment", "nlm_logit_alignment", "AlignmentResult", "TensorAlignment", "SoftmaxCollapseMonitor", "CollapseDetected"),
    "diagnostics.alignment": ("AlignmentRecord", "ConflictResult", "PlasticityStabilityResult", "gradient_cosine", "plasticity_stability", "sequence_logps", "preference_coefficients", "EntanglementPair", "EntanglementReport", "gradient_entanglement", "GradientAlignmentMonitor"),
    "diagnostics.continual": ("min_acc", "wc_acc", "windowed_forgetting", "windowed_plasticity", "continual_eval_report", "ContinualEvalReport", "ContinualEvaluationMonitor"),
    "diagnostics.instability": ("max_attention_logit", "attention_logit_bound", "QKRecorder", "z_loss", "output_logit_stats", "lr_sensitivity"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from diagnostics.alignment import (  # noqa: F401
        AlignmentRecord,
        ConflictResult,
        EntanglementPair,
        EntanglementReport,
        GradientAlignmentMonitor,
        PlasticityStabilityResult,
        gradient_cosine,
        gradient_entanglement,
        plasticity_stability,
        preference_coefficients,
        sequence_logps,
    )
    from diagnostics.collapse import (  # noqa: F401
        AlignmentResult,
        CollapseDetected,
        SoftmaxCollapseMonitor,
        SoftmaxCollapseReport,
        TensorAlignment,
        nlm_alignment,
        nlm_logit_alignment,
        softmax_collapse_fraction,
        softmax_collapse_report,
        update_absorption_fraction,
        zero_loss_fraction,
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
    from diagnostics.instability import (  # noqa: F401
        QKRecorder,
        attention_logit_bound,
        lr_sensitivity,
        max_attention_logit,
        output_logit_stats,
        z_loss,
    )
    from diagnostics.monitors import HFMonitorCallback, LightningMonitorCallback, Monitor, MonitorAlert, MonitorWarning  # noqa: F401
    from metrics.core.errors import InputError  # noqa: F401
