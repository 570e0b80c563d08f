"""``metricprobe lvis`` on small files: table, JSON, errors, calibration hook, demo."""

from __future__ import annotations

import json

import pytest

import metrics
from metricprobe.cli import main
from tests.metrics.detection.lvis_synth import make_lvis


@pytest.fixture()
def files(tmp_path):
    gt, res = make_lvis(11, n_images=10, n_cats=8)
    g, r = tmp_path / "gt.json", tmp_path / "res.json"
    g.write_text(json.dumps(gt))
    r.write_text(json.dumps(res))
    return gt, res, str(g), str(r)


def test_table_all_modes(files, capsys):
    gt, res, g, r = files
    assert main(["lvis", g, r, "--mode", "all", "--no-progress"]) == 0
    out = capsys.readouterr().out
    header = [line for line in out.splitlines() if line.startswith("metric")][0]
    assert header.split() == ["metric", "standard", "fixed", "pooled"]
    ap = metrics.evaluate_lvis(gt, res).metrics["AP"]
    assert any(line.split()[:2] == ["AP", f"{ap:.3f}"] for line in out.splitlines())
    assert "AP-pooled-all" in out


def test_json_and_out(files, capsys, tmp_path):
    gt, res, g, r = files
    out_file = tmp_path / "o.json"
    assert main(["lvis", g, r, "--mode", "pooled", "--dets-per-cat", "50", "--json", "--out", str(out_file)]) == 0
    data = json.loads(capsys.readouterr().out)
    ref = metrics.evaluate_lvis(gt, res, mode="pooled", dets_per_cat=50)
    assert data["metrics"] == ref.metrics and data["extras"]["AR-pooled-all"] == ref.extras["AR-pooled-all"]
    assert json.loads(out_file.read_text()) == data


def test_bad_input_exit_2(files, capsys, tmp_path):
    gt, res, g, r = files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(res)[:-40])
    assert main(["lvis", g, str(bad)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert main(["lvis", g, r, "--dets-per-cat", "5"]) == 2
    assert "does not apply" in capsys.readouterr().err
    res2 = res + [dict(res[0], image_id=123456789)]
    bad.write_text(json.dumps(res2))
    assert main(["lvis", g, str(bad)]) == 2
    assert "123456789" in capsys.readouterr().err


def test_calibration_hook_is_called(files, capsys, monkeypatch):
    import metricprobe.cli._lvis_calibration as hook

    gt, res, g, r = files
    seen = {}

    def fake(args, gt_path, results_path):
        seen["paths"] = (gt_path, results_path)
        return {"ece-overall": 0.5}, "CALIBRATION TABLE"

    monkeypatch.setattr(hook, "calibration_section", fake)
    assert main(["lvis", g, r, "--calibration", "--no-progress"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("CALIBRATION TABLE")
    assert seen["paths"] == (g, r)
    assert main(["lvis", g, r, "--calibration", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["calibration"] == {"ece-overall": 0.5}


def test_demo_section():
    from metricprobe.cli.lvis import demo_section

    text = demo_section()
    assert "AP-pooled-all" in text and "standard" in text


def test_plot(files, tmp_path):
    gt, res, g, r = files
    png = tmp_path / "p.png"
    assert main(["lvis", g, r, "--mode", "all", "--plot", str(png), "--no-progress"]) == 0
    assert png.stat().st_size > 1000
