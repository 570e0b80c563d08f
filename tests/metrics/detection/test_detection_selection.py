"""The sort helpers of the detection selection: equal to multi-key ``np.lexsort``, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.detection._selection import rank_within, score_rank, stable_order, top_per_group


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_rank_is_dense_and_descending(seed):
    rng = np.random.default_rng(seed)
    score = np.round(rng.random(500), 2)
    score[:5] = 0.0
    score[5] = -0.0  # equal to 0.0
    r = score_rank(score)
    distinct = np.unique(score)[::-1]
    expected = np.array([int(np.flatnonzero(distinct == s)[0]) for s in score])
    np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("huge", [False, True])
def test_stable_order_equals_lexsort(huge):
    rng = np.random.default_rng(3)
    n = 2000
    cat = rng.integers(0, 7, n)
    img = rng.integers(0, 40, n) * (10 ** 17 if huge else 1)  # huge: the combined key would overflow int64
    score = np.round(rng.random(n), 1)  # many ties
    srank = score_rank(score)
    img_codes = np.unique(img, return_inverse=True)[1] if not huge else img // 10 ** 17 * 10 ** 17
    order = stable_order([(cat, 7), (srank, n + 1), (img_codes, int(img_codes.max()) + 1)])
    np.testing.assert_array_equal(order, np.lexsort((np.arange(n), img, -score, cat)))


def test_rank_within_and_top_per_group_equal_a_python_loop():
    rng = np.random.default_rng(4)
    groups = rng.choice([-5, 3, 10 ** 12], 300)
    score = np.round(rng.random(300), 1)
    order, rank = rank_within(groups, score)
    np.testing.assert_array_equal(order, np.lexsort((-score, groups)))
    keep = top_per_group(groups, score, 4)
    expected = np.zeros(300, bool)
    for g in np.unique(groups):
        rows = sorted(np.flatnonzero(groups == g), key=lambda i: -score[i])  # stable: ties in input order
        expected[rows[:4]] = True
    np.testing.assert_array_equal(keep, expected)
    assert rank.max() == max(np.bincount(np.unique(groups, return_inverse=True)[1])) - 1


@pytest.mark.parametrize("span", [1, 2, 2 ** 11, 2 ** 11 + 1, 10 ** 6, 2 ** 40 + 3])
def test_radix_path_equals_stable_argsort(span):
    from metrics.detection._selection import _RADIX_MIN

    rng = np.random.default_rng(span % 97)
    n = _RADIX_MIN + 1234
    major = rng.integers(0, span, n)
    minor = rng.integers(0, 5, n)  # many equal combined keys: their input order must be kept
    if span > 2:
        major[: n // 2] = np.sort(major[: n // 2])  # a sorted run, as after an earlier sort
    order = stable_order([(major, span), (minor, 5)])
    np.testing.assert_array_equal(order, np.lexsort((np.arange(n), minor, major)))
