"""Continual-evaluation metrics: the spec's hand case, a brute-force reference, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnostics.continual import (
    continual_eval_report,
    min_acc,
    wc_acc,
    windowed_forgetting,
    windowed_plasticity,
)
from metrics import InputError

nan = np.nan
# Rows (c; A0, A1) of the spec's hand case.
ACC = np.array([[.2, nan], [.6, nan], [.9, nan], [.7, .2], [.5, .6], [.8, .9]])
TASK = np.array([0, 0, 0, 1, 1, 1])


def test_hand_case_last_row():
    assert min_acc(ACC, TASK) == pytest.approx(0.5, abs=1e-12)
    assert wc_acc(ACC, TASK) == pytest.approx(0.7, abs=1e-12)
    assert windowed_forgetting(ACC, TASK, window=2) == pytest.approx(0.1, abs=1e-12)
    assert windowed_forgetting(ACC, TASK, window=3) == pytest.approx(0.2, abs=1e-12)
    assert windowed_plasticity(ACC, TASK, window=2) == pytest.approx(0.4, abs=1e-12)
    np.testing.assert_allclose(windowed_forgetting(ACC, TASK, window=3, per_task=True), [0.4, 0.0], atol=1e-12)


def test_hand_case_row_2_first_task_only():
    with pytest.raises(InputError, match="min-ACC is undefined"):
        min_acc(ACC[:3], TASK[:3])
    assert min_acc(ACC[:3], TASK[:3], on_undefined="none") is None
    assert np.isnan(min_acc(ACC[:3], TASK[:3], on_undefined="nan"))
    assert wc_acc(ACC[:3], TASK[:3]) == pytest.approx(0.9, abs=1e-12)


def _brute_force(acc, task, n, window):
    """Straight from the definitions, with loops, for row n."""
    k = task[n]
    if k == 0:
        m = nan
    else:
        m = np.mean([min(acc[j, i] for j in range(n + 1) if task[j] > i) for i in range(k)])
    wc = acc[n, k] / (k + 1) + (1 - 1 / (k + 1)) * (m if k > 0 else 0.0)
    wf, wp = [], []
    for i in range(k + 1):
        seq = [acc[j, i] for j in range(n + 1) if not np.isnan(acc[j, i])]
        drops = [seq[p] - seq[q] for p in range(len(seq)) for q in range(p + 1, len(seq)) if q - p <= window - 1]
        wf.append(max([0.0] + drops))
        wp.append(max([0.0] + [-d for d in drops]))
    return m, wc, np.mean(wf), np.mean(wp)


@st.composite
def histories(draw):
    k = draw(st.integers(1, 4))
    p = draw(st.integers(1, 25))
    task = np.sort(draw(st.lists(st.integers(0, k - 1), min_size=p, max_size=p)))
    values = draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 0.1, 0.9]), min_size=p * k, max_size=p * k))
    acc = np.array(values, dtype=float).reshape(p, k)
    unseen = np.arange(k)[None, :] > task[:, None]
    drop = np.array(draw(st.lists(st.booleans(), min_size=p * k, max_size=p * k))).reshape(p, k)
    acc[unseen & drop] = nan  # unseen tasks may or may not be evaluated
    return acc, task, draw(st.integers(2, 6))


@settings(max_examples=60, deadline=None)
@given(histories())
def test_report_equals_brute_force_on_every_row(case):
    acc, task, window = case
    report = continual_eval_report(acc, task, windows=(window,))
    for n in range(acc.shape[0]):
        m, wc, wf, wp = _brute_force(acc, task, n, window)
        if np.isnan(m):
            assert np.isnan(report.min_acc[n])
        else:
            assert report.min_acc[n] == pytest.approx(m, abs=1e-12)
        assert report.wc_acc[n] == pytest.approx(wc, abs=1e-12)
        assert report.forgetting[window][n] == pytest.approx(wf, abs=1e-12)
        assert report.plasticity[window][n] == pytest.approx(wp, abs=1e-12)
    assert wc_acc(acc, task) == pytest.approx(report.wc_acc[-1], abs=1e-15)


def test_report_frame_and_dict():
    report = continual_eval_report(ACC, TASK, windows=(2, 3))
    frame = report.to_frame()
    assert list(frame.columns) == ["current_task", "min_acc", "wc_acc", "wf_2", "wf_3", "wp_2", "wp_3"]
    assert frame["wf_3"].iloc[-1] == pytest.approx(0.2)
    assert report.to_dict()["forgetting"]["2"][-1] == pytest.approx(0.1)


def test_inputs_not_modified():
    acc, task = ACC.copy(), TASK.copy()
    continual_eval_report(acc, task)
    np.testing.assert_array_equal(acc, ACC)
    np.testing.assert_array_equal(task, TASK)


@pytest.mark.parametrize(
    "acc, task, kwargs, message",
    [
        (ACC, [0, 0, 1, 0, 1, 1], {}, "current_task must be non-decreasing; row 3 is 0 after 1"),
        (np.where(np.arange(2) == 1, nan, ACC), TASK, {}, "acc is missing a seen task: row 3"),
        (ACC, TASK[:5], {}, "current_task must have one entry per row of acc"),
        (ACC * 2, TASK, {}, r"acc must hold accuracies in \[0, 1\] or NaN"),
        (ACC, TASK + 1, {}, "current_task must be < the number of tasks"),
        (ACC, TASK, {"window": 1}, "window must be an integer ≥ 2"),
        (np.zeros((0, 2)), [], {}, "must not be empty"),
        (ACC[:, 0], TASK, {}, "acc must be a 2-D array"),
    ],
)
def test_bad_input(acc, task, kwargs, message):
    with pytest.raises(InputError, match=message):
        windowed_forgetting(acc, task, **kwargs)
