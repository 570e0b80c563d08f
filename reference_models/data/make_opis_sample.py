"""Generate ``opis_sample.npz``: embeddings of 24 classes that one threshold treats unevenly.

Deterministic (fixed seed). 1,200 rows of 32-dim float32 embeddings: each class is a
random unit centre plus isotropic noise whose scale differs by class (tight classes
accept their positives at small distances, loose ones need large thresholds), and the
class sizes are imbalanced (Dirichlet), with 3 singletons. Arrays:
``embeddings`` (1200, 32) float32, ``labels`` (1200,) int64.

Run: ``python reference_models/data/make_opis_sample.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N, DIM, CLASSES, SEED = 1200, 32, 24, 20240307


def make(n: int = N, dim: int = DIM, k: int = CLASSES, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n - 3, rng.dirichlet(np.full(k, 2.0)))
    labels = np.concatenate([np.repeat(np.arange(k), sizes), [k, k + 1, k + 2]])
    centres = rng.normal(size=(k + 3, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = np.linspace(0.08, 0.35, k + 3)[rng.permutation(k + 3)]
    x = centres[labels] + rng.normal(size=(n, dim)) * spread[labels, None]
    order = rng.permutation(n)
    return x[order].astype(np.float32), labels[order].astype(np.int64)


if __name__ == "__main__":
    embeddings, labels = make()
    out = Path(__file__).with_name("opis_sample.npz")
    np.savez_compressed(out, embeddings=embeddings, labels=labels)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
