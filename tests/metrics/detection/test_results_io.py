"""Box results read from files (typed fast route) equal the record-by-record route, errors included.

The reference is ``load_results`` on the same records given as a list of dicts, which
never takes the typed route; a file with a fault must raise the same message as the
list, at the same global record position.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from metrics import InputError
from metrics.detection import _results_io as io_mod
from metrics.detection._results_io import load_results


def _records(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        box = [float(v) for v in np.round(rng.uniform(0, 50, 4), int(rng.integers(0, 17)))]
        rec = {"image_id": int(rng.integers(1, 10 ** 12)), "category_id": int(rng.integers(-5, 3000)),
               "score": float(rng.random() * 10.0 ** float(rng.integers(-300, 3))), "bbox": box}
        if k % 7 == 0:
            rec["bbox"] = [int(v) for v in box]  # integers in a box are numbers too
        if k % 5 == 0:
            rec["extra"] = {"nested": [1, "two", None], "name": "x\u00e9\\"}
        if k % 11 == 0:
            rec = dict(reversed(list(rec.items())))  # any key order
        out.append(rec)
    return out


def _same(a, b) -> None:
    for name in ("image_id", "category_id", "score", "bbox"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), name  # bit-identical (also -0.0)
    assert a.first_has_bbox == b.first_has_bbox and a.segmentation is None and b.segmentation is None


def _write(path, records, jsonl=False, indent=None):
    if jsonl:
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    else:
        path.write_text(json.dumps(records, indent=indent))
    return path


@pytest.mark.parametrize("jsonl", [False, True])
@pytest.mark.parametrize("chunk", [97, 1 << 23])
def test_typed_route_equals_dict_route(tmp_path, monkeypatch, jsonl, chunk):
    monkeypatch.setattr(io_mod, "_CHUNK_CHARS", chunk)
    recs = _records(3000, 0)
    recs[3]["score"] = -0.0
    recs[4]["score"] = 0.1000000000000000055511151231257827021181583404541015625
    recs[5]["bbox"] = [4.9e-324, 1.7976931348623157e308, 0.0, 2.2250738585072011e-308]
    ref = load_results(recs, iou_type="bbox")
    p = _write(tmp_path / ("r.jsonl" if jsonl else "r.json"), recs, jsonl, indent=None if jsonl else 1)
    _same(load_results(p, iou_type="bbox"), ref)


def test_long_decimal_text_parses_like_json(tmp_path):
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.random(300), np.exp(rng.uniform(-700, 700, 300))])
    texts = [f"{v:.30e}" for v in values] + ["1E+2", "0e0", "9007199254740993", "2.4703282292062328e-324"]
    body = ",".join(f'{{"image_id":1,"category_id":2,"score":{t},"bbox":[{t},0,{t},1]}}' for t in texts)
    p = tmp_path / "r.json"
    p.write_text("[" + body + "]")
    ref = load_results(json.loads("[" + body + "]"), iou_type="bbox")
    _same(load_results(p, iou_type="bbox"), ref)


FAULTS = [
    ({"score": "0.9"}, r"results\[{i}\].score must be a number"),
    ({"score": True}, r"results\[{i}\].score must be a number"),
    ({"score": None}, r"results\[{i}\].score must be a number"),
    ({"score": float("nan")}, r"results\[{i}\].score must be a finite number"),
    ({"score": float("inf")}, r"results\[{i}\].score must be a finite number"),
    ({"image_id": "7"}, r"results\[{i}\].image_id must be an integer id"),
    ({"image_id": True}, r"results\[{i}\].image_id must be an integer id"),
    ({"image_id": 1.5}, r"results\[{i}\].image_id must be an integer id"),
    ({"category_id": 2.0 ** 70}, r"results\[{i}\].category_id must be an integer id"),
    ({"bbox": [0, 0, "10", 4]}, r"results\[{i}\].bbox must be a box"),
    ({"bbox": [0, 0, 3]}, r"results\[{i}\].bbox must be a box"),
    ({"bbox": [0, 0, 3, True]}, r"results\[{i}\].bbox must be a box"),
    ({"bbox": None}, r"results\[{i}\].bbox must be a box"),
    ({"bbox": [0, 0, -3, 4]}, r"results\[{i}\].bbox must have width and height"),
    ({"bbox": [0, 0, 3, float("nan")]}, r"results\[{i}\].bbox must hold finite numbers"),
]


@pytest.mark.parametrize("jsonl", [False, True])
@pytest.mark.parametrize(("change", "message"), FAULTS)
def test_faults_raise_as_for_a_list(tmp_path, monkeypatch, jsonl, change, message):
    monkeypatch.setattr(io_mod, "_CHUNK_CHARS", 4096)  # the fault sits in a later chunk
    recs = _records(400, 2)
    i = 331
    recs[i] = dict(recs[i], **change)
    with pytest.raises(InputError, match=message.format(i=i)) as from_list:
        load_results(recs, iou_type="bbox")
    p = _write(tmp_path / ("r.jsonl" if jsonl else "r.json"), recs, jsonl)
    with pytest.raises(InputError) as from_file:
        load_results(p, iou_type="bbox")
    assert str(from_file.value) == str(from_list.value)


@pytest.mark.parametrize("jsonl", [False, True])
def test_missing_field_huge_id_and_non_object(tmp_path, jsonl):
    recs = _records(50, 3)
    cases = [
        ([*recs[:20], {k: v for k, v in recs[20].items() if k != "bbox"}], r"results\[20\] lacks the field 'bbox'"),
        ([*recs[:9], dict(recs[9], image_id=10 ** 20)], r"results\[9\].image_id"),
        ([*recs[:4], [1, 2, 3]], r"results\[4\] must be a JSON object"),
    ]
    for k, (records, message) in enumerate(cases):
        p = _write(tmp_path / (f"r{k}.jsonl" if jsonl else f"r{k}.json"), records, jsonl)
        with pytest.raises(InputError, match=message):
            load_results(p, iou_type="bbox")


def test_duplicate_keys_take_the_last_value_as_json_does(tmp_path):
    p = tmp_path / "r.json"
    p.write_text('[{"image_id": 1, "category_id": 2, "score": 0.5, "score": 0.25, "bbox": [0, 0, 1, 1]}]')
    assert load_results(p, iou_type="bbox").score.tolist() == [0.25]


def test_typed_route_is_taken_for_clean_box_files(tmp_path, monkeypatch):
    calls = []
    real = io_mod._box_columns
    monkeypatch.setattr(io_mod, "_box_columns", lambda chunk: calls.append(len(chunk)) or real(chunk))
    p = _write(tmp_path / "r.json", _records(100, 4))
    load_results(p, iou_type="bbox")
    assert calls == [100]
