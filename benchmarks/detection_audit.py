"""D-ECE (``metrics.detection_ece``) vs netcal 1.4 ``ECE(detection=True)`` on the same input.

One process run; prints wall time, the ratio and tracemalloc peak memory of each, and
checks that ``compat="netcal"`` returns netcal's number bit for bit.

    .venv/bin/python benchmarks/detection_audit.py [N]
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np


def measure(fn):
    tracemalloc.start()
    t = time.perf_counter()
    value = fn()
    wall = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value, wall, peak / 2 ** 20


def main() -> None:
    from netcal.metrics import ECE

    from metrics import detection_ece

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(0)
    s = rng.random(n)
    m = (rng.random(n) < s ** 2).astype(np.int64)
    f = rng.random((n, 2))
    x = np.column_stack([s, f])
    rows = []
    ref, t_ref, mem_ref = measure(lambda: ECE(bins=[20, 4, 4], detection=True).measure(x, m))
    rows.append(("netcal 1.4 ECE(detection=True)", t_ref, mem_ref, ref))
    ours, t_ours, mem_ours = measure(lambda: detection_ece(s, m, features=f, n_bins=[20, 4, 4]))
    rows.append(("metricprobe detection_ece", t_ours, mem_ours, ours))
    comp, t_comp, mem_comp = measure(lambda: detection_ece(s, m, features=f, n_bins=[20, 4, 4], compat="netcal"))
    rows.append(("metricprobe compat='netcal'", t_comp, mem_comp, comp))
    print(f"N = {n:,} detections, 20×4×4 joint bins (confidence, cx, cy)")
    print(f"{'impl':34s} {'wall (s)':>9s} {'peak MiB':>9s} {'ratio':>7s}  value")
    for name, t, mem, v in rows:
        print(f"{name:34s} {t:9.3f} {mem:9.1f} {t_ref / t:7.2f}  {v!r}")
    print(f"compat == netcal: {comp == ref}; default − netcal: {ours - ref:.3e}")


if __name__ == "__main__":
    main()
