"""Scoring on a cluster: ``metrics.distributed`` on a 2-worker ``LocalCluster`` vs one process.

    python -m benchmarks.distributed                       # 2e7 / 2e8 rows, 1e7 / 1e8 subjects
    python -m benchmarks.distributed --rows 20000000 --concordance-rows 2000000
    python -m benchmarks.distributed --only concordance    # one workload
    python -m benchmarks.distributed --quick               # 2e5 / 2e6 rows, 2e4 / 2e5 subjects

Each workload runs at two sizes ten times apart (``--rows / 10`` and ``--rows``) on
Parquet shards of ``--shard-rows`` rows written to a temporary directory (deleted at the
end), so that a task always holds one shard whatever the number of rows.

1. Calibration (binary click model: one probability column, int8 label, 15 uniform
   bins). ``metrics.distributed.calibration_error`` on the path glob, on a
   ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` on 127.0.0.1,
   against the in-memory streaming path: one process reads the same shards one by one
   with PyArrow and updates a ``CalibrationError`` Metric. Both read the Parquet files.
   Besides wall times, the CPU seconds of the workers (every thread, Dask's own work
   included) per Dask call and of the streaming call give per-core rates that do not
   depend on what else the machine runs; and the stages of one task (reading, update,
   merge) are timed inside a worker (under the nanny's allocator settings) and in the
   driver.
2. Concordance (Harrell's C, times rounded to 0.1, ~40 % censored), twice: with scores
   rounded to 0.001, and with a five-level score (a third of the subjects on one value).
   ``metrics.distributed.concordance_index`` on the glob against reading every shard into
   memory and calling ``metrics.concordance_index`` (an exact C needs a global order, so
   there is no streaming path). The largest groups of equal times and equal scores grow
   with the rows; worker memory must not.

Every value is asserted equal to the in-memory one before the table is written:
calibration within 1e-12 absolute (float64 per-bin score sums added in another order
move the ECE by a few ulps of the sums divided by N; the relative difference is
recorded; the per-bin counts are integers), Harrell's C with ``==``. Each worker's peak resident set (``VmHWM`` of the
worker process, reset through ``/proc/self/clear_refs`` before each workload) is read
with ``client.run`` after the runs; the harness measures the driver process.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchmarks._harness import Bench, Measurement, package_version

MIB = 2**20


# ----------------------------------------------------------------------------- the cluster
@contextmanager
def local_cluster(workers: int) -> Iterator[tuple[object, float]]:
    """A client of ``workers`` single-threaded worker processes on 127.0.0.1, and the seconds it took to start.

    No dashboard; the scheduler's own HTTP endpoint listens on a free loopback port (not 8787,
    which another run may hold).
    """
    from dask import distributed

    t0 = time.perf_counter()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}
                                  ) as cluster, distributed.Client(cluster) as client:
        yield client, time.perf_counter() - t0


# ----------------------------------------------------------------------------- worker memory
def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> int:
    """Reset this process's peak resident set to its current one (Linux); returns the RSS."""
    import gc

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # not Linux, or not permitted: the peak then covers the worker's whole life
        pass
    return _status("VmRSS:")


def _peak() -> int:
    return _status("VmHWM:")


def worker_memory(client: object, run: Callable[[], list[Measurement]]) -> tuple[list[Measurement], list[str]]:
    """``run()``'s measurements and one line per worker: RSS before, peak RSS during."""
    before = client.run(_reset_peak)  # type: ignore[attr-defined]
    results = run()
    peak = client.run(_peak)  # type: ignore[attr-defined]
    lines = [f"{addr}: RSS {before[addr] / MIB:,.0f} MiB at start, peak {peak[addr] / MIB:,.0f} MiB"
             for addr in sorted(peak)]
    return results, lines


