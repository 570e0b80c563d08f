"""Reference models, losses, calibrators, learners and sample data that produce values to score."""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.core.errors": ("InputError",),
    "reference_models.calibrators": ("TemperatureScaling", "HistogramBinning", "PlattScaling", "IsotonicCalibration", "CorrectnessAwareCalibrator"),
    "reference_models.detection_calibration": ("DetectionCalibrator",),
    "reference_models.tcm": ("TCMLoss", "OPISExperimentResult", "run_opis_experiment"),
    "reference_models.survival": ("CoxPHLoss", "DiscreteHazardLoss", "SurvivalModelResult", "fit_reference_survival_model", "load_survival_dataset"),
    "reference_models.group_models": ("GroupModels", "TorchEstimator", "fit_group_models", "linco_sample_path", "make_linco_synthetic", "make_text_model"),
    "reference_models.linco_pipeline": ("linco_from_data", "linco_synthetic_experiment"),
    "reference_models.online_learners": ("Hedge", "FollowTheLeader", "FTRL", "EXP3", "NeuralEpsilonGreedy", "run", "play_repeated_game", "RegretExperimentResult", "run_regret_experiment"),
    "reference_models.regret_losses": ("expected_regret", "regret_loss"),
    "reference_models.stablemax_loss": ("stablemax", "log_stablemax", "StableMaxCrossEntropy"),
    "reference_models.perpgrad": ("perpendicular_gradient", "PerpGrad"),
    "reference_models.grokking": ("ModularAdditionTask", "GrokkingMLP", "GrokkingHistory", "run_grokking"),
    "reference_models.alignment_experiments": ("TinyCausalLM", "DPOEntanglementResult", "run_dpo_entanglement", "SplitDigitsResult", "run_split_digits_continual"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.core.errors import InputError  # noqa: F401
    from reference_models.alignment_experiments import (  # noqa: F401
        DPOEntanglementResult,
        SplitDigitsResult,
        TinyCausalLM,
        run_dpo_entanglement,
        run_split_digits_continual,
    )
    from reference_models.calibrators import (  # noqa: F401
        CorrectnessAwareCalibrator,
        HistogramBinning,
        IsotonicCalibration,
        PlattScaling,
        TemperatureScaling,
    )
    from reference_models.detection_calibration import DetectionCalibrator  # noqa: F401
    from reference_models.grokking import GrokkingHistory, GrokkingMLP, ModularAdditionTask, run_grokking  # noqa: F401
    from reference_models.group_models import (  # noqa: F401
        GroupModels,
        TorchEstimator,
        fit_group_models,
        linco_sample_path,
        make_linco_synthetic,
        make_text_model,
    )
    from reference_models.linco_pipeline import linco_from_data, linco_synthetic_experiment  # noqa: F401
    from reference_models.online_learners import (  # noqa: F401
        EXP3,
        FTRL,
        FollowTheLeader,
        Hedge,
        NeuralEpsilonGreedy,
        RegretExperimentResult,
        play_repeated_game,
        run,
        run_regret_experiment,
    )
    from reference_models.perpgrad import PerpGrad, perpendicular_gradient  # noqa: F401
    from reference_models.regret_losses import expected_regret, regret_loss  # noqa: F401
    from reference_models.stablemax_loss import StableMaxCrossEntropy, log_stablemax, stablemax  # noqa: F401
    from reference_models.survival import (  # noqa: F401
        CoxPHLoss,
        DiscreteHazardLoss,
        SurvivalModelResult,
        fit_reference_survival_model,
        load_survival_dataset,
    )
    from reference_models.tcm import OPISExperimentResult, TCMLoss, run_opis_experiment  # noqa: F401
