"""Concordance index family: Harrell's C, Uno's IPCW C, Antolini's C_td and a Metric.

One O(n log n) Fenwick-tree sweep (``_kernel.py``) counts the pairs for all three;
see ``docs/concordance.md`` for the conventions and how they map onto lifelines,
scikit-survival and pycox.
"""

from metrics.concordance.antolini import time_dependent_concordance
from metrics.concordance.harrell import ConcordanceReport, concordance_index, concordance_report
from metrics.concordance.metric import ConcordanceIndex
from metrics.concordance.uno import uno_concordance_index

__all__ = [
    "concordance_index",
    "concordance_report",
    "ConcordanceReport",
    "uno_concordance_index",
    "time_dependent_concordance",
    "ConcordanceIndex",
]
