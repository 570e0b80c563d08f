"""Softmax Collapse, zero-loss, absorption and NLM alignment against hand-worked values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diagnostics import (
    CollapseDetected,
    MonitorWarning,
    SoftmaxCollapseMonitor,
    nlm_alignment,
    nlm_logit_alignment,
    softmax_collapse_fraction,
    softmax_collapse_report,
    update_absorption_fraction,
    zero_loss_fraction,
)
from metrics.core.errors import InputError

HALF = (torch.float16, torch.bfloat16)
ALL = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
GAPS = {torch.float64: 36.74, torch.float32: 16.64, torch.float16: 7.62, torch.bfloat16: 5.55}


def test_spec_hand_cases():
    z = [[3.0, 21.5, 0.0]]
    assert softmax_collapse_fraction(z) == 1.0
    assert softmax_collapse_fraction(z, dtype=torch.float64) == 0.0
    r1 = softmax_collapse_report(z, [1])
    r0 = softmax_collapse_report(z, [0])
    assert r1.loss[0] == 0.0 and r1.loss_zero[0] and r1.p_true_is_one[0] and r1.true_grad_zero[0]
    assert r0.loss[0] == 18.5 and not r0.loss_zero[0] and r0.collapsed[0]
    assert softmax_collapse_fraction([[8.5, 0.0]], dtype=torch.float16) == 1.0
    assert softmax_collapse_fraction([[8.5, 0.0, 0.0, 0.0]], dtype=torch.float16) == 0.0  # 3e^-8.5 > 2^-11
    assert softmax_collapse_fraction([[6.5, 0.0]], dtype=torch.bfloat16) == 1.0
    assert softmax_collapse_fraction([[6.5, 0.0]], dtype=torch.float16) == 0.0


@pytest.mark.parametrize("dtype", ALL)
def test_single_competitor_gap(dtype):
    # one competitor is absorbed iff exp(-d) < 2^-p (half an ulp of 1; ties to even keep 1)
    p = {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}[dtype]
    gap = p * math.log(2)
    assert abs(gap - GAPS[dtype]) < 0.01
    # margins chosen so that the rounding of d itself cannot matter
    assert softmax_collapse_fraction([[gap + 0.05, 0.0]], dtype=dtype) == 1.0
    assert softmax_collapse_fraction([[gap - 0.05, 0.0]], dtype=dtype) == 0.0


@pytest.mark.parametrize("dtype", HALF)
def test_the_sum_decides_not_the_gap(dtype):
    # each competitor is beyond the single-competitor gap, together they are not. Half
    # types accumulate in float32 and round once, so the total decides whatever the
    # order; in float32/float64 such rows depend on torch's summation order (spec).
    d = GAPS[dtype] + 0.03
    many = [[d] + [0.0] * 8]
    assert softmax_collapse_fraction([[d, 0.0]], dtype=dtype) == 1.0
    assert softmax_collapse_fraction(many, dtype=dtype) == 0.0


def _slow_spec_reference(z, y, dtype):
    """Row by row, the spec's definition: e_k = fl(exp(z_k - m)) in dtype; S summed left
    to right, in dtype for float32/float64 (torch's CPU order for short rows: a row
    absorbed term by term collapses even if the exact total would not), in float32 for
    half types and rounded once."""
    out = []
    acc_dtype = torch.float32 if dtype in HALF else dtype
    for row, label in zip(z, y):
        t = torch.tensor(row, dtype=dtype)
        m = t.max()
        s = torch.zeros((), dtype=acc_dtype)
        for v in t:
            s = s + torch.exp(v - m).to(acc_dtype)
        s = float(s.to(dtype))
        out.append(s == 1.0 and bool(t[label] == m))
    return np.array(out)


_SIGNIFICAND_BITS = {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}


def _at_the_edge(z, dtype):
    """Rows whose exact (float64) S − 1 lies within 0.4 % of 2^-p, where 1 + x starts to
    round to 1 in ``dtype``: there the per-term rounding of exp decides."""
    zz = np.asarray(z, dtype=np.float64)
    e = np.exp(zz - zz.max(axis=1, keepdims=True))
    e[np.arange(len(zz)), zz.argmax(axis=1)] = 0.0  # x = S - 1: the competitors' sum, no cancellation
    x = e.sum(axis=1)
    return np.abs(x / 2.0 ** -_SIGNIFICAND_BITS[dtype] - 1.0) < 4e-3


def _torch_reference(z, y, dtype):
    """Independent per-row tests: torch's own log_softmax / CE gradient in ``dtype``."""
    zt = torch.tensor(z, dtype=dtype, requires_grad=True)
    yt = torch.tensor(y)
    loss = F.cross_entropy(zt, yt, reduction="none")
    loss.sum().backward()
    true_grad = zt.grad.gather(1, yt[:, None]).squeeze(1)
    return (loss.detach() == 0).numpy(), (true_grad == 0).numpy()


