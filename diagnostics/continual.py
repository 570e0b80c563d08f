"""Continual-evaluation metrics: min-ACC, WC-ACC, windowed forgetting and plasticity.

De Lange, van de Ven & Tuytelaars, "Continual evaluation for lifelong learning:
Identifying the stability gap", ICLR 2023 (arXiv:2205.13452). The functions take the
per-evaluation-point accuracy matrix ``acc`` (P evaluation points × K tasks; NaN where a
task was not evaluated) and the task being trained at each point, ``current_task``
(non-decreasing, 0-based), and report the value at the last row;
:func:`continual_eval_report` gives every row.

Definitions (k = c_n, the current task at row n):

* min-ACC_n = (1/k) Σ_{i<k} min{A(n′, i) : n′ ≤ n, c_{n′} > i} — the worst accuracy each
  finished task has shown since its training ended; undefined for k = 0.
* WC-ACC_n = A(n, k)/(k+1) + (1 − 1/(k+1))·min-ACC_n (for k = 0 the second term vanishes).
* WF^w_n = mean over tasks i ≤ k (the current one included) of
  F_i = max(0, max_{p<q, q−p ≤ w−1} (a_p − a_q)), where a_1, a_2, … are task i's evaluations
  (its non-NaN entries up to row n): the largest drop inside any window of w evaluation
  points. Windowed plasticity WP^w uses the largest rise a_q − a_p instead.

The authors average in float32; these functions use float64, so they agree with the
released code to about 1e-6.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from diagnostics.monitors import Monitor, Record, Threshold
from metrics.core.errors import InputError
from metrics.core.report import Report
from metrics.core.validation import as_float_array, as_generator, as_label_array, check_int, check_option

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "min_acc",
    "wc_acc",
    "windowed_forgetting",
    "windowed_plasticity",
    "continual_eval_report",
    "ContinualEvalReport",
    "ContinualEvaluationMonitor",
]


def _validate(acc: npt.ArrayLike, current_task: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Coerce and check ``acc`` (P, K) and ``current_task`` (P,)."""
    a = as_float_array(acc, "acc", ndim=2, finite=False, what="accuracies")
    c = as_label_array(current_task, "current_task")
    if c.shape[0] != a.shape[0]:
        raise InputError(f"current_task must have one entry per row of acc; acc has {a.shape[0]} rows, "
                         f"current_task has {c.shape[0]}")
    if np.isinf(a).any():
        i = int(np.flatnonzero(np.isinf(a))[0])
        raise InputError(f"acc must hold accuracies in [0, 1] or NaN; row {i // a.shape[1]}, "
                         f"column {i % a.shape[1]} is {a.flat[i]}")
    with np.errstate(invalid="ignore"):
        out_of_range = (a < 0) | (a > 1)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise InputError(f"acc must hold accuracies in [0, 1] or NaN; row {i // a.shape[1]}, "
                         f"column {i % a.shape[1]} is {a.flat[i]}")
    if c.size > 1 and (np.diff(c) < 0).any():
        n = int(np.flatnonzero(np.diff(c) < 0)[0]) + 1
        raise InputError(f"current_task must be non-decreasing; row {n} is {c[n]} after {c[n - 1]}")
    if c.max() >= a.shape[1]:
        n = int(np.argmax(c >= a.shape[1]))
        raise InputError(f"current_task must be < the number of tasks (acc has {a.shape[1]} columns); "
                         f"row {n} is {c[n]}")
    seen = np.arange(a.shape[1])[None, :] <= c[:, None]
    missing = seen & np.isnan(a)
    if missing.any():
        n, i = divmod(int(np.flatnonzero(missing)[0]), a.shape[1])
        raise InputError(f"acc is missing a seen task: row {n} (current task {c[n]}) has no accuracy "
                         f"for task {i}")
    return a, c


