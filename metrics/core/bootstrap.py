r"""The one bootstrap of the package: resample items with replacement, percentile interval.

Every ``*_report`` that gives an interval calls :func:`bootstrap` and exposes
``ci_low`` / ``ci_high`` at ``ci_level`` (default 0.95), with ``n_bootstrap`` and
``seed`` parameters.

Replicate :math:`b` draws :math:`n` indices uniformly with replacement from
:math:`\{0, \dots, n-1\}` (numpy's ``Generator.integers``) and evaluates the statistic
on them; the interval is the percentile interval of the defined replicates,

.. math:: [\,q_{(1-\ell)/2},\; q_{(1+\ell)/2}\,],\qquad \ell = \texttt{ci\_level},

with :func:`numpy.quantile`'s linear interpolation (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, Ch. 13). A replicate whose statistic is
undefined (it raises :class:`~metrics.core.errors.InputError` or returns NaN) is
counted in ``n_undefined`` and left out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from metrics.core.errors import InputError
from metrics.core.progress import Progress, ProgressReporter
from metrics.core.report import Report

__all__ = ["BootstrapResult", "bootstrap", "check_ci_level", "percentile_interval"]


@dataclasses.dataclass(frozen=True)
class BootstrapResult(Report):
    """Replicates of a statistic and their percentile interval.

    Attributes
    ----------
    replicates : ndarray, shape (n_defined,) or (n_defined, m)
        The defined replicates, in draw order.
    ci_low, ci_high : float or ndarray
        The percentile interval at ``ci_level`` (NaN when no replicate is defined).
    ci_level : float
    n_bootstrap : int
        Replicates drawn.
    n_undefined : int
        Replicates whose statistic was undefined (left out).
    """

    replicates: np.ndarray = dataclasses.field(repr=False)
    ci_low: float | np.ndarray
    ci_high: float | np.ndarray
    ci_level: float
    n_bootstrap: int
    n_undefined: int

    def plot(self, ax=None):  # type: ignore[no-untyped-def]
        """Histogram of the replicates with the interval marked."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        reps = np.asarray(self.replicates, dtype=float)
        if reps.ndim == 1 and reps.size:
            ax.hist(reps, bins=min(50, max(10, reps.size // 20)), color="0.7")
            for edge in (self.ci_low, self.ci_high):
                ax.axvline(float(edge), color="C3", lw=1.5)
        ax.set_xlabel("bootstrap replicate")
        ax.set_ylabel("count")
        ax.set_title(f"{self.ci_level:.0%} percentile interval, {self.n_bootstrap} replicates")
        return ax


def check_ci_level(ci_level: object, name: str = "ci_level") -> float:
    """``ci_level`` must be a number strictly between 0 and 1."""
    if isinstance(ci_level, bool) or not isinstance(ci_level, (int, float, np.floating)):
        raise InputError(f"{name} must be a number in (0, 1); got {ci_level!r}")
    value = float(ci_level)
    if not 0.0 < value < 1.0:
        raise InputError(f"{name} must be in (0, 1), e.g. 0.95; got {value!r}")
    return value


def percentile_interval(replicates: np.ndarray, ci_level: float) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Percentile interval of ``replicates`` (along axis 0); NaN when there are none."""
    ci_level = check_ci_level(ci_level)
    reps = np.asarray(replicates, dtype=float)
    if reps.shape[0] == 0:
        nan = np.full(reps.shape[1:], np.nan) if reps.ndim > 1 else math.nan
        return nan, nan
    low, high = np.quantile(reps, [(1.0 - ci_level) / 2.0, (1.0 + ci_level) / 2.0], axis=0)
    if reps.ndim == 1:
        return float(low), float(high)
    return low, high


def bootstrap(statistic: Callable[[np.ndarray], float | np.ndarray], n: int, *, n_bootstrap: int,
              ci_level: float = 0.95, seed: int | np.random.Generator | None = 0,
              resample: Literal["indices", "counts"] = "indices",
              progress: Progress = False) -> BootstrapResult:
    """Bootstrap ``statistic`` over ``n`` items.

    Parameters
    ----------
    statistic : callable
        Called once per replicate with the resample: an int64 array of ``n`` indices
        (``resample="indices"``), or the ``n`` multiplicities of the items
        (``resample="counts"``, ``np.bincount`` of the same indices: the same draws, for
        statistics that take weights). Returns a float (or a 1-D array of statistics).
    n : int
        Number of items resampled.
    n_bootstrap : int
        Number of replicates (0 gives an empty result with NaN bounds).
    ci_level : float, default 0.95
        Coverage of the percentile interval.
    seed : int, Generator or None, default 0
        Seed of numpy's default generator (or a generator to draw from).
    resample : {"indices", "counts"}
    progress : bool or callable
        Progress over the replicates (see :mod:`metrics.core.progress`).
    """
    ci_level = check_ci_level(ci_level)
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise InputError(f"n_bootstrap must be an integer >= 0; got {n_bootstrap!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"the bootstrap needs at least one item; got n={n!r}")
    if resample not in ("indices", "counts"):
        raise InputError(f"resample must be 'indices' or 'counts'; got {resample!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    values: list[float | np.ndarray] = []
    n_undefined = 0
    with ProgressReporter(progress, int(n_bootstrap), "bootstrap") as reporter:
        for _ in range(int(n_bootstrap)):
            idx = rng.integers(0, n, size=n)
            draw = idx if resample == "indices" else np.bincount(idx, minlength=n)
            try:
                value = statistic(draw)
            except InputError:
                value = math.nan
            if np.all(np.isnan(value)):
                n_undefined += 1
            else:
                values.append(value)
            reporter.update(1)
    replicates = np.asarray(values, dtype=float)
    if not values:
        replicates = replicates.reshape(0)
    low, high = percentile_interval(replicates, ci_level)
    return BootstrapResult(replicates=replicates, ci_low=low, ci_high=high, ci_level=ci_level,
                           n_bootstrap=int(n_bootstrap), n_undefined=n_undefined)
