"""Input coercion shared by OPIS, the retrieval metrics and the Metric object.

Torch tensors are validated and converted in torch on their own device (no host copy
of the embeddings); everything else (numpy arrays of any strides and memory order,
lists, pandas) goes through numpy and becomes a contiguous CPU tensor. The caller's
arrays are never modified and never kept: later steps build new tensors.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from metrics.core.errors import InputError
from metrics.core.validation import as_float_array, as_label_array, check_same_length, describe_position

__all__ = ["resolve_device", "as_embeddings_and_labels", "check_embedding_tensor", "check_label_tensor",
           "normalise"]

NORM_EPS = 1e-12
_TINY_NORM = 2.0 ** -500  # below this the squares in ‖x‖ lose bits to underflow


def resolve_device(embeddings: object, device: str | torch.device | None) -> torch.device:
    """The device to compute on: ``device`` if given, else the embeddings' tensor device, else CPU."""
    if device is None:
        if isinstance(embeddings, torch.Tensor):
            return embeddings.device
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device must be a torch device such as 'cpu' or 'cuda:0'; got {device!r} ({exc})") from None


def _first_bad(mask: torch.Tensor) -> int:
    return int(mask.reshape(-1).nonzero()[0, 0])


def check_embedding_tensor(emb: torch.Tensor, *, allow_empty: bool = False, check_finite: bool = True
                           ) -> torch.Tensor:
    """Shape and dtype checks of an embedding tensor (no sync); returns it detached.

    With ``check_finite`` the finiteness check costs one host synchronisation.
    """
    emb = emb.detach()
    if emb.is_complex():
        raise InputError("embeddings must be real-valued; got a complex tensor")
    if emb.ndim != 2:
        raise InputError(f"embeddings must be a 2-D array of embedding values; got shape {tuple(emb.shape)}")
    if not allow_empty and (emb.shape[0] == 0 or emb.shape[1] == 0):
        raise InputError(f"embeddings must not be empty; got shape {tuple(emb.shape)}")
    if check_finite and emb.is_floating_point() and emb.numel():
        bad = ~torch.isfinite(emb)
        if bool(bad.any()):
            i = _first_bad(bad)
            value = float(emb.reshape(-1)[i])
            raise InputError(f"embeddings must be finite embedding values; "
                             f"{describe_position(tuple(emb.shape), i)} is {value!r}")
    return emb


def check_label_tensor(lab: torch.Tensor, n: int, *, check_values: bool = True) -> torch.Tensor:
    """Integer class labels ≥ 0 as int64 on the tensor's device.

    Floats must be integral (0.7 is an error, never truncated). ``check_values`` costs
    one host synchronisation (skipped for bool / unsigned input, which cannot be bad).
    """
    lab = lab.detach()
    if lab.is_complex():
        raise InputError("labels must be integer labels; got a complex tensor")
    if lab.ndim != 1 or lab.shape[0] != n:
        raise InputError(f"embeddings, labels must have the same number of rows; embeddings has {n}, "
                         f"labels has shape {tuple(lab.shape)}")
    if lab.dtype == torch.bool or lab.dtype == torch.uint8:
        return lab.to(torch.int64)
    if check_values and lab.numel():
        if lab.is_floating_point():
            bad = ~torch.isfinite(lab) | (lab != torch.round(lab)) | (lab < 0)
        else:
            bad = lab < 0
        if bool(bad.any()):
            i = _first_bad(bad)
            raise InputError(f"labels must be integer labels ≥ 0; element {i} is {lab[i].item()!r}")
    return lab.to(torch.int64)


def as_embeddings_and_labels(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor,
                             device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated (N, d) float64 embeddings and N int64 labels, both on ``device``.

    A tensor is checked in torch where it lives (one synchronisation for finiteness)
    and moved to ``device``; any other array-like goes through numpy (any strides or
    memory order) into a new contiguous tensor.
    """
    try:
        if isinstance(embeddings, torch.Tensor):
            emb = check_embedding_tensor(embeddings).to(device=device, dtype=torch.float64)
        else:
            arr = as_float_array(embeddings, "embeddings", ndim=2, what="embedding values")
            if arr.shape[1] == 0:
                raise InputError(f"embeddings must have at least one column; got shape {arr.shape}")
            emb = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64)).to(device)
        n = int(emb.shape[0])
        if isinstance(labels, torch.Tensor):
            lab = check_label_tensor(labels, n).to(device)
        else:
            lab_np = as_label_array(labels, "labels")
            check_same_length(embeddings=np.empty(n), labels=lab_np)
            lab = torch.from_numpy(np.ascontiguousarray(lab_np)).to(device)
    except (RuntimeError, AssertionError) as exc:  # e.g. CUDA requested but not available
        raise InputError(f"device {str(device)!r} cannot be used here ({exc})") from None
    return emb, lab


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Unit rows x / ‖x‖₂ in float64, scale-free; all-zero rows stay zero.

    A row whose norm would overflow (entries near 1e200 or 1e308) or lose precision to
    underflow is first divided by its largest absolute entry: cosine similarity does
    not depend on a row's scale, and neither does this. Other rows are divided by
    their norm directly.
    """
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    extreme = ~torch.isfinite(norms) | (norms < _TINY_NORM)
    if not bool(extreme.any()):  # the common case: one division
        return x / norms.clamp_min(NORM_EPS)
    peak = x.abs().amax(dim=1, keepdim=True)
    scale = torch.where(extreme & (peak > 0), peak, torch.ones_like(peak))
    scaled = x / scale
    norms = torch.where(extreme, torch.linalg.vector_norm(scaled, dim=1, keepdim=True), norms)
    return scaled / norms.clamp_min(NORM_EPS)
