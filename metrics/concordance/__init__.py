"""Concordance index family: Harrell's C, Uno's IPCW C, Antolini's C_td and a Metric.

One O(n log n) Fenwick-tree sweep (``_kernel.py``) counts the pairs for all three;
see ``docs/concordance.md`` for the conventions and how they map onto lifelines,
scikit-survival and pycox.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.concordance.functional": ("concordance_index", "concordance_report", "uno_concordance_index",
                                       "time_dependent_concordance"),
    "metrics.concordance.report": ("ConcordanceReport",),
    "metrics.concordance.metric": ("ConcordanceIndex",),
}
# The pair-counting building blocks, public for the other engines that score concordance
# (metrics.distributed); not re-exported at the package level.
_BUILDING_BLOCKS = {
    "metrics.concordance._inputs": ("as_event", "as_risk", "as_vector", "check_uno_options", "oriented",
                                    "resolve_direction", "survival_data"),
    "metrics.concordance._ipcw": ("ipcw_weights",),
    "metrics.concordance._kernel": ("argsort_values", "pair_counts", "sweep_counts", "weighted_sums"),
    "metrics.concordance.functional": ("ratio",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _BUILDING_BLOCKS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.concordance._inputs import (  # noqa: F401
        as_event,
        as_risk,
        as_vector,
        check_uno_options,
        oriented,
        resolve_direction,
        survival_data,
    )
    from metrics.concordance._ipcw import ipcw_weights  # noqa: F401
    from metrics.concordance._kernel import argsort_values, pair_counts, sweep_counts, weighted_sums  # noqa: F401
    from metrics.concordance.functional import (  # noqa: F401
        concordance_index,
        concordance_report,
        ratio,  # noqa: F401
        time_dependent_concordance,
        uno_concordance_index,
    )
    from metrics.concordance.metric import ConcordanceIndex  # noqa: F401
    from metrics.concordance.report import ConcordanceReport  # noqa: F401
