"""Detection ECE (D-ECE) on already-labelled detections.

Küppers, Kronenberger, Shantia & Haselhoff, "Multivariate Confidence Calibration for
Object Detection", CVPR Workshops 2020: bin detections jointly by confidence and by
box features, and compare, per joint bin b, the precision (share of matched
detections) with the mean confidence,

    D-ECE = Σ_b (n_b / N′) |precision_b − conf_b|,

over the joint bins with n_b ≥ ``min_bin_count``; N′ counts only those bins. Our
default bins every dimension with the calibration binning (``metrics.calibration.bin_edges``
/ ``assign_bins``: k/M edges or tie-safe equal-mass edges, [e_k, e_{k+1}) with the last
bin closed). ``compat="netcal"`` reproduces netcal 1.4 ``ECE`` / ``MCE`` / ``ACE`` with
``detection=True`` instead (see :func:`_netcal`).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from metrics.calibration import assign_bins, bin_edges
from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, as_label_array, check_int, check_option, check_same_length

__all__ = ["detection_ece", "JointBins", "joint_bins", "validate_detection_inputs"]

NORMS = ("l1", "max", "average")
Norm = Literal["l1", "max", "average"]
Binning = Literal["uniform", "quantile"]
_DENSE_LIMIT = 1 << 22  # joint bins counted densely up to this many; sparse (np.unique) beyond


def _check_n_bins(n_bins: int | Sequence[int] | npt.NDArray[np.integer], n_dims: int) -> list[int]:
    if isinstance(n_bins, numbers.Integral) and not isinstance(n_bins, bool):
        return [check_int(n_bins, "n_bins", min_value=1)] * n_dims
    if isinstance(n_bins, (str, bytes)) or not isinstance(n_bins, (Sequence, np.ndarray)):
        raise InputError(f"n_bins must be an integer or a sequence of {n_dims} integers "
                         f"(confidence first, then each feature); got {n_bins!r}")
    values = list(n_bins)
    if len(values) != n_dims:
        raise InputError(f"n_bins must hold {n_dims} counts (confidence first, then each feature); "
                         f"got {len(values)}")
    return [check_int(v, f"n_bins[{i}]", min_value=1) for i, v in enumerate(values)]


def validate_detection_inputs(scores: npt.ArrayLike, matched: npt.ArrayLike, features: npt.ArrayLike | None
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores (N,), matched float (N,), features (N, F)) validated: finite, in [0, 1], binary matched."""
    s = as_float_array(scores, "scores", ndim=1, min_value=0.0, max_value=1.0, dtype=None,
                       what="confidence scores")
    m = as_label_array(matched, "matched", n_classes=2).astype(np.float64)
    check_same_length(scores=s, matched=m)
    if features is None:
        f = np.zeros((s.size, 0), dtype=s.dtype)
    else:
        f = as_float_array(features, "features", ndim=(1, 2), min_value=0.0, max_value=1.0, dtype=None,
                           allow_empty=True, what="box features")
        if f.ndim == 1:
            f = f[:, None]
        check_same_length(scores=s, features=f)
    return s, m, f


@dataclasses.dataclass(frozen=True)
class JointBins:
    """Per-joint-bin sums of the non-empty joint bins (our default binning)."""

    edges: list[np.ndarray]  # one edge array per dimension
    bin_id: np.ndarray  # flat joint index of each non-empty bin
    counts: np.ndarray
    sum_score: np.ndarray
    sum_matched: np.ndarray

    @property
    def gaps(self) -> np.ndarray:
        return np.abs(self.sum_matched / self.counts - self.sum_score / self.counts)


