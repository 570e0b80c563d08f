"""Dask inputs: a ``dask.dataframe.DataFrame`` or a path glob of Parquet / JSON Lines / CSV shards."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from metrics.core.errors import InputError

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = ["as_dask_frame", "check_columns", "import_dask", "local_shuffle", "parquet_batches", "parquet_files",
           "partition_arrays", "reduce_states"]

M = TypeVar("M")


def import_dask() -> None:
    """Fail with an InputError saying how to install the extra when dask is missing."""
    try:
        import dask  # noqa: F401
        import dask.dataframe  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise InputError("data: scoring on Dask needs the dask extra: pip install 'metricprobe[dask]'") from exc


def as_dask_frame(data: dd.DataFrame | str, name: str = "data") -> dd.DataFrame:
    """``data`` as a Dask DataFrame; a string is a path glob read by its extension."""
    import_dask()
    import dask.dataframe as dd

    if isinstance(data, dd.DataFrame):
        return data
    if isinstance(data, str):
        lower = data.lower()
        try:
            if lower.endswith((".parquet", ".pq")) or lower.endswith("/"):
                return dd.read_parquet(data)
            # pandas' default float parsers are off by an ulp now and then; parse exactly, as json does
            if lower.endswith((".jsonl", ".ndjson")):
                return dd.read_json(data, lines=True, blocksize=None, precise_float=True)
            if lower.endswith(".csv"):
                return dd.read_csv(data, float_precision="round_trip")
        except (OSError, ValueError) as exc:
            raise InputError(f"{name}: cannot read {data!r}: {exc}") from exc
        raise InputError(f"{name}: a path glob must end in .parquet, .jsonl or .csv; got {data!r}")
    raise InputError(f"{name} must be a dask.dataframe.DataFrame or a path glob; got {type(data).__name__}")


def parquet_files(data: object, name: str = "data") -> tuple[object, list[str], list[str]] | None:
    """The file system, files and (first file's) column names of a Parquet path glob; None for anything else.

    A function whose state needs
    only a stream of rows reads such files itself with PyArrow (:func:`parquet_batches`),
    skipping the pandas partition a Dask DataFrame would build.
    """
    if not isinstance(data, str) or not data.lower().endswith((".parquet", ".pq")):
        return None
    import fsspec
    import pyarrow.parquet as pq

    try:
        fs, _, paths = fsspec.core.get_fs_token_paths(data, mode="rb")
        files = sorted(paths)
        if not files:
            raise InputError(f"{name}: no file matches {data!r}")
        with fs.open(files[0], "rb") as fh:
            names = pq.read_schema(fh).names
    except (OSError, ValueError) as exc:
        raise InputError(f"{name}: cannot read {data!r}: {exc}") from exc
    return fs, files, list(names)


def parquet_batches(fs: object, path: str, columns: Sequence[str], rows: int) -> Iterator[list[np.ndarray]]:
    """The ``columns`` of one Parquet file as numpy arrays, ``rows`` rows at a time.

    Numeric columns without nulls are views of Arrow's buffers (read-only); columns with
    nulls become float arrays with NaN, so the caller's validation names them.
    """
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as fh:  # type: ignore[attr-defined]
        parquet = pq.ParquetFile(fh)
        missing = [c for c in columns if c not in parquet.schema_arrow.names]
        if missing:
            raise InputError(f"data: no column {missing[0]!r} in {path} (columns: {parquet.schema_arrow.names})")
        for batch in parquet.iter_batches(batch_size=rows, columns=list(columns)):
            yield [batch.column(i).to_numpy(zero_copy_only=False) for i in range(len(columns))]


def check_columns(frame: dd.DataFrame | Sequence[str], columns: Sequence[str], name: str) -> list[str]:
    """The named columns, each present in ``frame`` (or in a list of column names), order kept as given."""
    if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
        raise InputError(f"{name} must be a non-empty list of column names; got {columns!r}")
    available = list(frame) if isinstance(frame, (list, tuple)) else list(frame.columns)  # type: ignore[union-attr]
    missing = [c for c in columns if c not in available]
    if missing:
        raise InputError(f"{name}: no column {missing[0]!r} in the data (columns: {available})")
    if len(set(columns)) != len(columns):
        raise InputError(f"{name}: a column is named twice in {list(columns)}")
    return list(columns)


def partition_arrays(part: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The partition's ``columns`` as a new C-ordered array (never a view of the frame)."""
    return np.array(part[list(columns)].to_numpy(), copy=True, order="C")


def reduce_states(frame: dd.DataFrame, shard_state: Callable[[pd.DataFrame], M], scheduler: str | None) -> M:
    """Map every partition to a Metric state and merge the states in a balanced tree on the cluster."""
    import dask

    from metrics.distributed._states import merge_states, tree_reduce

    parts = [dask.delayed(shard_state)(p) for p in frame.to_delayed()]
    root = tree_reduce(parts, dask.delayed(merge_states))
    (merged,) = dask.compute(root, scheduler=scheduler)
    return merged  # type: ignore[no-any-return]


def local_shuffle(scheduler: str | None) -> contextlib.AbstractContextManager[object]:
    """Use Dask's task-based shuffle when a local scheduler is named.

    While a ``dask.distributed`` Client exists, Dask's default shuffle is the peer-to-peer
    one, which runs only on that cluster's workers; a computation sent to a local
    scheduler (``"synchronous"``, ``"threads"``, ``"processes"``) needs the task-based
    shuffle. Wrap both the building and the computing of the graph.
    """
    if scheduler is None:
        return contextlib.nullcontext()
    import dask

    return dask.config.set({"dataframe.shuffle.method": "tasks"})
