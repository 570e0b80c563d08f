"""``calibration_report``: per-bin table, every norm, a seeded bootstrap interval and a
reliability diagram."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import torch  # noqa: TC002  (annotations are evaluated by validate_options)

from metrics.calibration._estimators import Binning, Compat, Scope, check_ce_options, errors_from_statistics
from metrics.calibration._inputs import scores_outcomes, validate_inputs
from metrics.calibration.binning import assign_bins, uniform_edges
from metrics.calibration.functional import binned_statistics_of
from metrics.core.bootstrap import bootstrap, check_ci_level, percentile_interval
from metrics.core.deprecation import renamed_argument
from metrics.core.options import validate_options
from metrics.core.progress import Progress, check_progress
from metrics.core.report import Report
from metrics.core.validation import as_generator, check_int

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["CI_METHODS", "CalibrationReport", "bootstrap_replicates", "calibration_report"]

CI_METHODS = ("percentile", "basic")
#: report field → (norm, debiased)
_FIELDS = {"ece": ("l1", False), "mce": ("max", False), "ace": ("average", False),
           "l2": ("l2", False), "l2_debiased": ("l2", True)}


@dataclasses.dataclass(frozen=True)
class CalibrationReport(Report):
    """Result of :func:`calibration_report`.

    Per-bin arrays are (M',) or (K, M') for ``classwise``; ``mean_confidence`` and
    ``accuracy`` are NaN for empty bins (``nonempty`` is False, ``counts`` 0).
    ``ci`` holds a (lo, hi) interval for each of ece, mce, ace, l2, l2_debiased when
    ``n_bootstrap > 0``; ``ece_ci`` is ``ci["ece"]``.
    """

    edges: np.ndarray
    counts: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    nonempty: np.ndarray
    ece: float | None
    mce: float | None
    ace: float | None
    l2: float | None
    l2_debiased: float | None
    ece_ci: tuple[float, float] | None
    ci: dict[str, tuple[float, float]] | None
    n_samples: int
    params: dict[str, object]

    @property
    def ci_low(self) -> float | None:
        """Lower end of the ECE interval (None without a bootstrap)."""
        return None if self.ece_ci is None else self.ece_ci[0]

    @property
    def ci_high(self) -> float | None:
        """Upper end of the ECE interval (None without a bootstrap)."""
        return None if self.ece_ci is None else self.ece_ci[1]


    def to_frame(self):  # type: ignore[no-untyped-def]
        """One row per bin (and class for ``classwise``)."""
        import pandas as pd

        counts = np.atleast_2d(self.counts)
        edges = np.atleast_2d(self.edges)
        conf = np.atleast_2d(self.mean_confidence)
        acc = np.atleast_2d(self.accuracy)
        rows = []
        for k in range(counts.shape[0]):
            for m in range(counts.shape[1]):
                row = {"bin": m, "lower": edges[k, m], "upper": edges[k, m + 1], "count": int(counts[k, m]),
                       "mean_confidence": conf[k, m], "accuracy": acc[k, m],
                       "gap": abs(acc[k, m] - conf[k, m])}
                if counts.shape[0] > 1 or self.params.get("scope") == "classwise":
                    row = {"class": k, **row}
                rows.append(row)
        return pd.DataFrame(rows)

    def plot(self, ax: Axes | None = None, *, class_index: int | None = None, max_panels: int = 6
             ) -> Axes | Figure:
        """Reliability diagram (see :func:`metrics.calibration._plot.reliability_diagram`).

        Top-label and positive-class reports draw one diagram on ``ax``. Classwise
        reports draw small multiples of the ``max_panels`` worst-calibrated classes
        (largest per-class ECE first) and return the figure, or one class's diagram on
        ``ax`` when ``class_index`` is given.
        """
        from metrics.calibration._plot import plot_report

        return plot_report(self, ax, class_index=class_index, max_panels=max_panels)


_FIELD_NAMES = tuple(_FIELDS)


def _basic(theta: float, q_lo: float, q_hi: float) -> tuple[float, float]:
    return float(2 * theta - q_hi), float(2 * theta - q_lo)


def _all_errors(counts: npt.ArrayLike, sum_s: npt.ArrayLike, sum_o: npt.ArrayLike,
                classwise: bool) -> dict[str, float]:
    return {name: errors_from_statistics(counts, sum_s, sum_o, norm=norm, debiased=deb, classwise=classwise)
            for name, (norm, deb) in _FIELDS.items()}


def bootstrap_replicates(p: np.ndarray, y: np.ndarray, *, n_bins: int, binning: str, scope: str,
                         n_bootstrap: int, rng: np.random.Generator | int = 0, fast: bool = True,
                         compat: str | None = None, progress: Progress = False) -> dict[str, np.ndarray | None]:
    """Replicate values of every report norm (ece, mce, ace, l2, l2_debiased).

    Replicate b resamples idx = ``rng.integers(0, N, size=N)`` (the package bootstrap)
    and recomputes with the same settings. With fixed (uniform) edges and no ``compat``
    the fast path bins each sample once and weights it by its multiplicity
    ``bincount(idx)``; otherwise (``fast=False``, quantile edges re-derived per
    replicate, or compat) the resample is materialised. Both give the same numbers up
    to float64 summation order.
    """
    n = y.size
    classwise = scope == "classwise"
    if compat is not None:
        from metrics.calibration._compat import compat_calibration_error

        names = [name for name, (norm, deb) in _FIELDS.items() if _compat_supports(compat, norm, binning, scope, deb)]

        def compat_stat(idx: np.ndarray) -> np.ndarray:
            return np.array([compat_calibration_error(p[idx], y[idx], n_bins=n_bins, norm=_FIELDS[name][0],
                                                      binning=binning, scope=scope, debiased=_FIELDS[name][1],
                                                      compat=compat) for name in names])

        res = bootstrap(compat_stat, n, n_bootstrap=n_bootstrap, seed=rng, progress=progress)
        reps = res.replicates.reshape(-1, len(names))
        return {name: (reps[:, names.index(name)] if name in names else None) for name in _FIELDS}
    if fast and binning == "uniform":
        edges = uniform_edges(n_bins)
        if classwise:
            q = np.stack([1 - p.astype(np.float64), p.astype(np.float64)], axis=1) if p.ndim == 1 else p
            k_all = q.shape[1]
            s = np.ascontiguousarray(q.T, dtype=np.float64)          # (K, N)
            o = (y[None, :] == np.arange(k_all)[:, None]).astype(np.float64)
            flat = (assign_bins(s, edges) + (np.arange(k_all) * n_bins)[:, None]).ravel()
            s_flat, o_flat = s.ravel(), o.ravel()
            size, shape = k_all * n_bins, (k_all, n_bins)  # type: tuple[int, tuple[int, ...]]
        else:
            s, o_bool = scores_outcomes(p, y, scope)
            flat, s_flat, o_flat = assign_bins(s, edges), s, o_bool.astype(np.float64)
            k_all, size, shape = 1, n_bins, (n_bins,)

        def fast_stat(w_int: np.ndarray) -> np.ndarray:
            w = w_int.astype(np.float64)
            wf = np.tile(w, k_all) if classwise else w
            counts = np.bincount(flat, weights=wf, minlength=size).reshape(shape)
            sum_s = np.bincount(flat, weights=wf * s_flat, minlength=size).reshape(shape)
            sum_o = np.bincount(flat, weights=wf * o_flat, minlength=size).reshape(shape)
            return np.array(list(_all_errors(counts, sum_s, sum_o, classwise).values()))

        res = bootstrap(fast_stat, n, n_bootstrap=n_bootstrap, seed=rng, resample="counts", progress=progress)
    else:
        def slow_stat(idx: np.ndarray) -> np.ndarray:
            counts, sum_s, sum_o, _ = binned_statistics_of(p[idx], y[idx], n_bins=n_bins, binning=binning,
                                                           scope=scope)
            return np.array(list(_all_errors(counts, sum_s, sum_o, classwise).values()))

        res = bootstrap(slow_stat, n, n_bootstrap=n_bootstrap, seed=rng, progress=progress)
    reps = res.replicates.reshape(-1, len(_FIELDS))
    return {name: reps[:, j] for j, name in enumerate(_FIELDS)}


def _compat_supports(compat: str, norm: str, binning: str, scope: str, debiased: bool) -> bool:
    from metrics.calibration._compat import SUPPORTED

    norms, binnings, scopes, debias_ok = SUPPORTED[compat]
    return norm in norms and binning in binnings and scope in scopes and (debias_ok or not debiased)


@renamed_argument("confidence", "ci_level")
@validate_options
def calibration_report(probs: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
                       n_bins: int = 15, binning: Binning = "uniform", scope: Scope = "top_label",
                       compat: Compat | None = None, n_bootstrap: int = 0, ci_level: float = 0.95,
                       ci_method: Literal["percentile", "basic"] = "percentile",
                       seed: int | np.random.Generator = 0, progress: Progress = False) -> CalibrationReport:
    r"""Per-bin reliability table, ECE / MCE / ACE / L2 / debiased L2, and bootstrap intervals.

    Parameters
    ----------
    probs, labels, n_bins, binning, scope
        As :func:`~metrics.calibration_error` (torch tensors are binned on their device).
    compat : str, optional
        Scalars from that library's mode (``None`` for norms it lacks); the per-bin
        table always uses our binning.
    n_bootstrap : int ≥ 0
        Replicates (0 = no interval). Replicate b uses idx = rng.integers(0, N, size=N)
        with rng = ``np.random.default_rng(seed)``; quantile edges are re-derived per
        replicate.
    ci_level : float in (0, 1), default 0.95
        With α = 1 − ci_level and Q the replicate quantiles (``np.quantile``):
        percentile [Q(α/2), Q(1−α/2)], basic [2θ̂ − Q(1−α/2), 2θ̂ − Q(α/2)].
        ``confidence=`` is its deprecated name.
    ci_method : {"percentile", "basic"}
    seed : int or numpy Generator
    progress : bool or callable
        Progress over the replicates: ``True`` for a bar, or ``progress(done, total)``.

    Examples
    --------
    >>> from metrics import calibration_report
    >>> rep = calibration_report([.9, .8, .7, .6], [0, 1, 1, 0], n_bins=5, n_bootstrap=200)
    >>> rep.ece_ci is not None
    True
    """
    n_bins = check_ce_options(n_bins, "l1", binning, scope, False, compat)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", min_value=0)
    ci_level = check_ci_level(ci_level)
    progress = check_progress(progress)
    rng = as_generator(seed, "seed")
    classwise = scope == "classwise"
    counts, sum_s, sum_o, edges = binned_statistics_of(probs, labels, n_bins=n_bins, binning=binning, scope=scope)
    n_samples = int(np.atleast_2d(counts)[0].sum())
    host: tuple[np.ndarray, np.ndarray] | None = None
    if compat is not None or n_bootstrap:
        host = validate_inputs(probs, labels)
    if compat is None:
        values: dict[str, float | None] = dict(_all_errors(counts, sum_s, sum_o, classwise))
    else:
        from metrics.calibration._compat import compat_calibration_error

        assert host is not None
        values = {name: (compat_calibration_error(host[0], host[1], n_bins=n_bins, norm=norm, binning=binning,
                                                  scope=scope, debiased=deb, compat=compat)
                         if _compat_supports(compat, norm, binning, scope, deb) else None)
                  for name, (norm, deb) in _FIELDS.items()}
    ci = None
    if n_bootstrap:
        assert host is not None
        reps = bootstrap_replicates(host[0], host[1], n_bins=n_bins, binning=binning, scope=scope,
                                    n_bootstrap=n_bootstrap, rng=rng, compat=compat, progress=progress)
        ci = {}
        for name, r in reps.items():
            theta = values[name]
            if r is None or theta is None:
                continue
            lo, hi = percentile_interval(r, ci_level)
            ci[name] = (float(lo), float(hi)) if ci_method == "percentile" else _basic(theta, float(lo), float(hi))
    nonempty = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(nonempty, sum_s / counts, np.nan)
        accuracy = np.where(nonempty, sum_o / counts, np.nan)
    params: dict[str, object] = {
        "n_bins": n_bins, "binning": binning, "scope": scope, "compat": compat, "n_bootstrap": n_bootstrap,
        "ci_level": ci_level, "ci_method": ci_method,
        "seed": seed if not isinstance(seed, np.random.Generator) else "Generator"}
    return CalibrationReport(edges=np.array(edges), counts=counts.astype(np.int64), mean_confidence=mean_conf,
                             accuracy=accuracy, nonempty=nonempty, ece=values["ece"], mce=values["mce"],
                             ace=values["ace"], l2=values["l2"], l2_debiased=values["l2_debiased"],
                             ece_ci=None if ci is None else ci.get("ece"), ci=ci, n_samples=n_samples,
                             params=params)
