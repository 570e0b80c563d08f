"""Reference online learners and a reference regret experiment.

Learners (full information) expose ``policy() -> (A,)`` for the coming round,
``update(loss_vector)`` and ``reset()``. Bandit learners (``feedback = "bandit"``)
receive ``update(action, loss)`` with only ℓ_t(a_t). :func:`run` plays an oblivious
loss sequence and samples a_t with ``numpy.random.default_rng(seed).choice(A, p=π_t)``.
Learners are loops over rounds by nature; the regret of what they produce is
measured by :mod:`metrics.regret`, which is vectorised.

References: Freund & Schapire 1997 (Hedge); Cesa-Bianchi & Lugosi 2006, Thm 2.2 (Hedge's
bound √(T ln A / 2) with η = √(8 ln A / T) for losses in [0, 1]); Shalev-Shwartz 2012
(FTRL); Auer, Cesa-Bianchi, Freund & Schapire 2002 (EXP3); Deb et al. arXiv:2312.07145
(neural contextual bandits). The differentiable regret-loss is in :mod:`reference_models.regret_losses`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.options import validate_options
from metrics.core.report import Report
from metrics.core.validation import (
    as_float_array,
    as_generator,
    check_fraction,
    check_int,
    check_positive,
)
from metrics.regret import (
    as_losses,
    cce_gap,
    game_regret,
    no_regret_test,
    regret_curve,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Regularizer = Literal["entropy", "euclidean"]


class OnlineLearner(Protocol):
    """What :func:`run` and :func:`play_repeated_game` need: the number of actions, the feedback
    (``"full"``: ``update(loss_vector)``; ``"bandit"``: ``update(action, loss)``), the coming
    policy and a reset."""

    n: int
    feedback: str

    def policy(self) -> np.ndarray: ...

    def update(self, *args: Any, **kwargs: Any) -> None: ...

    def reset(self) -> None: ...


__all__ = [
    "Hedge",
    "FollowTheLeader",
    "FTRL",
    "EXP3",
    "NeuralEpsilonGreedy",
    "run",
    "play_repeated_game",
    "RegretExperimentResult",
    "run_regret_experiment",
]


def _neg_softmax(eta: float, cumulative: np.ndarray) -> np.ndarray:
    """π ∝ exp(−η L), computed as softmax(−η (L − min L)) so no exponent overflows.

    Two numpy lines rather than scipy.special.softmax: this runs once per round and scipy's
    array-API dispatch costs more than the arithmetic at these sizes.
    """
    weights = np.exp(-eta * (cumulative - cumulative.min()))
    return weights / weights.sum()


def _project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of v onto the probability simplex (sort-based; Duchi et al. 2008).

    Written by hand: numpy / scipy / scikit-learn have no simplex projection.
    """
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, v.shape[0] + 1)
    rho = int(np.flatnonzero(u - css / k > 0)[-1])
    theta = css[rho] / (rho + 1)
    return np.maximum(v - theta, 0.0)


def _loss_vector(loss: npt.ArrayLike, n: int) -> np.ndarray:
    vec = as_float_array(loss, "loss_vector", ndim=1, what="losses")
    if vec.shape[0] != n:
        raise InputError(f"loss_vector must have one entry per action ({n}); got {vec.shape[0]}")
    return vec


class _FullInformation:
    feedback = "full"

    def __init__(self, n: int) -> None:
        self.n = check_int(n, "n", min_value=1)
        self.reset()

    def reset(self) -> None:
        """Forget all losses seen."""
        self.cumulative_loss = np.zeros(self.n)

    def policy(self) -> np.ndarray:
        """The policy for the coming round (implemented by each learner)."""
        raise NotImplementedError

    def update(self, loss_vector: npt.ArrayLike) -> None:
        """Observe the full loss vector ℓ_t (shape (A,))."""
        self._observe(_loss_vector(loss_vector, self.n))

    def _observe(self, loss_vector: np.ndarray) -> None:
        # already validated (called by run / play_repeated_game on checked arrays)
        self.cumulative_loss = self.cumulative_loss + loss_vector


class Hedge(_FullInformation):
    r"""Hedge / exponential weights: :math:`\pi_t \propto \exp(-\eta L_{t-1})`.

    With ``eta=None`` the tuned rate :math:`\eta = \sqrt{8\ln A / T}` is used (``horizon`` = T
    required), for which :math:`\mathrm{Reg}_T \le \sqrt{T \ln A / 2}` on losses in [0, 1].
    """

    def __init__(self, n: int, *, eta: float | None = None, horizon: int | None = None) -> None:
        if eta is None:
            if horizon is None:
                raise InputError("horizon is required when eta is None (eta = sqrt(8 ln A / horizon)); got None")
            horizon = check_int(horizon, "horizon", min_value=1)
            eta = math.sqrt(8.0 * math.log(check_int(n, "n", min_value=1)) / horizon)
        self.eta = check_positive(eta, "eta", allow_zero=True)
        super().__init__(n)

    def policy(self) -> np.ndarray:
        return _neg_softmax(self.eta, self.cumulative_loss)


