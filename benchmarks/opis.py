"""OPIS and retrieval metrics: metricprobe (streamed) vs dense N×N anchors, side by side.

Anchors (there is no OPIS library):
* OPIS: a straightforward dense numpy implementation (full similarity matrix, upper
  triangle, ``np.quantile``, per-class sorted distances + ``searchsorted``);
* Recall@1 / MAP@R / R-precision: pytorch-metric-learning's ``AccuracyCalculator`` with
  its torch k-NN (full query × gallery matrix).

Every measurement runs in its own fresh child process so that its peak RSS
(``ru_maxrss``) is its own; the import baseline of such a process is printed too.
Dense anchors are skipped where their matrices would exceed ``--dense-limit-gb``.

    .venv/bin/python benchmarks/opis.py --sizes 5000,10000,20000 --big 100000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_data(n: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_classes = max(2, n // 50)
    y = rng.integers(0, n_classes, size=n)
    spread = rng.uniform(0.5, 1.5, size=n_classes)
    x = rng.normal(size=(n_classes, dim))[y] + rng.normal(size=(n, dim)) * spread[y, None]
    return x.astype(np.float32), y


def dense_opis(x, y, far_range=(0.01, 0.1), n_thresholds=101):
    x = x.astype(np.float64)
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    s = xn @ xn.T
    d = 1.0 - s
    del s
    d[d < (x.shape[1] + 2) * 2.0 ** -52] = 0.0
    same = y[:, None] == y[None, :]
    upper = np.triu(np.ones(d.shape, dtype=bool), 1)
    d_min, d_max = np.quantile(d[upper & ~same], far_range)
    th = np.linspace(d_min, d_max, n_thresholds)
    u = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if rows.size < 2:
            continue
        block = d[rows]
        pos = np.sort(block[:, rows][np.triu_indices(rows.size, 1)])
        neg = np.sort(block[:, y != c].ravel())
        tpr = np.searchsorted(pos, th, side="right") / pos.size
        tnr = 1.0 - np.searchsorted(neg, th, side="right") / neg.size
        den = tpr + tnr
        u.append(np.where(den > 0, 2 * tpr * tnr / np.where(den > 0, den, 1), 0.0))
    u = np.array(u)
    return float(((u - u.mean(axis=0)) ** 2).mean())


def ours_opis(x, y, mode="exact"):
    from metrics import opis

    return opis(x, y, mode=mode)


def ours_retrieval(x, y):
    from metrics.threshold_consistency.retrieval import retrieval_scores

    r = retrieval_scores(x, y, ks=(1,), r_metrics=True)
    return (r["recall"][1], r["map_at_r"], r["r_precision"])


def pml_retrieval(x, y):
    import torch
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    calc = AccuracyCalculator(include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
                              k="max_bin_count", knn_func=CustomKNN(CosineSimilarity()),
                              device=torch.device("cpu"))
    xt = torch.tensor(x, dtype=torch.float64)
    a = calc.get_accuracy(xt, torch.tensor(y), xt, torch.tensor(y), ref_includes_query=True)
    return (a["precision_at_1"], a["mean_average_precision_at_r"], a["r_precision"])


JOBS = {"dense_opis": dense_opis, "ours_opis": ours_opis, "ours_opis_approx": lambda x, y: ours_opis(x, y, "approx"),
        "ours_retrieval": ours_retrieval, "pml_retrieval": pml_retrieval, "baseline": lambda x, y: None}


def _child(job: str, n: int, dim: int, queue) -> None:
    import torch  # noqa: F401  (same import baseline for every job)

    import metrics  # noqa: F401

    x, y = make_data(n, dim)
    t0 = time.perf_counter()
    value = JOBS[job](x, y)
    wall = time.perf_counter() - t0
    queue.put((value, wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


def measure(job: str, n: int, dim: int):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(job, n, dim, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="5000,10000")
    p.add_argument("--big", type=int, default=0, help="also run ours alone at this N (exact mode)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--dense-limit-gb", type=float, default=2.5)
    args = p.parse_args(argv)
    _, _, base = measure("baseline", 100, args.dim)
    print(f"import baseline of a child process: {base:.0f} MB peak RSS; dim = {args.dim}\n")
    print("| N | metric | ours (s) | anchor (s) | anchor / ours | ours peak MB | anchor peak MB | |Δ| |")
    print("|---|---|---|---|---|---|---|---|")
    for n in [int(v) for v in args.sizes.split(",")]:
        dense_gb = 3 * n * n * 8 / 2 ** 30  # d, masks and the extracted triangle
        ov, ot, om = measure("ours_opis", n, args.dim)
        if dense_gb <= args.dense_limit_gb:
            dv, dt, dm = measure("dense_opis", n, args.dim)
            print(f"| {n} | OPIS | {ot:.2f} | {dt:.2f} | {dt / ot:.2f} | {om:.0f} | {dm:.0f} | {abs(ov - dv):.1e} |")
        else:
            print(f"| {n} | OPIS | {ot:.2f} | skipped (needs ≈{dense_gb:.1f} GB) | – | {om:.0f} | – | – |")
        av, at, am = measure("ours_opis_approx", n, args.dim)
        print(f"| {n} | OPIS approx (vs exact) | {at:.2f} | – | – | {am:.0f} | – | {abs(av - ov):.1e} |")
        rv, rt, rm = measure("ours_retrieval", n, args.dim)
        if n * n * 8 * 3 / 2 ** 30 <= args.dense_limit_gb:
            pv, pt, pm = measure("pml_retrieval", n, args.dim)
            err = max(abs(a - b) for a, b in zip(rv, pv))
            print(f"| {n} | R@1, MAP@R, R-prec | {rt:.2f} | {pt:.2f} | {pt / rt:.2f} | {rm:.0f} | {pm:.0f} | {err:.1e} |")
        else:
            print(f"| {n} | R@1, MAP@R, R-prec | {rt:.2f} | skipped | – | {rm:.0f} | – | – |")
        sys.stdout.flush()
    if args.big:
        ov, ot, om = measure("ours_opis", args.big, args.dim)
        print(f"| {args.big} | OPIS (ours alone, exact) | {ot:.1f} | – | – | {om:.0f} | – | value {ov:.6f} |")


if __name__ == "__main__":
    main()
