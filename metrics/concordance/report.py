"""``ConcordanceReport``: Harrell's C, its pair counts, its conventions and a bootstrap interval."""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from metrics.core.report import Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ConcordanceReport", "direction_text", "ties_text"]


def direction_text(higher_is: str) -> str:
    """How the score was read, in words."""
    if higher_is == "survival":
        return ("a higher score means longer survival (survival): scores are predicted times or survival "
                "probabilities, negated before counting")
    return "a higher score means earlier failure (risk)"


def ties_text(tied_tol: float) -> str:
    """The tie conventions, in words."""
    risk = ("exactly equal scores are tied" if tied_tol == 0.0
            else f"scores within {tied_tol:g} of each other (absolute) are tied")
    return (f"{risk} and count 1/2; an event and a censoring at the same time form a comparable pair "
            "(the censoring outlives the event); two events at the same time are not compared")


@dataclasses.dataclass(frozen=True)
class ConcordanceReport(Report):
    """Harrell's C with its pair counts, the conventions used, and a bootstrap interval.

    Attributes
    ----------
    cindex : float
        ``(concordant + ½ tied_risk) / comparable``.
    concordant, discordant, tied_risk, tied_time, comparable : int
        ``comparable = concordant + discordant + tied_risk``; ``tied_time`` counts
        comparable pairs with equal times (event vs censoring).
    ci_low, ci_high : float
        Percentile interval over the defined bootstrap replicates (NaN when
        ``n_bootstrap = 0`` or every replicate was undefined).
    n_bootstrap, n_bootstrap_undefined : int
        Replicates drawn, and those without a comparable pair (left out).
    ci_level : float
        Coverage of the interval.
    higher_is : {"risk", "survival"}
        The direction the scores were read in (after ``compat``): ``"risk"`` = a
        higher score means earlier failure; ``"survival"`` = longer survival.
    tied_tol : float
        The risk-tie tolerance used (after ``compat``); 0 = exact equality.
    compat : {None, "lifelines", "sksurv"}
        The library convention requested, if any.
    replicates : ndarray
        The defined bootstrap replicates (not in ``to_dict``; drawn by :meth:`plot`).

    ``to_dict()`` (and so ``to_frame()``, ``str()`` and the command line) also carries
    ``direction`` and ``ties``: the direction and the tie conventions in words.
    """

    cindex: float
    concordant: int
    discordant: int
    tied_risk: int
    tied_time: int
    comparable: int
    ci_low: float
    ci_high: float
    n_bootstrap: int
    n_bootstrap_undefined: int
    ci_level: float = 0.95
    higher_is: str = "risk"
    tied_tol: float = 1e-8
    compat: str | None = None
    replicates: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    @property
    def confidence(self) -> float:
        """Deprecated name of :attr:`ci_level`."""
        warnings.warn("ConcordanceReport.confidence is deprecated; use ci_level instead",
                      DeprecationWarning, stacklevel=2)
        return self.ci_level

    @property
    def direction(self) -> str:
        """Which way the score was read, in words."""
        return direction_text(self.higher_is)

    @property
    def ties(self) -> str:
        """The tie conventions, in words."""
        return ties_text(self.tied_tol)

    def to_dict(self) -> dict[str, Any]:
        """Every public field plus ``direction`` and ``ties`` (the conventions in words)."""
        out = super().to_dict()
        out["direction"] = self.direction
        out["ties"] = self.ties
        return out

    def __str__(self) -> str:
        lines = [f"Harrell's C = {self.cindex:.6g} over {self.comparable} comparable pairs"]
        if self.n_bootstrap:
            lines.append(f"  {self.ci_level:.0%} bootstrap interval [{self.ci_low:.6g}, {self.ci_high:.6g}] "
                         f"({self.n_bootstrap} replicates, {self.n_bootstrap_undefined} undefined)")
        lines.append(f"  concordant {self.concordant}, discordant {self.discordant}, tied risk {self.tied_risk}, "
                     f"tied time {self.tied_time}")
        compat = f" (compat={self.compat!r})" if self.compat else ""
        lines.append(f"  direction{compat}: {self.direction}")
        lines.append(f"  ties: {self.ties}")
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None) -> Axes:
        """The bootstrap distribution of C with its interval (when bootstrapped), else the pair counts.

        With replicates: their histogram, the point estimate (black) and the percentile
        interval (red). Without: the comparable pairs split into concordant, tied and
        discordant, with C in the title.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 3.4))
        reps = np.asarray(self.replicates, dtype=float)
        if reps.size:
            ax.hist(reps, bins=int(min(50, max(10, reps.size // 20))), color="0.75", label="replicates")
            ax.axvline(self.cindex, color="k", lw=1.5, label=f"C = {self.cindex:.4f}")
            ax.axvspan(self.ci_low, self.ci_high, color="C3", alpha=0.15,
                       label=f"{self.ci_level:.0%} interval [{self.ci_low:.4f}, {self.ci_high:.4f}]")
            ax.set_xlabel("Harrell's C of a bootstrap resample")
            ax.set_ylabel("replicates")
            ax.legend(fontsize="small", loc="upper left")
            ax.set_title(f"bootstrap of C: {reps.size} defined of {self.n_bootstrap}", fontsize="medium")
        else:
            names = ["concordant", "tied risk", "discordant"]
            counts = [self.concordant, self.tied_risk, self.discordant]
            bars = ax.barh(names, counts, color=["C2", "0.6", "C3"])
            total = max(self.comparable, 1)
            for bar, c in zip(bars, counts):
                ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {c} ({c / total:.1%})",
                        va="center", fontsize="small")
            ax.invert_yaxis()
            ax.set_xlabel(f"comparable pairs ({self.comparable}; {self.tied_time} with tied times)")
            ax.set_xlim(0, total * 1.3)
            ax.set_title(f"Harrell's C = {self.cindex:.4f}", fontsize="medium")
        ax.figure.text(0.01, 0.01, f"higher score = {'longer survival' if self.higher_is == 'survival' else 'higher risk'}"
                       f"; tied_tol = {self.tied_tol:g}", fontsize="x-small", color="0.35")
        return ax