class FollowTheLeader(_FullInformation):
    """Point mass on argmin L_{t−1} (lowest index on ties; round 1 plays action 0)."""

    def policy(self) -> np.ndarray:
        out = np.zeros(self.n)
        out[int(np.argmin(self.cumulative_loss))] = 1.0
        return out


class FTRL(_FullInformation):
    r"""Follow the regularised leader with step ``eta``.

    ``regularizer="entropy"``: :math:`\pi_t \propto \exp(-\eta L_{t-1})` (exactly Hedge);
    ``"euclidean"``: :math:`\pi_t = \Pi_\Delta(-\eta L_{t-1})`, the Euclidean projection onto the simplex.
    """

    @validate_options
    def __init__(self, n: int, *, eta: float, regularizer: Regularizer = "entropy") -> None:
        self.eta = check_positive(eta, "eta")
        self.regularizer = regularizer
        super().__init__(n)

    def policy(self) -> np.ndarray:
        if self.regularizer == "entropy":
            return _neg_softmax(self.eta, self.cumulative_loss)
        return _project_simplex(-self.eta * self.cumulative_loss)


class EXP3:
    r"""EXP3 for bandit feedback (Auer et al. 2002), loss form.

    :math:`\pi_t = (1-\gamma)\,\mathrm{softmax}(-\eta \hat L_{t-1}) + \gamma / A`, with the
    importance-weighted estimate :math:`\hat L(a_t) \mathrel{+}= \ell_t(a_t) / \pi_t(a_t)`.
    ``eta=None`` uses :math:`\eta = \sqrt{2\ln A / (T A)}` (``horizon`` = T required).
    """

    feedback = "bandit"

    def __init__(self, n: int, *, eta: float | None = None, gamma: float = 0.0,
                 horizon: int | None = None) -> None:
        self.n = check_int(n, "n", min_value=1)
        if eta is None:
            if horizon is None:
                raise InputError("horizon is required when eta is None (eta = sqrt(2 ln A / (horizon A))); got None")
            horizon = check_int(horizon, "horizon", min_value=1)
            eta = math.sqrt(2.0 * math.log(self.n) / (horizon * self.n))
        self.eta = check_positive(eta, "eta", allow_zero=True)
        self.gamma = check_fraction(gamma, "gamma", closed=True)
        self.reset()

    def reset(self) -> None:
        self.estimated_loss = np.zeros(self.n)

    def policy(self) -> np.ndarray:
        return (1.0 - self.gamma) * _neg_softmax(self.eta, self.estimated_loss) + self.gamma / self.n

    def update(self, action: int, loss: float) -> None:
        """Observe only ℓ_t(a_t) for the played action."""
        action = check_int(action, "action", min_value=0, max_value=self.n - 1)
        loss = float(as_float_array([loss], "loss", ndim=1)[0])
        self._observe(action, loss)

    def _observe(self, action: int, loss: float) -> None:
        prob = self.policy()[action]
        estimate = self.estimated_loss.copy()
        estimate[action] += loss / prob
        self.estimated_loss = estimate


