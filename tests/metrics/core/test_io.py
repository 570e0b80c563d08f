"""Tests of the saved-prediction readers: every format, and every kind of bad file."""

import json

import numpy as np
import pandas as pd
import pytest

from metrics import InputError
from metrics.core.io import numeric_matrix, read_arrays, read_json, read_table, select_columns, vector_column


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


# --- column order: file order for names, numeric order for numbers, refuse ambiguity ---

def test_select_columns_keeps_file_order_of_named_suffixes():
    cols = ["prob_zebra", "prob_yak", "prob_ant", "label"]
    assert select_columns(cols, "prob_*", arg="--prob-cols") == ["prob_zebra", "prob_yak", "prob_ant"]


@pytest.mark.parametrize("cols", [["prob_0", "prob_1", "prob_max"], ["prob_1", "prob_01", "prob_2"]])
def test_select_columns_refuses_an_ambiguous_order(cols):
    with pytest.raises(InputError, match="--prob-cols: 'prob_\\*'.*list the columns in order"):
        select_columns(cols, "prob_*", arg="--prob-cols")


def test_select_columns_refuses_a_repeated_name():
    with pytest.raises(InputError, match="listed twice"):
        select_columns(["a", "b"], "a,b,a", arg="--cols")


def test_numeric_matrix_names_the_bad_cell():
    frame = pd.DataFrame({"a": [0.5, 0.6], "b": ["n/a", 0.7]})
    with pytest.raises(InputError, match="--acc-cols: column 'b' must hold numbers; row 0 holds 'n/a'"):
        numeric_matrix(frame, ["a", "b"], arg="--acc-cols")
    got = numeric_matrix(pd.DataFrame({"a": [1, None], "b": [True, False]}), ["a", "b"], arg="x")
    np.testing.assert_array_equal(got, [[1.0, 1.0], [np.nan, 0.0]])


def test_vector_column():
    frame = pd.DataFrame({"probs": [[0.1, 0.9], [0.5, 0.5]], "label": [1, 0]})
    np.testing.assert_array_equal(vector_column(frame, "probs", arg="x"), [[0.1, 0.9], [0.5, 0.5]])
    assert vector_column(frame, "label", arg="x") is None and vector_column(frame, "nope", arg="x") is None
    with pytest.raises(InputError, match="row 1 has 1"):
        vector_column(pd.DataFrame({"p": [[1, 2], [3]]}), "p", arg="x")


# --- NumPy headers are checked before any allocation; messages say what is wrong ---

def _npy_with_header(path, shape, dtype="<f8", payload=b""):
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(payload)


def test_npy_header_claiming_a_huge_shape_is_refused_before_allocation(tmp_path):
    npy = tmp_path / "huge.npy"
    _npy_with_header(npy, (10**12, 3), payload=b"\0" * 48)
    with pytest.raises(InputError, match=r"huge.npy is truncated or corrupt: its header claims shape \(1000000000000, 3\)"):
        read_arrays(npy)
    npz = tmp_path / "huge.npz"
    import zipfile

    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("probs.npy", npy.read_bytes())
    with pytest.raises(InputError, match=r"huge.npz\['probs'\] is truncated or corrupt"):
        read_arrays(npz)


def test_truncated_npy_is_called_truncated(tmp_path):
    npy = tmp_path / "t.npy"
    np.save(npy, np.arange(1000.0))
    npy.write_bytes(npy.read_bytes()[:400])
    with pytest.raises(InputError, match="t.npy is truncated or corrupt") as exc:
        read_arrays(npy)
    assert "unpickl" not in str(exc.value)


def test_file_of_zeros_named_npz_or_npy(tmp_path):
    zeros = tmp_path / "z.npz"
    with open(zeros, "wb") as fh:
        fh.truncate(10 * 2**20)  # a sparse file: reading it must not be needed
    with pytest.raises(InputError, match="z.npz is not an NPZ archive.*zero bytes") as exc:
        read_arrays(zeros)
    assert "unpickl" not in str(exc.value)
    npy = tmp_path / "z.npy"
    npy.write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match="z.npy is not a NumPy .npy array"):
        read_arrays(npy)


# --- text files: streamed once, rejected early with bounded memory ---

@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_binary_or_zero_filled_text_files_are_refused(tmp_path, suffix):
    path = tmp_path / f"hole{suffix}"
    start = {".csv": b"a,b\n1,2\n", ".json": b'[{"a": 1}', ".jsonl": b'{"a": 1}\n'}[suffix]
    with open(path, "wb") as fh:
        fh.write(start)
        fh.truncate(3 * 2**20)  # the rest is a hole of zeros
    with pytest.raises(InputError, match=f"hole{suffix} holds binary data \\(a NUL byte at byte {len(start)}\\)"):
        read_table(path, arg="PREDS")


def test_json_lines_without_line_breaks_are_refused_early(tmp_path, monkeypatch):
    import metrics.core.io as io

    monkeypatch.setattr(io, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "one_line.jsonl"
    path.write_text("[" + ", ".join(["1"] * 2000) + "]")
    with pytest.raises(InputError, match="line 1 of one_line.jsonl is longer than 1 kB"):
        read_table(path)
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"a": 1}\n' * 500)
    assert len(read_table(ok)) == 500
    long_second = tmp_path / "second.jsonl"
    long_second.write_text('{"a": 1}\n{"a": "' + "x" * 2000 + '"}\n{"a": 2}\n')
    with pytest.raises(InputError, match="line 2 of second.jsonl"):
        read_table(long_second)


def test_json_document_must_start_like_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("hello")
    with pytest.raises(InputError, match="x.json is not a JSON document"):
        read_json(path)


def test_select_columns_orders_decimal_suffixes_numerically():
    cols = ["time", "surv_10", "surv_0.5", "surv_2"]
    assert select_columns(cols, "surv_*", arg="x") == ["surv_0.5", "surv_2", "surv_10"]
