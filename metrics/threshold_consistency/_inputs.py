"""Input coercion and parameter checks shared by the OPIS and retrieval functions."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from metrics.core.errors import InputError
from metrics.core.validation import (
    as_float_array,
    as_label_array,
    check_bool,
    check_int,
    check_option,
    check_positive,
    check_same_length,
)

QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def resolve_device(embeddings: Any, device: Any) -> torch.device:
    """The device to compute on: ``device`` if given, else the embeddings' tensor device, else CPU."""
    if device is None:
        if isinstance(embeddings, torch.Tensor):
            return embeddings.device
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device must be a torch device such as 'cpu' or 'cuda:0'; got {device!r} ({exc})") from None


def as_embeddings_and_labels(embeddings: Any, labels: Any, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """Validate (N, d) finite embeddings and N integer labels; float64 tensor on ``device``.

    The caller's arrays are never modified: every later step makes new tensors.
    """
    emb = as_float_array(embeddings, "embeddings", ndim=2, what="embedding values")
    if emb.shape[1] == 0:
        raise InputError(f"embeddings must have at least one column; got shape {emb.shape}")
    lab = as_label_array(labels, "labels")
    check_same_length(embeddings=emb, labels=lab)
    try:
        x = torch.as_tensor(emb, dtype=torch.float64, device=device)
    except (RuntimeError, AssertionError) as exc:  # e.g. CUDA requested but not available
        raise InputError(f"device {str(device)!r} cannot be used here ({exc})") from None
    return x, lab


def check_far_range(far_range: Any) -> tuple[float, float]:
    if isinstance(far_range, (str, bytes)) or not hasattr(far_range, "__len__") or len(far_range) != 2:
        raise InputError(f"far_range must be a pair (f_lo, f_hi) with 0 ≤ f_lo < f_hi ≤ 1; got {far_range!r}")
    lo, hi = far_range
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(float(v)):
            raise InputError(f"far_range must hold two real numbers; got {far_range!r}")
    lo, hi = float(lo), float(hi)
    if not (0.0 <= lo < hi <= 1.0):
        raise InputError(f"far_range must satisfy 0 ≤ f_lo < f_hi ≤ 1; got ({lo}, {hi})")
    return lo, hi


def check_block_size(block_size: Any) -> int | None:
    if block_size is None:
        return None
    return check_int(block_size, "block_size", min_value=1)


def check_opis_params(*, far_range, n_thresholds, beta, distance, reference, min_class_size, inclusive,
                      integration, quantile_method, mode, block_size) -> dict:
    """Validate every OPIS option of the spec's table; return them normalised."""
    return dict(
        far_range=check_far_range(far_range),
        n_thresholds=check_int(n_thresholds, "n_thresholds", min_value=2),
        beta=check_positive(beta, "beta"),
        distance=check_option(distance, "distance", ("cosine", "l2")),
        reference=check_option(reference, "reference", ("class_mean", "pooled")),
        min_class_size=check_int(min_class_size, "min_class_size", min_value=2),
        inclusive=check_bool(inclusive, "inclusive"),
        integration=check_option(integration, "integration", ("mean", "trapezoid")),
        quantile_method=check_option(quantile_method, "quantile_method", QUANTILE_METHODS),
        mode=check_option(mode, "mode", ("exact", "approx")),
        block_size=check_block_size(block_size),
    )


def check_epsilon(epsilon: Any, name: str = "epsilon") -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not np.isfinite(float(epsilon)):
        raise InputError(f"{name} must be a real number in (0, 0.5]; got {epsilon!r}")
    epsilon = float(epsilon)
    if not 0.0 < epsilon <= 0.5:
        raise InputError(f"{name} must lie in (0, 0.5]; got {epsilon}")
    return epsilon


def check_rank(rank: Any) -> str:
    return check_option(rank, "rank", ("per_threshold", "once"))


def check_ties(ties: Any) -> str:
    return check_option(ties, "ties", ("index", "optimistic", "pessimistic"))
