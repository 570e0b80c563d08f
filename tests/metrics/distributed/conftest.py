"""One two-process LocalCluster (loopback only) shared by every test that needs a real cluster."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def local_client():
    """A ``dask.distributed.Client`` on ``LocalCluster(n_workers=2, processes=True)`` on 127.0.0.1."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}
                                  ) as cluster, distributed.Client(cluster) as client:
        yield client