def joint_bins(s: np.ndarray, m: np.ndarray, f: np.ndarray, n_bins: list[int], binning: Binning) -> JointBins:
    """Joint bins over (score, features) with the calibration binning per dimension (validated inputs)."""
    cols = [np.asarray(s, dtype=np.float64)] + [np.asarray(f[:, j], dtype=np.float64) for j in range(f.shape[1])]
    edges = [bin_edges(c, n, binning) for c, n in zip(cols, n_bins)]
    sizes = [e.size - 1 for e in edges]
    flat = np.zeros(s.size, dtype=np.int64)
    for c, e, size in zip(cols, edges, sizes):  # one vectorised pass per dimension
        flat = flat * size + assign_bins(c, e)
    total = int(np.prod(sizes, dtype=np.float64)) if sizes else 1
    score = cols[0]
    if total <= _DENSE_LIMIT:
        counts = np.bincount(flat, minlength=total)
        keep = np.flatnonzero(counts)
        sum_s = np.bincount(flat, weights=score, minlength=total)[keep]
        sum_m = np.bincount(flat, weights=m, minlength=total)[keep]
        return JointBins(edges, keep, counts[keep], sum_s, sum_m)
    uniq, inv = np.unique(flat, return_inverse=True)
    return JointBins(edges, uniq, np.bincount(inv), np.bincount(inv, weights=score), np.bincount(inv, weights=m))


def dece_from_bins(bins: JointBins, norm: Norm, min_bin_count: int) -> tuple[float, float]:
    """(D-ECE, sparse mass) over the bins with n_b ≥ min_bin_count."""
    kept = bins.counts >= min_bin_count
    n_kept = int(bins.counts[kept].sum())
    n = int(bins.counts.sum())
    if n_kept == 0:
        raise InputError(f"min_bin_count must leave at least one joint bin; no bin holds ≥ {min_bin_count} "
                         f"of the {n} detections")
    gaps = bins.gaps[kept]
    if norm == "l1":
        value = float(np.sum(bins.counts[kept] / n_kept * gaps))
    elif norm == "max":
        value = float(gaps.max())
    else:
        value = float(gaps.mean())
    return value, 1.0 - n_kept / n


def _netcal(s: np.ndarray, m: np.ndarray, f: np.ndarray, n_bins: list[int], binning: Binning, norm: Norm,
            min_bin_count: int) -> float:
    """netcal 1.4 ``ECE``/``MCE``/``ACE(bins, equal_intervals, detection=True, sample_threshold)``.

    Quirks kept: every column clipped to [ε, 1−ε] (ε of the dtype); ``np.linspace`` edges,
    or marginal ``np.quantile`` edges with the ends set to 0 and 1 (a zero-width bin
    raises, as in scipy's ``binned_statistic_dd``); bins [lo, hi) per dimension, last
    closed; bins with fewer than ``sample_threshold`` detections count with gap 0 but
    their detections stay in N (ECE); MCE is the max over all joint bins (empty ones as 0);
    ACE averages, over non-empty feature cells, the mean gap of each cell's non-empty
    confidence bins.
    """
    x = np.column_stack([s] + [f[:, j] for j in range(f.shape[1])]) if f.shape[1] else s[:, None]
    eps = np.finfo(x.dtype).eps
    x = np.clip(x, eps, 1.0 - eps)
    edges = []
    for d, b in enumerate(n_bins):
        e = np.linspace(0.0, 1.0, b + 1)
        if binning == "quantile":
            e = np.quantile(x[:, d], q=e, axis=0)
            e[0], e[-1] = 0.0, 1.0
        if np.any(np.diff(e) <= 0):
            raise InputError(f"compat='netcal' with binning='quantile' failed: dimension {d} has a zero-width "
                             "bin (netcal/scipy: 'The smallest edge difference is numerically 0.')")
        edges.append(e)
    # scipy's / numpy's own binning, as netcal calls them: for float32 input the two disagree
    # (binned_statistic_dd bins differently from histogramdd), and netcal mixes them.
    from scipy.stats import binned_statistic_dd

    counts = np.histogramdd(x, bins=edges)[0]
    first = binned_statistic_dd(x, m, statistic="mean", bins=edges)
    acc = first.statistic
    conf = binned_statistic_dd(x, x[:, 0], statistic="mean", bins=edges, binned_statistic_result=first).statistic
    low = counts < min_bin_count
    acc[low] = np.nan
    conf[low] = np.nan
    acc = np.nan_to_num(acc, nan=0.0)
    conf = np.nan_to_num(conf, nan=0.0)
    deviation = np.abs(acc - conf)
    if norm == "l1":
        return float(np.sum(deviation * (counts / np.sum(np.sum(counts, axis=0)))))
    if norm == "max":
        return float(np.max(deviation))
    reduced = np.sum(deviation, axis=0)
    non_empty = np.count_nonzero(counts, axis=0)
    cell = np.divide(reduced, non_empty, out=np.zeros_like(reduced), where=non_empty != 0)
    return float(np.sum(cell / np.count_nonzero(np.sum(counts, axis=0))))


