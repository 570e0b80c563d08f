"""``metricprobe opis``: NPZ / Parquet / .npy pairs, --json, --plot, errors, demo section."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metricprobe.cli import main
from metrics import epsilon_opis, map_at_r, opis, recall_at_k


@pytest.fixture()
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, size=80)
    x = rng.normal(size=(5, 6))[y] + rng.normal(size=(80, 6)) * 0.8
    return x, y


def test_npz_json_equals_functions(tmp_path, capsys, data):
    x, y = data
    path = tmp_path / "e.npz"
    np.savez(path, emb=x, cls=y)
    assert main(["opis", str(path), "--embeddings-key", "emb", "--labels-key", "cls", "--k", "1,4",
                 "--epsilon", "0.2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["opis"] - opis(x, y)) < 1e-12
    assert abs(out["eps_opis"]["0.2"] - epsilon_opis(x, y, epsilon=0.2)) < 1e-12
    assert out["recall_at_k"] == {str(k): v for k, v in recall_at_k(x, y, k=(1, 4)).items()}
    assert abs(out["map_at_r"] - map_at_r(x, y)) < 1e-12


def test_parquet_and_npy_pairs_and_plot(tmp_path, capsys, data):
    x, y = data
    frame = pd.DataFrame({f"emb_{i}": x[:, i] for i in range(6)})
    frame["labels"] = y
    pq = tmp_path / "e.parquet"
    frame.to_parquet(pq)
    png = tmp_path / "u.png"
    assert main(["opis", str(pq), "--plot", str(png)]) == 0
    table = capsys.readouterr().out
    assert "OPIS" in table and "Recall@8" in table and png.stat().st_size > 0
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    assert main(["opis", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--json"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["opis"] - opis(x, y)) < 1e-12


def test_errors_exit_2(tmp_path, capsys, data):
    x, y = data
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y[:10])
    assert main(["opis", str(tmp_path / "x.npy")]) == 2
    assert "--labels" in capsys.readouterr().err
    assert main(["opis", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy")]) == 2
    assert "labels" in capsys.readouterr().err
    np.savez(tmp_path / "e.npz", embeddings=x, labels=y)
    assert main(["opis", str(tmp_path / "e.npz"), "--far-range", "0.5,0.1"]) == 2
    assert "--far-range must" in capsys.readouterr().err  # the CLI flag, not the Python parameter
    assert main(["opis", str(tmp_path / "e.npz"), "--k", "1000"]) == 2
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04trunc")
    assert main(["opis", str(tmp_path / "bad.npz")]) == 2
    assert main(["opis", str(tmp_path / "missing.npz")]) == 2


def test_demo_section():
    from metricprobe.cli import opis as cmd

    text = cmd.demo_section()
    assert "OPIS" in text and "Recall@1" in text and "N = 1200" in text
    assert cmd.sample_path().stat().st_size <= 1_000_000
