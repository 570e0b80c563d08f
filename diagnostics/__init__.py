"""metricprobe training diagnostics: detectors, probes, monitors and callbacks."""

from metrics.errors import InputError

from diagnostics import monitors as _monitors
from diagnostics import collapse as _collapse
from diagnostics import alignment as _alignment
from diagnostics import continual as _continual
from diagnostics import instability as _instability
from diagnostics.monitors import *  # noqa: F401,F403
from diagnostics.collapse import *  # noqa: F401,F403
from diagnostics.alignment import *  # noqa: F401,F403
from diagnostics.continual import *  # noqa: F401,F403
from diagnostics.instability import *  # noqa: F401,F403

# The modules are bound under private aliases: a star import may rebind a public name
# that equals its module's name (the function metrics.linco, metrics.opis).
__all__ = ["InputError"]
__all__ += _monitors.__all__
__all__ += _collapse.__all__
__all__ += _alignment.__all__
__all__ += _continual.__all__
__all__ += _instability.__all__
