"""``metricprobe calibration`` and its demo section."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metricprobe.cli import main
from metrics import calibration_error
from tests.metrics.calibration._calibration_cases import make_case


@pytest.fixture()
def preds():
    return make_case("random", k=3, n=400, seed=2)


def _frame(p, y):
    f = pd.DataFrame({f"prob_{k}": p[:, k] for k in range(p.shape[1])})
    f["label"] = y
    return f


def test_npz_table_and_json(tmp_path, preds, capsys):
    p, y = preds
    path = tmp_path / "preds.npz"
    np.savez(path, probs=p, labels=y)
    assert main(["calibration", str(path), "--n-bins", "10"]) == 0
    out = capsys.readouterr().out
    assert "ECE" in out and "smooth ECE" in out and "Brier" in out and "reliability table" in out
    assert f"{calibration_error(p, y, n_bins=10):.4f}" in out
    assert main(["calibration", str(path), "--n-bins", "10", "--json", "--bootstrap", "30",
                 "--out", str(tmp_path / "r.json")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics"]["ece"] == pytest.approx(calibration_error(p, y, n_bins=10), abs=1e-15)
    assert data["metrics"]["brier"] == pytest.approx(np.mean(np.sum((p - np.eye(3)[y]) ** 2, axis=1)), abs=1e-12)
    lo, hi = data["ci"]["ece"]
    assert lo <= data["metrics"]["ece"] <= hi
    assert json.loads((tmp_path / "r.json").read_text()) == data


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_tables_and_options(tmp_path, preds, capsys, fmt):
    p, y = preds
    f = _frame(p, y)
    path = tmp_path / f"preds.{fmt}"
    {"csv": lambda: f.to_csv(path, index=False), "parquet": lambda: f.to_parquet(path),
     "jsonl": lambda: f.to_json(path, orient="records", lines=True)}[fmt]()
    assert main(["calibration", str(path), "--json", "--binning", "quantile", "--scope", "classwise"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics"]["ece"] == pytest.approx(
        calibration_error(p, y, binning="quantile", scope="classwise"), abs=1e-9)  # JSON keeps ~10 digits
    assert data["metrics"]["smooth_ece"] is None


def test_custom_columns_keys_and_plot(tmp_path, preds, capsys):
    p, y = preds
    f = _frame(p, y).rename(columns={"prob_0": "a", "prob_1": "b", "prob_2": "c", "label": "y"})
    path = tmp_path / "p.csv"
    f.to_csv(path, index=False)
    assert main(["calibration", str(path), "--prob-cols", "a,b,c", "--label-col", "y", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["ece"] == pytest.approx(calibration_error(p, y), abs=1e-12)
    npz = tmp_path / "p.npz"
    np.savez(npz, P=p, Y=y)
    png = tmp_path / "rel.png"
    assert main(["calibration", str(npz), "--probs-key", "P", "--labels-key", "Y", "--plot", str(png)]) == 0
    assert png.stat().st_size > 1000
    one = tmp_path / "bin.csv"  # one probability column = positive class
    pd.DataFrame({"prob_1": p[:, 1] / (p[:, 0] + p[:, 1]), "label": (y == 1).astype(int)}).to_csv(one, index=False)
    assert main(["calibration", str(one), "--scope", "positive_class", "--json"]) == 0


def _bad_files(tmp_path, p, y):
    files = {}
    f = _frame(p, y)
    files["missing_label"] = tmp_path / "nolabel.csv"
    f.drop(columns="label").to_csv(files["missing_label"], index=False)
    files["missing_probs"] = tmp_path / "noprob.csv"
    f[["label"]].to_csv(files["missing_probs"], index=False)
    bad = f.copy()
    bad.loc[5, "prob_0"] += 0.5
    files["row_sum"] = tmp_path / "rowsum.csv"
    bad.to_csv(files["row_sum"], index=False)
    nan = f.copy()
    nan.loc[7, "prob_1"] = np.nan
    files["nan"] = tmp_path / "nan.csv"
    nan.to_csv(files["nan"], index=False)
    good = tmp_path / "good.npz"
    np.savez(good, probs=p, labels=y)
    files["truncated_npz"] = tmp_path / "trunc.npz"
    files["truncated_npz"].write_bytes(good.read_bytes()[:300])
    f.to_parquet(tmp_path / "good.parquet")
    files["truncated_parquet"] = tmp_path / "trunc.parquet"
    files["truncated_parquet"].write_bytes((tmp_path / "good.parquet").read_bytes()[:200])
    files["wrong_ext"] = tmp_path / "preds.xlsx"
    files["wrong_ext"].write_text("x")
    files["npz_key"] = tmp_path / "keys.npz"
    np.savez(files["npz_key"], scores=p, labels=y)
    files["missing_file"] = tmp_path / "nope.npz"
    files["bad_labels"] = tmp_path / "labels.csv"
    lab = f.copy()
    lab["label"] = lab["label"].astype(float) + 0.5
    lab.to_csv(files["bad_labels"], index=False)
    return files


@pytest.mark.parametrize("kind,needle", [
    ("missing_label", "label"), ("missing_probs", "prob"), ("row_sum", "row 5"), ("nan", "probs"),
    ("truncated_npz", "truncated"), ("truncated_parquet", "trunc.parquet"), ("wrong_ext", "unsupported"),
    ("npz_key", "probs"), ("missing_file", "does not exist"), ("bad_labels", "labels")])
def test_bad_files_exit_2_with_one_line(tmp_path, preds, capsys, kind, needle):
    p, y = preds
    path = _bad_files(tmp_path, p, y)[kind]
    assert main(["calibration", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert needle in err


def test_bad_options_exit_2(tmp_path, preds, capsys):
    p, y = preds
    path = tmp_path / "p.npz"
    np.savez(path, probs=p, labels=y)
    assert main(["calibration", str(path), "--n-bins", "0"]) == 2
    assert "--n-bins must be" in capsys.readouterr().err  # the CLI flag, not the Python parameter
    assert main(["calibration", str(path), "--confidence", "1.5", "--bootstrap", "5"]) == 2


def test_demo_section():
    from metricprobe.cli import calibration as cmd

    text = cmd.demo_section()
    assert "ECE" in text and "CI lo" in text and "over-confident" in text
    with np.load(cmd.sample_path(), allow_pickle=False) as d:
        p, y = d["probs"], d["labels"]
    assert p.shape == (5000, 10) and cmd.DEMO_ORDER == 10
    assert f"{calibration_error(p, y):.4f}" in text
    from reference_models.data.make_calibration_sample import make

    p2, y2 = make()
    # the bundled file is what the generator makes, up to the last bit of libm's exp on the
    # machine that wrote it: one float32 ulp for the probabilities, and a label drawn against
    # a cumulative sum may move only for a row on the edge of a draw
    np.testing.assert_allclose(p, p2, rtol=0, atol=2.0 ** -24)
    assert np.mean(y == y2) >= 0.999


def test_named_probability_columns_keep_file_order(tmp_path, capsys):
    """Columns prob_zebra, prob_yak, ... are classes 0-4 in file order, never alphabetical."""
    names = ["zebra", "yak", "ant", "moth", "bee"]
    p, y = make_case("random", k=5, n=600, seed=4)
    frame = pd.DataFrame({f"prob_{n}": p[:, k] for k, n in enumerate(names)})
    frame["label"] = y
    path = tmp_path / "named.csv"
    frame.to_csv(path, index=False)
    assert main(["calibration", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    truth = calibration_error(p, y)
    alphabetical = calibration_error(p[:, np.argsort(names)], y)
    assert abs(truth - alphabetical) > 0.05  # the case tells the two orders apart
    assert data["metrics"]["ece"] == pytest.approx(truth, abs=1e-12)
    assert data["columns"]["probs"] == [f"prob_{n}" for n in names]
    assert main(["calibration", str(path)]) == 0
    assert "probabilities: prob_zebra, prob_yak, prob_ant, prob_moth, prob_bee" in capsys.readouterr().out


def test_ambiguous_column_order_is_refused(tmp_path, preds, capsys):
    p, y = preds
    frame = _frame(p, y).rename(columns={"prob_2": "prob_max"})
    path = tmp_path / "amb.csv"
    frame.to_csv(path, index=False)
    assert main(["calibration", str(path)]) == 2
    assert "ambiguous" in capsys.readouterr().err


def test_string_labels_logits_and_vector_field(tmp_path, preds, capsys):
    p, y = preds
    classes = np.array(["cat", "dog", "eel"])
    logits = np.log(p) + 3.0  # softmax(log p + c) = p
    path = tmp_path / "v.jsonl"
    pd.DataFrame({"scores": list(logits), "label": classes[y]}).to_json(path, orient="records", lines=True)
    assert main(["calibration", str(path), "--prob-cols", "scores", "--logits", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics"]["ece"] == pytest.approx(calibration_error(p, y), abs=1e-9)
    assert data["columns"]["classes"] == ["cat", "dog", "eel"] and data["columns"]["transform"] == "softmax"
    swapped = ["dog", "cat", "eel"]  # an explicit order changes the meaning of the columns
    assert main(["calibration", str(path), "--prob-cols", "scores", "--logits", "--classes", ",".join(swapped),
                 "--json"]) == 0
    y_swapped = np.array([swapped.index(c) for c in classes[y]])
    assert json.loads(capsys.readouterr().out)["metrics"]["ece"] == pytest.approx(
        calibration_error(p, y_swapped), abs=1e-9)
    assert main(["calibration", str(path), "--prob-cols", "scores", "--logits"]) == 0
    assert "class order: 0 = cat, 1 = dog, 2 = eel" in capsys.readouterr().out


def test_plot_to_a_missing_directory_fails_before_any_work(tmp_path, preds, capsys):
    p, y = preds
    path = tmp_path / "p.npz"
    np.savez(path, probs=p, labels=y)
    assert main(["calibration", str(path), "--plot", str(tmp_path / "nodir" / "x.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "does not exist" in err
