"""LInCo, the Legal Inconsistency Coefficient (Wang et al., arXiv:2103.13868, 2021).

Status: reimplementation from the paper's abstract (see ``docs/linco.md``).

- :func:`linco`, :func:`linco_report`, :func:`linco_per_case`: LInCo of a (K, N)
  matrix of K group models' predictions on N shared cases;
- :class:`LInCo`: the torchmetrics Metric.

Measuring LInCo from raw data (training one model per group) lives with the models, in
:func:`reference_models.linco_from_data`. The building blocks it shares with this package
(dispersions, baseline correction) are public here.
"""

from typing import TYPE_CHECKING

from metrics.core.lazy import lazy_exports

# Module → public names. A name loads its module on first use (keeps imports cheap).
_EXPORTS = {
    "metrics.group_consistency._dispersion": ("LINCO_CLASSIFICATION_DISPERSIONS", "LINCO_REGRESSION_DISPERSIONS", "linco_per_case"),
    "metrics.group_consistency.functional": ("linco", "linco_report"),
    "metrics.group_consistency.report": ("LincoReport",),
    "metrics.group_consistency.metric": ("LInCo",),
}
# Public at this subpackage, not re-exported at the package level (generic names).
_BUILDING_BLOCKS = {
    "metrics.group_consistency.functional": ("combine_with_baseline", "mean_of_included"),
    "metrics.group_consistency._dispersion": ("as_prediction_matrix", "check_task", "dispersion_name", "per_case_values", "resolve_dispersion"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _BUILDING_BLOCKS)

if TYPE_CHECKING:  # static checkers see the names eagerly
    from metrics.group_consistency._dispersion import (  # noqa: F401
        LINCO_CLASSIFICATION_DISPERSIONS,
        LINCO_REGRESSION_DISPERSIONS,
        as_prediction_matrix,
        check_task,
        dispersion_name,
        linco_per_case,
        per_case_values,
        resolve_dispersion,
    )
    from metrics.group_consistency.functional import (  # noqa: F401
        combine_with_baseline,
        linco,
        linco_report,
        mean_of_included,
    )
    from metrics.group_consistency.metric import LInCo  # noqa: F401
    from metrics.group_consistency.report import LincoReport  # noqa: F401
