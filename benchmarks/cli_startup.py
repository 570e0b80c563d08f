"""Start-up time of the ``metricprobe`` command line, measured in fresh processes.

Each timing is one ``subprocess.run`` of the command (a new Python interpreter, as a
user's shell would start it), best of ``--repeat`` (default 5), run alternately:

1. ``metricprobe --help``: the goal is under 0.5 s on a 2-core machine.
2. ``metricprobe calibration`` on 1,000 x 5 saved probabilities: the goal is under 2 s.

"ours" is the command as shipped (everything heavy imported lazily, on first use).
The anchors put the same command behind eager imports of what the command line once
imported up front (torch, torchmetrics, scikit-learn), which is the "before" figure;
and the bare interpreter (``python -c pass``), which is the floor.

Run:  python -m benchmarks.cli_startup            (``--quick``: best of 2)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._harness import Bench

EAGER = "import torch, torchmetrics, sklearn.metrics; "


def _runner(code: str):
    command = [sys.executable, "-c", code]

    def run() -> int:
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{code!r} failed: {done.stderr.strip()[-300:]}")
        return done.returncode

    return run


def _cli(argv: list[str], eager: bool = False) -> str:
    return (EAGER if eager else "") + f"import sys; from metricprobe.cli import main; sys.exit(main({argv!r}))"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timings per command; the best is kept (default 5)")
    parser.add_argument("--quick", action="store_true", help="best of 2")
    args = parser.parse_args()
    repeat = 2 if args.quick else args.repeat

    bench = Bench("cli_startup", "Command-line start-up",
                  method='each row times a whole process, start to exit, run alternately with the other rows; best wall time of the repeats.')
    bench.packages["torchmetrics"] = __import__("importlib.metadata").metadata.version("torchmetrics")
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        preds = Path(tmp) / "preds.npz"
        np.savez(preds, probs=rng.dirichlet(np.ones(5), size=1000), labels=rng.integers(0, 5, 1000))
        for workload, argv in (("metricprobe --help", ["--help"]),
                               ("metricprobe calibration preds.npz (1,000 x 5)",
                                ["calibration", str(preds), "--no-progress"])):
            ours, eager = _cli(argv), _cli(argv, eager=True)
            bench.compare(workload, ours=_runner(ours),
                          anchors={"eager imports (before)": _runner(eager), "python -c pass (floor)": _runner("pass")},
                          repeat=repeat, memory=False)
    bench.note("Each time is a whole process start to exit. Goals: `--help` under 0.5 s and a small "
               "`calibration` under 2 s on a 2-core machine. The 'eager imports' row runs the same command "
               "after importing torch, torchmetrics and scikit-learn first, as the command line did before "
               "it imported them lazily.")
    bench.write()


if __name__ == "__main__":
    main()