def run(learner: OnlineLearner, losses: npt.ArrayLike, *, seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
    """Play an oblivious loss sequence (T, A); return the policies (T, A) and sampled actions (T,).

    a_t is drawn with ``numpy.random.default_rng(seed).choice(A, p=π_t)``; full-information
    learners then see ℓ_t, bandit learners (``feedback == "bandit"``) only ℓ_t(a_t).
    """
    losses = as_losses(losses)
    n_rounds, n_actions = losses.shape
    if getattr(learner, "n", n_actions) != n_actions:
        raise InputError(f"losses must have one column per action of the learner ({learner.n}); got {n_actions}")
    rng = as_generator(seed)
    bandit = getattr(learner, "feedback", "full") == "bandit"
    policies = np.empty((n_rounds, n_actions))
    actions = np.empty(n_rounds, dtype=np.int64)
    for t in range(n_rounds):
        pi = learner.policy()
        policies[t] = pi
        actions[t] = rng.choice(n_actions, p=pi)
        observe = getattr(learner, "_observe", None)  # our learners: skip re-validating checked rows
        if bandit:
            (observe or learner.update)(int(actions[t]), float(losses[t, actions[t]]))
        else:
            (observe or learner.update)(losses[t])
    return policies, actions


def play_repeated_game(learner_row: OnlineLearner, learner_col: OnlineLearner, payoff_row: npt.ArrayLike,
                       payoff_col: npt.ArrayLike,
                       n_rounds: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Self-play of two full-information learners; each sees the expected loss vector of the other's policy.

    Round t: ℓ¹_t = A π²_t, ℓ²_t = Bᵀ π¹_t (loss matrices (A1, A2)). Returns the policies
    (T, A1) and (T, A2), to be scored with :func:`metrics.game_regret`.
    """
    a = as_float_array(payoff_row, "payoff_row", ndim=2)
    b = as_float_array(payoff_col, "payoff_col", ndim=2)
    n_rounds = check_int(n_rounds, "n_rounds", min_value=1)
    p1 = np.empty((n_rounds, a.shape[0]))
    p2 = np.empty((n_rounds, a.shape[1]))
    for t in range(n_rounds):
        p1[t], p2[t] = learner_row.policy(), learner_col.policy()
        (getattr(learner_row, "_observe", None) or learner_row.update)(a @ p2[t])
        (getattr(learner_col, "_observe", None) or learner_col.update)(b.T @ p1[t])
    return p1, p2


class NeuralEpsilonGreedy:
    r"""ε-greedy contextual bandit on a shared torch MLP f(x_{t,a}) → reward.

    Plays each arm once, then explores uniformly with probability ε and otherwise takes
    argmax_a f(x_{t,a}). After each reward it makes one Adam step on the squared error over
    the most recent ``buffer_size`` (context, reward) pairs. A reference learner for
    producing bandit curves in the setting of Deb et al. (arXiv:2312.07145), not their algorithm.
    """

    feedback = "bandit"

    def __init__(self, context_dim: int, n_arms: int, *, hidden: int = 64, epsilon: float = 0.1,
                 lr: float = 1e-2, buffer_size: int = 1000, seed: int = 0) -> None:
        self.context_dim = check_int(context_dim, "context_dim", min_value=1)
        self.n = self.n_arms = check_int(n_arms, "n_arms", min_value=1)
        self.hidden = check_int(hidden, "hidden", min_value=1)
        self.epsilon = check_fraction(epsilon, "epsilon", closed=True)
        self.lr = check_positive(lr, "lr")
        self.buffer_size = check_int(buffer_size, "buffer_size", min_value=1)
        self.seed = check_int(seed, "seed", min_value=0)
        self.reset()

    def reset(self) -> None:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = torch.nn.Sequential(
                torch.nn.Linear(self.context_dim, self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, 1))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        # ring buffer of the most recent (context, reward) pairs; the MSE ignores their order
        self._contexts = torch.zeros(self.buffer_size, self.context_dim)
        self._rewards = torch.zeros(self.buffer_size)
        self._stored = 0
        self.rng = np.random.default_rng(self.seed)
        self.rounds = 0

    def predict(self, contexts: npt.ArrayLike) -> np.ndarray:
        """f(x_a) for every arm's context (A, d)."""
        import torch

        x = as_float_array(contexts, "contexts", ndim=2)
        with torch.no_grad():
            return self.model(torch.as_tensor(x, dtype=torch.float32)).squeeze(-1).double().numpy()

    def select(self, contexts: npt.ArrayLike) -> int:
        """The arm to play given the contexts x_{t,a} (shape (A, d))."""
        x = as_float_array(contexts, "contexts", ndim=2)
        if x.shape != (self.n_arms, self.context_dim):
            raise InputError(f"contexts must have shape (n_arms, context_dim) = ({self.n_arms}, "
                             f"{self.context_dim}); got {x.shape}")
        self.rounds += 1
        if self.rounds <= self.n_arms:
            return self.rounds - 1
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_arms))
        return int(np.argmax(self.predict(x)))

    def update(self, context: npt.ArrayLike, reward: float) -> None:
        """Store (x_{t,a_t}, r_t) and take one Adam step on the buffer's mean squared error."""
        import torch

        x = as_float_array(context, "context", ndim=1)
        if x.shape[0] != self.context_dim:
            raise InputError(f"context must have context_dim = {self.context_dim} entries; got {x.shape[0]}")
        r = float(as_float_array([reward], "reward", ndim=1)[0])
        slot = self._stored % self.buffer_size
        self._contexts[slot] = torch.from_numpy(x)
        self._rewards[slot] = r
        self._stored += 1
        n = min(self._stored, self.buffer_size)
        self.optimizer.zero_grad()
        loss = torch.mean((self.model(self._contexts[:n]).squeeze(-1) - self._rewards[:n]) ** 2)
        loss.backward()
        self.optimizer.step()


# ----------------------------------------------------------------------------- reference experiment


