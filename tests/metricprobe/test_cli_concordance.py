"""``metricprobe concordance`` end to end on temporary files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

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


def test_direction_and_tie_conventions_are_printed(tmp_path, capsys):
    """--compat lifelines reads the score as a survival time: the output says so."""
    path = tmp_path / "p.csv"
    CASE1.to_csv(path, index=False)
    base = ["concordance", str(path), "--time-col", "t", "--event-col", "e", "--risk-col", "r"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "direction: a higher score means earlier failure (risk)" in out and "within 1e-08" in out
    assert main([*base, "--compat", "lifelines"]) == 0
    out = capsys.readouterr().out
    assert "direction (--compat lifelines): a higher score means longer survival" in out
    assert f"{1 - 7.5 / 11:.4f}" in out  # the flipped direction is the complement here (no tied pairs change)
    assert main([*base, "--compat", "lifelines", "--json"]) == 0
    conv = json.loads(capsys.readouterr().out)["conventions"]
    assert conv["higher_is"] == "survival" and conv["tied_tol"] == 0.0 and conv["compat"] == "lifelines"


def _antolini_brute(S, grid, time, event):
    """Antolini's C_td by its definition, pair by pair (post-step lookup of the curves)."""
    num = den = 0
    for i in range(len(time)):
        if not event[i]:
            continue
        k = min(max(np.searchsorted(grid, time[i], side="right") - 1, 0), len(grid) - 1)
        for j in range(len(time)):
            if time[i] < time[j] or (time[i] == time[j] and not event[j] and i != j):
                den += 1
                num += S[i, k] < S[j, k]
    return num / den


def test_time_dependent_concordance_from_survival_columns(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n, grid = 60, np.array([1.0, 2.5, 4.0, 7.0])
    time = rng.choice([1.0, 2.0, 3.0, 5.0, 8.0], size=n)
    event = rng.random(n) < 0.7
    S = np.sort(rng.random((n, grid.size)), axis=1)[:, ::-1]
    frame = pd.DataFrame({f"surv_{t:g}": S[:, k] for k, t in enumerate(grid)})
    frame["time"], frame["event"] = time, event.astype(int)
    path = tmp_path / "curves.csv"
    frame.to_csv(path, index=False)
    assert main(["concordance", str(path), "--survival-cols", "surv_*", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["time_grid"] == grid.tolist() and data["survival_columns"][0] == "surv_1"
    assert data["ctd"] == pytest.approx(_antolini_brute(S, grid, time, event), abs=1e-12)
