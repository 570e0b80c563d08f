"""LInCo benchmark: vectorised per-case dispersions against a per-case Python loop.

Anchors (no library computes LInCo):
- "loop": the definition applied case by case (numpy on each K-vector, an all-pairs
  K × K difference for mean_abs_pairwise, collections.Counter for labels), the way a
  one-off experiment script does it;
- "pairs": the vectorised O(K²) all-pairs broadcast for mean_abs_pairwise.

Run: ``.venv/bin/python benchmarks/linco.py`` (add ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections import Counter

import numpy as np

from metrics import linco


def measure(fn, *args, **kwargs):
    tracemalloc.start()
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    wall = time.perf_counter() - t
    cpu = time.process_time() - c
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, (wall, cpu), peak / 2**20


def loop_linco(P, dispersion):
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


def pairs_mean_abs(P):
    K = P.shape[0]
    return float((np.abs(P[:, None, :] - P[None, :, :]).sum(axis=(0, 1)) / (K * (K - 1))).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    K = 30
    n_loop = 2_000 if args.quick else 20_000
    n_big = 100_000 if args.quick else 1_000_000
    rng = np.random.default_rng(0)
    terms = rng.gamma(2.0, 12.0, size=(K, n_big))
    charges = rng.integers(0, 8, size=(K, n_big))
    rows = []
    nan2 = (float("nan"), float("nan"))
    print(f"K = {K}; loop anchor on N = {n_loop:,}; metricprobe alone also on N = {n_big:,}")
    print("times in seconds as wall / CPU (the CPU time is the fair one on a shared machine)\n")
    print(f"{'dispersion':28s} {'anchor':6s} {'N':>9s} {'anchor wall/cpu':>16s} {'ours wall/cpu':>14s} "
          f"{'cpu ratio':>9s} {'anchor MiB':>10s} {'ours MiB':>8s} {'|diff|':>8s}")
    for d in ("var_pop", "std_pop", "std_log1p", "cv_pop", "mean_abs_pairwise",
              "pairwise_disagreement", "one_minus_majority_fraction"):
        task = "classification" if d in ("pairwise_disagreement", "one_minus_majority_fraction") else "regression"
        P = (charges if task == "classification" else terms)[:, :n_loop]
        want, t_a, m_a = measure(loop_linco, P, d)
        got, t_o, m_o = measure(linco, P, task=task, dispersion=d)
        rows.append((d, "loop", n_loop, t_a, t_o, m_a, m_o, abs(got - want)))
        Pb = charges if task == "classification" else terms
        _, t_b, m_b = measure(linco, Pb, task=task, dispersion=d)
        rows.append((d, "-", n_big, nan2, t_b, float("nan"), m_b, float("nan")))
    n_pairs = 10_000 if args.quick else 50_000
    want, t_a, m_a = measure(pairs_mean_abs, terms[:, :n_pairs])
    got, t_o, m_o = measure(linco, terms[:, :n_pairs], dispersion="mean_abs_pairwise")
    rows.append(("mean_abs_pairwise", "pairs", n_pairs, t_a, t_o, m_a, m_o, abs(got - want)))
    for d, anchor, n, t_a, t_o, m_a, m_o, diff in rows:
        ratio = t_a[1] / t_o[1] if np.isfinite(t_a[1]) else float("nan")
        print(f"{d:28s} {anchor:6s} {n:9,d} {t_a[0]:8.3f}/{t_a[1]:7.3f} {t_o[0]:7.3f}/{t_o[1]:6.3f} "
              f"{ratio:9.1f} {m_a:10.1f} {m_o:8.1f} {diff:8.1e}")


if __name__ == "__main__":
    main()
