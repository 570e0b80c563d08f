"""OPIS, ε-OPIS and the retrieval metrics Recall@k, MAP@R and R-precision (issue 5).

``core`` holds OPIS and ε-OPIS, ``retrieval`` the leave-one-out retrieval metrics,
``metric`` the torchmetrics object. Everything is re-exported here.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.threshold_consistency.core": ("opis", "epsilon_opis", "opis_report", "OPISReport"),
    "metrics.threshold_consistency.retrieval": ("recall_at_k", "map_at_r", "r_precision"),
    "metrics.threshold_consistency.metric": ("OPIS",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.threshold_consistency.core import OPISReport, epsilon_opis, opis, opis_report  # noqa: F401
    from metrics.threshold_consistency.metric import OPIS  # noqa: F401
    from metrics.threshold_consistency.retrieval import map_at_r, r_precision, recall_at_k  # noqa: F401
