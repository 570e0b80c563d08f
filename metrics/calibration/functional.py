"""Public calibration functions: binned calibration error, Brier score, smooth ECE and MMCE.

``calibration_error`` and ``brier_score`` given torch tensors compute in torch on the
tensors' device (float64 / int64 sums there, one host synchronisation for validation
and one for the result); numpy input runs the same torch code on zero-copy CPU tensors.
Smooth ECE and MMCE, and every ``compat=`` mode, run on the host.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import torch  # noqa: TC002  (annotations are evaluated by validate_options)

from metrics.calibration._estimators import Binning, Compat, Norm, Scope, check_ce_options, errors_from_statistics
from metrics.calibration._inputs import scores_outcomes, validate_inputs
from metrics.calibration._kernel import binned_sums
from metrics.calibration._tensors import check_flag, labels_as_long, n_classes_of, prepare, validity_flag
from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.validation import check_bool, check_positive

__all__ = ["brier_score", "calibration_error", "mmce", "smooth_ece"]


@validate_options
def calibration_error(probs: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
                      n_bins: int = 15, norm: Norm = "l1", binning: Binning = "uniform",
                      scope: Scope = "top_label", debiased: bool = False, compat: Compat | None = None) -> float:
    r"""Binned calibration error (ECE and its variants).

    ECE = Σ_m (n_m/N) |ō_m − s̄_m| over bins of the score s (Naeini, Cooper & Hauskrecht,
    AAAI 2015; Guo et al., ICML 2017). ``norm`` picks l1 (ECE), l2 (RMS), max (MCE) or
    average (netcal ACE); ``debiased=True`` with ``l2`` is the debiased estimator of
    Kumar, Liang & Ma (NeurIPS 2019).

    Parameters
    ----------
    probs : array-like or torch.Tensor, (N,) or (N, K)
        Probabilities; a 1-D ``p`` means ``[1 − p, p]``. Finite, in [0, 1], rows summing
        to 1 within 1e-3 (2·eps of the dtype for float16 / bfloat16; no logit guessing).
        Torch tensors are scored on their own device.
    labels : array-like or torch.Tensor, (N,)
        Integer classes in [0, K) (bools and integral floats accepted).
    n_bins : int
        M, 1 ≤ M ≤ 1,000,000.
    norm : {"l1", "l2", "max", "average"}
    binning : {"uniform", "quantile"}
        k/M edges, or tie-safe equal-mass edges.
    scope : {"top_label", "positive_class", "classwise"}
        Score/outcome: (max_k p_k, 1[first argmax = y]); (p_1, 1[y = 1]) for K = 2; or
        every class k with its own bins, aggregated (mean; sqrt of mean square for l2;
        max for max).
    debiased : bool
        Debiased l2 (needs ``norm="l2"``).
    compat : {None, "torchmetrics", "netcal", "uncertainty_calibration", "guo", "relplot"}
        Reproduce a library exactly, quirks included; unsupported combinations raise.

    Returns
    -------
    float

    Examples
    --------
    >>> from metrics import calibration_error
    >>> p = [0, .1, .2, .2, .25, .5, .5, .9, 1, 1]; y = [1, 0, 1, 0, 0, 1, 0, 1, 1, 0]
    >>> round(calibration_error(p, y, n_bins=4, scope="positive_class"), 12)
    0.265
    >>> round(calibration_error(p, y, n_bins=4, scope="positive_class", compat="torchmetrics"), 6)
    0.285
    """
    n_bins = check_ce_options(n_bins, norm, binning, scope, debiased, compat)
    if compat is not None:
        from metrics.calibration._compat import compat_calibration_error

        return compat_calibration_error(probs, labels, n_bins=n_bins, norm=norm, binning=binning,
                                        scope=scope, debiased=debiased, compat=compat)
    counts, sum_s, sum_o, _ = binned_statistics_of(probs, labels, n_bins=n_bins, binning=binning, scope=scope)
    return errors_from_statistics(counts, sum_s, sum_o, norm=norm, debiased=debiased,
                                  classwise=scope == "classwise")


def binned_statistics_of(probs: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
                         n_bins: int, binning: str, scope: str, name: str = "probs"
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated per-bin (counts, Σ score, Σ outcome, edges) on the host, computed on the inputs' device."""
    p, y = prepare(probs, labels, name=name)
    if scope == "classwise" and n_classes_of(p) * n_bins > 50_000_000:
        raise InputError(f"n_bins: scope='classwise' with K = {n_classes_of(p)} classes and n_bins = {n_bins} "
                         "needs more than 5e7 bins; use fewer bins")
    count, sum_s, sum_o, edges, flag = binned_sums(p, y, n_bins=n_bins, binning=binning, scope=scope, validate=True)
    assert flag is not None
    check_flag(flag, p, y, name)
    return count.cpu().numpy(), sum_s.cpu().numpy(), sum_o.cpu().numpy(), edges.cpu().numpy()


