"""Shared input generators for the calibration tests."""

from __future__ import annotations

import numpy as np


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def make_case(name: str, k: int = 4, n: int = 400, seed: int = 0):
    """(probs (N, K) float64, labels) for a named edge case."""
    rng = np.random.default_rng(seed)
    if name == "random":
        p = _softmax(rng.normal(size=(n, k)) * 2.0)
    elif name == "on_edge":  # top scores exactly on k/10 and k/15 edges
        top = rng.choice(np.concatenate([np.arange(3, 11) / 10, np.arange(5, 16) / 15]), size=n)
        p = _spread(top, k, rng)
    elif name == "grid":  # every score on the 0.1 grid
        top = rng.integers(3, 11, size=n) / 10
        p = _spread(top, k, rng, grid=True)
    elif name == "ones":  # many exactly 1.0
        p = _softmax(rng.normal(size=(n, k)) * 2.0)
        sat = rng.random(n) < 0.4
        p[sat] = np.eye(k)[rng.integers(0, k, size=sat.sum())]
    elif name == "zero_one":  # every value exactly 0 or 1
        p = np.eye(k)[rng.integers(0, k, size=n)]
    elif name == "single":
        p = _softmax(rng.normal(size=(1, k)))
        n = 1
    elif name == "ties":  # argmax ties
        p = np.full((n, k), 1.0 / k)
        half = rng.random(n) < 0.5
        p[half, :2] = 0.4
        p[half, 2:] = 0.2 / (k - 2)
    elif name == "all_correct":
        p = _softmax(rng.normal(size=(n, k)) * 2.0)
        return p, p.argmax(axis=1)
    else:
        raise KeyError(name)
    y = _labels_from(p, rng)
    return p, y


def _spread(top, k, rng, grid=False):
    n = top.size
    p = np.zeros((n, k))
    cls = rng.integers(0, k, size=n)
    rest = 1.0 - top
    if grid:
        p[:] = 0.0
        other = (cls + 1) % k
        p[np.arange(n), other] = rest
    else:
        w = rng.random((n, k - 1))
        w = w / w.sum(axis=1, keepdims=True) * np.minimum(rest, top)[:, None] / 1.0
        w = w * (rest / np.maximum(w.sum(axis=1), 1e-300))[:, None]
        others = np.array([[j for j in range(k) if j != c] for c in cls])
        np.put_along_axis(p, others, w, axis=1)
    p[np.arange(n), cls] = top
    return p


def _labels_from(p, rng):
    u = rng.random(p.shape[0])[:, None]
    y = (np.cumsum(p, axis=1) < u).sum(axis=1)
    return np.minimum(y, p.shape[1] - 1)


CASES = ("random", "on_edge", "grid", "ones", "zero_one", "single", "ties", "all_correct")


def binary_case(name: str, n: int = 400, seed: int = 0):
    """(p (N,) positive-class probabilities, labels in {0, 1})."""
    rng = np.random.default_rng(seed + 7)
    if name == "random":
        p = rng.random(n)
    elif name == "on_edge":
        p = rng.choice(np.concatenate([np.arange(0, 11) / 10, np.arange(0, 16) / 15]), size=n)
    elif name == "grid":
        p = rng.integers(0, 11, size=n) / 10
    elif name == "ones":
        p = np.where(rng.random(n) < 0.4, 1.0, rng.random(n))
    elif name == "zero_one":
        p = rng.integers(0, 2, size=n).astype(float)
    elif name == "single":
        p = rng.random(1)
    elif name == "ties":
        p = np.full(n, 0.5)
    elif name == "all_correct":
        p = rng.random(n)
        return p, (p > 0.5).astype(np.int64)
    else:
        raise KeyError(name)
    y = (rng.random(p.size) < p).astype(np.int64)
    return p, y
