"""LInCo benchmark: vectorised per-case dispersions against straightforward implementations.

Anchors (written here; no library computes LInCo):

1. "per-case loop": the definition applied case by case (numpy on each K-vector, an
   all-pairs K × K difference for mean_abs_pairwise, ``collections.Counter`` for labels),
   the way a one-off experiment script does it; on N = 20,000 cases;
2. "all-pairs broadcast": the vectorised O(K² N) pairwise difference for
   mean_abs_pairwise (metricprobe sorts each case: O(N K log K)); on N = 50,000 cases;
3. "numpy one-liner": the vectorised full-array expression of each dispersion over the
   performance goal's K = 30, N = 1e6 (goal: < 2 s), e.g. ``np.log1p(P).std(axis=0).mean()``.

``--quick`` divides every N by 10.

Run:  python -m benchmarks.linco [--quick]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from benchmarks._harness import Bench
from metrics import linco

REGRESSION = ("var_pop", "std_pop", "std_log1p", "cv_pop", "mean_abs_pairwise")
CLASSIFICATION = ("pairwise_disagreement", "one_minus_majority_fraction")


def loop_linco(P: np.ndarray, dispersion: str) -> float:
    K, N = P.shape
    values = []
    for j in range(N):
        x = P[:, j]
        if dispersion == "var_pop":
            values.append(np.var(x))
        elif dispersion == "std_pop":
            values.append(np.std(x))
        elif dispersion == "std_log1p":
            values.append(np.std(np.log1p(x)))
        elif dispersion == "cv_pop":
            values.append(np.std(x) / np.mean(x))
        elif dispersion == "mean_abs_pairwise":
            values.append(np.abs(x[:, None] - x[None, :]).sum() / (K * (K - 1)))
        elif dispersion == "pairwise_disagreement":
            counts = Counter(x.tolist()).values()
            values.append(1 - sum(c * (c - 1) for c in counts) / (K * (K - 1)))
        else:
            values.append(1 - max(Counter(x.tolist()).values()) / K)
    return float(np.mean(values))


def pairs_mean_abs(P: np.ndarray) -> float:
    K = P.shape[0]
    return float((np.abs(P[:, None, :] - P[None, :, :]).sum(axis=(0, 1)) / (K * (K - 1))).mean())


def oneliner(P: np.ndarray, dispersion: str, n_classes: int = 8) -> float:
    K = P.shape[0]
    if dispersion == "var_pop":
        return float(P.var(axis=0).mean())
    if dispersion == "std_pop":
        return float(P.std(axis=0).mean())
    if dispersion == "std_log1p":
        return float(np.log1p(P).std(axis=0).mean())
    if dispersion == "cv_pop":
        return float((P.std(axis=0) / P.mean(axis=0)).mean())
    if dispersion == "mean_abs_pairwise":
        s = np.sort(P, axis=0)
        weights = 2.0 * np.arange(K) - K + 1
        return float((weights @ s).mean() * 2 / (K * (K - 1)))
    counts = np.stack([(P == c).sum(axis=0) for c in range(n_classes)])
    if dispersion == "pairwise_disagreement":
        return float((1 - (counts * (counts - 1)).sum(axis=0) / (K * (K - 1))).mean())
    return float((1 - counts.max(axis=0) / K).mean())


def close(ours: object, anchor: object) -> None:
    np.testing.assert_allclose(float(ours), float(anchor), rtol=1e-9)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N / 10 everywhere (a smoke run)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    scale = 10 if args.quick else 1
    K, n_loop, n_pairs, n_big = 30, 20_000 // scale, 50_000 // scale, 1_000_000 // scale
    rng = np.random.default_rng(0)
    terms = rng.gamma(2.0, 12.0, size=(K, n_big))
    charges = rng.integers(0, 8, size=(K, n_big))
    bench = Bench("linco", "LInCo: legal inconsistency coefficient")

    for d in (*REGRESSION, *CLASSIFICATION):
        task = "classification" if d in CLASSIFICATION else "regression"
        P = np.ascontiguousarray((charges if task == "classification" else terms)[:, :n_loop])
        bench.compare(f"{d}, K = {K}, N = {n_loop:,}", repeat=args.repeat,
                      ours=lambda P=P, d=d, task=task: linco(P, task=task, dispersion=d),
                      anchors={"per-case loop": lambda P=P, d=d: loop_linco(P, d)}, check=close)
    P = np.ascontiguousarray(terms[:, :n_pairs])
    bench.compare(f"mean_abs_pairwise, K = {K}, N = {n_pairs:,}", repeat=args.repeat,
                  ours=lambda: linco(P, dispersion="mean_abs_pairwise"),
                  anchors={"all-pairs broadcast": lambda: pairs_mean_abs(P)}, check=close)
    for d in (*REGRESSION, *CLASSIFICATION):
        task = "classification" if d in CLASSIFICATION else "regression"
        P = charges if task == "classification" else terms
        bench.compare(f"{d}, K = {K}, N = {n_big:,}", repeat=args.repeat,
                      ours=lambda P=P, d=d, task=task: linco(P, task=task, dispersion=d),
                      anchors={"numpy one-liner": lambda P=P, d=d: oneliner(P, d)}, check=close)
    bench.note(
        "Values agree with every anchor (relative 1e-9). The one-liners skip what metricprobe does on "
        "every call: validation (finiteness, the domain of each dispersion, label types), a float64 copy "
        "of the input, the per-case values kept for the report, the overflow guard. Limit: one read of "
        "the (K, N) matrix for the moment-based dispersions, a sort of each column (N K log K) for "
        "mean_abs_pairwise and the label dispersions.")
    bench.write()


if __name__ == "__main__":
    main()
