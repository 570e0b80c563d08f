"""Parameters and gradients given as a Module, a mapping or a sequence, as named tensors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array


def named_tensors(obj: Any, name: str, *, trainable_only: bool = False) -> dict[str, torch.Tensor | None]:
    """Normalise ``obj`` to an ordered ``{name: tensor}`` mapping.

    A ``torch.nn.Module`` gives its named parameters (only those requiring grad with
    ``trainable_only``); a tensor gives ``{"0": tensor}``; a mapping keeps its keys (as
    strings); any other iterable is numbered ``"0"``, ``"1"``, …. ``None`` entries are kept
    (a parameter without a gradient); arrays and lists become float64 tensors.
    """
    if isinstance(obj, torch.nn.Module):
        items = {n: p for n, p in obj.named_parameters() if p.requires_grad or not trainable_only}
    elif isinstance(obj, torch.Tensor):
        items = {"0": obj}
    elif isinstance(obj, Mapping):
        items = {str(k): v for k, v in obj.items()}
    elif isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        items = {str(i): v for i, v in enumerate(obj)}
    else:
        raise InputError(f"{name} must be a torch.nn.Module, a mapping of names to tensors or a sequence of "
                         f"tensors; got {type(obj).__name__}")
    if not items:
        raise InputError(f"{name} must hold at least one tensor")
    return {k: v if v is None or isinstance(v, torch.Tensor)
            else torch.from_numpy(as_float_array(v, f"{name}[{k!r}]", finite=False)) for k, v in items.items()}
