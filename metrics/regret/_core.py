"""The regret formulas, written once for numpy arrays and torch tensors.

Every regret in :mod:`metrics.regret` is a function of a few running sums (learner
loss Λ, cumulative losses L, the sum of per-round minima, the swap matrix M). The
functions here compute those sums, the curves, the variation budget and the best-action
switches, and turn sums into regrets. Each takes an :class:`Ops` (``numpy_ops`` or
``torch_ops``, chosen by :func:`ops_for`) and runs the same arithmetic on either, so
the numpy path, the torch path on the tensors' device, the streaming Metric and the
differentiable ``reference_models.expected_regret`` share one formula.

Every O(T A) pass runs chunk by chunk in float64, so memory beyond the inputs stays
O(T + A²) whatever the input dtype.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

Mode = Literal["policy", "actions"]
Norm = Literal["inf", "1", "2"]

# Rows per chunk are chosen so a chunk holds about this many float64 values (8 MiB). numpy
# and torch use the same chunks, so their running sums are carried at the same rounds and
# the curves of the two paths agree to the last few bits.
CHUNK_ELEMENTS = 1 << 20


def is_tensor(x: object) -> bool:
    """True for a torch tensor (also a subclass), without importing torch."""
    return type(x).__module__.startswith("torch") or any(
        c.__module__ == "torch" and c.__name__ == "Tensor" for c in type(x).__mro__)


_is_torch = is_tensor  # older name, kept for callers inside the package


class Ops:
    """The few array operations the formulas need, on numpy (this class) or torch."""

    def rows_per_chunk(self, width: int) -> int:
        """Rows of a ``width``-wide array that fit in one chunk (at least 1)."""
        return max(1, CHUNK_ELEMENTS // max(1, width))

    def f64(self, x: Any) -> Any:
        return np.asarray(x, dtype=np.float64)

    def amin(self, x: Any, axis: int) -> Any:
        return np.min(x, axis=axis)

    def amax(self, x: Any, axis: int) -> Any:
        return np.max(x, axis=axis)

    def argmin(self, x: Any, axis: int) -> Any:
        return np.argmin(x, axis=axis)

    def cumsum(self, x: Any, axis: int) -> Any:
        return np.cumsum(x, axis=axis)

    def cumsum_into(self, x: Any, axis: int, out: Any) -> Any:
        """Running sum written into ``out`` (a buffer reused across chunks: no allocation per chunk)."""
        return np.cumsum(x, axis=axis, out=out)

    def mul_into(self, a: Any, b: Any, out: Any) -> Any:
        return np.multiply(a, b, out=out)

    def copy(self, x: Any) -> Any:
        return np.array(x, copy=True)

    def rowdot(self, a: Any, b: Any) -> Any:
        """Per-row inner products Σ_a a[t, a] b[t, a] (no (T, A) temporary)."""
        return np.einsum("ta,ta->t", a, b)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        return np.zeros(shape)

    def scalar(self, value: float, like: Any) -> Any:
        return np.float64(value)

    def diagonal_sum(self, m: Any) -> Any:
        return np.trace(m, axis1=-2, axis2=-1)

    def pick(self, block: Any, index: Any) -> Any:
        """``block[t, index[t]]`` for every row t."""
        return block[np.arange(block.shape[0]), index]

    def rows_by_action(self, index: Any, block: Any, n_actions: int) -> Any:
        """Σ over rows t of ``e_{index[t]} block[t]ᵀ``: an (A, A) matrix (one BLAS product)."""
        onehot = np.zeros((index.shape[0], n_actions))
        onehot[np.arange(index.shape[0]), index] = 1.0
        return onehot.T @ block

    def onehot(self, index: Any, n_actions: int) -> Any:
        return np.eye(n_actions)[index]

    def count_nonzero(self, x: Any) -> Any:
        return np.count_nonzero(x)

    def is_f64(self, x: Any) -> bool:
        return bool(x.dtype == np.float64)

    def inner_total(self, block: Any, policy: Any) -> Any:
        r""":math:`\sum_{t,a} \ell_t(a)\,\pi_t(a)` without a (T, A) temporary.

        einsum, not the BLAS dot: single-threaded and steady where BLAS threads contend.
        """
        return np.einsum("ta,ta->", block, policy)


class TorchOps(Ops):
    """The same operations in torch, on the tensors' device."""

    def f64(self, x: Any) -> Any:
        import torch

        return x.to(torch.float64)

    def amin(self, x: Any, axis: int) -> Any:
        return x.amin(dim=axis)

    def amax(self, x: Any, axis: int) -> Any:
        return x.amax(dim=axis)

    def argmin(self, x: Any, axis: int) -> Any:
        return x.argmin(dim=axis)

    def cumsum(self, x: Any, axis: int) -> Any:
        return x.cumsum(dim=axis)

    def cumsum_into(self, x: Any, axis: int, out: Any) -> Any:
        import torch

        return torch.cumsum(x, dim=axis, out=out)

    def mul_into(self, a: Any, b: Any, out: Any) -> Any:
        import torch

        return torch.mul(a, b, out=out)

    def copy(self, x: Any) -> Any:
        return x.clone()

    def rowdot(self, a: Any, b: Any) -> Any:
        import torch

        return torch.einsum("ta,ta->t", a, b)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        import torch

        return torch.zeros(shape, dtype=torch.float64, device=like.device)

    def scalar(self, value: float, like: Any) -> Any:
        import torch

        return torch.tensor(value, dtype=torch.float64, device=like.device)

    def diagonal_sum(self, m: Any) -> Any:
        return m.diagonal(dim1=-2, dim2=-1).sum(-1)

    def pick(self, block: Any, index: Any) -> Any:
        return block.gather(1, index[:, None])[:, 0]

    def rows_by_action(self, index: Any, block: Any, n_actions: int) -> Any:
        return self.zeros((n_actions, block.shape[1]), block).index_add_(0, index, block)

    def onehot(self, index: Any, n_actions: int) -> Any:
        import torch

        return torch.nn.functional.one_hot(index, n_actions).to(torch.float64)

    def count_nonzero(self, x: Any) -> Any:
        return x.count_nonzero()

    def is_f64(self, x: Any) -> bool:
        import torch

        return bool(x.dtype == torch.float64)

    def inner_total(self, block: Any, policy: Any) -> Any:
        import torch

        return torch.dot(block.reshape(-1), policy.reshape(-1))


