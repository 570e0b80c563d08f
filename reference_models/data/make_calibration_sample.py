"""Generate ``calibration_sample.npz``: a deliberately over-confident 10-class model.

Deterministic (fixed seed). 5,000 rows: true class logits u (a class signal plus noise),
labels drawn from softmax(u), and the "model" reports softmax(2.5·u), i.e. a
temperature of 0.4, so its top-label confidence is too high (accuracy 0.46, mean
confidence 0.74, ECE ≈ 0.28). Arrays:
``probs`` (5000, 10) float32 rows summing to 1, ``labels`` (5000,) int64.

Run: ``python reference_models/data/make_calibration_sample.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N, K, OVERCONFIDENCE, SEED = 5000, 10, 2.5, 20240611


def make(n: int = N, k: int = K, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = rng.integers(0, k, size=n)
    u = rng.normal(0.0, 1.0, size=(n, k))
    u[np.arange(n), centre] += rng.gamma(2.0, 1.0, size=n)
    true_p = np.exp(u - u.max(axis=1, keepdims=True))
    true_p /= true_p.sum(axis=1, keepdims=True)
    labels = (np.cumsum(true_p, axis=1) < rng.random(n)[:, None]).sum(axis=1).clip(0, k - 1)
    z = OVERCONFIDENCE * u
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return probs.astype(np.float32), labels.astype(np.int64)


if __name__ == "__main__":
    probs, labels = make()
    out = Path(__file__).with_name("calibration_sample.npz")
    np.savez_compressed(out, probs=probs, labels=labels)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