# ----------------------------------------------------------------------------- shards
def write_calibration_shards(folder: Path, rows: int, shard_rows: int, seed: int = 0) -> list[Path]:
    """Click-model predictions: p = sigmoid(z), y ~ Bernoulli(sigmoid(0.8 z)) (over-confident)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    paths = []
    for i, start in enumerate(range(0, rows, shard_rows)):
        n = min(shard_rows, rows - start)
        rng = np.random.default_rng([seed, i])
        z = rng.normal(-2.0, 1.5, n)
        p = 1.0 / (1.0 + np.exp(-z))
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-0.8 * z))).astype(np.int8)
        path = folder / f"preds-{i:05d}.parquet"
        pq.write_table(pa.table({"p": p, "y": y}), path)
        paths.append(path)
    return paths


#: The concordance workloads' scores: the benchmark's rounded scores, or a five-level score.
SCORES = {"rounded": "scores rounded to 0.001", "levels": "five-level scores, -2 to 2"}


def write_survival_shards(folder: Path, rows: int, shard_rows: int, scores: str = "rounded", seed: int = 0
                          ) -> tuple[list[Path], int, int]:
    """The concordance benchmark's synthetic subjects (times rounded to 0.1), shard by shard.

    ``scores="levels"`` rounds the risk to an integer between -2 and 2, as a clinical score
    (about a third of the subjects share its commonest value). Also returns the sizes of
    the largest group of equal times and of equal scores.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.concordance import make_data

    folder.mkdir(parents=True)
    paths = []
    time_counts: dict[float, int] = {}
    score_counts: dict[float, int] = {}
    for i, start in enumerate(range(0, rows, shard_rows)):
        risk, time_, event = make_data(min(shard_rows, rows - start), seed=seed * 100_003 + i)
        if scores == "levels":
            risk = np.clip(np.round(risk), -2.0, 2.0)
        for counts, values in ((time_counts, time_), (score_counts, risk)):
            for value, count in zip(*np.unique(values, return_counts=True), strict=True):
                counts[float(value)] = counts.get(float(value), 0) + int(count)
        path = folder / f"subjects-{i:05d}.parquet"
        pq.write_table(pa.table({"risk": risk, "time": time_, "event": event.astype(np.int8)}), path)
        paths.append(path)
    return paths, max(time_counts.values()), max(score_counts.values())


# ----------------------------------------------------------------------------- in-memory paths
def streaming_calibration(paths: list[Path], n_bins: int) -> float:
    """The in-memory streaming path: one ``CalibrationError`` updated shard by shard."""
    import pyarrow.parquet as pq
    import torch

    from metrics.calibration import CalibrationError

    metric = CalibrationError(n_bins=n_bins)
    for path in paths:
        table = pq.read_table(path, columns=["p", "y"])
        p = table.column("p").to_numpy()
        y = table.column("y").to_numpy().astype(np.int64)
        metric.update(torch.from_numpy(p), torch.from_numpy(y))
    return float(metric.compute())


def in_memory_concordance(paths: list[Path]) -> float:
    """Every shard read into one process, then ``metrics.concordance_index``."""
    import pyarrow.parquet as pq

    from metrics import concordance_index

    table = pq.read_table(paths[0].parent)
    return concordance_index(table.column("risk").to_numpy(), table.column("time").to_numpy(),
                             table.column("event").to_numpy())


def stage_times(path: str, n_bins: int, repeat: int = 3) -> dict[str, float]:
    """Seconds (best of ``repeat``) of each stage of one calibration task on one shard, in this process.

    The stages of ``metrics.distributed.calibration_error``'s task on a Parquet glob: PyArrow
    reads the file in batches of 65,536 rows as numpy arrays, a ``CalibrationError`` is
    updated batch by batch, and two states merge. For comparison, the stages of the
    earlier task (still used for a Dask DataFrame): Dask reads the file into a pandas
    partition, which becomes numpy arrays, and one update takes the whole partition.
    """
    import dask.dataframe as dd
    import pyarrow.parquet as pq
    import torch

    from metrics.calibration import CalibrationError
    from metrics.distributed import merge_states

    best: dict[str, float] = {}

    def keep(stage: str, t0: float) -> None:
        best[stage] = min(best.get(stage, float("inf")), time.perf_counter() - t0)

    rows = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        batches = [(b.column(0).to_numpy(), b.column(1).to_numpy().astype(np.int64))
                   for b in pq.ParquetFile(path).iter_batches(batch_size=65_536, columns=["p", "y"])]
        keep("PyArrow batches to numpy", t0)
        metric = CalibrationError(n_bins=n_bins)
        t0 = time.perf_counter()
        for p, y in batches:
            metric.update(p, y)
        keep("update batch by batch", t0)
        t0 = time.perf_counter()
        merge_states(metric, metric)
        keep("merge two states", t0)
        t0 = time.perf_counter()
        part = dd.read_parquet(path).compute(scheduler="sync")
        keep("(earlier task) Dask reads the shard into pandas", t0)
        t0 = time.perf_counter()
        p = np.ascontiguousarray(part["p"].to_numpy(dtype=np.float64))
        y = part["y"].to_numpy().astype(np.int64)
        keep("(earlier task) pandas to numpy", t0)
        metric = CalibrationError(n_bins=n_bins)
        t0 = time.perf_counter()
        metric.update(torch.from_numpy(p), torch.from_numpy(y))
        keep("(earlier task) one update of the whole shard", t0)
        rows = len(part)
    best["rows"] = float(rows)
    return best


