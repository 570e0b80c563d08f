"""``metricprobe continual`` on the spec's hand case, JSON output and bad files."""

import json

import numpy as np
import pandas as pd

from metricprobe.cli import main

nan = np.nan


def _write(tmp_path):
    frame = pd.DataFrame({"current_task": [0, 0, 0, 1, 1, 1], "acc_task_0": [.2, .6, .9, .7, .5, .8],
                          "acc_task_1": [nan, nan, nan, .2, .6, .9]})
    path = tmp_path / "evals.csv"
    frame.to_csv(path, index=False)
    return path


def test_table_and_json(tmp_path, capsys):
    path = _write(tmp_path)
    assert main(["continual", str(path), "--windows", "2,3"]) == 0
    out = capsys.readouterr().out
    assert "min_acc" in out and "0.5000" in out and "0.7000" in out
    assert main(["continual", str(path), "--windows", "2,3", "--json"]) == 0
    last = json.loads(capsys.readouterr().out)["last"]
    assert abs(last["wf_3"] - 0.2) < 1e-12 and abs(last["wp_2"] - 0.4) < 1e-12
    plot = tmp_path / "c.png"
    assert main(["continual", str(path), "--plot", str(plot), "--all-rows"]) == 0
    assert plot.stat().st_size > 0


def test_bad_input_exits_2(tmp_path, capsys):
    path = _write(tmp_path)
    assert main(["continual", str(path), "--task-col", "task"]) == 2
    assert "--task-col: column(s) 'task' not found" in capsys.readouterr().err
    assert main(["continual", str(path), "--windows", "1"]) == 2
    assert "window must be an integer ≥ 2" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"current_task": [1, 0], "acc_task_0": [.5, .5], "acc_task_1": [.5, .5]}).to_csv(bad, index=False)
    assert main(["continual", str(bad)]) == 2
    assert "non-decreasing" in capsys.readouterr().err


def test_text_in_an_accuracy_column_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "evals.jsonl"
    path.write_text('{"current_task": 0, "acc_task_0": 0.5, "acc_task_1": "n/a"}\n'
                    '{"current_task": 1, "acc_task_0": 0.6, "acc_task_1": 0.7}\n')
    assert main(["continual", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("metricprobe continual: error: --acc-cols: column 'acc_task_1' must hold numbers; "
                   "row 0 holds 'n/a'")


def test_named_task_columns_keep_file_order(tmp_path, capsys):
    frame = pd.DataFrame({"current_task": [0, 0, 1, 1], "acc_task_mnist": [.2, .9, .5, .8],
                          "acc_task_cifar": [nan, nan, .2, .9]})
    path = tmp_path / "evals.csv"
    frame.to_csv(path, index=False)
    assert main(["continual", str(path), "--windows", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["accuracy_columns"] == ["acc_task_mnist", "acc_task_cifar"]
    # min-ACC of task 0 (mnist) after the switch: min over its later evaluations = 0.5
    assert abs(data["last"]["min_acc"] - 0.5) < 1e-12
