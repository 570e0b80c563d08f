"""Run a torchmetrics Metric over shards in two ``gloo`` processes and return its value.

Used by every Metric test to prove that ``compute()`` after a cross-process merge
equals the functional value on all data::

    from tests.distributed import compute_distributed
    value = compute_distributed("metrics.CalibrationError", {"n_bins": 10},
                                shards=[[(p0, y0)], [(p1, y1), (p2, y2)]])

``shards[r]`` is the list of ``update(*args)`` argument tuples that rank ``r`` feeds
(numpy arrays; they are turned into CPU tensors in the worker). The result is
``compute()`` on rank 0, converted to numpy / Python values.

A rank may get no batch at all (``shards=[[...], []]``): uneven shards at the end of
an epoch, where that rank never calls ``update()``. :func:`compute_with_empty_rank`
runs every batch on one rank and none on the other, both ways round, and
:func:`union` concatenates the batches for the functional value to compare with::

    batches = [(p0, y0), (p1, y1)]
    check_empty_rank("metrics.CalibrationError", {}, batches, calibration_error(*union(batches)))

A collective that cannot complete (one rank raised, or a process aborted) fails the
test after ``timeout_s`` seconds instead of hanging it.
"""

from __future__ import annotations

import datetime
import importlib
import os
import pickle
import socket
import tempfile
from typing import Any

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _to_tensor(value: Any):
    import torch

    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


def _to_python(value: Any):
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
        return value.item() if value.ndim == 0 else value
    if isinstance(value, dict):
        return {k: _to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_python(v) for v in value)
    return value


def _worker(rank: int, world: int, port: int, target: str, kwargs: dict, shards: list, out_dir: str,
            timeout_s: float = 120.0) -> None:
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout_s))
    try:
        module_name, cls_name = target.rsplit(".", 1)
        metric = getattr(importlib.import_module(module_name), cls_name)(**kwargs)
        for args in shards[rank]:
            metric.update(*[_to_tensor(a) for a in args])
        value = _to_python(metric.compute())
        with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as fh:
            pickle.dump(value, fh)
    finally:
        dist.destroy_process_group()


def compute_distributed_all(target: str, kwargs: dict, shards: list[list[tuple]], world_size: int = 2,
                            timeout_s: float = 120.0) -> list:
    """``compute()`` of ``target(**kwargs)`` on every rank after each rank updates with its shards.

    ``target`` is ``"module.Class"`` (or ``"module.factory"``) importable in a fresh
    process. ``shards[r]`` may be empty: rank ``r`` then never calls ``update()``.
    """
    import torch.multiprocessing as mp

    assert len(shards) == world_size, f"{len(shards)} shards for {world_size} ranks"
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_worker, args=(world_size, _free_port(), target, kwargs, shards, out_dir, timeout_s),
                 nprocs=world_size, join=True)
        values = []
        for r in range(world_size):
            with open(os.path.join(out_dir, f"rank{r}.pkl"), "rb") as fh:  # our own file, written above
                values.append(pickle.load(fh))
    return values


def compute_distributed(target: str, kwargs: dict, shards: list[list[tuple]], world_size: int = 2,
                        timeout_s: float = 120.0):
    """``compute()`` of ``target(**kwargs)`` after each rank updates with its shards.

    Returns rank 0's value; asserts every rank computed a value of the same type.
    """
    values = compute_distributed_all(target, kwargs, shards, world_size=world_size, timeout_s=timeout_s)
    assert len({type(v) for v in values}) == 1, f"ranks computed different types: {values}"
    return values[0]


def compute_with_empty_rank(target: str, kwargs: dict, batches: list[tuple], timeout_s: float = 120.0) -> list:
    """``compute()`` over two ranks where one rank gets every batch and the other none.

    Runs both arrangements (rank 1 empty, then rank 0 empty) and returns the two values
    each rank 0 computed; every rank must agree within an arrangement (asserted).
    """
    results = []
    for empty in (1, 0):
        shards: list[list[tuple]] = [[], []]
        shards[1 - empty] = list(batches)
        values = compute_distributed_all(target, kwargs, shards, timeout_s=timeout_s)
        _assert_same(values[0], values[1], f"rank 0 and rank 1 disagree with rank {empty} empty")
        results.append(values[0])
    return results


def check_empty_rank(target: str, kwargs: dict, batches: list[tuple], expected: Any, *, rtol: float = 1e-12,
                     atol: float = 0.0, timeout_s: float = 120.0) -> None:
    """Assert that ``compute()`` with one rank empty (both ways round) equals ``expected``.

    ``expected`` is the functional value on ``union(batches)`` (a number, array or dict of them).
    """
    for empty, value in zip((1, 0), compute_with_empty_rank(target, kwargs, batches, timeout_s=timeout_s)):
        _assert_close(value, expected, rtol, atol, f"{target} with rank {empty} empty")


def union(batches: list[tuple]) -> tuple:
    """The batches concatenated along their first axis, argument by argument.

    ``union([(p0, y0), (p1, y1)]) == (concat(p0, p1), concat(y0, y1))``; for the
    functional value on all the data the ranks saw.
    """
    assert batches, "no batches"
    return tuple(np.concatenate([np.asarray(b[i]) for b in batches]) for i in range(len(batches[0])))


def _assert_close(a: Any, b: Any, rtol: float, atol: float, what: str) -> None:
    if isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys(), what
        for k in b:
            _assert_close(a[k], b[k], rtol, atol, f"{what} ({k})")
    else:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=what)


def _assert_same(a: Any, b: Any, what: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), what
        for k in a:
            _assert_same(a[k], b[k], f"{what} ({k})")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), what
        for x, y in zip(a, b):
            _assert_same(x, y, what)
    elif isinstance(a, (np.ndarray, float, int, np.generic)):
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                   rtol=1e-12, atol=0, equal_nan=True, err_msg=what)
    else:
        assert a == b, what