def stage_note(client: object, path: Path, n_bins: int) -> str:
    """One line per stage: its time in one worker (Dask's nanny environment) and in the driver."""
    import os

    torch_threads = _torch_threads()
    worker = sorted(client.scheduler_info()["workers"])[0]  # type: ignore[attr-defined]
    in_worker = client.run(stage_times, str(path), n_bins, workers=[worker])[worker]  # type: ignore[attr-defined]
    in_driver = stage_times(str(path), n_bins)
    rows = in_worker.pop("rows")
    in_driver.pop("rows")
    cells = [f"{stage}: {in_worker[stage] * 1e3:.1f} ms in a worker, {in_driver[stage] * 1e3:.1f} ms in the driver"
             for stage in in_worker]
    trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"), workers=[worker])[worker]  # type: ignore[attr-defined]
    return (f"Stages of one task on one {rows:,.0f}-row shard (best of 3; worker environment "
            f"MALLOC_TRIM_THRESHOLD_={trim}, driver torch threads {torch_threads}): " + "; ".join(cells) + ".")


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


# ----------------------------------------------------------------------------- workloads
def _rate(rows: int, m: Measurement) -> str:
    return f"{rows / m.seconds / 1e6:.2f} M rows/s"


def bench_calibration(bench: Bench, client: object, root: Path, rows: int, shard_rows: int, workers: int,
                      repeat: int) -> None:
    from metrics import calibration_error as in_memory_ce
    from metrics.distributed import calibration_error

    folder = root / f"calibration-{rows}"
    t0 = time.perf_counter()
    paths = write_calibration_shards(folder, rows, shard_rows)
    written = time.perf_counter() - t0
    glob = str(folder / "preds-*.parquet")
    n_bins = 15

    differences: list[float] = []

    def close(ours: object, anchor: object) -> None:
        # ECE = sum_b |S_b - O_b| / N with S_b a float64 sum of up to N scores in [0, 1]: summing the
        # shards' S_b in another order moves it by a few ulps of S_b, so the bound is on the scale of
        # the scores (1), not on the (smaller) ECE; the relative difference is recorded
        difference = abs(float(ours) - float(anchor))  # type: ignore[arg-type]
        assert difference <= 1e-12, (ours, anchor)
        differences.append(difference / abs(float(anchor)))  # type: ignore[arg-type]

    # CPU seconds: the workers' (all their threads, Dask's own work included) per Dask call, and the
    # driver's per streaming call; on a shared machine these, not wall times, give the per-core rates
    calls = {"dask": 0, "stream": 0}
    stream_cpu: list[float] = []

    def dask_call() -> float:
        calls["dask"] += 1
        return calibration_error(glob, prob_columns=["p"], label_column="y", n_bins=n_bins)

    def stream_call() -> float:
        calls["stream"] += 1
        t0 = time.process_time()
        value = streaming_calibration(paths, n_bins)
        stream_cpu.append(time.process_time() - t0)
        return value

    cpu_before = client.run(time.process_time)  # type: ignore[attr-defined]
    results, lines = worker_memory(client, lambda: bench.compare(
        f"calibration error (15 uniform bins), {rows:,} rows in {len(paths)} Parquet shards",
        ours=dask_call,
        anchors={"in-memory streaming path (one process, CalibrationError shard by shard)": stream_call},
        repeat=repeat, check=close))
    cpu_after = client.run(time.process_time)  # type: ignore[attr-defined]
    worker_cpu = sum(cpu_after[a] - cpu_before[a] for a in cpu_after) / max(1, calls["dask"])
    dask_m, stream_m = results
    exact = ""
    if rows <= 50_000_000:  # the whole input fits: the one-call in-memory function as well
        import pyarrow.parquet as pq

        table = pq.read_table(folder)
        whole = in_memory_ce(table.column("p").to_numpy(), table.column("y").to_numpy().astype(np.int64),
                             n_bins=n_bins)
        del table
        close(dask_m.value, whole)
        exact = " and to `metrics.calibration_error` on all rows in one array"
    stages = stage_note(client, paths[0], n_bins)
    relative = f"largest relative difference {max(differences):.1e}" if differences else ""
    bench.note(f"{rows:,} rows ({written:.0f} s to write the shards): Dask {_rate(rows, dask_m)} on {workers} "
               f"workers = {rows / dask_m.seconds / workers / 1e6:.2f} M rows/s per worker; streaming "
               f"{_rate(rows, stream_m)} in one process (per-worker rate / streaming rate = "
               f"{stream_m.seconds / (dask_m.seconds * workers):.2f}). CPU time: the workers spent {worker_cpu:.2f} s "
               f"per Dask call ({rows / worker_cpu / 1e6:.2f} M rows per worker CPU second), the streaming path "
               f"{min(stream_cpu):.2f} s ({rows / min(stream_cpu) / 1e6:.2f} M rows per CPU second; per-worker CPU "
               f"rate / streaming CPU rate = {min(stream_cpu) / worker_cpu:.2f}). Value {float(dask_m.value):.12g}, equal to "  # type: ignore[arg-type]
               f"the streaming value{exact} within 1e-12 absolute ({relative}: the per-bin score sums are added "
               "in another order). Worker memory: " + "; ".join(lines) + ". " + stages)
    shutil.rmtree(folder)


