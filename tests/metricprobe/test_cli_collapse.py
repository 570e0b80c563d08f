"""``metricprobe collapse`` on hand-made logits."""

from __future__ import annotations

import json

import numpy as np

from metricprobe.cli import main


def test_collapse_fraction_of_hand_rows(tmp_path, capsys):
    # float32: 1 + exp(-20) rounds to 1 (exp(-20) < 2**-24), 1 + exp(-5) does not
    gaps = np.array([20.0, 5.0, 30.0, 1.0])
    logits = np.stack([gaps, np.zeros_like(gaps)], axis=1)
    np.savez(tmp_path / "z.npz", logits=logits)
    assert main(["collapse", str(tmp_path / "z.npz"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["collapse_fraction"] == 0.5 and data["n_rows"] == 4
    assert main(["collapse", str(tmp_path / "z.npz"), "--dtype", "float64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["collapse_fraction"] == 0.0  # exp(-30) > 2**-53


def test_table_with_vector_field(tmp_path, capsys):
    path = tmp_path / "z.jsonl"
    path.write_text('{"logits": [20.0, 0.0]}\n{"logits": [1.0, 0.0]}\n')
    assert main(["collapse", str(path), "--logit-cols", "logits"]) == 0
    assert "0.5000" in capsys.readouterr().out
