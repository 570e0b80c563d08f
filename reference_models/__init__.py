"""Reference models, losses, calibrators, learners and sample data that produce values to score."""

from metrics.errors import InputError

from reference_models import calibrators, detection_calibration, tcm, survival, group_models, online_learners, stablemax, alignment_experiments
from reference_models.calibrators import *  # noqa: F401,F403
from reference_models.detection_calibration import *  # noqa: F401,F403
from reference_models.tcm import *  # noqa: F401,F403
from reference_models.survival import *  # noqa: F401,F403
from reference_models.group_models import *  # noqa: F401,F403
from reference_models.online_learners import *  # noqa: F401,F403
from reference_models.stablemax import *  # noqa: F401,F403
from reference_models.alignment_experiments import *  # noqa: F401,F403

__all__ = ["InputError"]
__all__ += calibrators.__all__
__all__ += detection_calibration.__all__
__all__ += tcm.__all__
__all__ += survival.__all__
__all__ += group_models.__all__
__all__ += online_learners.__all__
__all__ += stablemax.__all__
__all__ += alignment_experiments.__all__