@dataclasses.dataclass(frozen=True)
class RegretExperimentResult(Report):
    """Rows of :func:`run_regret_experiment`: one per (learner, sequence) with its regret and test."""

    n_rounds: int
    rows: list
    curves: dict = dataclasses.field(repr=False)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def plot(self, ax: Axes | None = None) -> Axes:
        """R_t / t of every run against t (log x axis)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 4))
        t = np.arange(1, self.n_rounds + 1)
        for name, curve in self.curves.items():
            ax.plot(t, curve / t, label=name)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("round t")
        ax.set_ylabel("regret R_t / t")
        ax.legend(fontsize=7)
        ax.set_title("reference learners: R_t / t")
        return ax


def _adversarial_for_ftl(n_rounds: int) -> np.ndarray:
    """ℓ_1 = (½, 0), then alternating (0, 1), (1, 0): FTL always picks the action about to lose."""
    losses = np.empty((n_rounds, 2))
    losses[0] = (0.5, 0.0)
    odd = np.arange(1, n_rounds) % 2 == 1
    losses[1:][odd] = (0.0, 1.0)
    losses[1:][~odd] = (1.0, 0.0)
    return losses


def run_regret_experiment(n_rounds: int = 2000, *, seed: int = 0, eval_every: int | None = None
                          ) -> RegretExperimentResult:
    """Reference experiment on generated sequences (what the theory predicts).

    1. FTL on the adversarial sequence: linear regret (≈ T/2); Hedge and FTRL on it: sublinear.
    2. Hedge (tuned η) and FTRL (Euclidean) on uniform [0, 1] losses, A = 5: sublinear.
    3. EXP3 (bandit feedback) on Bernoulli losses with means (.4, .5, .6): sublinear.
    4. Self-play of two Hedge learners in a random 3 × 3 general-sum game: both regret / T → 0,
       and the CCE gap equals regret / T.

    The no-regret test uses every ``eval_every``-th round (default T // 20).
    """
    n_rounds = check_int(n_rounds, "n_rounds", min_value=20)
    eval_every = check_int(eval_every if eval_every is not None else n_rounds // 20, "eval_every", min_value=1)
    rng = as_generator(seed)
    rows, curves = [], {}

    def record(name: str, preds: np.ndarray, losses: np.ndarray) -> None:
        curve = regret_curve(preds, losses)
        test = no_regret_test(curve, eval_points=eval_every)
        curves[name] = curve
        rows.append({"run": name, "regret": float(curve[-1]), "regret_per_round": float(curve[-1] / n_rounds),
                     "slope": test.slope, "sublinear": test.sublinear, "trend_p_value": test.trend_p_value})

    adversarial = _adversarial_for_ftl(n_rounds)
    for name, learner in [("FTL, adversarial", FollowTheLeader(2)),
                          ("Hedge, adversarial", Hedge(2, horizon=n_rounds)),
                          ("FTRL-euclidean, adversarial", FTRL(2, eta=math.sqrt(1.0 / n_rounds), regularizer="euclidean"))]:
        policy, _ = run(learner, adversarial, seed=seed)
        record(name, policy, adversarial)

    uniform = rng.random((n_rounds, 5))
    policy, _ = run(Hedge(5, horizon=n_rounds), uniform, seed=seed)
    record("Hedge, uniform A=5", policy, uniform)
    policy, _ = run(FTRL(5, eta=math.sqrt(2 * math.log(5) / n_rounds) , regularizer="euclidean"), uniform, seed=seed)
    record("FTRL-euclidean, uniform A=5", policy, uniform)

    bernoulli = (rng.random((n_rounds, 3)) < np.array([0.4, 0.5, 0.6])).astype(np.float64)
    _, actions = run(EXP3(3, horizon=n_rounds), bernoulli, seed=seed)
    record("EXP3 (bandit), Bernoulli", actions, bernoulli)

    payoff_row, payoff_col = rng.random((3, 3)), rng.random((3, 3))
    p1, p2 = play_repeated_game(Hedge(3, horizon=n_rounds), Hedge(3, horizon=n_rounds), payoff_row, payoff_col,
                                n_rounds)
    reg_row, reg_col = game_regret(p1, p2, payoff_row=payoff_row, payoff_col=payoff_col)
    gap_row, gap_col = cce_gap(p1, p2, payoff_row=payoff_row, payoff_col=payoff_col)
    for name, losses, pol, _reg, gap in [("Hedge self-play, row", p2 @ payoff_row.T, p1, reg_row, gap_row),
                                        ("Hedge self-play, col", p1 @ payoff_col, p2, reg_col, gap_col)]:
        record(name, pol, losses)
        rows[-1]["cce_gap"] = gap
    return RegretExperimentResult(n_rounds=n_rounds, rows=rows, curves=curves)
