"""metricprobe training diagnostics: detectors, probes, monitors and callbacks."""

from metrics.errors import InputError

from diagnostics import monitor, collapse, alignment, continual, instability
from diagnostics.monitor import *  # noqa: F401,F403
from diagnostics.collapse import *  # noqa: F401,F403
from diagnostics.alignment import *  # noqa: F401,F403
from diagnostics.continual import *  # noqa: F401,F403
from diagnostics.instability import *  # noqa: F401,F403

__all__ = ["InputError"]
__all__ += monitor.__all__
__all__ += collapse.__all__
__all__ += alignment.__all__
__all__ += continual.__all__
__all__ += instability.__all__
