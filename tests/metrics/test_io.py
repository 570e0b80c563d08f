"""Tests of the saved-prediction readers: every format, and every kind of bad file."""

import json

import numpy as np
import pandas as pd
import pytest

from metrics import InputError
from metrics.core.io import read_arrays, read_json, read_table, select_columns


@pytest.fixture()
def frame():
    return pd.DataFrame({"prob_0": [0.2, 0.7], "prob_1": [0.8, 0.3], "label": [1, 0]})


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl", ".json", ".npz"])
def test_read_table_roundtrip(tmp_path, frame, suffix):
    path = tmp_path / f"preds{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        path.write_text(json.dumps(frame.to_dict(orient="list")))
    else:
        np.savez(path, **{c: frame[c].to_numpy() for c in frame.columns})
    got = read_table(path)
    assert list(got.columns) == list(frame.columns)
    np.testing.assert_allclose(got[["prob_0", "prob_1"]].to_numpy(), frame[["prob_0", "prob_1"]].to_numpy())
    np.testing.assert_array_equal(got["label"].to_numpy(), [1, 0])


def test_json_records_and_npz_2d(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"a": 1, "b": 2}, {"a": 3, "b": 4}]))
    assert read_table(path)["b"].tolist() == [2, 4]
    npz = tmp_path / "p.npz"
    np.savez(npz, probs=np.eye(3), labels=np.arange(3))
    arrays = read_arrays(npz)
    assert arrays["probs"].shape == (3, 3)
    npy = tmp_path / "e.npy"
    np.save(npy, np.ones((4, 2)))
    assert read_arrays(npy)["array"].shape == (4, 2)


def test_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="never unpickled"):
        read_arrays(path)
    npy = tmp_path / "evil.npy"
    np.save(npy, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="without unpickling"):
        read_arrays(npy)


def test_truncated_and_malformed_files(tmp_path, frame):
    npz = tmp_path / "t.npz"
    np.savez(npz, probs=np.random.default_rng(0).random((1000, 10)))
    npz.write_bytes(npz.read_bytes()[:500])
    with pytest.raises(InputError, match="t.npz"):
        read_arrays(npz)
    pq = tmp_path / "t.parquet"
    frame.to_parquet(pq)
    pq.write_bytes(pq.read_bytes()[:40])
    with pytest.raises(InputError, match="could not read t.parquet"):
        read_table(pq)
    js = tmp_path / "t.json"
    js.write_text('{"a": [1, 2')
    with pytest.raises(InputError, match="not valid JSON"):
        read_json(js)
    jl = tmp_path / "t.jsonl"
    jl.write_text('{"a": 1}\n{"a": ')
    with pytest.raises(InputError, match="could not read t.jsonl"):
        read_table(jl)
    csv = tmp_path / "empty.csv"
    csv.write_text("")
    with pytest.raises(InputError, match="empty.csv"):
        read_table(csv)
    header_only = tmp_path / "h.csv"
    header_only.write_text("a,b\n")
    with pytest.raises(InputError, match="h.csv has no rows"):
        read_table(header_only)


def test_missing_directory_and_wrong_extension(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_table(tmp_path / "nope.csv", arg="PREDS")
    with pytest.raises(InputError, match="is a directory"):
        read_table(tmp_path)
    bad = tmp_path / "preds.xlsx"
    bad.write_text("x")
    with pytest.raises(InputError, match=r"PREDS: unsupported file type '.xlsx'"):
        read_table(bad, arg="PREDS")


def test_select_columns():
    cols = ["label", "prob_10", "prob_2", "prob_0", "prob_1"]
    assert select_columns(cols, "prob_*", arg="--prob-cols") == ["prob_0", "prob_1", "prob_2", "prob_10"]
    assert select_columns(cols, "prob_1, label", arg="--prob-cols") == ["prob_1", "label"]
    with pytest.raises(InputError, match="--label-col: column\\(s\\) 'y' not found"):
        select_columns(cols, "y", arg="--label-col")
    with pytest.raises(InputError, match="no column matches 'p_\\*'"):
        select_columns(cols, "p_*", arg="--prob-cols")
