"""``metricprobe calibrate fit|apply``: parameters saved as JSON, applied to new scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metricprobe.cli import main


def _logits(seed, n=400, k=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y]
    return 3.0 * z, y  # over-confident: the fitted temperature is well above 1


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_temperature_fit_then_apply(tmp_path, capsys):
    z, y = _logits(0)
    np.savez(tmp_path / "val.npz", logits=z, labels=y)
    params = tmp_path / "t.json"
    assert main(["calibrate", "fit", str(tmp_path / "val.npz"), "--params", str(params), "--json"]) == 0
    saved = json.loads(params.read_text())
    temperature = saved["temperature"]
    assert saved["method"] == "temperature" and temperature > 1.5
    # the fitted temperature minimises the NLL: a slow grid search agrees
    grid = np.linspace(0.5 * temperature, 1.5 * temperature, 2001)
    nll = [-np.mean(np.log(_softmax(z / t)[np.arange(len(y)), y])) for t in grid]
    assert temperature == pytest.approx(grid[int(np.argmin(nll))], rel=2e-3)
    capsys.readouterr()
    z2, y2 = _logits(1)
    np.savez(tmp_path / "test.npz", logits=z2, labels=y2)
    out = tmp_path / "cal.npz"
    assert main(["calibrate", "apply", str(tmp_path / "test.npz"), "--params", str(params), "--write", str(out)]) == 0
    with np.load(out, allow_pickle=False) as d:
        np.testing.assert_allclose(d["probs"], _softmax(z2 / temperature), rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(d["labels"], y2)


def test_bad_params_file_exits_2(tmp_path, capsys):
    z, y = _logits(0)
    np.savez(tmp_path / "val.npz", logits=z, labels=y)
    bad = tmp_path / "bad.json"
    bad.write_text('{"method": "magic"}')
    assert main(["calibrate", "apply", str(tmp_path / "val.npz"), "--params", str(bad)]) == 2
    assert "not a parameter file" in capsys.readouterr().err