numpy_ops = Ops()
torch_ops = TorchOps()


def ops_for(*arrays: object) -> Ops:
    """``torch_ops`` when any argument is a tensor, else ``numpy_ops``."""
    return torch_ops if any(is_tensor(a) for a in arrays) else numpy_ops


def rows_per_chunk(width: int) -> int:
    """Rows of a ``width``-wide numpy array that fit in one chunk (at least 1)."""
    return numpy_ops.rows_per_chunk(width)


# ----------------------------------------------------------------------------- sums → regrets


def regret_from_sums(learner_loss: Any, cumulative_loss: Any) -> Any:
    r"""External regret from sums: :math:`\Lambda - \min_i L(i)`.

    ``learner_loss`` has shape ``(...,)`` and ``cumulative_loss`` ``(..., A)``; numpy or torch.
    """
    return learner_loss - ops_for(cumulative_loss).amin(cumulative_loss, -1)


def dynamic_from_sums(learner_loss: Any, sum_min_loss: Any) -> Any:
    r"""Dynamic regret from sums: :math:`\Lambda - \sum_t \min_i \ell_t(i)`."""
    return learner_loss - sum_min_loss


def swap_from_matrix(swap_matrix: Any) -> Any:
    r"""Swap regret from :math:`M = \sum_t \pi_t \ell_t^\top`: :math:`\sum_a (M_{aa} - \min_b M_{ab})`.

    ``swap_matrix`` has shape ``(..., A, A)``; numpy or torch.
    """
    xp = ops_for(swap_matrix)
    return xp.diagonal_sum(swap_matrix) - xp.amin(swap_matrix, -1).sum(-1)