def detection_ece(scores: npt.ArrayLike, matched: npt.ArrayLike, *, features: npt.ArrayLike | None = None,
                  n_bins: int | Sequence[int] = 20, binning: Binning = "uniform", norm: Norm = "l1",
                  min_bin_count: int = 1, compat: Literal["netcal"] | None = None) -> float:
    """Detection expected calibration error (D-ECE) of labelled detections.

    Parameters
    ----------
    scores : array-like (N,)
        Confidence of each detection, in [0, 1].
    matched : array-like (N,)
        1 / True for a true positive, 0 / False for a false positive.
    features : array-like (N,) or (N, F), optional
        Box features in [0, 1] binned jointly with the confidence (e.g. the normalised
        centre and size (cx, cy, w, h) of :func:`label_detections`).
    n_bins : int or sequence of int
        Bins per dimension: one int for all, or 1 + F counts (confidence first), as netcal
        takes them (default 20).
    binning : {"uniform", "quantile"}
        Equal-width or equal-mass (marginal, per dimension) bins.
    norm : {"l1", "max", "average"}
        Σ (n_b/N′) gap_b (D-ECE), max gap (D-MCE), or mean gap (ACE) over the kept bins.
    min_bin_count : int
        Joint bins with fewer detections are left out; N′ counts only the kept bins.
    compat : {None, "netcal"}
        ``"netcal"`` reproduces netcal 1.4 ``ECE`` / ``MCE`` / ``ACE`` (``detection=True``,
        ``sample_threshold=min_bin_count``) exactly, quirks included (see Notes).

    Returns
    -------
    float

    Notes
    -----
    Differences from netcal: we do not clip scores to [ε, 1 − ε]; edges are k/M (netcal's
    ``np.linspace`` moves 0.3, 0.6, 0.7 by one ulp) or tie-safe equal-mass edges (netcal's
    ``np.quantile`` edges raise on ties); bins below ``min_bin_count`` are removed from N′
    (netcal keeps their detections in N with gap 0, which shrinks ECE); netcal's MCE also
    scans empty bins (as gap 0) and its ACE averages per feature cell first.

    Examples
    --------
    >>> round(detection_ece([0.9, 0.8, 0.3, 0.2], [1, 0, 0, 0], n_bins=2), 12)  # (.25 + .35) / 2
    0.3
    """
    check_option(norm, "norm", NORMS)
    check_option(binning, "binning", ("uniform", "quantile"))
    check_option(compat, "compat", (None, "netcal"))
    min_bin_count = check_int(min_bin_count, "min_bin_count", min_value=1)
    s, m, f = validate_detection_inputs(scores, matched, features)
    dims = _check_n_bins(n_bins, 1 + f.shape[1])
    if compat == "netcal":
        return _netcal(s, m, f, dims, binning, norm, min_bin_count)
    return dece_from_bins(joint_bins(s, m, f, dims, binning), norm, min_bin_count)[0]
