"""The shared contracts in metrics.core: options, deprecation, progress, bootstrap, the Report base."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import numpy as np
import pytest

from metrics.core.bootstrap import bootstrap, check_ci_level, percentile_interval
from metrics.core.deprecation import deprecated_alias, renamed_argument
from metrics.core.errors import InputError
from metrics.core.options import allowed_values, validate_options
from metrics.core.progress import check_progress, progress_reporter, track
from metrics.core.report import Report


@validate_options
@renamed_argument("confidence", "ci_level")
def _scored(x, binning: Literal["uniform", "quantile"] = "uniform", *,
            compat: Literal["netcal", "torchmetrics"] | None = None, ci_level: float = 0.95):
    return binning, compat, ci_level


def test_literal_options_are_checked_positionally_and_by_keyword():
    assert _scored(1, "quantile", compat="netcal") == ("quantile", "netcal", 0.95)
    assert _scored(1, compat=None) == ("uniform", None, 0.95)
    with pytest.raises(InputError, match=r"binning must be one of 'uniform', 'quantile'; got 'quantiles'"):
        _scored(1, "quantiles")
    with pytest.raises(InputError, match="compat must be one of 'netcal', 'torchmetrics', None"):
        _scored(1, compat="sklearn")
    with pytest.raises(InputError, match="got True"):
        _scored(1, binning=True)  # a bool is not an option string, even where it would compare equal


def test_allowed_values_reads_literal_and_optional_literal():
    assert allowed_values(Literal["a", "b"]) == ("a", "b")
    assert allowed_values(Literal["a"] | None) == ("a", None)
    assert allowed_values(int) is None
    assert allowed_values(int | None) is None


def test_renamed_argument_warns_and_maps():
    with pytest.warns(DeprecationWarning, match=r"confidence=\.\.\.\) is deprecated; use ci_level="):
        assert _scored(1, confidence=0.9)[2] == 0.9
    with pytest.raises(InputError, match="pass ci_level= only"):
        _scored(1, confidence=0.9, ci_level=0.8)
    alpha = renamed_argument("alpha", "ci_level", convert=lambda a: 1 - a)(lambda *, ci_level=0.95: ci_level)
    with pytest.warns(DeprecationWarning):
        assert alpha(alpha=0.1) == pytest.approx(0.9)


def test_deprecated_alias_calls_the_replacement():
    def new_name(x):
        return x + 1

    old = deprecated_alias(new_name, "old_name")
    with pytest.warns(DeprecationWarning, match="old_name is deprecated; use new_name instead"):
        assert old(1) == 2
    assert old.__name__ == "old_name"


def test_progress_reports_to_a_callable_and_validates():
    seen = []
    assert list(track(range(3), progress=lambda d, t: seen.append((d, t)))) == [0, 1, 2]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with progress_reporter(False, 10) as rep:
        rep.update(4)
    assert rep.done == 4
    with pytest.raises(InputError, match="progress must be False, True or a callable"):
        check_progress("yes")


def test_bootstrap_percentile_interval_by_hand():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    # the same draws as numpy's generator makes them, written out here
    rng = np.random.default_rng(7)
    draws = [rng.integers(0, 4, size=4) for _ in range(200)]
    means = np.array([x[d].mean() for d in draws])
    lo, hi = np.quantile(means, [0.05, 0.95])
    res = bootstrap(lambda i: x[i].mean(), 4, n_bootstrap=200, ci_level=0.9, seed=7)
    assert res.ci_low == pytest.approx(lo, abs=1e-15) and res.ci_high == pytest.approx(hi, abs=1e-15)
    counts = bootstrap(lambda c: float(np.dot(c, x) / c.sum()), 4, n_bootstrap=200, ci_level=0.9, seed=7,
                       resample="counts")
    np.testing.assert_allclose(counts.replicates, res.replicates, rtol=1e-15)


def test_bootstrap_counts_undefined_replicates():
    def undefined_on_odd_first(i):
        if i[0] % 2:
            raise InputError("undefined")
        return float(i.mean())

    res = bootstrap(undefined_on_odd_first, 5, n_bootstrap=100, seed=0)
    assert 0 < res.n_undefined < 100
    assert res.replicates.shape == (100 - res.n_undefined,)
    empty = bootstrap(lambda i: float("nan"), 3, n_bootstrap=5)
    assert empty.n_undefined == 5 and np.isnan(empty.ci_low)
    assert percentile_interval(np.array([1.0, 2.0, 3.0]), 0.5) == (1.5, 2.5)


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, True, "0.9"])
def test_ci_level_must_be_inside_zero_one(bad):
    with pytest.raises(InputError, match="ci_level"):
        check_ci_level(bad)


def test_report_base_gives_dict_frame_and_str():
    @dataclasses.dataclass(frozen=True)
    class _Toy(Report):
        value: float
        counts: np.ndarray
        hidden: int = dataclasses.field(default=3, repr=False)

    toy = _Toy(0.25, np.array([1, 2]))
    assert toy.to_dict() == {"value": 0.25, "counts": [1, 2]}
    assert list(toy.to_frame().columns) == ["value"]
    assert str(toy).splitlines() == ["_Toy", "  value  0.25"]
    with pytest.raises(NotImplementedError):
        toy.plot()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(str(toy), str)