# ----------------------------------------------------------------------------- one pass over the rounds


def round_learner_losses(xp: Ops, block: Any, mode: Mode, chosen: Any) -> Any:
    r"""Per-round learner loss :math:`\langle \ell_t, \pi_t\rangle` (or :math:`\ell_t(a_t)`) of a float64 block."""
    if mode == "policy":
        return xp.rowdot(block, xp.f64(chosen))
    return xp.pick(block, chosen)


def _swap_block(xp: Ops, block: Any, mode: Mode, chosen: Any, n_actions: int) -> Any:
    if mode == "policy":
        return xp.f64(chosen).T @ block
    return xp.rows_by_action(chosen, block, n_actions)


@dataclasses.dataclass
class Sums:
    """The sufficient statistics of a run: Λ, L (A,), Σ_t min_i ℓ_t(i) and M (A × A, or None)."""

    learner_loss: Any
    cumulative_loss: Any
    sum_min_loss: Any
    swap_matrix: Any = None


def run_sums(xp: Ops, losses: Any, mode: Mode, chosen: Any, *, swap: bool = False,
             cumulative_loss: bool = True, sum_min_loss: bool = True) -> Sums:
    """Λ, L, Σ min ℓ_t (and M when ``swap``) in one chunked float64 pass.

    ``cumulative_loss`` / ``sum_min_loss`` false skip those sums (left at zero).
    """
    n_rounds, n_actions = losses.shape
    learner = xp.scalar(0.0, losses)
    cumulative = xp.zeros((n_actions,), losses)
    minima = xp.scalar(0.0, losses)
    matrix = xp.zeros((n_actions, n_actions), losses) if swap else None
    # Float64 policies and losses need no conversion: M is then one matrix product.
    whole = swap and mode == "policy" and xp.is_f64(losses) and xp.is_f64(chosen)
    if whole:
        matrix = chosen.T @ losses
    step = xp.rows_per_chunk(n_actions)
    for start in range(0, n_rounds, step):
        block = xp.f64(losses[start:start + step])
        part = chosen[start:start + step]
        if mode == "policy":
            learner = learner + xp.inner_total(block, xp.f64(part))
        else:
            learner = learner + xp.pick(block, part).sum()
        if cumulative_loss:
            cumulative = cumulative + block.sum(0)
        if sum_min_loss:
            minima = minima + xp.amin(block, 1).sum()
        if matrix is not None and not whole:
            matrix = matrix + _swap_block(xp, block, mode, part, n_actions)
    return Sums(learner, cumulative, minima, matrix)


