"""Differentiable regret objectives: the expected regret of N runs and the regret-loss.

Park et al., "Do LLM Agents Have Regret? A Case Study in Online Learning and Games",
ICLR 2025: train a policy network by minimising a regret-loss over sampled loss
sequences. The regret formula is :func:`metrics.external_regret`'s, in torch so that
gradients flow to the policies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.validation import check_option
from metrics.regret import loss_limit, regret_from_sums

if TYPE_CHECKING:
    import torch

__all__ = ["expected_regret", "regret_loss"]


def expected_regret(losses: npt.ArrayLike | torch.Tensor, policies: npt.ArrayLike | torch.Tensor) -> torch.Tensor:
    r"""Expected external regret of N runs, differentiable in the policies.

    ``losses`` and ``policies`` are (N, T, A) torch tensors (or arrays); returns (N,):
    :math:`\sum_t\langle\ell_t,\pi_t\rangle - \min_i\sum_t\ell_t(i)`, the same formula as
    :func:`metrics.external_regret` (the min term is constant in the policies).
    """
    import torch

    lo = losses if isinstance(losses, torch.Tensor) else torch.as_tensor(np.asarray(losses), dtype=torch.float64)
    pi = policies if isinstance(policies, torch.Tensor) else torch.as_tensor(np.asarray(policies), dtype=torch.float64)
    if lo.ndim != 3 or pi.shape != lo.shape:
        raise InputError(f"losses and policies must both be (N, T, A) tensors of one shape; got "
                         f"{tuple(lo.shape)} and {tuple(pi.shape)}")
    if lo.numel() == 0:
        raise InputError(f"losses and policies must not be empty; got shape {tuple(lo.shape)}")
    limit = loss_limit(int(lo.shape[1]), int(lo.shape[2]))
    if not bool(lo.detach().abs().amax() <= limit):  # NaN and inf fail too
        raise InputError(f"losses must be finite and at most {limit:.3g} in absolute value so that sums over "
                         f"T = {lo.shape[1]} rounds stay within float64; rescale them")
    p = pi.detach().to(torch.float64)
    if not bool((p.amin() >= -1e-4) & ((p.sum(-1) - 1.0).abs() <= 1e-4).all()):  # NaN and inf fail too
        raise InputError("policies must be probability rows (entries ≥ 0, each row summing to 1 within 1e-4), "
                         "e.g. a softmax; found a row that is not")
    return regret_from_sums((lo * pi).sum(dim=(-2, -1)), lo.sum(dim=-2))


def _relu2(x):
    import torch

    return torch.clamp(x, min=0.0) ** 2


def regret_loss(regrets: npt.ArrayLike | torch.Tensor, *,
                h: Literal["identity", "relu2"] | Callable[[torch.Tensor], torch.Tensor] = "identity",
                k: float = 0.0) -> torch.Tensor:
    r"""Regret-loss of Park et al. (ICLR 2025): :math:`\mathcal L = \sum_j h(R_j) f(R_j,k) / \sum_j f(R_j,k)`.

    With f(x, k) = exp(kx) the weights are ``torch.softmax(k * R)`` (max-shifted, so large k is
    safe): k = 0 is the mean of h(R_j); ``k=float("inf")`` is h(max_j R_j) with the gradient
    flowing to the argmax. ``h`` is ``"identity"``, ``"relu2"`` (max(0, x)²) or a callable.
    The h·f form and k = 0 as the mean are from the paper; f = exp, the h options and the
    defaults are our (unverified) choices.

    Parameters
    ----------
    regrets : torch.Tensor, shape (N,)
        Regrets of N runs (e.g. :func:`expected_regret`).
    """
    import torch

    if callable(h):
        h_fn = h
    else:
        check_option(h, "h", ("identity", "relu2"))
        h_fn = (lambda x: x) if h == "identity" else _relu2
    if isinstance(k, bool) or not isinstance(k, (int, float)) or math.isnan(k) or k < 0:
        raise InputError(f"k must be a non-negative real number or float('inf'); got {k!r}")
    r = regrets if isinstance(regrets, torch.Tensor) else torch.as_tensor(np.asarray(regrets, dtype=np.float64))
    if r.ndim != 1 or r.shape[0] == 0:
        raise InputError(f"regrets must be a non-empty 1-D tensor (N,); got shape {tuple(r.shape)}")
    if not bool(torch.isfinite(r).all()):
        raise InputError("regrets must be finite; found NaN or inf")
    values = h_fn(r)
    if math.isinf(k):
        return values[torch.argmax(r.detach())]
    weights = torch.softmax(k * r, dim=0)
    return (weights * values).sum()