def bench_concordance(bench: Bench, client: object, root: Path, rows: int, shard_rows: int, workers: int,
                      repeat: int, scores: str) -> None:
    from metrics.distributed import concordance_index

    folder = root / f"concordance-{scores}-{rows}"
    t0 = time.perf_counter()
    paths, largest_time, largest_score = write_survival_shards(folder, rows, shard_rows, scores)
    written = time.perf_counter() - t0
    glob = str(folder / "subjects-*.parquet")

    def equal(ours: object, anchor: object) -> None:
        assert ours == anchor, (ours, anchor)

    results, lines = worker_memory(client, lambda: bench.compare(
        f"Harrell's C, {rows:,} subjects in {len(paths)} Parquet shards ({SCORES[scores]})",
        ours=lambda: concordance_index(glob, risk_column="risk", time_column="time", event_column="event"),
        anchors={"in memory (every shard read into one process, metrics.concordance_index)":
                 lambda: in_memory_concordance(paths)},
        repeat=repeat, check=equal))
    dask_m, memory_m = results
    bench.note(f"{rows:,} subjects ({written:.0f} s to write the shards; the largest group of equal times holds "
               f"{largest_time:,} subjects, of equal scores {largest_score:,}): Dask {_rate(rows, dask_m)} on "
               f"{workers} workers, in memory {_rate(rows, memory_m)} (in memory / Dask time = "
               f"{memory_m.seconds / dask_m.seconds:.2f}). C = {float(dask_m.value)!r}, bit-identical "  # type: ignore[arg-type]
               "to the in-memory value. Worker memory: " + "; ".join(lines) + ".")
    shutil.rmtree(folder)


def exact_uno(risk: np.ndarray, time_: np.ndarray, event: np.ndarray, *, tau: float, pairs: str = "harrell",
              g_at: str = "T") -> Fraction:
    """Uno's C from the in-memory weights and per-event pair counts, summed in rational arithmetic."""
    from metrics.concordance import ipcw_weights, pair_counts

    strict = pairs == "strict"
    weight = ipcw_weights(time_, event, time_, event, tau, g_at, False)
    order = np.argsort(time_, kind="stable")
    _, conc, tie, comp = pair_counts(risk, time_, event, 0.0 if strict else 1e-8, same_time_censored=not strict,
                                     per_subject=True, order=order)
    ev = event[order]
    w, conc, tie, comp = weight[order][ev], conc[ev], (0 * tie if strict else tie)[ev], comp[ev]
    num = sum((Fraction(float(x)) * int(2 * c + k) for x, c, k in zip(w, conc, tie, strict=True)), Fraction(0))
    den = sum((Fraction(float(x)) * int(c) for x, c in zip(w, comp, strict=True)), Fraction(0))
    return num / (2 * den)


def uno_accuracy(bench: Bench, root: Path, rows: int, shard_rows: int) -> None:
    """Uno's C on Dask and in memory against the exact value of the same weights and counts."""
    import pyarrow.parquet as pq

    from metrics import uno_concordance_index as in_memory
    from metrics.distributed import uno_concordance_index

    folder = root / f"uno-{rows}"
    paths, _, _ = write_survival_shards(folder, rows, shard_rows, "levels")
    table = pq.read_table(folder)
    risk, time_ = table.column("risk").to_numpy(), table.column("time").to_numpy()
    event = table.column("event").to_numpy().astype(bool)
    tau = float(np.quantile(time_, 0.9))
    lines = []
    for options in ({"tau": tau}, {"tau": tau, "pairs": "strict"}, {"tau": tau, "g_at": "T-"}):
        exact = exact_uno(risk, time_, event, **options)  # type: ignore[arg-type]
        on_dask = uno_concordance_index(str(folder / "*.parquet"), risk_column="risk", time_column="time",
                                        event_column="event", **options)  # type: ignore[arg-type]
        memory = in_memory(risk, time_, event, **options)  # type: ignore[arg-type]
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "tau")
        lines.append(f"{shown or 'defaults'}: Dask {float(abs(Fraction(on_dask) - exact) / exact):.1e}, "
                     f"in memory {float(abs(Fraction(memory) - exact) / exact):.1e}")
    bench.note(f"Uno's C (tau = the 90th time percentile), {rows:,} subjects in {len(paths)} shards with the "
               "five-level score: relative error against the exact value (the in-memory weights and pair counts "
               "summed in rational arithmetic); " + "; ".join(lines) + ". The in-memory function adds one event "
               "at a time in scikit-survival's order, to match its last bits.")
    shutil.rmtree(folder)