def regret_curve_of(xp: Ops, losses: Any, mode: Mode, chosen: Any, kind: str) -> Any:
    r"""``curve[t-1] = R_t`` for t = 1..T (external: prefix-best comparator; dynamic; swap).

    Chunked with carries between chunks; the swap curve keeps a running M (O(T A²) time,
    O(T + A²) memory beyond a chunk).
    """
    n_rounds, n_actions = losses.shape
    out = xp.zeros((n_rounds,), losses)
    if kind == "swap":
        step = xp.rows_per_chunk(n_actions * n_actions)
        buffer = xp.zeros((min(step, n_rounds), n_actions, n_actions), losses)
        m_carry = xp.zeros((n_actions, n_actions), losses)
        for start in range(0, n_rounds, step):
            block = xp.f64(losses[start:start + step])
            part = chosen[start:start + step]
            pol = xp.f64(part) if mode == "policy" else xp.onehot(part, n_actions)
            running = buffer[:block.shape[0]]
            xp.mul_into(pol[:, :, None], block[:, None, :], running)
            xp.cumsum_into(running, 0, running)
            running += m_carry
            out[start:start + block.shape[0]] = swap_from_matrix(running)
            m_carry = xp.copy(running[-1])
        return out
    step = xp.rows_per_chunk(n_actions)
    buffer = xp.zeros((min(step, n_rounds), n_actions), losses) if kind == "external" else None
    learner_carry = xp.scalar(0.0, losses)
    carry = xp.zeros((n_actions,), losses) if kind == "external" else xp.scalar(0.0, losses)
    for start in range(0, n_rounds, step):
        block = xp.f64(losses[start:start + step])
        stop = start + block.shape[0]
        learner = xp.cumsum(round_learner_losses(xp, block, mode, chosen[start:stop]), 0) + learner_carry
        if buffer is not None:
            running = xp.cumsum_into(block, 0, buffer[:block.shape[0]])
            running += carry
            out[start:stop] = regret_from_sums(learner, running)
        else:
            running = xp.cumsum(xp.amin(block, 1), 0) + carry
            out[start:stop] = dynamic_from_sums(learner, running)
        carry = xp.copy(running[-1])
        learner_carry = learner[-1]
    return out


def variation_of(xp: Ops, losses: Any, norm: Norm) -> Any:
    r""":math:`V_T = \sum_{t=2}^T \lVert \ell_t - \ell_{t-1}\rVert` (norm ``"inf"``, ``"1"`` or ``"2"``)."""
    n_rounds, n_actions = losses.shape
    total = xp.scalar(0.0, losses)
    step = xp.rows_per_chunk(n_actions)
    for start in range(1, n_rounds, step):
        stop = min(start + step, n_rounds)
        diff = xp.f64(losses[start:stop]) - xp.f64(losses[start - 1:stop - 1])
        if norm == "inf":
            per_round = xp.amax(abs(diff), 1)
        elif norm == "1":
            per_round = abs(diff).sum(1)
        else:
            per_round = (diff * diff).sum(1) ** 0.5
        total = total + per_round.sum()
    return total


def switches_of(xp: Ops, losses: Any) -> Any:
    """#{t ≥ 2: argmin ℓ_t ≠ argmin ℓ_{t−1}} (lowest index on ties); chunked."""
    n_rounds, n_actions = losses.shape
    count = 0
    step = xp.rows_per_chunk(n_actions)
    for start in range(0, n_rounds, step):
        lo = max(start - 1, 0)
        best = xp.argmin(losses[lo:start + step], 1)
        count = count + xp.count_nonzero(best[1:] != best[:-1])
    return count


def sum_of_row_minima(losses: Any) -> float:
    r""":math:`\sum_t \min_i \ell_t(i)`, the comparator of the dynamic regret (chunked; numpy or torch)."""
    return as_float(_sum_min(ops_for(losses), losses))


def _sum_min(xp: Ops, losses: Any) -> Any:
    total = xp.scalar(0.0, losses)
    step = xp.rows_per_chunk(losses.shape[1])
    for start in range(0, losses.shape[0], step):
        total = total + xp.amin(xp.f64(losses[start:start + step]), 1).sum()
    return total


def loss_limit(n_rounds: int, n_actions: int) -> float:
    """Largest |loss| for which every regret sum over T rounds and A actions stays finite in float64.

    Sums of T losses, A-term swap sums and 1-norm variations are all below 2 T A max|ℓ|.
    """
    return float(np.finfo(np.float64).max) / (4.0 * max(1, n_rounds) * max(1, n_actions))


def as_float(value: Any) -> float:
    """A numpy / torch scalar as a Python float (one read for a tensor)."""
    return float(value.item()) if is_tensor(value) else float(value)


def nan_unless(ok: torch.Tensor | None, value: Any) -> Any:
    """``value`` where the validation flag ``ok`` holds, NaN elsewhere (no synchronisation)."""
    if ok is None:
        return value
    import torch

    return torch.where(ok, value, torch.full_like(value, math.nan))
