"""Concordance benchmark: metricprobe vs lifelines vs scikit-survival, side by side.

    .venv/bin/python benchmarks/concordance.py            # n = 2e4, 2e5 and 1e7
    .venv/bin/python benchmarks/concordance.py --quick    # n = 2e4 only

Synthetic data: exponential times rounded to 0.1 (tied times), ~40 % censored,
risk scores rounded to 1e-3 (tied risks). Each measurement runs in a fresh child
process (spawned one after the other, never in parallel) so that its peak resident
memory above the post-import baseline can be reported; the first call of ours (numba
cache load or JIT) is timed separately from a warm call. scikit-survival's
``concordance_index_censored`` is O(n²) in Python (~84 s at n = 2e5 on the project
machine), so it runs at n = 2e4 only, as does its ``concordance_index_ipcw``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_data(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    fail = rng.exponential(10.0 * np.exp(-0.7 * x))
    cens = rng.exponential(15.0, n)
    time_ = np.round(np.minimum(fail, cens), 1)
    event = fail <= cens
    risk = np.round(x + rng.normal(scale=0.7, size=n), 3)
    return risk, time_, event


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _case(impl: str, n: int, queue) -> None:
    import numpy as np  # noqa: F401

    if impl.startswith("ours"):
        import metrics  # noqa: F401
    elif impl == "lifelines":
        from lifelines.utils import concordance_index as ll  # noqa: F401
    else:
        import sksurv.metrics  # noqa: F401
    risk, time_, event = make_data(n)
    base = _current_rss_mb()
    out = {}
    if impl == "ours":
        from metrics import concordance_index

        t0 = time.perf_counter()
        out["value"] = concordance_index(risk, time_, event)
        out["first_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        concordance_index(risk, time_, event)
        out["s"] = time.perf_counter() - t0
    elif impl == "ours_uno":
        from metrics import uno_concordance_index

        tau = float(np.quantile(time_, 0.9))
        uno_concordance_index(risk[:100], time_[:100], event[:100], tau=float(np.quantile(time_[:100], 0.5)))
        t0 = time.perf_counter()
        out["value"] = uno_concordance_index(risk, time_, event, tau=tau)
        out["s"] = time.perf_counter() - t0
    elif impl == "lifelines":
        from lifelines.utils import concordance_index

        t0 = time.perf_counter()
        out["value"] = concordance_index(time_, -risk, event)
        out["s"] = time.perf_counter() - t0
    elif impl == "sksurv":
        from sksurv.metrics import concordance_index_censored

        t0 = time.perf_counter()
        out["value"] = concordance_index_censored(event, time_, risk)[0]
        out["s"] = time.perf_counter() - t0
    elif impl == "sksurv_uno":
        from sksurv.metrics import concordance_index_ipcw

        y = np.empty(n, dtype=[("e", bool), ("t", float)])
        y["e"], y["t"] = event, time_
        t0 = time.perf_counter()
        out["value"] = concordance_index_ipcw(y, y, risk, tau=float(np.quantile(time_, 0.9)))[0]
        out["s"] = time.perf_counter() - t0
    out["peak_mb"] = _rss_mb() - base
    queue.put(out)


def measure(impl: str, n: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_case, args=(impl, n, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Exception:  # queue.Empty: check that the child is still alive
            if not proc.is_alive():
                raise RuntimeError(f"{impl} at n={n} failed (exit code {proc.exitcode})") from None
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2e4 only")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [20_000, 200_000]
    rows = []
    for n in sizes:
        ours = measure("ours", n)
        ll = measure("lifelines", n)
        rows.append((n, "Harrell: metricprobe", ours))
        rows.append((n, "Harrell: lifelines", ll))
        assert ours["value"] == ll["value"], (ours["value"], ll["value"])
        if n <= 20_000:
            sk = measure("sksurv", n)
            assert ours["value"] == sk["value"]
            rows.append((n, "Harrell: scikit-survival", sk))
            uno = measure("ours_uno", n)
            sku = measure("sksurv_uno", n)
            assert abs(uno["value"] - sku["value"]) <= 1e-9
            rows.append((n, "Uno: metricprobe", uno))
            rows.append((n, "Uno: scikit-survival", sku))
        else:
            rows.append((n, "Uno: metricprobe", measure("ours_uno", n)))
    if not args.quick:
        rows.append((10_000_000, "Harrell: metricprobe", measure("ours", 10_000_000)))
        rows.append((10_000_000, "Uno: metricprobe", measure("ours_uno", 10_000_000)))

    print(f"{'n':>10}  {'implementation':<26} {'first call s':>12} {'warm s':>9} {'peak MB':>8} "
          f"{'ratio vs ours':>14}  C")
    ours_time = {}
    for n, name, r in rows:
        if name.endswith("metricprobe"):
            ours_time[(n, name.split(":")[0])] = r["s"]
    for n, name, r in rows:
        ratio = r["s"] / ours_time[(n, name.split(":")[0])]
        first = f"{r['first_s']:.3f}" if "first_s" in r else "-"
        print(f"{n:>10}  {name:<26} {first:>12} {r['s']:>9.3f} {r['peak_mb']:>8.0f} {ratio:>13.1f}x  "
              f"{r['value']:.12f}")


if __name__ == "__main__":
    main()
