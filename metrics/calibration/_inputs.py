"""Validated probabilities and labels as numpy arrays, for the host-side estimators.

The ``compat=`` modes, smooth ECE and MMCE work on the host in numpy; they validate
through the same one-flag check as the device path (:mod:`._tensors`) and form their
(score, outcome) pairs with the same kernel (:mod:`._kernel`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from metrics.calibration._kernel import scores_outcomes_t
from metrics.calibration._tensors import as_tensor, check_flag, labels_as_long, prepare, validity_flag

if TYPE_CHECKING:
    import torch

__all__ = ["scores_outcomes", "to_host", "validate_inputs"]


def to_host(t: torch.Tensor) -> np.ndarray:
    """A host numpy array of ``t`` (shared memory for CPU tensors; half precision as float32)."""
    import torch

    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.to(torch.float32)
    return t.cpu().numpy()


def validate_inputs(probs: npt.ArrayLike, labels: npt.ArrayLike, *, name: str = "probs"
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Validated probabilities (float dtype kept) and int64 labels in [0, K), on the host."""
    p, y = prepare(probs, labels, name=name)
    check_flag(validity_flag(p, y), p, y, name)
    return to_host(p), to_host(labels_as_long(y))


def scores_outcomes(p: np.ndarray, y: np.ndarray, scope: str) -> tuple[np.ndarray, np.ndarray]:
    """(score float64, outcome bool) of ``top_label`` or ``positive_class`` for validated host arrays."""
    s, o = scores_outcomes_t(as_tensor(p, "probs"), as_tensor(y, "labels"), scope)
    return s.numpy(), o.numpy()
