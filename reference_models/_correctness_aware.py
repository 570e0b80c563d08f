"""Correctness-aware calibration (Liu et al., arXiv 2404.13016).

Re-implemented from the authors' released code (``liuyvchi/Correctness-aware-calibration``
@ ``d843d4b``: ``Temperature_adaptive`` and the feature construction of ``run_cal.py``):

- features: for each transformed view v, softmax(view_v) gathered at the top-k logit
  indices of the *original* logits (descending; ties → lower index), concatenated view
  after view (3 views × top-4 = 12 features in the paper);
- per-sample temperature T(x) = clamp(w₂ᵀ ReLU(W₁ f + b₁) + b₂, t_min, t_max);
- output softmax(z / T(x)); the argmax is unchanged;
- loss per batch (the "CA" loss): with c = max softmax(z/T), a = 1[argmax z = y] and ā the
  batch mean of a, weights w = 1 − ā for correct samples and ā for wrong ones,
  L = Σ w (c − a)² / Σ w. The released code divides by zero when Σw = 0 (an all-correct
  or all-wrong batch); we fall back to mean (c − a)² there.

Training is Adam without weight decay in float32, with shuffling and initialisation drawn
from ``torch.Generator(seed)`` (``nn.Linear``'s default init distribution). The code's
second, untrained "correctness" head has no effect on the output and is omitted.
Because the clamp has zero gradient outside [t_min, t_max], an initialisation whose output
is clamped for every sample never trains (true of the released code too); ``fit`` then
warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from metrics.core.errors import InputError
from metrics.core.validation import (
    as_float_array,
    as_label_array,
    check_int,
    check_positive,
    check_same_length,
)

__all__ = ["CorrectnessAwareCalibrator"]


def _torch():
    import torch

    return torch


def _top_k_indices(z: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest logits per row, descending, ties → lower index."""
    order = np.argsort(-z, axis=1, kind="stable")
    return order[:, :k]


def _softmax(z: np.ndarray) -> np.ndarray:
    a = z - z.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