@pytest.mark.parametrize("dtype", ALL)
def test_four_tests_agree_near_thresholds_and_match_torch(dtype):
    gap = GAPS[dtype]
    rng = np.random.default_rng(0)
    d = gap + rng.uniform(-0.6, 0.6, size=200)
    z = np.stack([d, np.zeros_like(d), rng.uniform(-3, 0, size=200)], axis=1)
    z = torch.tensor(z).to(dtype).to(torch.float64).tolist()  # representable in dtype
    y = [0] * 200
    r = softmax_collapse_report(z, y, dtype=dtype)
    assert 0 < r.loss_zero.sum() < 200  # both sides of the threshold are present
    np.testing.assert_array_equal(r.loss_zero, r.p_true_is_one)
    np.testing.assert_array_equal(r.loss_zero, r.true_grad_zero)
    np.testing.assert_array_equal(r.loss_zero, r.collapsed)  # z_y is the max in every row
    # Against independent implementations (a scalar exp, torch's CE kernel) the flags must
    # agree except on rows whose exact sum lies within a hair of the rounding threshold: there
    # exp may differ by an ulp between CPUs and libm builds (SIMD vs scalar), so those rows
    # are not portable. Elsewhere the flags are compared bit for bit.
    clear = ~_at_the_edge(z, dtype)
    assert clear.sum() > 150
    np.testing.assert_array_equal(r.loss_zero[clear], _slow_spec_reference(z, y, dtype)[clear])
    if dtype is torch.bfloat16:
        # torch's CPU bfloat16 log_softmax keeps the float32 sum unrounded before the log,
        # so within one bf16 ulp of the threshold its loss can be non-zero (docs).
        return
    ref_zero, ref_grad_zero = _torch_reference(z, y, dtype)
    np.testing.assert_array_equal(r.loss_zero[clear], ref_zero[clear])
    np.testing.assert_array_equal(r.true_grad_zero[clear], ref_grad_zero[clear])


def test_label_relative_vs_free_and_ignore_index():
    z = torch.tensor([[30.0, 0.0], [30.0, 0.0], [1.0, 0.0], [30.0, 0.0]])
    assert softmax_collapse_fraction(z) == 0.75
    assert softmax_collapse_fraction(z, [0, 1, 0, -100]) == pytest.approx(1 / 3)
    assert zero_loss_fraction(z, [0, 1, 0, -100]) == pytest.approx(1 / 3)
    assert softmax_collapse_fraction(z.reshape(2, 2, 2), [[0, 1], [0, 0]]) == 0.5  # (..., C) rows
    with pytest.raises(InputError, match="ignore_index"):
        softmax_collapse_fraction(z, [-100] * 4)


def test_zero_loss_fraction_forms():
    assert zero_loss_fraction([0.0, -0.0, 1e-30, 2.0]) == 0.5
    z = torch.tensor([[20.0, 0.0], [1.0, 0.0]])
    own = zero_loss_fraction(z, [0, 0], loss_fn=lambda a, b: F.cross_entropy(a, b, reduction="none"))
    assert own == 0.5 == zero_loss_fraction(z, [0, 0])
    with pytest.raises(InputError, match="one loss per row"):
        zero_loss_fraction(z, [0, 0], loss_fn=lambda a, b: F.cross_entropy(a, b))
    with pytest.raises(InputError):
        zero_loss_fraction([[0.0, 1.0]])


def test_bad_input_and_no_mutation():
    z = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    before = z.clone()
    softmax_collapse_fraction(z, [0, 1], dtype=torch.float16)
    assert torch.equal(z, before)
    for bad, match in [([[1.0, float("nan")]], "finite"), ([], "empty"), ([[70000.0, 0.0]], "float16")]:
        with pytest.raises(InputError, match=match):
            softmax_collapse_fraction(bad, dtype=torch.float16)
    with pytest.raises(InputError, match="labels"):
        softmax_collapse_fraction(z, [0, 2])
    with pytest.raises(InputError, match="one entry per"):
        softmax_collapse_fraction(z, [0])
    with pytest.raises(InputError, match="dtype"):
        softmax_collapse_fraction(z, dtype=torch.int32)


