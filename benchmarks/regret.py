"""Regret benchmark: metricprobe's vectorised, chunked regret vs straightforward loops.

Anchors (written here, the obvious implementations of the definitions):
- the regret curve by a per-round Python loop keeping running sums (R_t each round);
- swap regret by explicit per-pair loops, M[a, b] = Σ_t π_t(a) ℓ_t(b) for every (a, b).

Prints wall time, ratio and peak traced memory (tracemalloc, beyond the inputs).

    .venv/bin/python benchmarks/regret.py [--rounds 1000000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from metrics import dynamic_regret, external_regret, regret_curve, swap_regret


def measure(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return value, elapsed, peak / 2**20


def loop_curve(losses, policy):
    T, A = losses.shape
    out = np.empty(T)
    cumulative = np.zeros(A)
    learner = 0.0
    for t in range(T):
        learner += float(losses[t] @ policy[t])
        cumulative += losses[t]
        out[t] = learner - cumulative.min()
    return out


def pair_loop_swap(losses, policy):
    A = losses.shape[1]
    m = np.empty((A, A))
    for a in range(A):
        for b in range(A):
            m[a, b] = float(policy[:, a] @ losses[:, b])
    return float(sum(m[a, a] - m[a].min() for a in range(A)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1_000_000)
    args = parser.parse_args()
    T = args.rounds
    rng = np.random.default_rng(0)
    rows = []

    def compare(name, ours, anchor):
        v1, t1, m1 = measure(ours)
        v2, t2, m2 = measure(anchor)
        err = float(np.max(np.abs(np.asarray(v1) - np.asarray(v2))))
        rows.append((name, t1, m1, t2, m2, t2 / t1, err))

    for A in (10,):
        losses = rng.random((T, A))
        policy = rng.dirichlet(np.ones(A), size=T)
        compare(f"curve (external), T={T:.0e}, A={A}", lambda: regret_curve(losses, policy=policy),
                lambda: loop_curve(losses, policy))
        del losses, policy
    for A in (30,):
        losses = rng.random((T, A))
        policy = rng.dirichlet(np.ones(A), size=T)
        compare(f"swap regret, T={T:.0e}, A={A}", lambda: swap_regret(losses, policy=policy),
                lambda: pair_loop_swap(losses, policy))
        del losses, policy

    print(f"{'case':38s} {'ours s':>8s} {'ours MiB':>9s} {'anchor s':>9s} {'anchor MiB':>10s} {'ratio':>7s} {'max |diff|':>10s}")
    for r in rows:
        print(f"{r[0]:38s} {r[1]:8.3f} {r[2]:9.1f} {r[3]:9.3f} {r[4]:10.1f} {r[5]:7.1f} {r[6]:10.2e}")

    A = 100
    losses = rng.random((T, A))
    policy = rng.dirichlet(np.ones(A), size=T)
    print(f"\nmetricprobe alone, T={T:.0e}, A={A} (inputs {2 * losses.nbytes / 2**20:.0f} MiB):")
    for name, fn in [("external_regret", lambda: external_regret(losses, policy=policy)),
                     ("dynamic_regret", lambda: dynamic_regret(losses, policy=policy)),
                     ("regret_curve external", lambda: regret_curve(losses, policy=policy)),
                     ("swap_regret", lambda: swap_regret(losses, policy=policy))]:
        _, t, m = measure(fn)
        print(f"  {name:24s} {t:7.3f} s  peak {m:7.1f} MiB")


if __name__ == "__main__":
    main()