class CorrectnessAwareCalibrator:
    """Correctness-aware per-sample temperature scaling (Liu et al., arXiv 2404.13016).

    Parameters
    ----------
    top_k : int
        Number of original top logits whose view probabilities form the features (4).
    hidden : int
        Width of the hidden ReLU layer (5).
    t_min, t_max : float
        Clamp of the predicted temperature (0.1, 10).
    lr : float
        Adam learning rate (1e-4, as released).
    epochs, batch_size : int
        Passes over the data (10) and mini-batch size (1000).
    seed : int
        Seed of the ``torch.Generator`` used for initialisation and shuffling.
    device : str or torch.device, optional
        Where to train (default CPU).

    Notes
    -----
    The CA loss is L = Σ_i w_i (c_i − a_i)² / Σ_i w_i with w_i = 1 − ā if sample i is
    correct and ā otherwise (see :meth:`loss`). The released defaults (lr 1e-4, 10 epochs)
    move the temperatures little on small data; raise ``lr`` / ``epochs`` there.
    """

    def __init__(self, top_k: int = 4, hidden: int = 5, t_min: float = 0.1, t_max: float = 10.0,
                 lr: float = 1e-4, epochs: int = 10, batch_size: int = 1000, seed: int = 0,
                 device: Any = None) -> None:
        self.top_k = check_int(top_k, "top_k", min_value=1)
        self.hidden = check_int(hidden, "hidden", min_value=1)
        self.t_min = check_positive(t_min, "t_min")
        self.t_max = check_positive(t_max, "t_max")
        if self.t_max < self.t_min:
            raise InputError(f"t_max must be ≥ t_min = {self.t_min}; got {self.t_max}")
        self.lr = check_positive(lr, "lr")
        self.epochs = check_int(epochs, "epochs", min_value=1)
        self.batch_size = check_int(batch_size, "batch_size", min_value=1)
        self.seed = check_int(seed, "seed", min_value=0)
        self.device = device

    # ------------------------------------------------------------------ pieces
    @staticmethod
    def loss(confidence: Any, correct: Any):
        """The CA loss Σ w (c − a)² / Σ w of one batch (torch tensors in, 0-d tensor out).

        ``confidence`` holds c = max softmax(z / T), ``correct`` holds a ∈ {0, 1}. With
        ā = mean(a), w = 1 − ā where a = 1 and ā where a = 0. If Σ w = 0 the loss is
        mean (c − a)² (the released code divides by zero there).
        """
        torch = _torch()
        c = torch.as_tensor(confidence)
        a = torch.as_tensor(correct).to(c.dtype)
        a_bar = a.mean()
        w = torch.where(a > 0.5, 1.0 - a_bar, a_bar)
        sq = (c - a) ** 2
        w_sum = w.sum()
        if float(w_sum) == 0.0:
            return sq.mean()
        return (w * sq).sum() / w_sum

    def _features(self, z: np.ndarray, view_logits: Any) -> np.ndarray:
        try:
            if isinstance(view_logits, (str, bytes)) or view_logits is None:
                raise TypeError
            items = list(view_logits)
        except TypeError:
            raise InputError("view_logits must be a sequence of (N, K) logit arrays, one per transformed "
                             f"view; got {type(view_logits).__name__}") from None
        views = [as_float_array(v, f"view_logits[{i}]", ndim=2, what="logits") for i, v in enumerate(items)]
        if not views:
            raise InputError("view_logits must hold at least one (N, K) array; got none")
        for i, v in enumerate(views):
            if v.shape != z.shape:
                raise InputError(f"view_logits[{i}] must have the shape of logits {z.shape}; got {v.shape}")
        if hasattr(self, "n_views_") and len(views) != self.n_views_:
            raise InputError(f"view_logits must hold {self.n_views_} views as at fit time; got {len(views)}")
        k = min(self.top_k, z.shape[1])
        idx = _top_k_indices(z, k)
        return np.concatenate([np.take_along_axis(_softmax(v), idx, axis=1) for v in views], axis=1)

    def _logits(self, logits: Any) -> np.ndarray:
        z = as_float_array(logits, "logits", ndim=2, what="logits")
        if z.shape[1] < 2:
            raise InputError(f"logits must have at least 2 columns; got {z.shape[1]}")
        if hasattr(self, "n_classes_") and z.shape[1] != self.n_classes_:
            raise InputError(f"logits must have {self.n_classes_} columns as at fit time; got {z.shape[1]}")
        return z

    def _network(self, n_features: int, generator):
        torch = _torch()
        nn = torch.nn

        def init(layer: Any) -> None:
            # nn.Linear's default: kaiming_uniform(a=√5) ⇒ U(±1/√fan_in) for weight and bias
            bound = 1.0 / np.sqrt(layer.in_features)
            with torch.no_grad():
                layer.weight.copy_((torch.rand(layer.weight.shape, generator=generator) * 2 - 1) * bound)
                layer.bias.copy_((torch.rand(layer.bias.shape, generator=generator) * 2 - 1) * bound)

        first = nn.Linear(n_features, self.hidden)
        second = nn.Linear(self.hidden, 1)
        init(first)
        init(second)
        return nn.Sequential(first, nn.ReLU(), second)

    def _temperature(self, net, features):
        return net(features).squeeze(-1).clamp(self.t_min, self.t_max)

    # ------------------------------------------------------------------ API
    def fit(self, logits: npt.ArrayLike, labels: npt.ArrayLike,
            view_logits: Sequence[npt.ArrayLike]) -> CorrectnessAwareCalibrator:
        """Train the temperature network on (N, K) ``logits``, ``labels`` and the views' logits."""
        torch = _torch()
        z = self._logits(logits)
        y = as_label_array(labels, "labels", n_classes=z.shape[1])
        check_same_length(logits=z, labels=y)
        feats = self._features(z, view_logits)
        device = torch.device(self.device) if self.device is not None else torch.device("cpu")
        gen = torch.Generator().manual_seed(self.seed)
        net = self._network(feats.shape[1], gen).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=0.0)
        zt = torch.as_tensor(z, dtype=torch.float32, device=device)
        ft = torch.as_tensor(feats, dtype=torch.float32, device=device)
        correct = torch.as_tensor(z.argmax(axis=1) == y, dtype=torch.float32, device=device)
        n = z.shape[0]
        # The network is tiny (12 → 5 → 1): on CPU, intra-op threads only add contention.
        threads = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(1)
        try:
            for _ in range(self.epochs):
                order = torch.randperm(n, generator=gen).to(device)
                for start in range(0, n, self.batch_size):  # one step per mini-batch
                    b = order[start:start + self.batch_size]
                    opt.zero_grad()
                    t = self._temperature(net, ft[b])
                    conf = torch.softmax(zt[b] / t[:, None], dim=1).max(dim=1).values
                    loss = self.loss(conf, correct[b])
                    loss.backward()
                    opt.step()
        finally:
            torch.set_num_threads(threads)
        self.network_ = net.eval()
        with torch.no_grad():
            t_fit = self._temperature(net, ft)
        if bool(((t_fit <= self.t_min) | (t_fit >= self.t_max)).all()):
            # The clamp has zero gradient outside [t_min, t_max]; an initialisation whose output
            # is clamped for every sample never trains (the released code behaves the same).
            warnings.warn("CorrectnessAwareCalibrator: every fitted temperature sits at a clamp bound "
                          f"[{self.t_min:g}, {self.t_max:g}], so training had no gradient; try another seed",
                          UserWarning, stacklevel=2)
        self.n_classes_ = z.shape[1]
        self.n_views_ = feats.shape[1] // min(self.top_k, z.shape[1])
        self.n_features_ = feats.shape[1]
        return self

    def temperatures(self, logits: Any, view_logits: Sequence[Any]) -> np.ndarray:
        """Per-sample temperatures T(x), (N,) float64 (computed in float32)."""
        torch = _torch()
        if not hasattr(self, "network_"):
            raise InputError("CorrectnessAwareCalibrator is not fitted; call fit(...) first")
        z = self._logits(logits)
        feats = self._features(z, view_logits)
        device = next(self.network_.parameters()).device
        with torch.no_grad():
            t = self._temperature(self.network_, torch.as_tensor(feats, dtype=torch.float32, device=device))
        return t.cpu().numpy().astype(np.float64)

    def transform(self, logits: npt.ArrayLike, view_logits: Sequence[npt.ArrayLike]) -> np.ndarray:
        """softmax(z / T(x)) as (N, K) float64 probabilities."""
        z = self._logits(logits)
        t = self.temperatures(z, view_logits)
        return _softmax(z / t[:, None])
