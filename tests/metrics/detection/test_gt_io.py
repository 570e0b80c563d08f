"""Ground-truth files read through msgspec give what ``json`` gives, and the same errors.

``read_dataset`` parses a path with msgspec and hands anything msgspec refuses to the
``json`` module; the reference here is ``json.loads`` of the same bytes.
"""

from __future__ import annotations

import json

import pytest

from metrics import InputError, evaluate_lvis
from metrics.detection._gt_io import load_gt, read_dataset
from tests.metrics.detection.test_detection_evaluate import hand_case


def _gt_text() -> str:
    gt, _ = hand_case()
    gt["info"] = {"name": "caf\u00e9 \u2028 \U0001f600", "tiny": 1e-400, "big": 123456789012345678901234567890,
                  "floats": [0.1, 1 / 3, 2.2250738585072011e-308, 1.7976931348623157e308, -0.0]}
    return json.dumps(gt, ensure_ascii=False)


@pytest.mark.parametrize("encode", [
    lambda t: t.encode(),  # the msgspec route
    lambda t: b"\xef\xbb\xbf" + t.encode(),  # a byte-order mark: the json route
    lambda t: t.replace('"tiny": 0.0', '"tiny": NaN').encode(),  # NaN: the json route
    lambda t: t.replace("caf", "\\ud800caf").encode(),  # a lone surrogate: the json route
])
def test_gt_file_reads_as_json_loads(tmp_path, encode):
    raw = encode(_gt_text())
    p = tmp_path / "gt.json"
    p.write_bytes(raw)
    ref = json.loads(raw)
    got = read_dataset(p)
    assert repr(got) == repr(ref)  # repr: also -0.0 and NaN


def test_same_numbers_from_a_file_and_a_dict(tmp_path):
    gt, res = hand_case()
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(gt))
    assert evaluate_lvis(p, res).metrics == evaluate_lvis(gt, res).metrics
    a, b = load_gt(p), load_gt(gt)
    assert (a.ann_bbox == b.ann_bbox).all() and (a.image_ids == b.image_ids).all()


@pytest.mark.parametrize(("text", "match"), [
    ('{"images": [}', "not valid JSON"),
    ('{"images": [], "x": NaN', "not valid JSON"),
    ('{"a": "\xff"}', "not UTF-8"),
])
def test_malformed_gt_files_name_the_fault(tmp_path, text, match):
    p = tmp_path / "gt.json"
    p.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match=match):
        read_dataset(p)


def test_nan_size_in_a_gt_file_is_named(tmp_path):
    gt, _ = hand_case()
    gt["images"][1]["width"] = float("nan")
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(gt))
    with pytest.raises(InputError, match=r"gt.images\[1\].width must be a positive finite number"):
        load_gt(p)
