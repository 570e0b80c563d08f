"""Run a torchmetrics Metric over shards in two ``gloo`` processes and return its value.

Used by every Metric test to prove that ``compute()`` after a cross-process merge
equals the functional value on all data::

    from tests.distributed import compute_distributed
    value = compute_distributed("metrics.CalibrationError", {"n_bins": 10},
                                shards=[[(p0, y0)], [(p1, y1), (p2, y2)]])

``shards[r]`` is the list of ``update(*args)`` argument tuples that rank ``r`` feeds
(numpy arrays; they are turned into CPU tensors in the worker). The result is
``compute()`` on rank 0, converted to numpy / Python values.
"""

from __future__ import annotations

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


def _worker(rank: int, world: int, port: int, target: str, kwargs: dict, shards: list, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
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


def compute_distributed(target: str, kwargs: dict, shards: list[list[tuple]], world_size: int = 2):
    """``compute()`` of ``target(**kwargs)`` after each rank updates with its shards.

    Returns rank 0's value; asserts every rank computed the same value type.
    """
    import torch.multiprocessing as mp

    assert len(shards) == world_size
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_worker, args=(world_size, _free_port(), target, kwargs, shards, out_dir),
                 nprocs=world_size, join=True)
        values = []
        for r in range(world_size):
            with open(os.path.join(out_dir, f"rank{r}.pkl"), "rb") as fh:  # our own file, written above
                values.append(pickle.load(fh))
    return values[0]
