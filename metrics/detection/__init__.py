"""LVIS detection evaluation (AP, AP-Fixed, AP-Pool, TP/FP labels) and the calibration audit.

``evaluate`` (issue 3) holds the LVIS evaluation; ``audit`` (issue 4) the detector
calibration audit. Both are re-exported here.
"""

from metrics.detection import audit, evaluate, report
from metrics.detection.audit import *  # noqa: F401,F403
from metrics.detection.evaluate import *  # noqa: F401,F403
from metrics.detection.report import *  # noqa: F401,F403

__all__: list[str] = []
__all__ += evaluate.__all__
__all__ += report.__all__
__all__ += audit.__all__
