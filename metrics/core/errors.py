"""The one exception type metricprobe raises for bad input."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Invalid input to a metricprobe function, Metric object, monitor or command.

    The message names the argument, what was expected and what was found, e.g.
    ``probs must be a 2-D array of probabilities in [0, 1]; row 17 sums to 1.3``.
    It subclasses :class:`ValueError`, so ``except ValueError`` also catches it.
    """
