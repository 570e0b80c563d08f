"""⊥Grad: keep only the gradient component orthogonal to the weights.

Prieto et al., *Grokking at the Edge of Numerical Stability* (ICLR 2025,
arXiv:2501.04697), Sec. 6. Once a classifier fits its training set, the gradient
aligns with the weights (naive loss minimisation: scaling θ only scales the logits),
which drives Softmax Collapse. ⊥Grad removes that component,

    ∇⊥ = ∇L − (θᵀ∇L / θᵀθ) θ,

any ∇⊥ ≠ 0 being a descent direction. The paper projects the whole of θ
(``scope="global"``); the authors' released code projects each tensor with
‖w‖² + 1e-30 in the denominator and then rescales to the original norm,
g_out = g⊥ · ‖g‖ / (‖g⊥‖ + 1e-30) (``scope="tensor"``, ``rescale=True``: our default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import torch

from metrics.core.errors import InputError
from metrics.core.validation import check_bool, check_option, check_positive

__all__ = ["perpendicular_gradient", "PerpGrad"]

_HALF = (torch.float16, torch.bfloat16)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _HALF else dtype


def _project(ws: list[torch.Tensor], gs: list[torch.Tensor], *, rescale: bool, eps: float,
             parallel_tol: float | None) -> list[torch.Tensor]:
    """Project the concatenation of ``gs`` orthogonally to the concatenation of ``ws``."""
    cdt = _compute_dtype(gs[0].dtype)
    w = [t.detach().to(cdt) for t in ws]
    g = [t.detach().to(cdt) for t in gs]
    ww = torch.stack([(t * t).sum() for t in w]).sum()
    wg = torch.stack([(a * b).sum() for a, b in zip(w, g)]).sum()
    coef = wg / (ww + eps)
    g_perp = [b - coef * a for a, b in zip(w, g)]
    g_norm = torch.sqrt(torch.stack([(t * t).sum() for t in g]).sum())
    perp_norm = torch.sqrt(torch.stack([(t * t).sum() for t in g_perp]).sum())
    tol = 16 * torch.finfo(cdt).eps if parallel_tol is None else parallel_tol
    if bool(perp_norm <= tol * g_norm):  # g ∥ w: what is left is rounding noise, not a direction
        return [torch.zeros_like(t, dtype=gs[0].dtype) for t in gs]
    if rescale:
        scale = g_norm / (perp_norm + eps)
        g_perp = [t * scale for t in g_perp]
    return [t.to(src.dtype) for t, src in zip(g_perp, gs)]


def perpendicular_gradient(weight: torch.Tensor, grad: torch.Tensor, *, rescale: bool = True,
                           eps: float = 1e-30, parallel_tol: float | None = None) -> torch.Tensor:
    """The part of ``grad`` orthogonal to ``weight`` (one tensor), optionally rescaled.

    g⊥ = g − (w·g / (‖w‖² + eps)) w; with ``rescale`` the result is g⊥·‖g‖/(‖g⊥‖ + eps).
    Computed in the gradient's dtype (float32 for half types) and returned in it. If
    ‖g⊥‖ ≤ tol·‖g‖ (tol = ``parallel_tol``, default 16·eps of the compute dtype) the
    gradient is parallel to the weight and zeros are returned: rescaling the rounding
    noise left over would invent a direction of norm ‖g‖. A zero weight returns ``g``.
    """
    if not isinstance(weight, torch.Tensor) or not isinstance(grad, torch.Tensor):
        raise InputError("weight and grad must be torch tensors")
    if weight.shape != grad.shape:
        raise InputError(f"grad must have the shape of weight {tuple(weight.shape)}; got {tuple(grad.shape)}")
    if not grad.dtype.is_floating_point:
        raise InputError(f"grad must be floating point; found dtype {grad.dtype}")
    check_bool(rescale, "rescale")
    check_positive(eps, "eps", allow_zero=True)
    if parallel_tol is not None:
        check_positive(parallel_tol, "parallel_tol", allow_zero=True)
    return _project([weight], [grad], rescale=rescale, eps=eps, parallel_tol=parallel_tol)[0]


class PerpGrad(torch.optim.Optimizer):
    """Wrap a built optimizer so that it steps along ⊥Grad.

    ``step()`` overwrites each ``p.grad`` with its projection orthogonal to ``p``
    (``scope="tensor"``, the authors' code) or of all gradients orthogonal to all
    parameters of the optimizer at once (``scope="global"``, the paper's formula), then
    calls the wrapped optimizer's ``step()``. ``param_groups``, ``state``,
    ``state_dict``, ``load_state_dict``, ``zero_grad`` and ``add_param_group``
    delegate, so learning-rate schedulers, checkpointing and Lightning work, and the
    base optimizer keeps its own hyper-parameters. (The released script rebuilt the
    wrapper from a state dict, so Adam silently ran with default betas/eps; wrapping an
    instance avoids that.) Weight decay stays in the base optimizer, unprojected.
    Cost: one extra pass over the parameters.

    Examples
    --------
    >>> model = torch.nn.Linear(3, 2, bias=False)
    >>> opt = PerpGrad(torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98)))
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, rescale: bool = True,
                 scope: Literal["tensor", "global"] = "tensor",
                 eps: float = 1e-30, parallel_tol: float | None = None):
        # Deliberately no super().__init__: every piece of optimizer state lives in the
        # wrapped instance; this object only rewrites gradients before delegating.
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise InputError(f"optimizer must be a built torch.optim.Optimizer; got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.rescale = check_bool(rescale, "rescale")
        self.scope = check_option(scope, "scope", ("tensor", "global"))
        self.eps = check_positive(eps, "eps", allow_zero=True)
        self.parallel_tol = None if parallel_tol is None else check_positive(parallel_tol, "parallel_tol",
                                                                             allow_zero=True)
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}

    # delegation -----------------------------------------------------------------------
    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @param_groups.setter
    def param_groups(self, value):
        self.optimizer.param_groups = value

    @property
    def state(self):
        return self.optimizer.state

    @state.setter
    def state(self, value):
        self.optimizer.state = value

    @property
    def defaults(self):
        return self.optimizer.defaults

    @defaults.setter
    def defaults(self, value):
        self.optimizer.defaults = value

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, object]) -> None:
        self.optimizer.load_state_dict(state_dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group: dict[str, object]) -> None:
        self.optimizer.add_param_group(param_group)

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"PerpGrad(scope={self.scope!r}, rescale={self.rescale}, optimizer={self.optimizer!r})"

    # the step -----------------------------------------------------------------------
    def _params_with_grad(self) -> Iterable[torch.Tensor]:
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if p.grad.is_sparse:
                        raise InputError("PerpGrad does not support sparse gradients")
                    yield p

    @torch.no_grad()
    def project_gradients(self) -> None:
        """Overwrite every ``p.grad`` with its ⊥ projection (what ``step`` does first)."""
        params = list(self._params_with_grad())
        if not params:
            return
        grads = [p.grad for p in params if p.grad is not None]  # every one, by _params_with_grad
        options = {"rescale": self.rescale, "eps": self.eps, "parallel_tol": self.parallel_tol}
        if self.scope == "tensor":
            for p, grad in zip(params, grads):
                grad.copy_(_project([p], [grad], **options)[0])  # type: ignore[arg-type]
        else:
            for grad, projected in zip(grads, _project(params, grads, **options)):  # type: ignore[arg-type]
                grad.copy_(projected)

    def step(self, closure: Callable[[], float] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.project_gradients()
        self.optimizer.step()
        return loss
