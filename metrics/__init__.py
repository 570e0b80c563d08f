"""metricprobe metrics: functions, reports and torchmetrics Metric objects.

Every public name is re-exported here (``from metrics import calibration_error``).
"""

from metrics.errors import InputError

from metrics import calibration as _calibration
from metrics import detection as _detection
from metrics import opis as _opis
from metrics import concordance as _concordance
from metrics import linco as _linco
from metrics import regret as _regret
from metrics.calibration import *  # noqa: F401,F403
from metrics.detection import *  # noqa: F401,F403
from metrics.opis import *  # noqa: F401,F403
from metrics.concordance import *  # noqa: F401,F403
from metrics.linco import *  # noqa: F401,F403
from metrics.regret import *  # noqa: F401,F403

# The modules are bound under private aliases: a star import may rebind a public name
# that equals its module's name (the function metrics.linco, metrics.opis).
__all__ = ["InputError"]
__all__ += _calibration.__all__
__all__ += _detection.__all__
__all__ += _opis.__all__
__all__ += _concordance.__all__
__all__ += _linco.__all__
__all__ += _regret.__all__
