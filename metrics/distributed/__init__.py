"""Scoring saved predictions on Dask, beyond one machine's memory.

Install the extra ``metricprobe[dask]``; Dask is imported only when a function runs.
The per-shard states are the family Metric objects' states
(:func:`partial_state`, :func:`merge_states`, :func:`finalize_state`), so another engine
can drive the same three functions.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

_EXPORTS = {
    "metrics.distributed.functional": ("calibration_error", "calibration_report", "concordance_index", "concordance_report",
                                       "external_regret", "linco", "linco_report", "uno_concordance_index"),
    "metrics.distributed._regret_report": ("regret_report",),
    "metrics.distributed._states": ("partial_state", "merge_states", "finalize_state"),
    "metrics.distributed._frames": ("as_dask_frame",),
    "metrics.distributed.detection": ("evaluate_coco", "evaluate_lvis"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.distributed._frames import as_dask_frame  # noqa: F401
    from metrics.distributed._regret_report import regret_report  # noqa: F401
    from metrics.distributed._states import finalize_state, merge_states, partial_state  # noqa: F401
    from metrics.distributed.detection import evaluate_coco, evaluate_lvis  # noqa: F401
    from metrics.distributed.functional import (  # noqa: F401
        calibration_error,
        calibration_report,
        concordance_index,
        concordance_report,
        external_regret,
        linco,
        linco_report,
        uno_concordance_index,
    )
