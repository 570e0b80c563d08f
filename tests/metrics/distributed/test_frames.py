"""Path globs are read with exact float parsing: every value equals the number written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")

from metrics.distributed._frames import as_dask_frame  # noqa: E402


def _values(n=2000, seed=3):
    return np.random.default_rng(seed).random(n)


def test_jsonl_glob_reads_every_float_exactly(tmp_path):
    v = _values()
    for part, chunk in enumerate(np.array_split(v, 2)):
        (tmp_path / f"part-{part}.jsonl").write_text("".join(json.dumps({"p": float(x)}) + "\n" for x in chunk))
    got = as_dask_frame(str(tmp_path / "*.jsonl")).compute(scheduler="synchronous")["p"].to_numpy()
    np.testing.assert_array_equal(got, v)  # pandas' default JSON float parser misses some by an ulp


def test_csv_glob_reads_every_float_exactly(tmp_path):
    v = _values()
    for part, chunk in enumerate(np.array_split(v, 2)):
        pd.DataFrame({"p": chunk}).to_csv(tmp_path / f"part-{part}.csv", index=False, float_format="%.17g")
    got = as_dask_frame(str(tmp_path / "*.csv")).compute(scheduler="synchronous")["p"].to_numpy()
    np.testing.assert_array_equal(got, v)  # pandas' default CSV float parser misses about a third by an ulp
