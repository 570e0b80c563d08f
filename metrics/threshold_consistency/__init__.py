"""OPIS, ε-OPIS and the retrieval metrics Recall@k, MAP@R and R-precision.

``functional`` holds the public functions, ``metric`` the torchmetrics object,
``report`` the :class:`OPISReport`; the private modules stream the pairs
(``_pairs``, ``_passes``), turn counts into curves (``_curves``), rank retrieval
lists (``_retrieval`` in float64, ``_screen`` from a float32 product with the same
result) and hold the one definition of the options (``_options``).
Everything public is re-exported here.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.threshold_consistency.functional": ("opis", "epsilon_opis", "opis_report", "recall_at_k", "map_at_r",
                                                 "r_precision", "retrieval_scores", "OPISOptions"),
    "metrics.threshold_consistency.report": ("OPISReport",),
    "metrics.threshold_consistency.metric": ("OPIS",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.threshold_consistency.functional import (  # noqa: F401
        OPISOptions,
        epsilon_opis,
        map_at_r,
        opis,
        opis_report,
        r_precision,
        recall_at_k,
        retrieval_scores,
    )
    from metrics.threshold_consistency.metric import OPIS  # noqa: F401
    from metrics.threshold_consistency.report import OPISReport  # noqa: F401
