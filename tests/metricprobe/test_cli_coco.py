"""``metricprobe coco`` on the bundled COCO sample."""

from __future__ import annotations

import json

from metricprobe.cli import main
from metricprobe.cli.coco import sample_paths

GT, RES = sample_paths()


def test_table_json_and_plot(tmp_path, capsys):
    assert main(["coco", GT, RES, "--mode", "all", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in out and "AP-pooled-all" in out
    png = tmp_path / "pr.png"
    assert main(["coco", GT, RES, "--json", "--calibration", "--plot", str(png)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert 0 <= payload["stats"]["AP"] <= 1 and "ece-overall" in payload["calibration"]
    assert png.stat().st_size > 1000


def test_bad_input_exit_2(tmp_path, capsys):
    bad = tmp_path / "res.json"
    bad.write_text(json.dumps([{"image_id": [1], "category_id": 1, "score": 0.5, "bbox": [0, 0, 1, 1]}]))
    assert main(["coco", GT, str(bad), "--no-progress"]) == 2
    assert "image_id" in capsys.readouterr().err
    assert main(["coco", GT, RES, "--mode", "fixed", "--max-dets", "1,10", "--no-progress"]) == 2
    assert "--max-dets" in capsys.readouterr().err
