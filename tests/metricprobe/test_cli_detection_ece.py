"""``metricprobe detection-ece``: D-ECE of a saved table of labelled detections."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metricprobe.cli import main

# bins [0, .5): scores .3, .2, no TP -> gap |0 - .25| = .25; [.5, 1]: .9 (TP), .8 -> gap |.5 - .85| = .35
HAND = pd.DataFrame({"score": [0.9, 0.8, 0.3, 0.2], "matched": [True, False, False, False]})


def _write(frame, path):
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dict(orient="records")) + "\n")
    return str(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_hand_case_in_every_format(tmp_path, capsys, suffix):
    path = _write(HAND, tmp_path / f"labels{suffix}")
    assert main(["detection-ece", path, "--n-bins", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics"]["d_ece"] == pytest.approx((2 * 0.25 + 2 * 0.35) / 4, abs=1e-12)
    assert data["metrics"]["d_mce"] == pytest.approx(0.35, abs=1e-12)
    assert data["metrics"]["d_ace"] == pytest.approx(0.30, abs=1e-12)
    assert (data["n_detections"], data["n_matched"]) == (4, 1)
    assert data["columns"] == {"score": "score", "label": "matched", "features": []}
    assert [b["count"] for b in data["bins"]] == [2, 2]
    assert [b["precision"] for b in data["bins"]] == [0.0, 0.5]


def test_own_column_names_string_labels_table_and_out(tmp_path, capsys):
    frame = pd.DataFrame({"det": [7, 8, 9, 10], "conf": HAND["score"], "is_tp": ["TP", "fp", "FP", "fp"]})
    path = _write(frame, tmp_path / "dets.csv")
    out = tmp_path / "r.json"
    assert main(["detection-ece", path, "--score-col", "conf", "--label-col", "is_tp", "--n-bins", "2",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "D-ECE" in text and "0.3" in text and "score column 'conf', label column 'is_tp'" in text
    assert "reliability table" in text
    assert json.loads(out.read_text())["metrics"]["d_ece"] == pytest.approx(0.3, abs=1e-12)


def test_features_binned_jointly(tmp_path, capsys):
    # one feature, 2 x 2 joint bins, min bin count 1:
    # (conf lo, f lo): scores .2, .3 labels 0, 0 -> gap .25; (conf hi, f lo): .9 (TP) -> gap .1;
    # (conf hi, f hi): .8 (FP) -> gap .8. D-ECE = (2 * .25 + .1 + .8) / 4
    frame = HAND.assign(cx=[0.1, 0.9, 0.2, 0.4])
    path = _write(frame, tmp_path / "labels.csv")
    assert main(["detection-ece", path, "--n-bins", "2", "--features", "cx", "--feature-bins", "2",
                 "--min-bin-count", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics"]["d_ece"] == pytest.approx((2 * 0.25 + 0.1 + 0.8) / 4, abs=1e-12)
    assert data["metrics"]["d_mce"] == pytest.approx(0.8, abs=1e-12)
    assert data["params"]["n_bins"] == [2, 2]
    # without --min-bin-count, features raise the default to 10: no bin is kept
    assert main(["detection-ece", path, "--features", "cx"]) == 2
    assert "--min-bin-count" in capsys.readouterr().err


def test_netcal_compat(tmp_path, capsys):
    netcal = pytest.importorskip("netcal.metrics")
    rng = np.random.default_rng(0)
    s = rng.random(500)
    m = (rng.random(500) < s).astype(int)
    f = rng.random(500)
    path = _write(pd.DataFrame({"score": s, "matched": m, "cy": f}), tmp_path / "labels.csv")
    assert main(["detection-ece", path, "--features", "cy", "--n-bins", "5", "--feature-bins", "3",
                 "--min-bin-count", "1", "--compat", "netcal", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    back = pd.read_csv(path)  # the values as the CLI read them
    x = np.column_stack([back["score"].to_numpy(), back["cy"].to_numpy()])
    ref = netcal.ECE(bins=[5, 3], detection=True).measure(x, back["matched"].to_numpy())
    assert data["metrics"]["d_ece"] == ref


def test_plot(tmp_path, capsys):
    path = _write(HAND, tmp_path / "labels.csv")
    png = tmp_path / "rel.png"
    assert main(["detection-ece", path, "--n-bins", "4", "--plot", str(png)]) == 0
    assert png.stat().st_size > 1000


@pytest.mark.parametrize("frame, args, message", [
    (HAND, ["--label-col", "tp"], "--label-col: column 'tp' not found"),
    (HAND, ["--score-col", "conf"], "--score-col: column 'conf' not found"),
    (HAND.assign(matched=[1, 2, 0, 0]), [], "TP/FP labels"),
    (HAND.assign(matched=["TP", "maybe", "FP", "FP"]), [], "row 1 holds 'maybe'"),
    (HAND.assign(score=[0.9, 1.5, 0.3, 0.2]), [], "--score-col"),
    (HAND.assign(score=["a", "b", "c", "d"]), [], "must hold numbers"),
    (HAND.assign(cx=[0.1, 2.0, 0.2, 0.3]), ["--features", "cx", "--min-bin-count", "1"], "features"),
    (HAND, ["--features", "cx"], "--features: column 'cx' not found"),
    (HAND, ["--n-bins", "0"], "--n-bins"),
])
def test_bad_input_is_one_line_naming_the_flag(tmp_path, capsys, frame, args, message):
    path = _write(frame, tmp_path / "labels.csv")
    assert main(["detection-ece", path, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_help_names_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["detection-ece", "--help"])
    text = capsys.readouterr().out
    for flag in ("--score-col", "--label-col", "--features", "--n-bins", "--feature-bins", "--binning",
                 "--min-bin-count", "--compat", "--json", "--out", "--plot"):
        assert flag in text
