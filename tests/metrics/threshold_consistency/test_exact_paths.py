"""The exact mode's one-pass path (sampled guess) equals its histogram fallbacks bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.threshold_consistency import _passes
from metrics.threshold_consistency.functional import opis_report


def _data(n: int, k: int, d: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    x = rng.normal(size=(k, d))[y] + rng.normal(size=(n, d))
    x[5] = x[6]
    y[5] = y[6]  # an identical positive pair
    return x, y


def _same(a, b) -> bool:
    return (a.opis == b.opis and a.eps_opis == b.eps_opis and a.d_min == b.d_min and a.d_max == b.d_max
            and np.array_equal(a.thresholds, b.thresholds) and np.array_equal(a.tpr, b.tpr)
            and np.array_equal(a.tnr, b.tnr))


@pytest.mark.parametrize("distance", ["cosine", "l2"])
@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize("block_size", [None, 37])
def test_one_pass_equals_fallbacks(monkeypatch, distance, inclusive, block_size):
    x, y = _data(700, 15, 8)
    kw = dict(distance=distance, inclusive=inclusive, block_size=block_size, far_range=(0.01, 0.3),
              epsilons=(0.1, 0.3))
    used = []
    guess = _passes.guess_candidates

    def tracked(*args, **kwargs):
        out = guess(*args, **kwargs)
        used.append(out is not None)
        return out

    monkeypatch.setattr(_passes, "guess_candidates", tracked)
    one_pass = opis_report(x, y, **kw)
    assert used == [True]
    monkeypatch.setattr(_passes, "guess_candidates", lambda *a, **k: None)
    two_passes = opis_report(x, y, **kw)
    monkeypatch.setattr(_passes, "CANDIDATE_CAP", 0)
    three_passes = opis_report(x, y, **kw)
    assert _same(one_pass, two_passes) and _same(one_pass, three_passes)


def test_a_wrong_guess_falls_back(monkeypatch):
    """A guess that keeps too few pairs is detected; the result does not change."""
    x, y = _data(400, 8, 4, seed=3)
    reference = opis_report(x, y)
    guess = _passes.guess_candidates
    monkeypatch.setattr(_passes, "guess_candidates", lambda pairs, fraction, progress=None: guess(
        pairs, fraction / 50, progress))
    assert _same(opis_report(x, y), reference)
