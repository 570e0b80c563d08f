"""``metricprobe grokking`` on a tiny configuration."""

from __future__ import annotations

import json

from metricprobe.cli import main


def test_grokking_json_plot_and_table(tmp_path, capsys):
    png = tmp_path / "g.png"
    rc = main(["grokking", "--loss", "perpgrad", "--steps", "12", "--log-every", "5", "--p", "7",
               "--width", "8", "--json", "--plot", str(png)])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["step"] == [0, 5, 10, 11]
    assert data["config"]["optimizer"] == "perp_adamw" and data["config"]["loss"] == "softmax_ce"
    assert png.stat().st_size > 0
    rc = main(["grokking", "--loss", "stablemax", "--steps", "3", "--p", "5", "--width", "4"])
    out = capsys.readouterr().out
    assert rc == 0 and "stablemax_ce" in out and "NLM cos" in out


def test_grokking_bad_usage(capsys):
    assert main(["grokking", "--steps", "0", "--p", "5"]) == 2
    assert "steps" in capsys.readouterr().err
    assert main(["grokking", "--p", "1", "--steps", "2"]) == 2
