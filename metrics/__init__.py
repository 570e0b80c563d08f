"""metricprobe metrics: functions, reports and torchmetrics Metric objects.

Every public name is re-exported here (``from metrics import calibration_error``).
"""

from metrics.errors import InputError

from metrics import calibration, detection, opis, concordance, linco, regret
from metrics.calibration import *  # noqa: F401,F403
from metrics.detection import *  # noqa: F401,F403
from metrics.opis import *  # noqa: F401,F403
from metrics.concordance import *  # noqa: F401,F403
from metrics.linco import *  # noqa: F401,F403
from metrics.regret import *  # noqa: F401,F403

__all__ = ["InputError"]
__all__ += calibration.__all__
__all__ += detection.__all__
__all__ += opis.__all__
__all__ += concordance.__all__
__all__ += linco.__all__
__all__ += regret.__all__
