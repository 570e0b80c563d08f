"""Diagnostics that must not stop training, keep the caller's dtype, and accept any memory layout."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diagnostics import (
    GradientAlignmentMonitor,
    SoftmaxCollapseMonitor,
    attention_logit_bound,
    continual_eval_report,
    gradient_cosine,
    lr_sensitivity,
    max_attention_logit,
    min_acc,
    nlm_alignment,
    nlm_logit_alignment,
    output_logit_stats,
    plasticity_stability,
    softmax_collapse_fraction,
    softmax_collapse_report,
    update_absorption_fraction,
    wc_acc,
    windowed_forgetting,
    z_loss,
    zero_loss_fraction,
)
from metrics.core.errors import InputError
from tests.guards import guard_call


def test_fresh_model_without_gradients():
    net = torch.nn.Linear(3, 2)
    with pytest.raises(InputError, match="no gradients"):
        nlm_alignment(net)
    rec = SoftmaxCollapseMonitor(every_n_steps=1).on_step(0, logits=torch.randn(4, 3), model=net)
    assert rec["nlm_cos"] is None and rec["nonfinite_grads"] is None and rec["rows"] == 4


def _frozen_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    net[0].weight.requires_grad_(False)
    return net, torch.randn(5, 3)


def test_frozen_parameters_are_skipped():
    net, x = _frozen_net()
    trainable = [p for p in net.parameters() if p.requires_grad]
    a, b = net(x).sum(), net(x).pow(2).sum()
    ga = torch.autograd.grad(a, trainable, retain_graph=True)
    gb = torch.autograd.grad(b, trainable, retain_graph=True)
    inner = sum(float((u.double() * v.double()).sum()) for u, v in zip(ga, gb))
    r = gradient_cosine(a, b, params=list(net.parameters()))
    assert r.global_inner == pytest.approx(inner, rel=1e-12)
    assert len(r.per_tensor) == 3
    ps = plasticity_stability(a, b, list(net.parameters()))
    assert ps.global_inner == pytest.approx(inner, rel=1e-12)
    mon = GradientAlignmentMonitor(lambda model: (model(x).sum(), model(x).pow(2).sum(), list(model.parameters())),
                                   every_n_steps=1)
    assert mon.on_step(0, model=net)["global_inner"] == pytest.approx(inner, rel=1e-12)
    net.requires_grad_(False)
    with pytest.raises(InputError, match="frozen"):
        gradient_cosine(a, b, params=list(net.parameters()))


def test_batch_with_every_label_ignored_is_recorded_not_raised():
    m = SoftmaxCollapseMonitor(every_n_steps=1)
    rec = m.on_step(0, logits=torch.randn(4, 3), labels=torch.full((4,), -100))
    assert rec["rows"] == 0 and rec["collapse_fraction"] is None and rec["zero_loss_fraction"] is None


def test_nan_loss_flags_nonfinite_gradients():
    net = torch.nn.Linear(3, 2, bias=False)
    z = net(torch.randn(5, 3))
    (z.sum() * float("nan")).backward()
    rec = SoftmaxCollapseMonitor(every_n_steps=1).on_step(0, logits=z.detach(), model=net)
    assert rec["nlm_cos"] is None and rec["nonfinite_grads"] == 1
    with pytest.raises(InputError, match="gradient of params"):
        nlm_alignment(net)
    net.weight.grad = torch.ones_like(net.weight)
    rec = SoftmaxCollapseMonitor(every_n_steps=1).on_step(0, logits=z.detach(), model=net)
    assert rec["nonfinite_grads"] == 0 and rec["nlm_cos"] is not None


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_nlm_alignment_is_scale_safe(scale):
    w = torch.tensor([[0.3, -1.2], [2.0, 0.5]], dtype=torch.float64)
    g = torch.tensor([[-1.0, 0.25], [0.5, 2.0]], dtype=torch.float64)
    ref = -float((w * g).sum()) / (float(w.norm()) * float(g.norm()))  # hand formula at scale 1
    r = nlm_alignment({"w": w * scale}, {"w": g})
    assert r.global_cos == pytest.approx(ref, rel=1e-12)
    assert r.per_tensor["w"].cos == pytest.approx(ref, rel=1e-12)
    assert r.global_weight_norm == pytest.approx(float(w.norm()) * scale, rel=1e-12)
    # two tensors of very different scales: the global cosine combines them exactly
    r2 = nlm_alignment({"a": w * scale, "b": w}, {"a": g, "b": g})
    dot = -(float((w * g).sum()) * scale + float((w * g).sum()))
    expected = dot / (math.hypot(float(w.norm()) * scale, float(w.norm())) * float(g.norm()) * math.sqrt(2))
    assert r2.global_cos == pytest.approx(expected, rel=1e-12)


def test_nlm_alignment_names_what_overflowed():
    big = torch.full((3,), 1e200, dtype=torch.float64)
    with pytest.raises(InputError, match="float64 range") as info:
        nlm_alignment([big], [big])
    assert "finite" not in str(info.value)


def test_absorption_keeps_the_weights_dtype():
    w = np.float32([1.0, 1.0])
    g = np.float32([1e-8, 1e-8])  # 1 - 1e-8 == 1 in float32, not in float64
    assert update_absorption_fraction([w], [g], lr=1.0) == 1.0
    assert update_absorption_fraction([torch.from_numpy(w)], [torch.from_numpy(g)], lr=1.0) == 1.0
    assert update_absorption_fraction([w.astype(np.float64)], [g.astype(np.float64)], lr=1.0) == 0.0


def test_z_loss_keeps_float32_numpy_in_float32():
    z = np.float32([[0.0, 0.0], [1.0, -2.0]])
    assert z_loss(z).dtype == torch.float32 == z_loss(torch.from_numpy(z)).dtype
    assert float(z_loss(z)) == float(z_loss(torch.from_numpy(z)))


def _layouts(a: np.ndarray):
    """The same values with negative strides, Fortran order, and a view of a view."""
    rev = np.ascontiguousarray(a[::-1])[::-1]
    fort = np.asfortranarray(a)
    wide = np.zeros((a.shape[0], 2 * a.shape[-1]) if a.ndim == 2 else (2 * a.shape[0],), dtype=a.dtype)
    view = wide[:, ::2] if a.ndim == 2 else wide[::2]
    view[...] = a
    return {"negative strides": rev, "fortran": fort, "view of a view": view[...],
            "torch transposed": torch.from_numpy(np.ascontiguousarray(a.T)).T if a.ndim == 2 else torch.from_numpy(a)}


_RNG = np.random.default_rng(0)
_Z = (_RNG.standard_normal((7, 5)) * 8).astype(np.float32)
_Y = np.array([0, 1, 2, 3, 4, 0, 1])
_ACC = _RNG.uniform(0.2, 1.0, (6, 3))
_TASK = np.array([0, 0, 1, 1, 2, 2])

_CASES = {
    "softmax_collapse_fraction": (lambda z: softmax_collapse_fraction(z), _Z),
    "softmax_collapse_fraction labels": (lambda z: softmax_collapse_fraction(_Z, z), _Y),
    "softmax_collapse_report": (lambda z: softmax_collapse_report(z, _Y).loss.tolist(), _Z),
    "zero_loss_fraction": (lambda z: zero_loss_fraction(z, _Y), _Z),
    "zero_loss_fraction losses": (lambda z: zero_loss_fraction(z), np.float32([0.0, 1.0, 0.0, 2.0])),
    "z_loss": (lambda z: float(z_loss(z)), _Z),
    "output_logit_stats": (lambda z: output_logit_stats(z, _Y), _Z),
    "nlm_logit_alignment": (lambda z: nlm_logit_alignment(z, _Z), _Z),
    "nlm_alignment": (lambda z: nlm_alignment([z], [_Z]).global_cos, _Z),
    "update_absorption_fraction": (lambda z: update_absorption_fraction([z], [_Z], lr=1e-9), _Z),
    "min_acc": (lambda a: min_acc(a, _TASK), _ACC),
    "wc_acc": (lambda a: wc_acc(a, _TASK), _ACC),
    "windowed_forgetting": (lambda a: windowed_forgetting(a, _TASK, window=2), _ACC),
    "continual_eval_report": (lambda a: continual_eval_report(a, _TASK, windows=(2,)).to_dict(), _ACC),
    "lr_sensitivity": (lambda a: lr_sensitivity(a, initial_loss=10.0), np.array([4.0, 3.0, 5.0, 12.0])),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_any_memory_layout_gives_the_same_value(case):
    fn, base = _CASES[case]
    expected = fn(np.ascontiguousarray(base))
    for layout, arr in _layouts(base).items():
        np.testing.assert_equal(fn(arr), expected, err_msg=layout)


def test_attention_logits_any_layout():
    q = _RNG.standard_normal((1, 2, 3, 4))
    k = _RNG.standard_normal((1, 2, 3, 4))
    expected = (max_attention_logit(q, k, causal=True), attention_logit_bound(q, k))
    flipped = np.ascontiguousarray(q[..., ::-1])[..., ::-1]
    assert (max_attention_logit(flipped, k, causal=True), attention_logit_bound(flipped, k)) == expected


def test_collapse_is_bit_exact_on_one_machine_whatever_the_chunking():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3000, 37, generator=g) * 12  # many rows at the edge of float32 collapse
    y = torch.randint(0, 37, (3000,), generator=g)
    ref = softmax_collapse_report(z, y)
    assert 0 < ref.collapse_fraction < 1
    for chunk_rows in (1, 7, 1000, 8192):
        assert softmax_collapse_fraction(z, chunk_rows=chunk_rows) == ref.collapse_fraction
        assert softmax_collapse_fraction(z, y, chunk_rows=chunk_rows) == ref.zero_loss_fraction
    # the label-relative test is exactly "F.cross_entropy gives 0" on this machine
    ce_zero = (F.cross_entropy(z, y, reduction="none") == 0).numpy()
    np.testing.assert_array_equal(ref.loss_zero, ce_zero)


def test_host_synchronisations():
    z = torch.randn(64, 10)
    y = torch.randint(0, 10, (64,))
    _, report = guard_call(softmax_collapse_fraction, z, y)
    assert report.syncs <= 1, report.events
    _, report = guard_call(z_loss, z.requires_grad_(), y, validate_args=False)
    assert report.syncs == 0 and report.host_copies == 0, report.events
    monitor = SoftmaxCollapseMonitor(every_n_steps=2)
    net = torch.nn.Linear(10, 10, bias=False)
    F.cross_entropy(net(torch.randn(4, 10)), torch.tensor([0, 1, 2, 3])).backward()
    _, due = guard_call(monitor.on_step, 0, logits=z.detach(), labels=y, model=net)
    _, not_due = guard_call(monitor.on_step, 1, logits=z.detach(), labels=y, model=net)
    assert due.syncs <= 1, due.events
    assert not_due.syncs == 0 and not_due.host_copies == 0, not_due.events


def test_z_loss_and_logit_stats_read_the_host_once():
    z = torch.randn(64, 10)
    y = torch.randint(0, 10, (64,))
    for fn in (z_loss, output_logit_stats):
        _, report = guard_call(fn, z, y)
        assert report.syncs <= 1, report.events
    _, report = guard_call(lambda t: z_loss(t, y, validate_args=False).backward(), z.clone().requires_grad_())
    assert report.syncs == 0 and report.host_copies == 0, report.events
