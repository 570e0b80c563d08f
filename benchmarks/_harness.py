"""Side-by-side benchmark harness: ours and the anchors, one process, same data, alternated.

Every benchmark script builds its inputs once, then::

    bench = Bench("calibration", "Calibration error")
    bench.compare("ECE, 1e6 x 100 float32", ours=lambda: calibration_error(p, y),
                  anchors={"netcal": lambda: ECE(15).measure(p, y)}, anchor_packages={"netcal": "netcal"})
    bench.note("Limit: one read of the input ...")
    bench.write()

:meth:`Bench.compare` runs the callables round-robin (ours, anchor 1, ..., ours, ...)
``repeat`` times so that a change in machine load touches all of them alike, keeps the
best wall time of each, and measures peak memory in a separate run of each callable:
the tracemalloc peak (Python and numpy allocations) and the growth of the process's peak
resident set (sampled every 2 ms: torch / C++ allocations that tracemalloc misses).
:meth:`Bench.write` writes ``docs/benchmarks/<name>.md`` with the machine, the thread
count, the library versions and the command that reproduces the table; ``make bench``
runs every script and :mod:`benchmarks._collect` rebuilds the index in
``docs/benchmarks.md``. Every speed claim in docs/ comes from a file written here.
``Bench(..., device="cuda")`` synchronises the GPU before each timer starts and before
it stops, and names the GPU in the page's machine line.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import importlib.metadata
import os
import platform
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "docs" / "benchmarks"

__all__ = ["Bench", "Measurement", "accelerator_description", "machine_description", "peak_memory"]


def _rss_bytes(field: str = "VmRSS:") -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _PeakRSS:
    """Growth of the resident set above its level at entry, sampled every 2 ms."""

    def __enter__(self) -> _PeakRSS:
        self.base = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.base


def peak_memory(fn: Callable[[], object]) -> tuple[int, int]:
    """(tracemalloc peak bytes, resident-set growth bytes) of one call of ``fn``."""
    gc.collect()
    tracemalloc.start()
    try:
        with _PeakRSS() as rss:
            fn()
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return traced, rss.growth


@dataclasses.dataclass
class Measurement:
    label: str
    seconds: float
    traced_bytes: int
    rss_bytes: int
    value: object = None


def _threads() -> str:
    try:
        import torch

        torch_threads = str(torch.get_num_threads())
    except ImportError:
        torch_threads = "-"
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i.get('internal_api')} {i.get('num_threads')}" for i in threadpool_info())
    except ImportError:
        blas = "-"
    return f"torch threads {torch_threads}; BLAS/OpenMP pools: {blas or '-'}"


def accelerator_description(device: str) -> str:
    """Name, memory and CUDA version of the GPU behind ``device`` (``""`` for the CPU)."""
    if device == "cpu":
        return ""
    if not device.startswith("cuda"):
        return f"device {device}"
    import torch

    index = torch.device(device).index
    index = torch.cuda.current_device() if index is None else index
    memory = torch.cuda.get_device_properties(index).total_memory
    return f"GPU: {torch.cuda.get_device_name(index)}, {memory / 2 ** 30:.0f} GiB, CUDA {torch.version.cuda}"


def machine_description(device: str = "cpu") -> str:
    """CPU model, core count, memory, OS, Python and thread settings of this process.

    For a CUDA ``device`` the GPU's name, memory and CUDA version are appended.
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f", {int(fh.readline().split()[1]) / 2 ** 20:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    try:
        load = f", load average at start {os.getloadavg()[0]:.1f}"
    except OSError:
        load = ""
    accelerator = accelerator_description(device)
    return (f"{cpu}, {os.cpu_count()} logical cores{mem}{load}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; {_threads()}" + (f"; {accelerator}" if accelerator else ""))


def _synchronizer(device: str) -> Callable[[], None]:
    """Waits for the work queued on ``device``: the clock must not stop before a GPU kernel ends."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _fmt_bytes(n: int) -> str:
    return f"{n / 2 ** 20:,.1f} MiB"


class Bench:
    """One benchmark page: comparisons, notes, and the machine they were measured on."""

    def __init__(self, name: str, title: str, *, method: str | None = None, device: str = "cpu") -> None:
        self.name = name
        self.title = title
        self.method = method or ("all implementations in one process on the same data, run alternately; "
                                 "best wall time of the repeats; memory from a separate call of each.")
        self.sections: list[str] = []
        self.packages: dict[str, str] = {"metricprobe": package_version("metricprobe"), "numpy": package_version("numpy"),
                                         "torch": package_version("torch")}
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.machine = machine_description(device)
        self._sync = _synchronizer(device)

    def compare(self, workload: str, *, ours: Callable[[], object], anchors: Mapping[str, Callable[[], object]],
                anchor_packages: Mapping[str, str] | None = None, repeat: int = 3, memory: bool = True,
                check: Callable[[object, object], None] | None = None) -> list[Measurement]:
        """Time ``ours`` and each anchor alternated, best of ``repeat``; add a table.

        ``anchor_packages`` maps an anchor label to its distribution name, so its version
        is recorded. ``check(ours_value, anchor_value)`` may assert that the values agree.
        Returns the measurements (ours first).
        """
        runners = {"metricprobe": ours, **anchors}
        best = {label: float("inf") for label in runners}
        values: dict[str, object] = {}
        for _ in range(repeat):
            for label, fn in runners.items():
                gc.collect()
                self._sync()
                t0 = time.perf_counter()
                values[label] = fn()
                self._sync()
                best[label] = min(best[label], time.perf_counter() - t0)
        results = []
        for label, fn in runners.items():
            traced, rss = peak_memory(fn) if memory else (0, 0)
            results.append(Measurement(label, best[label], traced, rss, values[label]))
        if check is not None:
            for m in results[1:]:
                check(values["metricprobe"], m.value)
        for package in (anchor_packages or {}).values():
            self.packages[package] = package_version(package)
        ours_s = results[0].seconds
        lines = [f"### {workload}", "", f"| implementation | best of {repeat} (s) | ratio (anchor / ours) | "
                 "tracemalloc peak | RSS growth |", "|---|---|---|---|---|"]
        for m in results:
            ratio = "1.00" if m is results[0] else f"**{m.seconds / ours_s:.2f}×**"
            lines.append(f"| {m.label} | {m.seconds:.4g} | {ratio} | {_fmt_bytes(m.traced_bytes) if memory else '-'} "
                         f"| {_fmt_bytes(m.rss_bytes) if memory else '-'} |")
        self.sections.append("\n".join(lines))
        print("\n".join(lines), flush=True)
        return results

    def note(self, text: str) -> None:
        """A paragraph under the tables (the kernel's limit, how values were checked, ...)."""
        self.sections.append(text)
        print(text, flush=True)

    def write(self) -> Path:
        """Write ``docs/benchmarks/<name>.md``; returns its path."""
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)  # a GPU page is named <script>_cuda
        module = main_spec.name if main_spec is not None else "benchmarks." + self.name
        command = "python -m " + module + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
        versions = ", ".join(f"{k} {v}" for k, v in sorted(self.packages.items()))
        head = [f"## {self.title}", "",
                f"Generated by `{command}` on {self.started:%Y-%m-%d %H:%M} UTC.", "",
                f"- Machine: {self.machine}", f"- Versions: {versions}",
                f"- Method: {self.method}", ""]
        path = OUT_DIR / f"{self.name}.md"
        path.write_text("\n".join(head + ["\n\n".join(self.sections), ""]))
        print(f"wrote {path.relative_to(ROOT)}", flush=True)
        return path
