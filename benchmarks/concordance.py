"""Concordance benchmark: metricprobe vs lifelines vs scikit-survival, side by side in one process.

    python -m benchmarks.concordance            # n = 2e4, 2e5, 1e6 (with lifelines) and 1e7
    python -m benchmarks.concordance --quick    # n = 2e4 and 1e5 only

Synthetic data: exponential times rounded to 0.1 (tied times), ~40 % censored, risk
scores rounded to 1e-3 (tied risks). Every implementation gets the same arrays and
must return the same value (asserted). scikit-survival's ``concordance_index_censored``
and ``concordance_index_ipcw`` are O(n²) in Python, so they run at n = 2e4 only.

The limit of the kernel: Harrell's C needs the subjects in time order and the scores
ranked, i.e. two sorts (n log n comparisons, or a few radix passes); one ``np.sort`` /
one ``np.argsort`` of the n times are measured beside it as the reference for that limit.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks._harness import Bench


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    fail = rng.exponential(10.0 * np.exp(-0.7 * x))
    cens = rng.exponential(15.0, n)
    time_ = np.round(np.minimum(fail, cens), 1)
    event = fail <= cens
    risk = np.round(x + rng.normal(scale=0.7, size=n), 3)
    return risk, time_, event


def _equal(ours: object, anchor: object) -> None:
    if isinstance(anchor, float) and isinstance(ours, float):
        assert ours == anchor, (ours, anchor)


def _close(ours: object, anchor: object) -> None:
    assert abs(float(ours) - float(anchor)) <= 1e-9, (ours, anchor)  # type: ignore[arg-type]


def _surv(time_: np.ndarray, event: np.ndarray) -> np.ndarray:
    y = np.empty(time_.size, dtype=[("e", bool), ("t", float)])
    y["e"], y["t"] = event, time_
    return y


def _harrell_vs_lifelines(bench: Bench, n: int, packages: dict[str, str]) -> None:
    """Harrell's C with compat="lifelines" against lifelines and against one sort of the times."""
    from lifelines.utils import concordance_index as ll_cindex

    from metrics import concordance_index

    risk, time_, event = make_data(n)
    score = -risk  # a survival-direction score for compat="lifelines"
    results = bench.compare(
        f"Harrell's C, n = {n:,} with tied times and scores, compat=\"lifelines\"",
        ours=lambda: concordance_index(score, time_, event, compat="lifelines"),
        anchors={"lifelines concordance_index": lambda: float(ll_cindex(time_, score, event)),
                 "limit: one np.argsort of the n times": lambda: np.argsort(time_),
                 "limit: one np.sort of the n times": lambda: np.sort(time_)},
        anchor_packages=packages, check=_equal, repeat=3)
    ours_s, ll_s, argsort_s, sort_s = (m.seconds for m in results)
    bench.note(f"n = {n:,}: lifelines / ours = {ll_s / ours_s:.1f}×; ours / one argsort = "
               f"{ours_s / argsort_s:.1f}×, ours / one sort = {ours_s / sort_s:.1f}× "
               "(the kernel sorts twice, the times and the scores, with an LSD radix sort from 5e4 "
               "values on, then sweeps a Fenwick tree; from 1e5 subjects the two sorts run in two threads).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2e4 and 1e5 only")
    args = parser.parse_args()

    from lifelines.utils import concordance_index as ll_cindex
    from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

    from metrics import concordance_index, uno_concordance_index

    bench = Bench("concordance", "Concordance index (Harrell, Uno)")
    risk, time_, event = make_data(1000)
    t0 = time.perf_counter()
    concordance_index(risk, time_, event)
    uno_concordance_index(risk, time_, event, tau=float(np.quantile(time_, 0.9)))
    bench.note(f"First call in this process (numba cache load, or compilation on a fresh install): "
               f"{time.perf_counter() - t0:.2f} s; every row below is warm.")
    packages = {"lifelines": "lifelines", "scikit-survival": "scikit-survival"}

    n = 20_000
    risk, time_, event = make_data(n)
    tau = float(np.quantile(time_, 0.9))
    y = _surv(time_, event)
    bench.compare(f"Harrell's C, n = {n:,} (default conventions = scikit-survival's)",
                  ours=lambda: concordance_index(risk, time_, event),
                  anchors={"scikit-survival concordance_index_censored":
                           lambda: float(concordance_index_censored(event, time_, risk)[0]),
                           "lifelines concordance_index (on -risk)": lambda: float(ll_cindex(time_, -risk, event))},
                  anchor_packages=packages, check=_equal, repeat=3)
    bench.compare(f"Uno's C, n = {n:,}, tau = 90th percentile of the times",
                  ours=lambda: uno_concordance_index(risk, time_, event, tau=tau),
                  anchors={"scikit-survival concordance_index_ipcw":
                           lambda: float(concordance_index_ipcw(y, y, risk, tau=tau)[0])},
                  anchor_packages=packages, check=_close, repeat=3)

    for n in [100_000] if args.quick else [200_000, 1_000_000]:
        _harrell_vs_lifelines(bench, n, packages)

    if not args.quick:
        n = 10_000_000
        risk, time_, event = make_data(n)
        tau = float(np.quantile(time_, 0.9))
        results = bench.compare(
            f"Harrell's and Uno's C, n = {n:,} (no anchor finishes in reasonable time)",
            ours=lambda: concordance_index(risk, time_, event),
            anchors={"ours: Uno's C (tau = 90th percentile)": lambda: uno_concordance_index(risk, time_, event,
                                                                                             tau=tau),
                     "limit: one np.argsort of the n times": lambda: np.argsort(time_)},
            repeat=2)
        bench.note(f"n = 1e7: Harrell / one argsort = {results[0].seconds / results[2].seconds:.1f}×.")
    bench.note("Values: every row's C is asserted equal to the anchors' (bit-identical for Harrell, "
               "within 1e-9 for Uno) before the table is written.")
    bench.write()


if __name__ == "__main__":
    main()
