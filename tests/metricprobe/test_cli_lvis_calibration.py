"""``metricprobe lvis --calibration`` (the part in metricprobe/cli/_lvis_calibration.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import reference_models.data as sample_data
from metricprobe.cli import main

DATA = Path(sample_data.__file__).resolve().parent
GT = str(DATA / "lvis_sample_gt.json")
RES = str(DATA / "lvis_sample_results.json")
TRAIN = str(DATA / "lvis_sample_results_train.json")


def test_calibration_json_with_calibrator_and_plots(tmp_path, capsys):
    plots = tmp_path / "plots"
    rc = main(["lvis", GT, RES, "--calibrate-on", TRAIN, "--method", "platt", "--per", "class",
               "--plot-dir", str(plots), "--json", "--no-progress"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    cal = payload["calibration"]
    assert cal["metrics_after"]["ece-overall"] < cal["ece-overall"]
    assert cal["ap_after"]["AP-Fixed"] == cal["ap_before"]["AP-Fixed"]
    assert sorted(p.name for p in plots.iterdir()) == ["reliability.png", "reliability_calibrated.png"]


def test_calibration_table(capsys):
    assert main(["lvis", GT, RES, "--calibration", "--iou-threshold", "0.5", "--n-bins", "10",
                 "--features", "cx,cy", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "calibration audit" in out and "ece-freq-r" in out and "IoU 0.5" in out


@pytest.mark.parametrize("extra, match", [
    (["--calibration", "--method", "platt"], "--calibrate-on"),
    (["--calibration", "--features", "area"], "features"),
    (["--calibrate-on", "/nonexistent/train.json"], "does not exist"),
    (["--calibration", "--iou-threshold", "2"], "iou-threshold"),
])
def test_calibration_bad_usage_exits_2(extra, match, capsys):
    assert main(["lvis", GT, RES, *extra, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_demo_text_runs_on_the_bundled_sample():
    from metricprobe.cli._lvis_calibration import calibration_demo_text

    text = calibration_demo_text()
    assert "AP-Pool" in text and "calibrated" in text
