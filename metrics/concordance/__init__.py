"""Concordance index family: Harrell's C, Uno's IPCW C, Antolini's C_td and a Metric.

One O(n log n) Fenwick-tree sweep (``_kernel.py``) counts the pairs for all three;
see ``docs/concordance.md`` for the conventions and how they map onto lifelines,
scikit-survival and pycox.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.concordance.harrell": ("ConcordanceReport", "concordance_index", "concordance_report"),
    "metrics.concordance.uno": ("uno_concordance_index",),
    "metrics.concordance.antolini": ("time_dependent_concordance",),
    "metrics.concordance.metric": ("ConcordanceIndex",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.concordance.antolini import time_dependent_concordance  # noqa: F401
    from metrics.concordance.harrell import ConcordanceReport, concordance_index, concordance_report  # noqa: F401
    from metrics.concordance.metric import ConcordanceIndex  # noqa: F401
    from metrics.concordance.uno import uno_concordance_index  # noqa: F401
