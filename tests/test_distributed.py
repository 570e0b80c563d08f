"""The two-process gloo harness, including a rank that never calls ``update()``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics import Metric

from tests.distributed import _assert_close, check_empty_rank, union


class SumAndCat(Metric):
    """A sum state and a list state: the two kinds the package's Metrics use.

    With a rank that saw no batch, torchmetrics gathers ``torch.tensor([], dtype=self.dtype)``
    (1-D, the Metric's dtype, float32 by default) for an empty list state; list entries of
    another dtype or ndim make gloo abort the process group (received size mismatch). The
    list state here is 1-D in the Metric's dtype, so an empty rank is fine.
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("values", [], dist_reduce_fx="cat")

    def update(self, x: torch.Tensor) -> None:
        self.total += x.to(torch.float64).sum()
        self.values.append(x.detach().to(self.dtype).reshape(-1).clone())

    def compute(self):
        values = self.values
        if isinstance(values, list):
            values = torch.cat(values) if values else torch.zeros(0, dtype=self.dtype)
        return {"total": self.total, "n": values.numel(), "sorted": values.sort().values}


def test_union_concatenates_argument_by_argument():
    a, b = (np.arange(3), np.ones((3, 2))), (np.arange(2), np.zeros((2, 2)))
    x, y = union([a, b])
    assert x.tolist() == [0, 1, 2, 0, 1] and y.shape == (5, 2) and y.sum() == 6


def test_one_rank_with_no_batch_equals_the_functional_value_on_the_union():
    """Both arrangements (rank 1 empty, rank 0 empty); the old compute_distributed API is the same worker."""
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=5),), (rng.normal(size=3),)]
    (x,) = union(batches)
    expected = {"total": x.sum(), "n": 8, "sorted": np.sort(x.astype(np.float32))}
    check_empty_rank("tests.test_distributed.SumAndCat", {}, batches, expected)
    with pytest.raises(AssertionError):  # the comparison can fail
        _assert_close({**expected, "total": x.sum() + 1e-6}, expected, 1e-12, 0.0, "off by 1e-6")
