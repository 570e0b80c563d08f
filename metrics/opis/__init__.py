"""OPIS, ε-OPIS and the retrieval metrics Recall@k, MAP@R and R-precision (issue 5).

``core`` holds OPIS and ε-OPIS, ``retrieval`` the leave-one-out retrieval metrics,
``metric`` the torchmetrics object. Everything is re-exported here.
"""

from metrics.opis import core, metric, retrieval
from metrics.opis.core import *  # noqa: F401,F403
from metrics.opis.metric import *  # noqa: F401,F403
from metrics.opis.retrieval import *  # noqa: F401,F403

__all__: list[str] = []
__all__ += core.__all__
__all__ += retrieval.__all__
__all__ += metric.__all__
