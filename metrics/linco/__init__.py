"""LInCo, the Legal Inconsistency Coefficient (Wang et al., arXiv:2103.13868, 2021).

Status: reimplementation from the paper's abstract (see ``docs/linco.md``).

- :func:`linco`, :func:`linco_report`, :func:`linco_per_case`: LInCo of a (K, N)
  matrix of K group models' predictions on N shared cases;
- :func:`linco_from_data`: split, train one model per group, predict the shared cases,
  subtract a random-split baseline;
- :class:`LInCo`: the torchmetrics Metric.
"""

from metrics.linco._dispersion import (
    LINCO_CLASSIFICATION_DISPERSIONS,
    LINCO_REGRESSION_DISPERSIONS,
    linco_per_case,
)
from metrics.linco._core import LincoReport, linco, linco_report
from metrics.linco._from_data import linco_from_data
from metrics.linco._metric import LInCo

__all__ = [
    "LINCO_CLASSIFICATION_DISPERSIONS",
    "LINCO_REGRESSION_DISPERSIONS",
    "LInCo",
    "LincoReport",
    "linco",
    "linco_from_data",
    "linco_per_case",
    "linco_report",
]
