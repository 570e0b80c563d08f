"""The bounded-memory passes of the diagnostics: the float64 sums of NLM alignment through a
small staging buffer, log Z and the per-row collapse values in row chunks. Whatever the
block or chunk size, the values equal a slow reference (``math.fsum`` over float64
products, ``torch.logsumexp`` in float64) and each other."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import diagnostics._params as params_module
import diagnostics.collapse as collapse_module
import diagnostics.instability as instability_module
from diagnostics import nlm_alignment, output_logit_stats, softmax_collapse_report, z_loss
from diagnostics._params import pair_sums
from metrics.core.errors import InputError


def _fsum_reference(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> list[list[float]]:
    out = []
    for w, g in pairs:
        a = w.to(torch.float64).reshape(-1).tolist()
        b = g.to(torch.float64).reshape(-1).tolist()
        out.append([math.fsum(x * x for x in a), math.fsum(x * y for x, y in zip(a, b)),
                    math.fsum(y * y for y in b)])
    return out


def _pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    shapes = [(3,), (5, 7), (5, 7), (1000,), (64,), (64,), (64,), (0,), (1,), (4, 33), (129,)]
    pairs = [(torch.randn(s, generator=g) * 10.0 ** (i % 5 - 2), torch.randn(s, generator=g))
             for i, s in enumerate(shapes)]
    pairs.append((torch.randn(300, generator=g, dtype=torch.float64), torch.randn(300, generator=g).bfloat16()))
    pairs.append((torch.randn(77, generator=g).half(), torch.randn(77, generator=g, dtype=torch.float64)))
    return pairs


@pytest.mark.parametrize("block", [1, 7, 64, 100, 1 << 17])
def test_pair_sums_equal_exact_float64_products_whatever_the_block(monkeypatch, block):
    monkeypatch.setattr(params_module, "_CPU_BLOCK", block)
    pairs = _pairs()
    got = pair_sums(pairs)
    assert got.shape == (len(pairs), 5) and got.dtype == torch.float64
    for row, ref in zip(got.tolist(), _fsum_reference(pairs)):
        for value, exact in zip(row[:3], ref):
            assert value == pytest.approx(exact, rel=1e-13, abs=1e-300)
    # maxima only for float64 data, 0 elsewhere
    assert got[-2, 3].item() == pairs[-2][0].abs().max().item()
    assert got[0, 3].item() == 0.0 and got[0, 4].item() == 0.0


def test_nlm_alignment_is_the_same_through_a_tiny_buffer(monkeypatch):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.ReLU(), torch.nn.Linear(30, 5, bias=False))
    torch.nn.functional.cross_entropy(net(torch.randn(16, 20)), torch.randint(0, 5, (16,))).backward()
    w = torch.cat([p.detach().reshape(-1).double() for p in net.parameters()]).tolist()
    g = torch.cat([p.grad.reshape(-1).double() for p in net.parameters()]).tolist()
    dot, ww, gg = (math.fsum(a * b for a, b in zip(w, g)), math.fsum(a * a for a in w),
                   math.fsum(b * b for b in g))
    expected = -dot / math.sqrt(ww * gg)
    monkeypatch.setattr(params_module, "_CPU_BLOCK", 13)
    small = nlm_alignment(net)
    monkeypatch.setattr(params_module, "_CPU_BLOCK", 1 << 17)
    large = nlm_alignment(net)
    assert small.global_cos == pytest.approx(expected, rel=1e-12)
    assert large.global_cos == pytest.approx(expected, rel=1e-12)
    assert small.global_grad_norm == pytest.approx(math.sqrt(gg), rel=1e-13)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_z_loss_is_the_same_for_every_chunk_size_and_float32_accurate(monkeypatch, dtype):
    g = torch.Generator().manual_seed(1)
    z = (torch.randn(37, 300, generator=g) * 6).to(dtype)
    y = torch.randint(0, 300, (37,), generator=g)
    y[3] = -100
    values = []
    for chunk in (1, 300, 301, 1000, 1 << 17):
        monkeypatch.setattr(instability_module, "_CPU_CHUNK", chunk)
        values.append(z_loss(z, y).item())
    assert len(set(values)) == 1  # row-wise work: bit-identical whatever the chunking
    log_z = torch.logsumexp(z.double(), dim=-1)
    keep = y != -100
    reference = 1e-4 * float(log_z[keep].square().mean())
    assert values[0] == pytest.approx(reference, rel=2e-6)  # float32 log Z, not the half dtype's


def test_z_loss_gradient_does_not_depend_on_the_chunking(monkeypatch):
    g = torch.Generator().manual_seed(2)
    z0 = torch.randn(9, 50, generator=g, dtype=torch.float64)
    grads = []
    for chunk in (1, 60, 1 << 17):
        monkeypatch.setattr(instability_module, "_CPU_CHUNK", chunk)
        z = z0.clone().requires_grad_()
        z_loss(z, coefficient=0.5).backward()
        grads.append(z.grad)
    expected = 2 * 0.5 * torch.logsumexp(z0, -1)[:, None] * torch.softmax(z0, -1) / z0.shape[0]
    for grad in grads:
        torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("bad", [float("-inf"), float("inf"), float("nan")])
def test_z_loss_finds_a_non_finite_logit_in_any_chunk(monkeypatch, bad):
    monkeypatch.setattr(instability_module, "_CPU_CHUNK", 40)
    z = torch.randn(12, 20)
    z[10, 7] = bad
    with pytest.raises(InputError, match="finite"):
        z_loss(z)
    y = torch.zeros(12, dtype=torch.int64)
    y[10] = -100  # the ignored row may hold anything
    assert math.isfinite(z_loss(z, y).item())


def test_log_probabilities_below_the_float_range_are_not_an_error():
    z = torch.tensor([[3e38, -3e38, 0.0]])  # z - max z overflows to -inf in float32
    assert output_logit_stats(z)["mean_log_z"] == pytest.approx(3e38, rel=1e-6)


def test_collapse_report_of_half_logits_is_bit_identical_whatever_the_cast_chunk(monkeypatch):
    g = torch.Generator().manual_seed(3)
    z = (torch.randn(500, 40, generator=g) * 12).bfloat16()
    y = torch.randint(0, 40, (500,), generator=g)
    reports = []
    for chunk in (1, 41, 1 << 20):
        monkeypatch.setattr(collapse_module, "_CPU_CAST_CHUNK_ELEMENTS", chunk)
        reports.append(softmax_collapse_report(z, y))
    for r in reports[1:]:
        for field in ("sum_exp", "collapsed", "loss", "loss_zero", "p_true_is_one"):
            np.testing.assert_array_equal(getattr(r, field), getattr(reports[0], field))
        assert r.collapse_fraction == reports[0].collapse_fraction
    # the float32 values are those of the float32 log-softmax of the same numbers
    lsm = torch.log_softmax(z.float(), dim=-1)
    np.testing.assert_array_equal(reports[0].loss, (-lsm.gather(1, y[:, None]).squeeze(1)).double().numpy())


def test_an_ignored_row_holding_nan_does_not_reach_the_values():
    z = torch.randn(6, 9, dtype=torch.float64)
    y = torch.arange(6) % 9
    z[2, 4] = float("nan")
    y[2] = -100
    keep = y != -100
    log_z = torch.logsumexp(z[keep], dim=-1)
    assert z_loss(z, y, coefficient=0.1).item() == pytest.approx(0.1 * float(log_z.square().mean()), rel=1e-12)
    stats = output_logit_stats(z, y, coefficient=0.1)
    assert stats["mean_logit"] == pytest.approx(float(z[keep].mean()), rel=1e-12)
    assert stats["mean_log_z"] == pytest.approx(float(log_z.mean()), rel=1e-12)
    assert stats["max_abs_log_z"] == pytest.approx(float(log_z.abs().max()), rel=1e-12)


def test_pair_sums_build_nothing_from_host_data(monkeypatch):
    # an index tensor made from a Python list would be a host-to-device copy on a GPU,
    # which synchronises the stream: the per-tensor rows are gathered by stacking views
    def refuse(*args, **kwargs):
        raise AssertionError("pair_sums must not build a tensor from host data")

    monkeypatch.setattr(torch, "tensor", refuse)
    monkeypatch.setattr(torch, "as_tensor", refuse)
    monkeypatch.setattr(params_module, "_CPU_BLOCK", 64)
    pairs = _pairs()
    got = pair_sums(pairs)
    monkeypatch.undo()
    for row, ref in zip(got.tolist(), _fsum_reference(pairs)):
        assert row[:3] == pytest.approx(ref, rel=1e-13, abs=1e-300)
