#!/usr/bin/env bash
# Every GPU check of the training-time metrics, as one command on a GPU machine.
#
#   bash benchmarks/gpu_checks.sh   (from the repository root; each step has a time limit, 8 minutes
#                                    in all; a run on one GPU should take well under that)
#
# Needs a python3 with torch (CUDA), numpy, numba, pandas, torchmetrics, pytest and
# pytest-xdist (and the package's other dependencies); metricprobe itself need not be
# installed and no network is used: the repository is put on PYTHONPATH. Steps:
#
#   1. the machine: nvidia-smi -L, Python, torch, CUDA and torchmetrics versions;
#   2. pytest: the CUDA-only test and the training-time Metric test files;
#   3. agreement on the GPU: each training Metric updated with CUDA tensors equals the
#      numpy functional value, makes no host copy and at most one synchronisation per
#      update() (none with validate_args=False), and keeps its states on the GPU; every
#      array-taking function of metrics and diagnostics gives on CUDA tensors the value
#      of its plain input;
#   4. python3 -m benchmarks.training --device cuda --batches 50
#      (CalibrationError.update over 50 batches of 100,000 x 1,000 and calibration_error
#      on 1,000,000 x 1,000, next to torchmetrics);
#   5. python3 -m benchmarks.diagnostics_collapse --device cuda
#      (softmax_collapse_fraction, z_loss and the report on 16,384 x 50,257 bf16 / float32
#      logits, next to F.cross_entropy);
#   6. python3 -m benchmarks.diagnostics_alignment --device cuda
#      (nlm_alignment on 2.1M, 25.7M and 126M-parameter MLPs, next to one gradient-norm pass).
#
# Each step has its own time limit and runs whatever the previous ones did; a failed step
# is recorded and the script exits 1 at the end. The pages the benchmarks write
# (docs/benchmarks/<name>_cuda.md, beside the CPU pages, never over them) and the log
# gpu_checks.log are copied to "${OUT:-/tmp/gpu_out}". Copy the pages into docs/benchmarks/
# and run `python -m benchmarks._collect` to list them in docs/benchmarks.md.
#
# Overrides (to rehearse the plumbing on a CPU-only machine, e.g. GPU_CHECKS_DEVICE=cpu:0
# with small sizes): GPU_CHECKS_DEVICE (default cuda), GPU_CHECKS_TESTS (pytest
# arguments), GPU_CHECKS_PYTEST_WORKERS (default 8), GPU_CHECKS_TRAINING_ARGS (default
# --batches 50), GPU_CHECKS_COLLAPSE_ARGS, GPU_CHECKS_ALIGNMENT_ARGS, PYTHON (default python3).
set -euo pipefail
export PYTHONUNBUFFERED=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
DEVICE="${GPU_CHECKS_DEVICE:-cuda}"
PAGE_SUFFIX="_${DEVICE%%:*}"
OUT_DIR="${OUT:-/tmp/gpu_out}"
mkdir -p "$OUT_DIR/docs/benchmarks"
LOG="$OUT_DIR/gpu_checks.log"
: >"$LOG"

TESTS_DEFAULT="tests/metrics/threshold_consistency/test_opis.py::test_device_cuda_matches_cpu \
tests/metrics/calibration/test_calibration_training.py tests/metrics/group_consistency/test_linco_training.py \
tests/metrics/regret/test_regret_training.py tests/metrics/threshold_consistency/test_opis_metric.py \
tests/metrics/concordance/test_metric.py tests/test_guards.py tests/diagnostics/test_streaming_sums.py \
tests/diagnostics/test_collapse.py"
read -r -a TESTS <<<"${GPU_CHECKS_TESTS:-$TESTS_DEFAULT}"
read -r -a TRAINING_ARGS <<<"${GPU_CHECKS_TRAINING_ARGS:---batches 50}"
read -r -a COLLAPSE_ARGS <<<"${GPU_CHECKS_COLLAPSE_ARGS:-}"
read -r -a ALIGNMENT_ARGS <<<"${GPU_CHECKS_ALIGNMENT_ARGS:-}"

