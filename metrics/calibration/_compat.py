"""``compat=`` modes of ``calibration_error``: other libraries' numbers, quirks included.

Each mode is re-implemented here from a reading of the library (torchmetrics 1.9,
netcal 1.4, uncertainty-calibration 0.1.4, relplot 1.0.3, and the numpy ECE code of
Guo et al. as used by arXiv 2404.13016) rather than by calling it: netcal,
uncertainty-calibration and relplot are test-only references, and even torchmetrics'
debiased path is private. The tests compare every mode with the real library.
An option the library does not have, or an input it rejects, raises
:class:`~metrics.InputError` quoting the library's own failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.calibration._inputs import validate_inputs
from metrics.calibration._tensors import as_tensor
from metrics.core.errors import InputError
from metrics.core.validation import (
    as_float_array,
    as_label_array,
    check_same_length,
    to_numpy,
)

__all__ = ["SUPPORTED", "compat_calibration_error"]

#: mode → (norms, binnings, scopes, debiased allowed)
SUPPORTED = {
    "torchmetrics": (("l1", "l2", "max"), ("uniform",), ("top_label", "positive_class"), True),
    "netcal": (("l1", "max", "average"), ("uniform", "quantile"), ("top_label", "positive_class"), False),
    "uncertainty_calibration": (("l1", "l2"), ("uniform", "quantile"), ("top_label", "positive_class", "classwise"), True),
    "guo": (("l1", "max"), ("uniform",), ("top_label", "positive_class"), False),
    "relplot": (("l1",), ("uniform",), ("top_label", "positive_class"), False),
}


def _unsupported(compat: str, what: str, value: Any, allowed: tuple) -> InputError:
    return InputError(f"compat={compat!r} does not support {what}={value!r} (the library offers "
                      f"{', '.join(map(repr, allowed))}); use compat=None for our estimator")


def compat_calibration_error(probs: Any, labels: Any, *, n_bins: int, norm: str, binning: str,
                             scope: str, debiased: bool, compat: str) -> float:
    norms, binnings, scopes, debias_ok = SUPPORTED[compat]
    if norm not in norms:
        raise _unsupported(compat, "norm", norm, norms)
    if binning not in binnings:
        raise _unsupported(compat, "binning", binning, binnings)
    if scope not in scopes:
        raise _unsupported(compat, "scope", scope, scopes)
    if debiased and not debias_ok:
        raise InputError(f"compat={compat!r} has no debiased estimator; use compat=None")
    if compat == "torchmetrics":
        return _torchmetrics(probs, labels, n_bins, norm, scope, debiased)
    if compat == "uncertainty_calibration":
        raw_labels = to_numpy(labels, "labels")
        if raw_labels.dtype.kind not in "iu":
            raise InputError("labels: compat='uncertainty_calibration' needs an integer array "
                             f"(the library raises 'labels should an integer numpy array.'); got dtype {raw_labels.dtype}")
    p, y = validate_inputs(probs, labels)
    if compat == "netcal":
        return _netcal(p, y, n_bins, norm, scope, binning)
    if compat == "uncertainty_calibration":
        return _uncertainty_calibration(p, y, n_bins, norm, scope, binning, debiased)
    s, o = _scores_in_dtype(p, y, scope)
    if compat == "guo":
        return _guo(s, o, n_bins, norm)
    return _relplot(s, o, n_bins)


def _scores_in_dtype(p: np.ndarray, y: np.ndarray, scope: str) -> tuple[np.ndarray, np.ndarray]:
    """(score in the input dtype, outcome as float64) the way numpy reference code forms them."""
    if scope == "positive_class":
        if p.ndim == 2 and p.shape[1] != 2:
            raise InputError(f"scope='positive_class' needs K = 2; probs has K = {p.shape[1]}")
        s = p if p.ndim == 1 else p[:, 1]
        return s, (y == 1).astype(np.float64)
    q = np.stack([1 - p, p], axis=1) if p.ndim == 1 else p
    return q.max(axis=1), (q.argmax(axis=1) == y).astype(np.float64)


# ---------------------------------------------------------------- torchmetrics 1.9
def _torchmetrics(probs: Any, labels: Any, n_bins: int, norm: str, scope: str, debiased: bool) -> float:
    """``binary_calibration_error`` / ``multiclass_calibration_error`` with the same torch ops on CPU.

    Quirks kept: logits are guessed (sigmoid / row softmax when *any* value is outside
    [0, 1]); multiclass confidences are cast to float32; edges are
    ``torch.linspace(0, 1, M+1)`` in that dtype; ``bucketize(right=True) − 1`` gives
    s = 1.0 a hidden (M+1)-th bucket; sums are ``scatter_add_`` in that dtype.
    """
    import torch

    arr = to_numpy(probs, "probs")
    if arr.dtype.kind != "f":
        raise InputError("probs: compat='torchmetrics' needs floating-point values (torchmetrics raises "
                         f"'Expected argument `preds` to be floating tensor with probabilities/logits'); got dtype {arr.dtype}")
    arr = as_float_array(arr, "probs", ndim=(1, 2), dtype=None, what="probabilities or logits")
    if arr.ndim == 2 and arr.shape[1] < 2:
        raise InputError(f"probs: compat='torchmetrics' needs at least 2 columns (torchmetrics: 'Expected argument "
                         f"`num_classes` to be an integer larger than 1'); got shape {arr.shape}")
    k = 2 if arr.ndim == 1 else arr.shape[1]
    y = as_label_array(labels, "labels", n_classes=k)
    check_same_length(probs=arr, labels=y)
    t = torch.from_numpy(np.array(arr, copy=True))
    target = as_tensor(y, "labels")
    if scope == "positive_class":
        if t.ndim == 2:
            if k != 2:
                raise InputError(f"scope='positive_class' needs K = 2 (torchmetrics binary_calibration_error); "
                                 f"probs has K = {k}")
            t = t[:, 1].contiguous()
        if not bool(torch.all((t >= 0) * (t <= 1))):
            t = t.sigmoid()
        conf, acc = t, target
    else:
        if t.ndim == 1:
            t = torch.stack([1 - t, t], dim=1)
        if not bool(torch.all((t >= 0) * (t <= 1))):
            t = torch.softmax(t, dim=1)
        conf, pred = t.max(dim=1)
        acc = pred.eq(target)
        if not debiased:  # torchmetrics' wrapper casts; its private debiased path is called on raw (s, o)
            conf, acc = conf.float(), acc.float()
    with torch.no_grad():
        return _torch_ce(conf, acc, n_bins, norm, debiased)


def _torch_ce(conf, acc, n_bins: int, norm: str, debiased: bool) -> float:
    import torch

    dtype = conf.dtype
    acc = acc.to(dtype=dtype)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=dtype)
    idx = torch.bucketize(conf, edges, right=True) - 1  # s = 1.0 → bucket M (hidden)
    count = torch.zeros(n_bins + 1, dtype=dtype).scatter_add_(0, idx, torch.ones_like(conf))
    mean_conf = torch.nan_to_num(torch.zeros(n_bins + 1, dtype=dtype).scatter_add_(0, idx, conf) / count)
    mean_acc = torch.nan_to_num(torch.zeros(n_bins + 1, dtype=dtype).scatter_add_(0, idx, acc) / count)
    prop = count / count.sum()
    if norm == "l1":
        return float(torch.sum(torch.abs(mean_acc - mean_conf) * prop))
    if norm == "max":
        return float(torch.max(torch.abs(mean_acc - mean_conf)))
    ce = torch.sum(torch.pow(mean_acc - mean_conf, 2) * prop)
    if debiased:
        per_bin = (mean_acc * (mean_acc - 1) * prop) / (prop * acc.size()[0] - 1)
        ce += torch.sum(torch.nan_to_num(per_bin))
    return float(torch.sqrt(ce)) if bool(ce > 0) else 0.0


# ---------------------------------------------------------------- netcal 1.4
def _netcal(p: np.ndarray, y: np.ndarray, n_bins: int, norm: str, scope: str, binning: str) -> float:
    """netcal ``ECE`` / ``MCE`` / ``ACE`` (``equal_intervals = binning == "uniform"``).

    Binary mode when the labels have ≤ 2 distinct values (score = column 1, outcome =
    label), else top-label. Scores clipped to [ε, 1 − ε] of the dtype; bins [lo, hi).
    """
    distinct = np.unique(y).size
    if distinct <= 2:
        if p.ndim == 2 and p.shape[1] > 2:
            raise InputError("probs: compat='netcal' sees ≤ 2 distinct labels and K > 2 columns; netcal raises "
                             "'Asserted binary classification problem but retrieved more than 2 confidence dims.'")
        if scope != "positive_class":
            raise InputError("scope: compat='netcal' scores the positive class when the labels have ≤ 2 distinct "
                             f"values (netcal's binary mode); pass scope='positive_class' (got {scope!r})")
        x = p if p.ndim == 1 else p[:, 1]
        outcome = y.astype(np.float64)
    else:
        if scope != "top_label":
            raise InputError(f"scope: compat='netcal' is top-label when the labels have > 2 distinct values; got {scope!r}")
        x = p.max(axis=1)  # argmax of the clipped rows is the same (≤ one value can exceed 1 − ε)
        outcome = (p.argmax(axis=1) == y).astype(np.float64)
    eps = np.finfo(x.dtype).eps
    s = np.clip(x, eps, 1.0 - eps)
    if binning == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.quantile(s, np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
    # netcal counts with np.histogramdd (edges as given) but takes the bin means from
    # scipy's binned_statistic_dd, which casts the edges to the sample dtype: on float32
    # input the two assignments differ for scores next to an edge.
    stat_edges = np.asarray(edges, dtype=s.dtype)
    if np.diff(stat_edges).min() == 0:
        raise InputError("probs: compat='netcal' gets a zero-width bin from tied scores; netcal (scipy "
                         "binned_statistic_dd) raises 'The smallest edge difference is numerically 0.'")
    hist_bin = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, n_bins - 1)
    stat_bin = np.clip(np.searchsorted(stat_edges, s, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(hist_bin, minlength=n_bins).astype(np.float64)
    stat_counts = np.bincount(stat_bin, minlength=n_bins).astype(np.float64)
    valid = (counts > 0) & (stat_counts > 0)
    safe = np.where(stat_counts > 0, stat_counts, 1.0)
    mean_s = np.where(valid, np.bincount(stat_bin, weights=s.astype(np.float64), minlength=n_bins) / safe, 0.0)
    mean_o = np.where(valid, np.bincount(stat_bin, weights=outcome, minlength=n_bins) / safe, 0.0)
    dev = np.abs(mean_o - mean_s)
    if norm == "l1":
        return float(np.sum(dev * (counts / counts.sum())))
    if norm == "max":
        return float(np.max(dev))
    return float(np.sum(dev) / np.count_nonzero(counts))


# ---------------------------------------------------------------- uncertainty-calibration 0.1.4
def _uc_upper_edges(s: np.ndarray, n_bins: int, binning: str) -> np.ndarray:
    if binning == "uniform":
        return np.array([i * 1.0 / n_bins for i in range(1, n_bins + 1)])
    srt = np.sort(s)
    m = min(n_bins, srt.size)
    chunks = np.array_split(srt, m)
    mids = [(chunks[j][-1] + chunks[j + 1][0]) / 2.0 for j in range(m - 1)]  # in the input dtype
    return np.array(sorted(set([float(v) for v in mids] + [1.0])))


def _uc_1d(s: np.ndarray, o: np.ndarray, n_bins: int, power: int, binning: str, debiased: bool) -> float:
    """One ``ce_1d`` of the library, mirrored operation for operation.

    The library stacks (score, outcome) into one array whose dtype is their common type
    (float32 for a float32 top-label run) and averages each bin with ``np.mean`` in that
    dtype, after grouping with ``np.argsort``; the same steps are taken here so that
    float32 runs agree too. The loop is over bins, never samples.
    """
    upper = _uc_upper_edges(s, n_bins, binning)
    data = np.empty((s.size, 2), dtype=np.result_type(s.dtype, o.dtype))
    data[:, 0], data[:, 1] = s, o
    b = np.searchsorted(upper, data[:, 0])  # side="left": bins (lo, hi]
    order = np.argsort(b)
    parts = np.split(data[order], np.searchsorted(b[order], list(range(1, len(upper)))))
    weights = np.array([len(part) / s.size for part in parts])
    errors = []
    for part in parts:
        if debiased:
            if len(part) < 2:
                errors.append(0.0)
                continue
            mean_o = np.mean(part[:, 1])
            errors.append(abs(np.mean(part[:, 0]) - mean_o) ** 2 - mean_o * (1.0 - mean_o) / (len(part) - 1.0))
        else:
            errors.append(0.0 if len(part) == 0 else abs(np.mean(part[:, 0]) - np.mean(part[:, 1])) ** power)
    total = np.dot(weights, np.array(errors, dtype=np.float64))
    if debiased:
        return float(max(total, 0.0) ** 0.5)
    return float(total ** (1.0 / power))


def _uncertainty_calibration(p: np.ndarray, y: np.ndarray, n_bins: int, norm: str, scope: str,
                             binning: str, debiased: bool) -> float:
    """``lower_bound_scaling_ce`` with ``get_equal_prob_bins`` (uniform) or ``get_equal_bins`` (quantile).

    ``get_ece`` / ``get_ece_em`` are the l1 cases. Bins are (lo, hi] with upper edges
    i·1.0/M; ``classwise`` is the library's ``marginal`` mode (mean_k CE_k^p)^{1/p}.
    """
    power = 1 if norm == "l1" else 2
    if scope == "positive_class":
        s, _ = _scores_in_dtype(p, y, scope)
        return _uc_1d(s, y, n_bins, power, binning, debiased)  # integer labels: a float64 stack
    if scope == "top_label":
        s, o = _scores_in_dtype(p, y, scope)
        return _uc_1d(s, o.astype(s.dtype), n_bins, power, binning, debiased)  # correct in the probs dtype
    q = np.stack([1 - p, p], axis=1) if p.ndim == 1 else p
    per_class = [_uc_1d(q[:, k], (y == k).astype(np.float64), n_bins, power, binning, debiased) ** power
                 for k in range(q.shape[1])]  # one step per class
    return float(np.mean(per_class) ** (1.0 / power))


# ---------------------------------------------------------------- Guo et al. numpy code
def _guo(s: np.ndarray, o: np.ndarray, n_bins: int, norm: str) -> float:
    """gpleiss-style ECE / MCE: ``np.linspace`` edges, bins (lo, hi]; s = 0 is in no bin but counts in N."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.searchsorted(edges, s.astype(np.float64), side="left") - 1
    keep = b >= 0
    b, s64, o = b[keep], s[keep].astype(np.float64), o[keep]
    n = np.bincount(b, minlength=n_bins).astype(np.float64)
    nonempty = n > 0
    if not nonempty.any():
        return 0.0
    safe = np.where(nonempty, n, 1.0)
    gap = np.abs(np.bincount(b, weights=s64, minlength=n_bins) / safe - np.bincount(b, weights=o, minlength=n_bins) / safe)
    if norm == "l1":
        return float(np.sum(np.where(nonempty, gap * (n / s.size), 0.0)))
    return float(np.max(gap[nonempty]))


# ---------------------------------------------------------------- relplot 1.0.3
def _relplot(s: np.ndarray, o: np.ndarray, n_bins: int) -> float:
    """``relplot.metrics.binnedECE``: bin = int(s / (1/M)) over M+1 bins (1.0 alone in the last)."""
    bin_size = 1.0 / n_bins
    b = (s / bin_size).astype(int)  # in the score's dtype, as relplot computes it
    count = int(1 / bin_size) + 1
    if b.size and b.max() >= count:
        raise InputError(f"n_bins: compat='relplot' fails for n_bins={n_bins}: relplot's np.add.at raises "
                         f"'index {int(b.max())} is out of bounds for axis 0 with size {count}'")
    r = s.astype(np.float64) - o
    return float(np.abs(np.bincount(b, weights=r, minlength=count)).sum() / s.size)