def _min_acc_rows(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """min-ACC for every row (NaN where k = 0), by running minima over rows."""
    tasks = np.arange(a.shape[1])
    finished = c[:, None] > tasks[None, :]
    running_min = np.minimum.accumulate(np.where(finished, a, np.inf), axis=0)
    total = np.where(finished, running_min, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, total / np.maximum(c, 1), np.nan)


def _wc_acc_rows(a: np.ndarray, c: np.ndarray, min_acc_rows: np.ndarray) -> np.ndarray:
    current = a[np.arange(a.shape[0]), c]
    weight = 1.0 / (c + 1.0)
    return current * weight + (1.0 - weight) * np.where(c > 0, min_acc_rows, 0.0)


def _windowed_rows(a: np.ndarray, c: np.ndarray, window: int, sign: float) -> np.ndarray:
    """Per-row, per-task F_i (sign=+1: forgetting, largest drop; −1: plasticity, largest rise).

    For task i, D[q] = max_{1 ≤ d ≤ w−1} sign·(a_{q−d} − a_q) over its own evaluations; the
    value at row n is max(0, running max of D up to the last evaluation at or before n).
    The loop runs over tasks and lags (K·(w−1) vectorised passes), never over rows.
    """
    p, k = a.shape
    out = np.zeros((p, k))
    for i in range(k):
        evaluated = ~np.isnan(a[:, i])
        seq = a[evaluated, i]
        m = seq.size
        if m < 2:
            continue
        best = np.full(m, -np.inf)
        for d in range(1, min(window - 1, m - 1) + 1):
            np.maximum(best[d:], sign * (seq[:-d] - seq[d:]), out=best[d:])
        running = np.maximum(np.maximum.accumulate(best), 0.0)
        count = np.cumsum(evaluated)
        has = count > 0
        out[has, i] = running[count[has] - 1]
    tasks = np.arange(k)
    return np.where(tasks[None, :] <= c[:, None], out, np.nan)


def _mean_over_seen(per_task: np.ndarray, c: np.ndarray) -> np.ndarray:
    seen = np.arange(per_task.shape[1])[None, :] <= c[:, None]
    return np.where(seen, per_task, 0.0).sum(axis=1) / (c + 1.0)


def _check_window(window: object) -> int:
    window = check_int(window, "window")
    if window < 2:
        raise InputError(f"window must be an integer ≥ 2 (it counts evaluation points); got {window}")
    return window


def min_acc(acc: npt.ArrayLike, current_task: npt.ArrayLike, *, on_undefined: Literal["raise", "nan", "none"] = "raise") -> float | None:
    """Average minimum accuracy over finished tasks at the last evaluation point.

    min-ACC_n = (1/k) Σ_{i<k} min{A(n′, i) : n′ ≤ n, c_{n′} > i}, with k = c_n (De Lange
    et al., 2023).

    Parameters
    ----------
    acc : array-like, shape (P, K)
        Accuracy at evaluation point n on task i; NaN where task i was not evaluated.
        Every seen task (i ≤ c_n) must be evaluated.
    current_task : array-like of int, shape (P,)
        Task trained at each evaluation point; non-decreasing and 0-based.
    on_undefined : {"raise", "nan", "none"}
        What to do when k = 0 (no task finished yet): raise :class:`InputError`, return
        ``nan``, or return ``None``.
    """
    check_option(on_undefined, "on_undefined", ("raise", "nan", "none"))
    a, c = _validate(acc, current_task)
    value = float(_min_acc_rows(a, c)[-1])
    if c[-1] == 0:
        if on_undefined == "raise":
            raise InputError("min-ACC is undefined while the first task (current_task 0) is trained: no "
                             "task has finished; pass on_undefined='nan' or 'none' to get a value")
        return None if on_undefined == "none" else float("nan")
    return value


def wc_acc(acc: npt.ArrayLike, current_task: npt.ArrayLike) -> float:
    """Worst-case accuracy at the last evaluation point.

    WC-ACC_n = A(n, k)/(k+1) + (1 − 1/(k+1))·min-ACC_n, with k = c_n; for k = 0 it is the
    current task's accuracy. Parameters as in :func:`min_acc`.
    """
    a, c = _validate(acc, current_task)
    return float(_wc_acc_rows(a, c, _min_acc_rows(a, c))[-1])


def windowed_forgetting(acc: npt.ArrayLike, current_task: npt.ArrayLike, *, window: int = 10,
                        per_task: bool = False) -> float | np.ndarray:
    """Windowed forgetting WF^w at the last evaluation point.

    F_i = max(0, max_{p<q, q−p ≤ w−1} (a_p − a_q)) over task i's evaluations, averaged over
    tasks i ≤ k (the current task included). ``window`` counts evaluation points (≥ 2).
    With ``per_task=True`` returns the (k+1,) array of F_i instead of the mean.
    """
    return _windowed(acc, current_task, window, per_task, sign=1.0)


def windowed_plasticity(acc: npt.ArrayLike, current_task: npt.ArrayLike, *, window: int = 10,
                        per_task: bool = False) -> float | np.ndarray:
    """Windowed plasticity WP^w: as :func:`windowed_forgetting` with the largest rise a_q − a_p."""
    return _windowed(acc, current_task, window, per_task, sign=-1.0)


def _windowed(acc: npt.ArrayLike, current_task: npt.ArrayLike, window: int, per_task: bool, sign: float):
    window = _check_window(window)
    a, c = _validate(acc, current_task)
    rows = _windowed_rows(a, c, window, sign)
    if per_task:
        return rows[-1, : c[-1] + 1].copy()
    return float(_mean_over_seen(rows[-1:], c[-1:])[0])


@dataclasses.dataclass(frozen=True)
class ContinualEvalReport(Report):
    """Continual-evaluation metrics at every evaluation point.

    ``min_acc[n]`` is NaN where undefined (k = 0); ``to_dict`` turns it into ``None``
    only in JSON output. ``forgetting[w]`` and ``plasticity[w]`` are per-row arrays.
    """

    current_task: np.ndarray
    min_acc: np.ndarray
    wc_acc: np.ndarray
    forgetting: dict[int, np.ndarray]
    plasticity: dict[int, np.ndarray]
    acc: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        data: dict[str, object] = {"current_task": self.current_task, "min_acc": self.min_acc, "wc_acc": self.wc_acc}
        for w, v in self.forgetting.items():
            data[f"wf_{w}"] = v
        for w, v in self.plasticity.items():
            data[f"wp_{w}"] = v
        return pd.DataFrame(data)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Accuracy on each task per evaluation point (when the report holds ``acc``), with
        min-ACC and WC-ACC."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        if self.acc is not None:
            for task in range(self.acc.shape[1]):
                ax.plot(self.acc[:, task], label=f"task {task}")
        ax.plot(self.min_acc, "k--", lw=1, label="min-ACC")
        ax.plot(self.wc_acc, "k:", lw=1, label="WC-ACC")
        ax.set_xlabel("evaluation point")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
        return ax


def continual_eval_report(acc: npt.ArrayLike, current_task: npt.ArrayLike, *, windows: Sequence[int] = (10, 100)) -> ContinualEvalReport:
    """min-ACC, WC-ACC, WF^w and WP^w at every evaluation point (see the module docstring)."""
    windows = tuple(_check_window(w) for w in windows)
    a, c = _validate(acc, current_task)
    m = _min_acc_rows(a, c)
    return ContinualEvalReport(
        current_task=c.copy(),
        acc=a.copy(),
        min_acc=m,
        wc_acc=_wc_acc_rows(a, c, m),
        forgetting={w: _mean_over_seen(_windowed_rows(a, c, w, 1.0), c) for w in windows},
        plasticity={w: _mean_over_seen(_windowed_rows(a, c, w, -1.0), c) for w in windows},
    )


class _WindowExtremes:
    """Largest drop (and rise) inside any window of ``w`` evaluations, O(1) amortised per value.

    Monotone deques keep the maximum and the minimum of the previous w − 1 values, so each
    new value a_q gives max_p(a_p) − a_q and a_q − min_p(a_p) without rescanning the window.
    """

    def __init__(self, window: int):
        from collections import deque

        self.span = window - 1
        self.q = 0
        self.maxima: deque = deque()  # (index, value), values decreasing
        self.minima: deque = deque()  # (index, value), values increasing
        self.drop = 0.0
        self.rise = 0.0

    def push(self, value: float) -> None:
        for dq in (self.maxima, self.minima):
            while dq and dq[0][0] < self.q - self.span:
                dq.popleft()
        if self.maxima:
            self.drop = max(self.drop, self.maxima[0][1] - value)
            self.rise = max(self.rise, value - self.minima[0][1])
        while self.maxima and self.maxima[-1][1] <= value:
            self.maxima.pop()
        while self.minima and self.minima[-1][1] >= value:
            self.minima.pop()
        self.maxima.append((self.q, value))
        self.minima.append((self.q, value))
        self.q += 1



class ContinualEvaluationMonitor(Monitor):
    """Continual evaluation during training: accuracy on every seen task every n steps.

    On each due step the monitor draws a fresh random subsample of each seen task's
    held-out set and calls ``eval_fn(model, task, indices) -> accuracy`` for tasks
    0..current_task, then reports min-ACC, WC-ACC, WF^w and WP^w for each window — the same
    numbers :func:`continual_eval_report` gives on the accumulated accuracy matrix. Call it
    at step 0 before the first update (the authors evaluate before training starts).
    Bookkeeping is O(1) amortised per task and window (running minima, monotone deques);
    the forward passes inside ``eval_fn`` are the cost.

    Parameters
    ----------
    eval_fn : callable
        ``eval_fn(model, task, indices)`` returning the accuracy in [0, 1] of ``model`` on
        the held-out examples ``indices`` of task ``task`` (``indices`` is None when
        ``task_sizes`` is not given: evaluate the whole set).
    every_n_steps : int
        Evaluation frequency in optimizer steps (the authors evaluate every step).
    windows : sequence of int
        Windows of WF^w / WP^w, counted in evaluation points (each ≥ 2).
    subsample : int or None
        Examples drawn per task and evaluation (without replacement); None = all.
    seed : int
        Seed of the subsampling generator.
    task_sizes : sequence of int, optional
        Held-out set size of each task, needed to draw ``indices`` (our addition; without it
        ``eval_fn`` receives ``indices=None``).
    **kwargs
        ``thresholds``, ``on_alert``, ``log_fn`` of :class:`~diagnostics.Monitor`.

    ``on_step(step, model=model, current_task=k)``; ``.acc_matrix()`` returns the (P, K)
    matrix evaluated so far.
    """

    name = "continual"

    def __init__(self, eval_fn: Callable[[object, int, np.ndarray | None], float], *, every_n_steps: int = 1, windows: Sequence[int] = (10, 100),
                 subsample: int | None = 1000, seed: int = 0, task_sizes: Sequence[int] | None = None,
                 thresholds: Mapping[str, Threshold] | None = None,
                 on_alert: Literal["warn", "raise", "ignore"] = "warn", log_fn: Callable[[Record], object] | None = None):
        if not callable(eval_fn):
            raise InputError(f"eval_fn must be callable as eval_fn(model, task, indices); got {eval_fn!r}")
        self.eval_fn = eval_fn
        self.windows = tuple(_check_window(w) for w in windows)
        self.subsample = None if subsample is None else check_int(subsample, "subsample", min_value=1)
        self.task_sizes = None if task_sizes is None else [check_int(s, "task_sizes", min_value=1) for s in task_sizes]
        self.seed = seed
        super().__init__(every_n_steps=every_n_steps, thresholds=thresholds, on_alert=on_alert, log_fn=log_fn)

    def reset(self) -> None:
        super().reset()
        self._rng = as_generator(self.seed)
        self._rows: list[list[float]] = []
        self._tasks: list[int] = []
        self._finished_min: list[float] = []  # running min of task i since it finished
        self._extremes: list[dict[int, _WindowExtremes]] = []

    def _indices(self, task: int):
        if self.task_sizes is None:
            return None
        if task >= len(self.task_sizes):
            raise InputError(f"task_sizes has {len(self.task_sizes)} entries; no size for task {task}")
        size = self.task_sizes[task]
        if self.subsample is None or self.subsample >= size:
            return np.arange(size)
        return np.sort(self._rng.choice(size, self.subsample, replace=False))

    def compute(self, *, model: object = None, current_task: int) -> Record:
        k = check_int(current_task, "current_task", min_value=0)
        if self._tasks and k < self._tasks[-1]:
            raise InputError(f"current_task must be non-decreasing; got {k} after {self._tasks[-1]}")
        row = []
        for task in range(k + 1):
            value = float(self.eval_fn(model, task, self._indices(task)))
            if not (0.0 <= value <= 1.0):
                raise InputError(f"eval_fn must return an accuracy in [0, 1]; task {task} gave {value}")
            row.append(value)
        while len(self._extremes) <= k:
            self._extremes.append({w: _WindowExtremes(w) for w in self.windows})
            self._finished_min.append(math.inf)
        for task, value in enumerate(row):
            for tracker in self._extremes[task].values():
                tracker.push(value)
            if task < k:
                self._finished_min[task] = min(self._finished_min[task], value)
        self._rows.append(row)
        self._tasks.append(k)
        min_acc_value = math.fsum(self._finished_min[:k]) / k if k > 0 else None
        weight = 1.0 / (k + 1)
        record: Record = {"current_task": k}
        record.update({f"acc_task_{t}": v for t, v in enumerate(row)})
        record["min_acc"] = min_acc_value
        record["wc_acc"] = row[k] * weight + (1 - weight) * (min_acc_value or 0.0)
        for w in self.windows:
            record[f"wf_{w}"] = math.fsum(self._extremes[t][w].drop for t in range(k + 1)) / (k + 1)
            record[f"wp_{w}"] = math.fsum(self._extremes[t][w].rise for t in range(k + 1)) / (k + 1)
        return record

    def acc_matrix(self) -> np.ndarray:
        """The (P, K) accuracy matrix of the evaluations so far (NaN for unseen tasks)."""
        width = max((len(r) for r in self._rows), default=0)
        out = np.full((len(self._rows), width), np.nan)
        for n, row in enumerate(self._rows):
            out[n, : len(row)] = row
        return out