def warm_up(workers: int) -> None:
    """Import torch / numba and compile on every worker (a tiny run of both functions)."""
    import dask.dataframe as dd
    import pandas as pd

    from benchmarks.concordance import make_data
    from metrics.distributed import calibration_error, concordance_index

    risk, time_, event = make_data(4000)
    frame = dd.from_pandas(pd.DataFrame({"p": 1.0 / (1.0 + np.exp(-risk)), "y": event.astype(np.int8),
                                         "risk": risk, "time": time_, "event": event}), npartitions=4 * workers)
    calibration_error(frame, prob_columns=["p"], label_column="y")
    concordance_index(frame, risk_column="risk", time_column="time", event_column="event")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000_000,
                    help="calibration rows at the larger size (the smaller is a tenth); default 2e8")
    ap.add_argument("--concordance-rows", type=int, default=100_000_000,
                    help="concordance subjects at the larger size (the smaller is a tenth); default 1e8")
    ap.add_argument("--shard-rows", type=int, default=1_000_000,
                    help="calibration rows per Parquet shard (default 1e6: 200 shards at 2e8 rows)")
    ap.add_argument("--concordance-shard-rows", type=int, default=500_000,
                    help="concordance subjects per Parquet shard (default 5e5: 200 shards at 1e8 subjects)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="2e5 / 2e6 rows and 2e4 / 2e5 subjects")
    ap.add_argument("--tmp", default=None, help="where to write the shards (default: the system temp dir)")
    ap.add_argument("--only", choices=("calibration", "concordance"), default=None,
                    help="run one workload and print its tables (the page, which holds both, is left as it is)")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.concordance_rows, args.shard_rows, args.concordance_shard_rows = (
            2_000_000, 200_000, 200_000, 20_000)
    import logging

    import torch

    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # one line per shuffle otherwise
    torch.set_num_threads(1)  # one core, like each single-threaded worker
    bench = Bench("distributed", "Scoring on a cluster (Dask)", method=(
        "the Dask runs use a 2-worker LocalCluster on 127.0.0.1 (separate worker processes) and the one-process path runs in the driver, both on the same Parquet shards, alternately; best wall time of the repeats; worker memory is each worker's peak resident set, read from the worker after the run."))
    bench.packages.update({"dask": bench.packages.get("dask") or package_version("dask"),
                           "distributed": package_version("distributed"), "pyarrow": package_version("pyarrow")})
    root = Path(tempfile.mkdtemp(prefix="metricprobe-bench-", dir=args.tmp))
    try:
        with local_cluster(args.workers) as (client, started):
            warm_up(args.workers)
            bench.note(f"`LocalCluster(n_workers={args.workers}, threads_per_worker=1, processes=True)` on "
                       f"127.0.0.1 (started in {started:.0f} s, not counted below); the driver's torch runs "
                       "one thread, like each worker. Rows per shard: "
                       f"{args.shard_rows:,} (calibration), {args.concordance_shard_rows:,} (concordance), so each task "
                       "holds one shard at either size. Before the runs, each worker imported the "
                       "libraries and ran both functions once on a tiny frame (warm start).")
            for rows in (args.rows // 10, args.rows) if args.only != "concordance" else ():
                bench_calibration(bench, client, root, rows, args.shard_rows, args.workers, args.repeat)
            for scores in SCORES if args.only != "calibration" else ():
                for rows in (args.concordance_rows // 10, args.concordance_rows):
                    bench_concordance(bench, client, root, rows, args.concordance_shard_rows, args.workers,
                                      args.repeat, scores)
            if args.only != "calibration":
                uno_accuracy(bench, root, args.concordance_rows // 50, args.concordance_shard_rows // 5)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    bench.note("Times are wall times of the whole call, reading the Parquet shards included, on a machine "
               "that other jobs shared while this ran; the RSS columns above are the driver process's.")
    if args.only:
        print("(--only: docs/benchmarks/distributed.md, which holds both families, left as it is)")
    else:
        bench.write()


if __name__ == "__main__":
    main()
