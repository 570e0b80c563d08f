"""``metricprobe lvis`` / ``coco`` with ``--engine dask``: the in-memory command's numbers from shards."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")

import metrics  # noqa: E402
from metricprobe.cli import main  # noqa: E402
from tests.metrics.detection.coco_synth import make_coco  # noqa: E402
from tests.metrics.detection.lvis_synth import make_lvis  # noqa: E402


def _write(tmp_path, gt, results, name, fmt, n=3):
    g = tmp_path / f"{name}-gt.json"
    g.write_text(json.dumps(gt))
    df = pd.DataFrame({k: [r[k] for r in results] for k in ("image_id", "category_id", "score", "bbox")})
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), n)):
        part = df.iloc[chunk]
        if fmt == "parquet":
            part.to_parquet(tmp_path / f"{name}-{i}.parquet")
        else:
            part.to_json(tmp_path / f"{name}-{i}.jsonl", orient="records", lines=True)
    return str(g), str(tmp_path / f"{name}-*.{fmt}")


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_lvis_on_dask_equals_in_memory(tmp_path, capsys):
    gt, results = make_lvis(7, n_images=14, n_cats=10)
    g, glob = _write(tmp_path, gt, results, "lvis", "parquet")
    out = _json(capsys, ["lvis", g, glob, "--mode", "all", "--dets-per-cat", "30", "--engine", "dask",
                         "--scheduler", "synchronous", "--json"])
    ref = metrics.evaluate_lvis(gt, results, mode="all", dets_per_cat=30)
    assert out["engine"] == "dask"
    assert out["metrics"] == ref.metrics and out["counts"] == ref.counts


def test_coco_on_dask_equals_in_memory_on_a_local_cluster(tmp_path, capsys):
    gt, results = make_coco(5, n_images=12, n_cats=4)
    g, glob = _write(tmp_path, gt, results, "coco", "jsonl")
    out = _json(capsys, ["coco", g, glob, "--engine", "dask", "--workers", "1", "--json"])
    ref = metrics.evaluate_coco(gt, results)
    assert out["stats"] == ref.stats


def test_refusals_exit_2(tmp_path, capsys):
    gt, results = make_lvis(8, n_images=8, n_cats=9)
    g, glob = _write(tmp_path, gt, results, "lvis", "parquet", n=2)
    cases = [
        (["lvis", g, glob, "--engine", "dask", "--scheduler", "synchronous", "--calibration"], "--calibration"),
        (["coco", g, glob, "--engine", "dask", "--scheduler", "synchronous", "--iou-type", "keypoints"],
         "--iou-type: 'keypoints' is not evaluated on Dask"),
        (["coco", g, glob, "--sharded-by-image"], "--sharded-by-image applies to --engine dask"),
        (["lvis", g, glob, "--engine", "dask", "--scheduler", "synchronous", "--sharded-by-image"],
         "--sharded-by-image: image_id"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
