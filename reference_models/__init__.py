"""Reference models, losses, calibrators, learners and sample data that produce values to score."""

from metrics.errors import InputError

from reference_models import calibrators as _calibrators
from reference_models import detection_calibration as _detection_calibration
from reference_models import tcm as _tcm
from reference_models import survival as _survival
from reference_models import group_models as _group_models
from reference_models import online_learners as _online_learners
from reference_models import stablemax as _stablemax
from reference_models import perpgrad as _perpgrad
from reference_models import grokking as _grokking
from reference_models import alignment_experiments as _alignment_experiments
from reference_models.calibrators import *  # noqa: F401,F403
from reference_models.detection_calibration import *  # noqa: F401,F403
from reference_models.tcm import *  # noqa: F401,F403
from reference_models.survival import *  # noqa: F401,F403
from reference_models.group_models import *  # noqa: F401,F403
from reference_models.online_learners import *  # noqa: F401,F403
from reference_models.stablemax import *  # noqa: F401,F403
from reference_models.perpgrad import *  # noqa: F401,F403
from reference_models.grokking import *  # noqa: F401,F403
from reference_models.alignment_experiments import *  # noqa: F401,F403

# The modules are bound under private aliases: a star import may rebind a public name
# that equals its module's name (the function metrics.linco, metrics.opis).
__all__ = ["InputError"]
__all__ += _calibrators.__all__
__all__ += _detection_calibration.__all__
__all__ += _tcm.__all__
__all__ += _survival.__all__
__all__ += _group_models.__all__
__all__ += _online_learners.__all__
__all__ += _stablemax.__all__
__all__ += _perpgrad.__all__
__all__ += _grokking.__all__
__all__ += _alignment_experiments.__all__
