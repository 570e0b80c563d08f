"""``metricprobe regret`` on JSON Lines / Parquet / NPZ logs; bad logs exit 2 with one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metricprobe.cli import main
from metricprobe.cli.regret import SAMPLE, demo_section
from metrics import external_regret, regret_report

LOSSES = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
POLICY = [[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def hand_log(tmp_path):
    return write_jsonl(tmp_path / "log.jsonl", [{"losses": l, "policy": p, "action": a}
                                                for l, p, a in zip(LOSSES, POLICY, [0, 0, 1])])


def test_table_and_json(tmp_path, capsys):
    log = hand_log(tmp_path)
    assert main(["regret", log]) == 0
    out = capsys.readouterr().out
    assert "external regret" in out and "-0.5000" in out and "verdict:" in out
    assert main(["regret", log, "--json", "--out", str(tmp_path / "r.json")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["external_regret"], data["dynamic_regret"], data["swap_regret"]) == pytest.approx((-0.5, 0.5, 0.0))
    assert data["curve"] == pytest.approx([0.5, -0.5, -0.5]) and data["realized"] is False
    assert json.loads((tmp_path / "r.json").read_text()) == data
    assert main(["regret", log, "--actions", "action", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["external_regret"], data["dynamic_regret"]) == pytest.approx((0.0, 1.0)) and data["realized"]


def test_parquet_npz_wide_columns_and_rewards(tmp_path, capsys):
    rng = np.random.default_rng(0)
    losses = rng.random((30, 3))
    policy = rng.dirichlet(np.ones(3), size=30)
    expected = external_regret(policy, losses)
    pd.DataFrame({"l": list(losses), "p": list(policy)}).to_parquet(tmp_path / "log.parquet")
    assert main(["regret", str(tmp_path / "log.parquet"), "--losses", "l", "--policy", "p", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["external_regret"] == pytest.approx(expected, abs=1e-12)
    np.savez(tmp_path / "log.npz", losses=losses, policy=policy)
    assert main(["regret", str(tmp_path / "log.npz"), "--json", "--eval-points", "5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["external_regret"] == pytest.approx(expected, abs=1e-12)
    assert data["test"]["eval_points"] == [5, 10, 15, 20, 25, 30]
    wide = pd.DataFrame({**{f"loss_{i}": 1 - losses[:, i] for i in range(3)},
                         **{f"pi_{i}": policy[:, i] for i in range(3)}})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    assert main(["regret", str(tmp_path / "wide.csv"), "--losses", "loss_*", "--policy", "pi_*", "--rewards",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["external_regret"] == pytest.approx(
        external_regret(policy, losses - 1), abs=1e-12)


def test_plot(tmp_path, capsys):
    out = tmp_path / "curve.png"
    assert main(["regret", hand_log(tmp_path), "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("rows, extra, pattern", [
    ([{"losses": [1, 0], "policy": [1, 0]}, {"losses": [1, 0, 0], "policy": [1, 0]}], [], "ragged"),
    ([{"losses": [1, None], "policy": [1, 0]}], [], "losses must be finite"),
    ([{"losses": [1, 0], "policy": [0.6, 0.6]}], [], "policy rows must sum to 1"),
    ([{"losses": [1, 0], "action": 2}], [], r"actions must be integer labels in \[0, 2\)"),
    ([{"losses": [1, 0], "policy": [1, 0]}], ["--losses", "nope"], "--losses: column"),
    ([{"losses": [1, 0], "x": 1}], [], "give --policy FIELD or --actions FIELD"),
])
def test_bad_logs_exit_2(tmp_path, capsys, rows, extra, pattern):
    log = write_jsonl(tmp_path / "bad.jsonl", rows)
    assert main(["regret", log, *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(pattern, err), err


def test_missing_and_truncated_files(tmp_path, capsys):
    assert main(["regret", str(tmp_path / "none.jsonl")]) == 2
    (tmp_path / "t.jsonl").write_text('{"losses": [1, 0], "policy": [1, 0]}\n{"losses": [1,')
    assert main(["regret", str(tmp_path / "t.jsonl")]) == 2
    capsys.readouterr()


def test_demo_section_matches_functional():
    text = demo_section()
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    rep = regret_report([r["policy"] for r in rows], [r["losses"] for r in rows], eval_points=20)
    assert f"{rep.external_regret:.4f}" in text and "verdict:" in text


def test_named_action_columns_keep_file_order_and_points_are_printed(tmp_path, capsys):
    rng = np.random.default_rng(5)
    losses = rng.random((64, 3))
    losses[:, 0] -= 0.3  # "rock", the first column in the file, is the best action
    policy = rng.dirichlet(np.ones(3), size=64)
    names = ["rock", "paper", "scissors"]
    frame = pd.DataFrame({**{f"loss_{n}": losses[:, i] for i, n in enumerate(names)},
                          **{f"pi_{n}": policy[:, i] for i, n in enumerate(names)}})
    frame.to_csv(tmp_path / "named.csv", index=False)
    args = ["regret", str(tmp_path / "named.csv"), "--losses", "loss_*", "--policy", "pi_*"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["external_regret"] == pytest.approx(external_regret(policy, losses), abs=1e-12)
    assert data["best_fixed_action"] == 0 and data["columns"]["losses"] == [f"loss_{n}" for n in names]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "losses: actions 0, 1, ... are loss_rock, loss_paper, loss_scissors" in out
    points = data["test"]["eval_points"]
    assert len(points) < 64 and points[-1] == 64  # well-separated by default, not every round
    assert "no-regret test read at" in out and f"{points[0]}, {points[1]}" in out


def test_help_states_the_log_spaced_default(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["regret", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: log): 'log' (up to 20 well-separated log-spaced rounds)" in text
