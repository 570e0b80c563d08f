"""CalibrationError in a training loop: device-side update, semantics, DDP with an empty rank."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch

import metrics.calibration._kernel as kernel
import metrics.calibration._tensors as tensors
from metrics import CalibrationError, InputError, calibration_error, calibration_report
from tests.distributed import compute_with_empty_rank
from tests.guards import guard_update
from tests.metrics.calibration._calibration_cases import binary_case, make_case

CONFIGS = {
    "uniform": dict(n_bins=10),
    "positive": dict(n_bins=7, scope="positive_class", num_classes=2),
    "classwise": dict(n_bins=5, scope="classwise", num_classes=4, norm="l2"),
    "quantile": dict(n_bins=7, binning="quantile"),
    "quantile_classwise": dict(n_bins=6, binning="quantile", scope="classwise", num_classes=4),
}


def _functional(p, y, kw):
    return calibration_error(p, y, **{a: b for a, b in kw.items() if a != "num_classes"})


def _data(name, n=600, seed=0):
    k = 2 if name == "positive" else 4
    return make_case("ones", k=k, n=n, seed=seed)


@pytest.fixture
def accelerator_path(monkeypatch):
    """Run the top-label code that accelerators run (no data-dependent compaction) on the CPU."""
    monkeypatch.setattr(kernel, "CPU_ARGMAX_SHORTCUT", False)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("validate", [True, False])
def test_update_makes_no_host_copy_and_at_most_one_sync(name, validate, accelerator_path):
    p, y = _data(name)
    m = CalibrationError(validate_args=validate, **CONFIGS[name])
    report = guard_update(m, torch.from_numpy(p), torch.from_numpy(y))
    assert report.host_copies == 0, report.events
    assert report.syncs <= (1 if validate else 0), report.events
    assert report.aliased == []
    assert float(m.compute()) == pytest.approx(_functional(p, y, CONFIGS[name]), abs=1e-12)


def test_cpu_shortcut_equals_accelerator_path(monkeypatch):
    p = np.array([[.4, .4, .2], [.3, .35, .35], [.5, .5, 0], [.2, .7, .1], [.1, .2, .7]] * 400)
    y = np.array([0, 1, 1, 1, 2] * 400)
    t, ty = torch.from_numpy(p), torch.from_numpy(y)
    s1, o1 = kernel.top_label_t(t, ty)
    monkeypatch.setattr(kernel, "CPU_ARGMAX_SHORTCUT", False)
    s2, o2 = kernel.top_label_t(t, ty)
    assert torch.equal(s1, s2) and torch.equal(o1, o2)
    assert o1.tolist() == (np.argmax(p, 1) == y).tolist()


@pytest.mark.parametrize("case", ["ties", "on_edge", "grid", "ones"])
@pytest.mark.parametrize("scope", ["top_label", "positive_class", "classwise"])
@pytest.mark.parametrize("shortcut", [True, False])
def test_steps_of_rows_and_blocks_give_the_numpy_sums(monkeypatch, case, scope, shortcut):
    """Small CPU steps / classwise blocks (so that a step ends inside every run of ties)
    against numpy's searchsorted + bincount on the definitions."""
    monkeypatch.setattr(kernel, "CPU_ROW_CHUNK", 7)
    monkeypatch.setattr(kernel, "CLASSWISE_BLOCK", 13)
    monkeypatch.setattr(kernel, "CPU_ARGMAX_SHORTCUT", shortcut)
    m, n = 10, 301
    if scope == "positive_class":
        p, y = binary_case(case, n=n, seed=11)
        s, o = p[None, :], (y == 1)[None, :]
    else:
        p, y = make_case(case, k=4, n=n, seed=11)
        if scope == "classwise":
            s, o = p.T, y[None, :] == np.arange(4)[:, None]
        else:
            s, o = p.max(1)[None, :], (np.argmax(p, 1) == y)[None, :]
    bins = np.searchsorted(np.arange(m + 1)[1:-1] / m, s, side="right")
    count = np.stack([np.bincount(b, minlength=m) for b in bins])
    sum_s = np.stack([np.bincount(b, weights=w, minlength=m) for b, w in zip(bins, s)])
    sum_o = np.stack([np.bincount(b[w], minlength=m) for b, w in zip(bins, o)])
    got = kernel.binned_sums(torch.from_numpy(p), torch.from_numpy(y), n_bins=m, binning="uniform", scope=scope,
                             validate=True)
    assert bool(got[4])
    np.testing.assert_array_equal(got[0].numpy().reshape(count.shape), count)
    np.testing.assert_array_equal(got[2].numpy().reshape(count.shape), sum_o)
    np.testing.assert_allclose(got[1].numpy().reshape(count.shape), sum_s, rtol=1e-13, atol=1e-13)
    metric = CalibrationError(n_bins=m, scope=scope, num_classes=None if scope == "top_label" else (
        2 if scope == "positive_class" else 4))
    for start in range(0, n, 100):
        metric.update(torch.from_numpy(p[start:start + 100]), torch.from_numpy(y[start:start + 100]))
    np.testing.assert_array_equal(metric.count.numpy().reshape(count.shape), count)
    np.testing.assert_array_equal(metric.sum_outcome.numpy().reshape(count.shape), sum_o)
    np.testing.assert_allclose(metric.sum_score.numpy().reshape(count.shape), sum_s, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("where", [0, 4, 5, 298])
def test_validation_in_steps_sees_every_element(monkeypatch, where):
    monkeypatch.setattr(tensors, "CPU_STEP", 5)
    p, y = make_case("random", k=3, n=299, seed=12)
    assert calibration_error(p, y) == pytest.approx(calibration_error(p[::-1], y[::-1]), abs=1e-12)
    for bad_p, bad_y in ((np.nan, None), (1.5, None), (None, 3), (None, -1)):
        pp, yy = p.copy(), y.copy()
        if bad_p is not None:
            pp[where, 1] = bad_p
        else:
            yy[where] = bad_y
        with pytest.raises(InputError):
            calibration_error(pp, yy)
        with pytest.raises(InputError):
            calibration_error(pp[:, 1] if bad_p is not None else np.clip(p[:, 1], 0, 1), yy, scope="positive_class")


@pytest.mark.parametrize("name", ["uniform", "quantile", "quantile_classwise", "classwise"])
def test_refilled_buffer_does_not_change_earlier_batches(name):
    p, y = _data(name, n=400, seed=1)
    m = CalibrationError(**CONFIGS[name])
    buf_p, buf_y = torch.empty(200, p.shape[1], dtype=torch.float64), torch.empty(200, dtype=torch.int64)
    for start in (0, 200):
        buf_p.copy_(torch.from_numpy(p[start:start + 200]))
        buf_y.copy_(torch.from_numpy(y[start:start + 200]))
        m.update(buf_p, buf_y)
    buf_p.fill_(0.25)  # the caller reuses its buffer
    buf_y.zero_()
    assert float(m.compute()) == pytest.approx(_functional(p, y, CONFIGS[name]), abs=1e-12)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_keeps_state_on_a_bad_batch(name):
    p, y = _data(name, n=500, seed=2)
    m = CalibrationError(**CONFIGS[name])
    m.update(torch.from_numpy(p[:300]), torch.from_numpy(y[:300]))
    bad = p[300:].copy()
    bad[5, 0] = np.nan
    with pytest.raises(InputError, match="preds"):
        m(torch.from_numpy(bad), torch.from_numpy(y[300:]))
    bad_labels = y[300:].astype(np.float64) + 0.5
    with pytest.raises(InputError, match="labels"):
        m(torch.from_numpy(p[300:]), torch.from_numpy(bad_labels))
    assert float(m.compute()) == pytest.approx(_functional(p[:300], y[:300], CONFIGS[name]), abs=1e-12)
    batch_value = m(torch.from_numpy(p[300:]), torch.from_numpy(y[300:]))
    assert float(batch_value) == pytest.approx(_functional(p[300:], y[300:], CONFIGS[name]), abs=1e-12)
    assert float(m.compute()) == pytest.approx(_functional(p, y, CONFIGS[name]), abs=1e-12)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_empty_batches_change_nothing(name):
    p, y = _data(name, n=300, seed=3)
    k = p.shape[1]
    m = CalibrationError(**CONFIGS[name])
    m.update(torch.empty(0, k, dtype=torch.float64), torch.empty(0, dtype=torch.int64))
    m.update(torch.from_numpy(p), torch.from_numpy(y))
    m.update(np.empty((0, k)), np.empty(0, dtype=int))
    with pytest.warns(RuntimeWarning, match="empty batch"):
        value = m(torch.empty(0, k), torch.empty(0, dtype=torch.int64))
    assert np.isnan(float(value))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning is given once
        m(torch.empty(0, k), torch.empty(0, dtype=torch.int64))
    assert float(m.compute()) == pytest.approx(_functional(p, y, CONFIGS[name]), abs=1e-12)
    with pytest.raises(InputError, match="preds"):
        m.update(torch.empty(0, 1), torch.empty(0, dtype=torch.int64))  # shapes still checked


@pytest.mark.parametrize("name", list(CONFIGS))
def test_merge_state_pickle_deepcopy_state_dict(name):
    p, y = _data(name, n=400, seed=4)
    a, b = CalibrationError(**CONFIGS[name]), CalibrationError(**CONFIGS[name])
    a.update(torch.from_numpy(p[:150]), torch.from_numpy(y[:150]))
    b.update(torch.from_numpy(p[150:]), torch.from_numpy(y[150:]))
    expect = _functional(p, y, CONFIGS[name])
    for clone in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
        clone.merge_state(b)
        assert float(clone.compute()) == pytest.approx(expect, abs=1e-12)
    a.persistent(True)
    state = a.state_dict()
    fresh = CalibrationError(**CONFIGS[name])
    fresh.persistent(True)
    fresh.load_state_dict(state)
    fresh.update(torch.from_numpy(p[150:]), torch.from_numpy(y[150:]))
    assert float(fresh.compute()) == pytest.approx(expect, abs=1e-12)


def test_validate_args_false_never_indexes_out_of_bounds():
    m = CalibrationError(n_bins=5, validate_args=False)
    p = torch.tensor([[0.7, 0.3], [float("nan"), 0.5], [1.5, -0.5]])
    m.update(p, torch.tensor([0, 7, -3]))  # garbage in, a number out, no crash
    assert m.count.sum() == 3


def test_torch_and_numpy_paths_agree():
    p, y = make_case("random", k=6, n=5000, seed=5)
    p32 = p.astype(np.float32)
    for kw in (dict(), dict(scope="classwise", norm="max"), dict(binning="quantile", norm="l2", debiased=True)):
        via_numpy = calibration_error(p32, y, **kw)
        via_torch = calibration_error(torch.from_numpy(p32), torch.from_numpy(y), **kw)
        assert via_torch == via_numpy
    rep_t = calibration_report(torch.from_numpy(p32), torch.from_numpy(y))
    rep_n = calibration_report(p32, y)
    assert rep_t.counts.tolist() == rep_n.counts.tolist() and rep_t.ece == rep_n.ece


def test_bfloat16_row_sums_use_the_dtype_precision():
    torch.manual_seed(0)
    pb = torch.softmax(torch.randn(2000, 50) * 3, dim=1).to(torch.bfloat16)
    y = torch.randint(0, 50, (2000,))
    assert (pb.float().sum(1) - 1).abs().max() > 1e-3  # the old fixed tolerance rejects it
    p32 = pb.float().numpy()  # bfloat16 -> float32 is exact
    s = p32.max(1).astype(np.float64)
    o = (np.argmax(p32, 1) == y.numpy()).astype(np.float64)
    b = np.minimum((s * 15).astype(int), 14)
    expect = np.abs(np.bincount(b, o, 15) - np.bincount(b, s, 15)).sum() / 2000
    value = calibration_error(pb, y)
    assert value == pytest.approx(expect, abs=1e-12)
    m = CalibrationError()
    m.update(pb, y)
    assert float(m.compute()) == pytest.approx(expect, abs=1e-12)
    with pytest.raises(InputError, match="sums to"):
        calibration_error(p32, y.numpy())  # the same values as float32 keep the 1e-3 tolerance


GLOO = {k: v for k, v in CONFIGS.items() if k != "positive"}


def empty_rank_metrics():
    """One MetricCollection of the K = 4 configurations (one 2-process run checks them all)."""
    from torchmetrics import MetricCollection

    return MetricCollection({k: CalibrationError(**kw) for k, kw in GLOO.items()}, compute_groups=False)


def test_two_gloo_processes_with_an_empty_rank():
    p, y = make_case("ones", n=500, seed=8)
    batches = [(p[:200], y[:200]), (p[200:], y[200:])]
    for values in compute_with_empty_rank("tests.metrics.calibration.test_calibration_training.empty_rank_metrics",
                                          {}, batches):
        for name, kw in GLOO.items():
            assert values[name] == pytest.approx(_functional(p, y, kw), abs=1e-12)
