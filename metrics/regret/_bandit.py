"""Contextual-bandit regret (Deb, Ban, Zuo, He & Banerjee, arXiv:2312.07145).

μ_t(a) is the expected reward of arm a in round t. Pseudo-regret compares with the
best expected reward; realised regret subtracts the observed reward; on K-class data
played as a K-armed bandit (reward 1[a = y]) the regret is the number of mistakes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.validation import as_float_array, as_label_array, check_bool, to_numpy
from metrics.regret._core import is_tensor, loss_limit
from metrics.regret._inputs import as_actions, check_loss_scale, tensor_preds, to_device

if TYPE_CHECKING:
    import torch

    ArrayOrTensor = npt.ArrayLike | torch.Tensor

BanditKind = Literal["pseudo", "realized", "classification"]

__all__ = ["contextual_bandit_regret"]


def _numpy_per_round(actions: Any, expected_reward: Any, rewards: Any, labels: Any, kind: str) -> np.ndarray:
    """Per-round regret, validated on the host (also the error path of the torch route)."""
    if kind == "classification":
        if labels is None:
            raise InputError('labels is required for kind="classification"; got None')
        acts = as_label_array(actions, "actions")
        ys = as_label_array(labels, "labels")
        if ys.shape != acts.shape:
            raise InputError(f"labels must have one entry per round like actions ({acts.shape[0]}); "
                             f"got {ys.shape[0]}")
        return (acts != ys).astype(np.float64)
    if expected_reward is None:
        raise InputError(f'expected_reward is required for kind="{kind}"; got None')
    mu = as_float_array(expected_reward, "expected_reward", ndim=2, what="expected rewards (a (T, A) array)")
    check_loss_scale(mu, "expected_reward")
    acts = as_actions(actions, mu.shape[0], mu.shape[1])
    best = mu.max(axis=1)
    if kind == "pseudo":
        return best - mu[np.arange(mu.shape[0]), acts]
    if rewards is None:
        raise InputError('rewards is required for kind="realized"; got None')
    r = as_float_array(rewards, "rewards", ndim=1, what="rewards")
    check_loss_scale(r[:, None], "rewards")
    if r.shape[0] != mu.shape[0]:
        raise InputError(f"rewards must have one entry per round (T = {mu.shape[0]}); got {r.shape[0]}")
    return best - r


def _tensor_per_round(actions: Any, expected_reward: Any, rewards: Any, labels: Any, kind: str
                      ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-round regret and a validation flag in torch; None when the shapes are wrong."""
    import torch

    anchor = next(x for x in (actions, expected_reward, rewards, labels) if is_tensor(x))
    acts = to_device(actions, anchor, "actions")
    if acts.ndim != 1 or acts.shape[0] == 0 or acts.is_complex():
        return None
    if kind == "classification":
        ys = to_device(labels, anchor, "labels")
        if ys.shape != acts.shape or ys.is_complex():
            return None
        _, a_idx, ok = tensor_preds(acts, 2**62, 0.0, True)
        _, y_idx, ok_y = tensor_preds(ys, 2**62, 0.0, True)
        return (a_idx != y_idx).to(torch.float64), ok & ok_y  # type: ignore[operator]
    mu = to_device(expected_reward, anchor, "expected_reward")
    if mu.ndim != 2 or mu.shape[0] != acts.shape[0] or mu.shape[1] == 0 or mu.is_complex():
        return None
    mu = mu.to(torch.float64)
    limit = loss_limit(int(mu.shape[0]), int(mu.shape[1]))
    _, index, ok = tensor_preds(acts, int(mu.shape[1]), 0.0, True)
    ok = ok & torch.isfinite(mu).all() & (mu.abs().amax() <= limit)  # type: ignore[operator]
    best = mu.amax(dim=1)
    if kind == "pseudo":
        return best - mu.gather(1, index[:, None])[:, 0], ok
    r = to_device(rewards, anchor, "rewards")
    if r.ndim != 1 or r.shape[0] != mu.shape[0] or r.is_complex():
        return None
    r = r.to(torch.float64)
    return best - r, ok & torch.isfinite(r).all() & (r.abs().amax() <= loss_limit(int(r.shape[0]), 1))


@validate_options
def contextual_bandit_regret(actions: ArrayOrTensor, expected_reward: ArrayOrTensor | None = None, *,
                             rewards: ArrayOrTensor | None = None, labels: ArrayOrTensor | None = None,
                             kind: BanditKind = "pseudo",
                             return_curve: bool = False) -> float | np.ndarray | torch.Tensor:
    r"""Cumulative regret of a contextual-bandit learner.

    - ``kind="pseudo"``: :math:`\sum_t [\max_a \mu_t(a) - \mu_t(a_t)]` (needs ``expected_reward``);
    - ``"realized"``: :math:`\sum_t [\max_a \mu_t(a) - r_t]` (needs ``expected_reward`` and ``rewards``);
    - ``"classification"``: :math:`\sum_t 1[a_t \ne y_t]` (needs ``labels``), the mistakes of a
      K-class classifier played as a K-armed bandit with reward 1[a = y].

    Parameters
    ----------
    actions : array-like or torch.Tensor of int, shape (T,)
        The arms played (the predictions).
    expected_reward : array-like or torch.Tensor, shape (T, A), optional
        μ_t(a); finite.
    rewards : array-like or torch.Tensor, shape (T,), optional
        Observed rewards r_t.
    labels : array-like or torch.Tensor of int, shape (T,), optional
        True classes y_t.
    return_curve : bool
        Return the cumulative regret after every round (shape (T,)) instead of the total: a
        numpy array, or a tensor on the input's device for torch input.
    """
    check_bool(return_curve, "return_curve")
    if kind == "classification" and labels is None:
        raise InputError('labels is required for kind="classification"; got None')
    if kind != "classification" and expected_reward is None:
        raise InputError(f'expected_reward is required for kind="{kind}"; got None')
    if kind == "realized" and rewards is None:
        raise InputError('rewards is required for kind="realized"; got None')
    used = (actions, labels) if kind == "classification" else (actions, expected_reward, rewards)
    if any(is_tensor(x) for x in used):
        result = _tensor_per_round(actions, expected_reward, rewards, labels, kind)
        if result is not None:
            per_round, ok = result
            if return_curve:
                curve = per_round.cumsum(0)
                if not bool(ok):
                    result = None
                else:
                    return curve
            else:
                total = float(per_round.sum().where(ok, torch_nan(per_round)).item())
                if not math.isnan(total):
                    return total
        def host(x: object, name: str) -> np.ndarray | None:
            return None if x is None else to_numpy(x, name)

        _numpy_per_round(host(actions, "actions"), host(expected_reward, "expected_reward"),
                         host(rewards, "rewards"), host(labels, "labels"), kind)  # raises the precise message
        raise InputError("actions / expected_reward / rewards / labels hold invalid values")
    per_round_host = _numpy_per_round(actions, expected_reward, rewards, labels, kind)
    if return_curve:
        return np.cumsum(per_round_host)
    return float(per_round_host.sum())


def torch_nan(like: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.tensor(math.nan, dtype=torch.float64, device=like.device)
