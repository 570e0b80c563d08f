"""metricprobe: evaluation metrics and training diagnostics that the usual numbers hide.

The application layer: the ``metricprobe`` command line (:mod:`metricprobe.cli`), the
demo, and one flat namespace re-exporting every public name of :mod:`metrics`,
:mod:`diagnostics` and :mod:`reference_models`::

    import metricprobe as mp
    mp.calibration_error(probs, labels)

Names load on first use, so ``import metricprobe`` stays cheap.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING

import diagnostics as _diagnostics
import metrics as _metrics
import reference_models as _reference_models
from metrics.core.lazy import lazy_exports

try:
    __version__ = _metadata.version("metricprobe")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def _merged_exports() -> dict[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {}
    for package in (_metrics, _diagnostics, _reference_models):
        for module, names in package._EXPORTS.items():
            merged[module] = tuple(dict.fromkeys(merged.get(module, ()) + tuple(names)))
    return merged


__all__, __getattr__, __dir__ = lazy_exports(__name__, _merged_exports())
__all__ = ["__version__", *__all__]

if TYPE_CHECKING:  # static checkers see the names eagerly
    from diagnostics import *  # noqa: F401,F403
    from metrics import *  # noqa: F401,F403
    from reference_models import *  # noqa: F401,F403