def test_update_absorption():
    w = torch.tensor([1.0, 1.0, 1.0, 0.0])
    g = torch.tensor([1e-9, 1.0, 0.0, 1e-30])
    # 1 - 1e-12 == 1 in float32 (absorbed); 1 - 1e-3 is not; g = 0 excluded; w = 0 takes any update
    assert update_absorption_fraction(w, g, lr=1e-3) == pytest.approx(1 / 3)
    assert update_absorption_fraction(w.double(), g.double(), lr=1e-3) == 0.0
    with pytest.raises(InputError, match="non-zero"):
        update_absorption_fraction(w, torch.zeros(4), lr=1e-3)


def test_nlm_sign_convention_hand_case():
    r = nlm_alignment([[1.0, 0.0], [0.0, 2.0]], [[-1.0, 0.0], [1.0, 0.0]])
    assert r.per_tensor["0"].cos == 1.0
    assert r.per_tensor["1"].cos == 0.0
    assert abs(r.global_cos - 1 / math.sqrt(10)) < 1e-12
    assert r.global_grad_norm == pytest.approx(math.sqrt(2), abs=1e-15)
    # a pure logit-scaling gradient (−g ∥ +w) gives +1; an orthogonal one 0
    w = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    assert nlm_alignment({"w": w}, {"w": -0.7 * w}).global_cos == pytest.approx(1.0, abs=1e-12)
    assert nlm_alignment({"w": w}, {"w": 0.7 * w}).global_cos == pytest.approx(-1.0, abs=1e-12)
    upd = nlm_alignment({"w": w}, {"w": 0.1 * w}, kind="update")
    assert upd.global_cos == pytest.approx(1.0, abs=1e-12)
    zero = nlm_alignment({"w": torch.zeros(2)}, {"w": torch.ones(2)})
    assert zero.global_cos is None


def test_nlm_module_skips_gradless_and_euler_identity():
    torch.manual_seed(0)
    depth = 3  # bias-free ReLU MLP with 3 linear layers: homogeneous of degree 3
    net = torch.nn.Sequential(torch.nn.Linear(5, 7, bias=False), torch.nn.ReLU(),
                              torch.nn.Linear(7, 7, bias=False), torch.nn.ReLU(),
                              torch.nn.Linear(7, 4, bias=False)).double()
    x = torch.randn(9, 5, dtype=torch.float64)
    y = torch.randint(0, 4, (9,))
    z = net(x)
    z.retain_grad()
    F.cross_entropy(z, y).backward()
    r = nlm_alignment(net)
    w_dot_g = -sum(t.dot for t in r.per_tensor.values())  # ⟨θ, ∇L⟩
    z_dot_gz = float((z.detach() * z.grad).sum())
    assert abs(w_dot_g - depth * z_dot_gz) < 1e-12
    # same sign & the logit-space cosine is our extension
    c = nlm_logit_alignment(z.detach(), z.grad)
    assert np.sign(c) == np.sign(r.global_cos)
    net[0].weight.grad = None
    assert nlm_alignment(net).skipped == ("0.weight",)


def test_monitor_signals_warn_raise_and_nonfinite_rows():
    m = SoftmaxCollapseMonitor(every_n_steps=2, onset_threshold=0.5)
    big = torch.tensor([[30.0, 0.0, 0.0]] * 3 + [[1.0, 0.0, 0.0]])
    small = torch.tensor([[1.0, 0.0, 0.0]] * 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step, z in enumerate([small, small, big, big, big]):
            m.on_step(step, logits=z, labels=[0, 0, 1, 0])
    assert [r["step"] for r in m.history] == [0, 2, 4]
    assert m.history[1]["collapse_fraction"] == 0.75 and m.history[1]["zero_loss_fraction"] == 0.5
    assert m.onset_step == 2
    assert [w.category for w in caught] == [MonitorWarning]
    r = SoftmaxCollapseMonitor(every_n_steps=1, on_alert="raise")
    with pytest.raises(CollapseDetected):
        r.on_step(logits=big)
    nf = SoftmaxCollapseMonitor(every_n_steps=1, dtype=torch.float16, on_alert="ignore")
    rec = nf.on_step(logits=torch.tensor([[1e5, 0.0], [1.0, 0.0], [float("nan"), 0.0]]))
    assert rec["nonfinite_rows"] == 2 and rec["rows"] == 1 and rec["collapse_fraction"] == 0.0


def test_monitor_nlm_from_model():
    net = torch.nn.Linear(3, 2, bias=False)
    x = torch.randn(4, 3)
    z = net(x)
    F.cross_entropy(z, torch.tensor([0, 1, 0, 1])).backward()
    m = SoftmaxCollapseMonitor(every_n_steps=1)
    rec = m.on_step(logits=z, model=net)
    assert rec["nlm_cos"] == pytest.approx(nlm_alignment(net).global_cos, abs=1e-15)