FAILED=()
log() { echo "$*" | tee -a "$LOG"; }

# step NAME SECONDS COMMAND...: run COMMAND with a time limit, its output on the terminal and in the log.
step() {
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS shown="$*"
    shown=${shown%%$'\n'*}  # a python -c script shows its first line only
    log "=== ${name} (limit ${limit} s): ${shown:0:240}"
    if timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"; then
        log "=== ${name}: ok, $((SECONDS - start)) s"
    else
        local rc=${PIPESTATUS[0]}
        log "=== ${name}: FAILED (exit ${rc}$([[ $rc == 124 || $rc == 137 ]] && echo ', time limit'))," \
            "$((SECONDS - start)) s"
        FAILED+=("$name")
    fi
}

copy_pages() {
    local page
    for page in docs/benchmarks/*"${PAGE_SUFFIX}".md; do
        [[ -e $page ]] && cp "$page" "$OUT_DIR/docs/benchmarks/"
    done
    return 0
}

log "=== machine"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi -L 2>&1 | tee -a "$LOG" || true
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee -a "$LOG" || true
else
    log "nvidia-smi: not found"
fi
step versions 30 "$PY" -c "
import sys, numba, numpy, torch, torchmetrics
print('python', sys.version.split()[0], '| numpy', numpy.__version__, '| numba', numba.__version__, '| torch',
      torch.__version__, '| CUDA', torch.version.cuda, '| torchmetrics', torchmetrics.__version__)
print('cuda available:', torch.cuda.is_available(), '| devices:', torch.cuda.device_count(),
      '| name:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')
if '$DEVICE'.startswith('cuda') and not torch.cuda.is_available():
    raise SystemExit('no CUDA device visible to torch')
"
if [[ ${#FAILED[@]} -gt 0 && $DEVICE == cuda* ]]; then
    log "=== the environment check failed (no CUDA device, or a missing package): nothing else can run"
    exit 1
fi

step pytest 100 "$PY" -m pytest -q -p no:cacheprovider -n "${GPU_CHECKS_PYTEST_WORKERS:-8}" -rs "${TESTS[@]}"

read -r -d '' AGREEMENT <<'PY' || true
"""Training Metrics and functions on the device: values, host copies, synchronisations, state devices."""
import inspect
import sys
import warnings
from collections import OrderedDict

import numpy as np
import torch

from tests.battery.registry import REGISTRY
from tests.battery.runner import Target, _numpy_of, _to_torch, comparable, difference
from tests.guards import guard_update

DEVICE = torch.device(sys.argv[1])
METRICS = ["metrics.CalibrationError", "metrics.ConcordanceIndex", "metrics.LInCo", "metrics.OPIS", "metrics.Regret"]
# computed in the device's own arithmetic (documented): values may differ in the last float32 bits
DEVICE_ARITHMETIC = {"diagnostics.softmax_collapse_fraction", "diagnostics.softmax_collapse_report",
                     "diagnostics.z_loss", "diagnostics.output_logit_stats", "diagnostics.zero_loss_fraction",
                     "diagnostics.max_attention_logit", "diagnostics.attention_logit_bound"}
failures = []


def record(name, problem):
    print(("FAIL " if problem else "ok   ") + name + (f": {problem}" if problem else ""), flush=True)
    if problem:
        failures.append(name)


def on_device(value):
    if isinstance(value, torch.Tensor):
        return value.to(DEVICE)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy()).to(DEVICE)
    if isinstance(value, (list, tuple)):
        return type(value)(on_device(v) for v in value)
    return value


def states_off_device(metric):
    off = []
    for name in metric._defaults:
        value = getattr(metric, name)
        tensors = value if isinstance(value, list) else [value]
        if any(isinstance(t, torch.Tensor) and t.device.type != DEVICE.type for t in tensors):
            off.append(name)
    return off


warnings.simplefilter("ignore")
skipped = []
for name in METRICS:
    entry = REGISTRY[name]
    try:
        target = Target(entry)
        base = target.bind(entry.build())
        arrays = [k for k in entry.arrays if k in base and base[k] is not None]
        expected = comparable(entry.functional(*[_numpy_of(base[k]) for k in arrays]))
        dev_args = OrderedDict((k, on_device(v) if k in entry.arrays else v) for k, v in base.items())
        metric = target.new_metric().to(DEVICE)
        for half in target.halves(dev_args):
            target.update(metric, half)
        off = states_off_device(metric)
        record(f"{name}: states on {DEVICE}", f"states {off} are not" if off else None)
        record(f"{name}: compute() on {DEVICE} equals the numpy functional",
               difference(comparable(metric.compute()), expected, 1e-12, entry.atol))
        bound = inspect.BoundArguments(target.signature, dev_args)
        report = guard_update(target.new_metric().to(DEVICE), *bound.args, **bound.kwargs)
        problems = [f"{report.host_copies} host copies"] if report.host_copies else []
        problems += [f"{report.syncs} syncs"] if report.syncs > 1 else []
        problems += [f"states alias the input: {report.aliased}"] if report.aliased else []
        record(f"{name}: update() on {DEVICE}: no host copy, <= 1 sync, no aliasing",
               "; ".join(problems) + f" {report.events[:6]}" if problems else None)
        try:
            quiet = target.new_metric(validate_args=False).to(DEVICE)
        except TypeError:
            continue
        report = guard_update(quiet, *bound.args, **bound.kwargs)
        record(f"{name}: update(validate_args=False) on {DEVICE}: no sync",
               f"{report.syncs} syncs {report.events[:6]}" if report.syncs else None)
    except ModuleNotFoundError as exc:
        skipped.append(f"{name} ({exc.name or exc})")
    except Exception as exc:  # a crash is a failed check, reported with the others
        record(f"{name} on {DEVICE}", f"raised {type(exc).__name__}: {exc}")

for name, entry in sorted(REGISTRY.items()):
    if entry.is_metric or not name.startswith(("metrics.", "diagnostics.")):
        continue
    rtol = 1e-6 if name in DEVICE_ARITHMETIC else 1e-12
    try:
        target = Target(entry)
        base = target.bind(entry.build())
        plain = OrderedDict((k, _to_torch(v) if entry.torch_only and k in entry.arrays else v)
                            for k, v in base.items())
        dev_args = OrderedDict((k, on_device(v) if k in entry.arrays else v) for k, v in base.items())
        expected = comparable(target.call(plain))
        got = comparable(target.call(dev_args))
        record(f"{name}: {DEVICE.type}-tensor input gives the plain input's value (rtol {rtol:g})",
               difference(got, expected, rtol, entry.atol))
    except ModuleNotFoundError as exc:  # an optional dependency this machine lacks (not a device question)
        skipped.append(f"{name} ({exc.name or exc})")
    except Exception as exc:
        record(f"{name} on {DEVICE} tensors", f"raised {type(exc).__name__}: {exc}")

if skipped:
    print(f"skipped, a module is missing: {skipped}", flush=True)
print(f"{len(failures)} failed: {failures}" if failures else "all agreement checks passed", flush=True)
sys.exit(1 if failures else 0)
PY
step agreement 60 "$PY" -c "$AGREEMENT" "$DEVICE"

step benchmarks.training 170 "$PY" -m benchmarks.training --device "$DEVICE" "${TRAINING_ARGS[@]}"
copy_pages
step benchmarks.diagnostics_collapse 70 "$PY" -m benchmarks.diagnostics_collapse --device "$DEVICE" \
    "${COLLAPSE_ARGS[@]}"
copy_pages
step benchmarks.diagnostics_alignment 50 "$PY" -m benchmarks.diagnostics_alignment --device "$DEVICE" \
    "${ALIGNMENT_ARGS[@]}"
copy_pages

log "=== pages in $OUT_DIR/docs/benchmarks: $(cd "$OUT_DIR/docs/benchmarks" && ls | tr '\n' ' ')"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    log "=== FAILED steps: ${FAILED[*]}"
    exit 1
fi
log "=== every step passed"
