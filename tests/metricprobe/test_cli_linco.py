"""``metricprobe linco``: matrix files, end to end from cases, JSON, errors, demo."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metricprobe.cli import main
from metrics import linco

P = np.array([[6.0, 12.0, 3.0], [12.0, 12.0, 4.0], [24.0, 12.0, 5.0]])


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_npz_with_baseline(tmp_path, capsys):
    f = tmp_path / "p.npz"
    B = np.stack([P[[0, 0, 1]], P[[1, 1, 2]]])
    np.savez(f, P=P, B=B)
    assert main(["linco", str(f), "--predictions", "P", "--baseline", "B", "--dispersion", "var_pop", "--json"]) == 0
    out = _json(capsys)
    want = linco(P, dispersion="var_pop", baseline=list(B))
    assert out["value"] == pytest.approx(want, abs=1e-12) and "per_case" not in out
    assert out["status"] == "reimplementation" and out["ci_low"] is not None


def test_npy_and_transpose_and_table(tmp_path, capsys):
    f = tmp_path / "p.npy"
    np.save(f, P.T)
    assert main(["linco", str(f), "--transpose", "--per-case"]) == 0
    table = capsys.readouterr().out
    assert "std_log1p" in table and f"{linco(P):.4f}" in table
    out = tmp_path / "r.json"
    assert main(["linco", str(f), "--transpose", "--json", "--per-case", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data == _json(capsys) and len(data["per_case"]) == 3
    png = tmp_path / "hist.png"
    assert main(["linco", str(f), "--transpose", "--plot", str(png)]) == 0
    assert png.stat().st_size > 1000


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_hold_one_column_per_group(tmp_path, capsys, suffix):
    frame = pd.DataFrame(P.T, columns=["north", "south", "west"])
    frame["case"] = ["a", "b", "c"]
    f = tmp_path / f"p{suffix}"
    frame.to_csv(f, index=False) if suffix == ".csv" else frame.to_parquet(f)
    assert main(["linco", str(f), "--columns", "north,south,west", "--dispersion", "mean_abs_pairwise",
                 "--json"]) == 0
    assert _json(capsys)["value"] == pytest.approx(linco(P, dispersion="mean_abs_pairwise"))


def test_classification_strings_in_csv(tmp_path, capsys):
    f = tmp_path / "charges.csv"
    pd.DataFrame({"m0": ["theft", "fraud"], "m1": ["theft", "theft"], "m2": ["robbery", "theft"]}).to_csv(f, index=False)
    assert main(["linco", str(f), "--task", "classification", "--columns", "m*", "--json"]) == 0
    assert _json(capsys)["value"] == pytest.approx(2 / 3, abs=1e-12)  # each case: one pair of three agrees


def test_end_to_end_from_cases(tmp_path, capsys):
    from reference_models import linco_sample_path

    out = tmp_path / "r.json"
    args = ["linco", "--data", str(linco_sample_path()), "--group-col", "region", "--target-col", "term",
            "--text-col", "facts", "--n-repeats", "2", "--json", "--out", str(out)]
    assert main(args) == 0
    data = _json(capsys)
    assert data["groups"] == ["east", "north", "south", "west"] and data["value"] > 0.05
    assert json.loads(out.read_text()) == data


def test_end_to_end_numeric_features(tmp_path, capsys):
    from reference_models import make_linco_synthetic

    X, y, g = make_linco_synthetic(0.45, n_per_group=40)
    f = tmp_path / "cases.csv"
    pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "x3": X[:, 3], "x4": X[:, 4], "court": g,
                  "term": y}).to_csv(f, index=False)
    assert main(["linco", "--data", str(f), "--group-col", "court", "--target-col", "term", "--feature-cols", "x*",
                 "--n-repeats", "2"]) == 0
    text = capsys.readouterr().out
    assert "LInCo (corrected)" in text and "training cases" in text


@pytest.mark.parametrize("args, match", [
    ([], "either PREDICTIONS"),
    (["{npz}", "--data", "{csv}"], "either PREDICTIONS"),
    (["{missing}"], "does not exist"),
    (["{npz}", "--predictions", "Q"], "key 'Q' not in"),
    (["{nan}"], "finite"),
    (["{one_row}"], "K ≥ 2"),
    (["{csv}", "--baseline", "B"], "need an NPZ"),
    (["--data", "{csv}", "--group-col", "g"], "--target-col"),
    (["--data", "{csv}", "--group-col", "g", "--target-col", "y"], "exactly one of --text-col"),
    (["--data", "{csv}", "--group-col", "nope", "--target-col", "y", "--feature-cols", "m0"], "'nope' not found"),
    (["{npz}", "--group-col", "g"], "only apply with --data"),
])
def test_bad_input_exits_2(tmp_path, capsys, args, match):
    paths = {"npz": tmp_path / "p.npz", "csv": tmp_path / "p.csv", "missing": tmp_path / "none.npz",
             "nan": tmp_path / "nan.npy", "one_row": tmp_path / "one.npy"}
    np.savez(paths["npz"], P=P)
    pd.DataFrame({"m0": [1.0, 2.0], "m1": [2.0, 3.0], "g": [0, 1], "y": [1.0, 2.0]}).to_csv(paths["csv"], index=False)
    np.save(paths["nan"], np.array([[1.0, np.nan], [1.0, 2.0]]))
    np.save(paths["one_row"], np.array([[1.0, 2.0]]))
    argv = ["linco"] + [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err


def test_demo_section():
    from metricprobe.cli import linco as command

    text = command.demo_section()
    assert "LInCo (corrected)" in text and "west" in text and command.DEMO_ORDER == 50


def test_table_needs_judge_columns_and_never_takes_an_id_column(tmp_path, capsys):
    rng = np.random.default_rng(3)
    P = rng.gamma(2.0, 10.0, size=(3, 40))
    f = tmp_path / "preds.csv"
    frame = pd.DataFrame({"case_id": np.arange(1000, 1040)})
    for name, row in zip(["judge_b", "judge_a", "judge_c"], P):
        frame[name] = row
    frame.to_csv(f, index=False)
    assert main(["linco", str(f), "--json"]) == 2
    err = capsys.readouterr().err
    assert "--columns: name the judge" in err and "case_id" in err
    assert main(["linco", str(f), "--columns", "judge_*", "--json"]) == 0
    data = _json(capsys)
    assert data["value"] == pytest.approx(linco(P), abs=1e-12)
    assert data["judge_columns"] == ["judge_b", "judge_a", "judge_c"]
    assert main(["linco", str(f), "--columns", "judge_*"]) == 0
    assert "judge columns judge_b, judge_a, judge_c" in capsys.readouterr().out
