"""The options of OPIS, stated once and validated once.

:class:`OPISOptions` is the single definition of the OPIS options: their names,
types, defaults and allowed values. :func:`metrics.opis`, :func:`metrics.epsilon_opis`,
:func:`metrics.opis_report` and :class:`metrics.OPIS` take them as keyword arguments
(typed by :class:`OPISKeywords`) and build one validated :class:`OPISOptions`.
"""

from __future__ import annotations

import dataclasses
import numbers
import typing
from typing import Literal, TypedDict

import numpy as np

from metrics.core.errors import InputError
from metrics.core.options import check_choice
from metrics.core.validation import check_int, check_positive

if typing.TYPE_CHECKING:
    import torch

__all__ = ["Distance", "Reference", "Integration", "QuantileMethod", "Mode", "Rank", "Ties",
           "OPISOptions", "OPISKeywords", "check_epsilon", "check_rank", "check_ties"]

Distance = Literal["cosine", "l2"]
Reference = Literal["class_mean", "pooled"]
Integration = Literal["mean", "trapezoid"]
QuantileMethod = Literal["linear", "lower", "higher", "nearest", "midpoint"]
Mode = Literal["exact", "approx"]
Rank = Literal["per_threshold", "once"]
Ties = Literal["index", "optimistic", "pessimistic"]


_CHOICES = {"distance": Distance, "reference": Reference, "integration": Integration,
            "quantile_method": QuantileMethod, "mode": Mode}


class OPISKeywords(TypedDict, total=False):
    """The keyword arguments that :class:`OPISOptions` accepts (for ``**options`` typing)."""

    far_range: tuple[float, float]
    n_thresholds: int
    beta: float
    distance: Distance
    reference: Reference
    min_class_size: int
    inclusive: bool
    integration: Integration
    quantile_method: QuantileMethod
    mode: Mode
    device: str | torch.device | None
    block_size: int | None


@dataclasses.dataclass(frozen=True)
class OPISOptions:
    """Validated OPIS options (frozen). Construction raises :class:`~metrics.InputError`
    naming the first invalid option.

    Attributes
    ----------
    far_range : (f_lo, f_hi), default (0.01, 0.1)
        Quantiles of all negative-pair distances giving d_min and d_max; 0 ≤ f_lo < f_hi ≤ 1.
    n_thresholds : int ≥ 2, default 101
        Points of the grid θ_j = linspace(d_min, d_max, n_thresholds).
    beta : float > 0, default 1.0
        U_c = (1 + β²)·TPR·TNR / (β²·TPR + TNR).
    distance : {"cosine", "l2"}
        d = 1 − ⟨x̂_a, x̂_b⟩, or d = sqrt(max(0, 2 − 2⟨x̂_a, x̂_b⟩)).
    reference : {"class_mean", "pooled"}
        The curve the class utilities are compared with: their mean, or the F_β of the
        TPR and TNR pooled over all pairs.
    min_class_size : int ≥ 2, default 2
        Classes with fewer samples are not averaged (they still give negative pairs).
    inclusive : bool, default True
        Accept a pair at θ iff d ≤ θ (False: d < θ).
    integration : {"mean", "trapezoid"}
        Average of the curve over the grid, or the trapezoid rule on [0, 1].
    quantile_method : {"linear", "lower", "higher", "nearest", "midpoint"}
        ``np.quantile``'s method for d_min and d_max.
    mode : {"exact", "approx"}
        ``"exact"``: streamed passes equal to the dense computation; ``"approx"``: one
        pass of 4096-bin per-class histograms (distances resolved to 2/4096).
    device : torch device or None
        Where to compute (None: the embeddings' device, else CPU).
    block_size : int ≥ 1 or None
        Rows per block of the pair stream (None keeps one block at 32 MB).
    """

    far_range: tuple[float, float] = (0.01, 0.1)
    n_thresholds: int = 101
    beta: float = 1.0
    distance: Distance = "cosine"
    reference: Reference = "class_mean"
    min_class_size: int = 2
    inclusive: bool = True
    integration: Integration = "mean"
    quantile_method: QuantileMethod = "linear"
    mode: Mode = "exact"
    device: str | torch.device | None = None
    block_size: int | None = None

    def __post_init__(self) -> None:
        for name, literal in _CHOICES.items():
            check_choice(getattr(self, name), name, typing.get_args(literal))
        set_ = object.__setattr__
        set_(self, "far_range", _check_far_range(self.far_range))
        set_(self, "n_thresholds", check_int(self.n_thresholds, "n_thresholds", min_value=2))
        set_(self, "beta", check_positive(self.beta, "beta"))
        set_(self, "min_class_size", check_int(self.min_class_size, "min_class_size", min_value=2))
        if not isinstance(self.inclusive, (bool, np.bool_)):
            raise InputError(f"inclusive must be True or False; got {self.inclusive!r}")
        set_(self, "inclusive", bool(self.inclusive))
        if self.block_size is not None:
            set_(self, "block_size", check_int(self.block_size, "block_size", min_value=1))

    @classmethod
    def from_keywords(cls, options: OPISKeywords | dict[str, object]) -> OPISOptions:
        """Validated options from keyword arguments; an unknown keyword is an InputError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise InputError(f"unknown OPIS option {unknown[0]!r}; the options are " + ", ".join(sorted(names)))
        return cls(**options)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """The options as a plain dict (the device as a string or None)."""
        out = dataclasses.asdict(self)
        out["device"] = None if self.device is None else str(self.device)
        return out


def _check_far_range(far_range: object) -> tuple[float, float]:
    if isinstance(far_range, (str, bytes)) or not hasattr(far_range, "__len__") or len(far_range) != 2:
        raise InputError(f"far_range must be a pair (f_lo, f_hi) with 0 ≤ f_lo < f_hi ≤ 1; got {far_range!r}")
    pair: tuple[object, ...] = tuple(typing.cast("typing.Iterable[object]", far_range))
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(float(v)):
            raise InputError(f"far_range must hold two real numbers; got {far_range!r}")
    lo, hi = float(typing.cast(float, pair[0])), float(typing.cast(float, pair[1]))
    if not (0.0 <= lo < hi <= 1.0):
        raise InputError(f"far_range must satisfy 0 ≤ f_lo < f_hi ≤ 1; got ({lo}, {hi})")
    return lo, hi


def check_epsilon(epsilon: object, name: str = "epsilon") -> float:
    """ε in (0, 0.5] as a float."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not np.isfinite(float(epsilon)):
        raise InputError(f"{name} must be a real number in (0, 0.5]; got {epsilon!r}")
    value = float(epsilon)
    if not 0.0 < value <= 0.5:
        raise InputError(f"{name} must lie in (0, 0.5]; got {value}")
    return value


def check_rank(rank: object) -> Rank:
    check_choice(rank, "rank", typing.get_args(Rank))
    return typing.cast(Rank, rank)


def check_ties(ties: object) -> Ties:
    check_choice(ties, "ties", typing.get_args(Ties))
    return typing.cast(Ties, ties)
