"""``metricprobe concordance`` end to end on temporary files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from metricprobe.cli import main
from metrics import concordance_index, concordance_report, uno_concordance_index

CASE1 = pd.DataFrame({"t": [2, 3, 3, 5, 5, 8], "e": [1, 1, 0, 1, 1, 0], "r": [0.9, 0.5, 0.7, 0.5, 0.2, 0.5]})


def test_json_and_out(tmp_path, capsys):
    path = tmp_path / "p.csv"
    CASE1.to_csv(path, index=False)
    out = tmp_path / "o.json"
    rc = main(["concordance", str(path), "--time-col", "t", "--event-col", "e", "--risk-col", "r", "--json",
               "--out", str(out), "--uno", "--tau", "4"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cindex"] == 7.5 / 11 and data["comparable"] == 11 and data["tied_time"] == 1
    assert data["uno_cindex"] == uno_concordance_index(CASE1.r, CASE1.t, CASE1.e, tau=4)
    assert json.loads(out.read_text()) == data


def test_table_bootstrap_and_parquet(tmp_path, capsys):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"time": rng.integers(1, 30, 200).astype(float), "event": rng.random(200) < 0.6,
                       "pred": rng.random(200)})
    path = tmp_path / "p.parquet"
    df.to_parquet(path)
    assert main(["concordance", str(path), "--risk-col", "pred", "--higher-is", "survival",
                 "--bootstrap", "20", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    rep = concordance_report(df.pred, df.time, df.event, higher_is="survival", n_bootstrap=20, seed=3)
    assert f"{rep.cindex:.4f}" in text and "bootstrap CI" in text and f"{rep.ci_low:.4f}" in text


def test_bad_input_exits_2(tmp_path, capsys):
    path = tmp_path / "p.csv"
    CASE1.to_csv(path, index=False)
    assert main(["concordance", str(path), "--time-col", "t", "--event-col", "e", "--risk-col", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"time": [1, 2], "event": [0, 0], "risk": [1, 2]}).to_csv(bad, index=False)
    assert main(["concordance", str(bad)]) == 2
    assert "censored" in capsys.readouterr().err
    assert main(["concordance", str(tmp_path / "missing.csv")]) == 2


def test_demo_section_runs(capsys):
    assert main(["demo", "--only", "concordance"]) == 0
    text = capsys.readouterr().out
    from metricprobe.cli.concordance import SAMPLE

    df = pd.read_csv(SAMPLE)
    assert f"{concordance_index(df.risk, df.time, df.event):.4f}" in text