def brier_score(probs: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor) -> float:
    r"""Brier score (Brier 1950), lower is better.

    For K > 2 classes: (1/N) Σ_i Σ_k (p_ik − 1[y_i = k])². For two classes (a 1-D ``p``
    of the positive class, or K = 2 columns) the usual binary form (1/N) Σ_i (p_i − y_i)²,
    which is half the two-column sum; both equal ``sklearn.metrics.brier_score_loss``.
    Torch tensors are scored on their device, in float64.

    Examples
    --------
    >>> from metrics.calibration import brier_score
    >>> round(brier_score([.2, .7, .9], [0, 1, 0]), 12)
    0.313333333333
    """
    p, y = prepare(probs, labels)
    check_flag(validity_flag(p, y), p, y, "probs")
    yl = labels_as_long(y)
    if p.device.type == "mps":  # no float64 on MPS
        p, yl = p.cpu(), yl.cpu()
    if p.ndim == 1:
        total = torch.sum((p.to(torch.float64) - yl.to(torch.float64)) ** 2)
    else:
        p64 = p.to(torch.float64)
        sq_norm = torch.sum(p64 * p64)  # Σ_ik p_ik², then the cross term −2 p_iy + 1 per row
        total = sq_norm - 2.0 * p64.gather(1, yl[:, None]).sum() + float(p.shape[0])
        if p.shape[1] == 2:
            total = total / 2.0
    return float(total) / p.shape[0]


@validate_options
def smooth_ece(probs: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
               scope: Scope = "top_label", return_sigma: bool = False) -> float | tuple[float, float]:
    r"""Smooth ECE with the self-consistent bandwidth σ* (Błasiok & Nakkiran, ICLR 2024).

    smECE_σ = ∫ |r̂_σ(t)| δ̂_σ(t) dt with r̂ the Gaussian-smoothed residual s − o and δ̂
    the smoothed density (reflected at 0 and 1, evaluated on relplot's grid); σ* solves
    σ = smECE_σ by relplot's bisection. Equals ``relplot.smECE(s, o)`` (1e-9) with the
    same σ*.

    Parameters
    ----------
    probs, labels
        As :func:`calibration_error`.
    scope : {"top_label", "positive_class"}
        (max_k p_k, correct) or (p_1, 1[y = 1]); ``classwise`` is not defined here.
    return_sigma : bool
        Also return σ*.

    Examples
    --------
    >>> from metrics import smooth_ece
    >>> value, sigma = smooth_ece([.9, .8, .7, .95], [1, 1, 0, 1], return_sigma=True)
    """
    from metrics.calibration._smooth import self_consistent_sigma, smooth_ece_at

    if scope == "classwise":
        raise InputError("scope: smooth_ece supports 'top_label' and 'positive_class'; got 'classwise'")
    return_sigma = check_bool(return_sigma, "return_sigma")
    p, y = validate_inputs(probs, labels)
    s, o = scores_outcomes(p, y, scope)
    o64 = o.astype(np.float64)
    sigma = self_consistent_sigma(s, o64)
    value = smooth_ece_at(s, o64, sigma)
    return (value, sigma) if return_sigma else value


@validate_options
def mmce(probs: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
         scope: Scope = "top_label", bandwidth: float = 0.4, compat: Literal["netcal"] | None = None) -> float:
    r"""Maximum mean calibration error with a Laplacian kernel, O(N log N).

    MMCE = (1/N)·sqrt(Σ_{i,j} r_i r_j k(s_i, s_j)), r = o − s, k = exp(−|s_i − s_j|/bw),
    i = j included (Kumar, Sarawagi & Jain, ICML 2018; bw = 0.4 as netcal's ``MMCE``).

    Parameters
    ----------
    probs, labels
        As :func:`calibration_error`.
    scope : {"top_label", "positive_class"}
    bandwidth : float > 0
    compat : {None, "netcal"}
        netcal 1.4 ``MMCE().measure``: ignores ``scope``; 1-D input uses s = p and
        o = 1[1[p > .5] = y]; 2-D input is top-label. Arithmetic in the input's dtype,
        as netcal does it (float32 input: float32 residuals, kernel and sum).

    Examples
    --------
    >>> from metrics import mmce
    >>> round(mmce([[.2, .8], [.6, .4]], [1, 1]), 10)
    0.2522065828
    """
    from metrics.calibration._mmce import mmce_from_scores, netcal_mmce

    bandwidth = check_positive(bandwidth, "bandwidth")
    if scope == "classwise" and compat is None:
        raise InputError("scope: mmce supports 'top_label' and 'positive_class'; got 'classwise'")
    p, y = validate_inputs(probs, labels)
    if compat == "netcal":
        return netcal_mmce(p, y, bandwidth)
    s, o = scores_outcomes(p, y, scope)
    return mmce_from_scores(s, o.astype(np.float64) - s, bandwidth)
