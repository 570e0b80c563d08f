"""Smooth ECE (Błasiok & Nakkiran, "Smooth ECE: Principled Reliability Diagrams via Kernel
Smoothing", ICLR 2024), reproducing ``relplot.smECE`` 1.0.3.

relplot is a test-only reference (it pulls seaborn); the estimator is re-implemented
here with the same grid, reflected Gaussian kernel, interpolation and bandwidth search,
vectorised (``np.bincount`` for the grid, ``np.convolve`` for the kernel).
"""

from __future__ import annotations

import numpy as np

__all__ = ["self_consistent_sigma", "smooth_ece_at"]

_SEARCH_EPS = 0.001
_SEARCH_STEPS = 10


def _grid(s: np.ndarray, values: np.ndarray, g: int) -> np.ndarray:
    """Linear split of each value between its two nearest grid points of linspace(0, 1, g)."""
    pos = s * (g - 1)
    j = pos.astype(np.int64).clip(0, g - 2)
    w = pos - j
    return (np.bincount(j, weights=(1 - w) * values, minlength=g)
            + np.bincount(j + 1, weights=w * values, minlength=g))


def _smooth(values: np.ndarray, sigma: float, g: int) -> np.ndarray:
    """Reflected-Gaussian smoothing of a grid: convolve [R_{G-1..1}, R, R_{G-2..0}] with κ."""
    t = np.linspace(0, 1, g)
    kernel = np.exp(-(t - 0.5) * (t - 0.5) / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    ext = np.concatenate([values[::-1][:-1], values, values[::-1][1:]])
    return np.convolve(ext, kernel, "valid")[g // 2:g // 2 + g]


def _interpolate(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    g = y.size
    step = 1 / (g - 1)
    j = (t * (g - 1)).astype(int).clip(0, g - 2)
    frac = (t - j * step) / step
    return y[j] * (1 - frac) + y[j + 1] * frac


def smooth_ece_at(scores: np.ndarray, outcomes: np.ndarray, sigma: float) -> float:
    r"""smECE_σ of float64 scores and outcomes at a fixed bandwidth σ.

    R and D (residual r = s − o, and 1) are spread on a grid of
    G = max(2000, round(20/σ))//2 + 1 points, smoothed with a reflected Gaussian
    κ_σ, interpolated at linspace(0, 1, max(200, round(10/σ))), and
    smECE_σ = Σ |R̂/dens|·dens / Σ dens with dens = D̂ + 1e-4.
    """
    g = max(2000, round(20 / sigma)) // 2 + 1
    r = scores - outcomes
    smooth_r = _smooth(_grid(scores, r, g), sigma, g)
    smooth_d = _smooth(_grid(scores, np.ones_like(scores), g), sigma, g)
    t = np.linspace(0, 1, max(200, round(10 / sigma)))
    dens = _interpolate(t, smooth_d) + 0.0001
    rs = _interpolate(t, smooth_r) / dens
    return float(np.sum(np.abs(rs) * dens) / np.sum(dens))


def self_consistent_sigma(s: np.ndarray, o: np.ndarray) -> float:
    """σ* as relplot finds it: with pred(α) = α < 0.001 or α < smECE_α, σ* = 1 if pred(1);
    else bisect [0, 1] ten times keeping the upper end where pred fails."""

    def pred(alpha: float) -> bool:
        return alpha < _SEARCH_EPS or alpha < smooth_ece_at(s, o, alpha)

    if pred(1.0):
        return 1.0
    hi, lo = 1.0, 0.0
    for _ in range(_SEARCH_STEPS):
        mid = (hi + lo) / 2
        if pred(mid):
            lo = mid
        else:
            hi = mid
    return hi
