"""Instability signals: the spec's hand cases, masking, a dense reference, bad input."""

import math

import numpy as np
import pytest
import torch

from diagnostics.instability import (
    QKRecorder,
    attention_logit_bound,
    lr_sensitivity,
    max_attention_logit,
    output_logit_stats,
    z_loss,
)
from metrics import InputError

Q = torch.tensor([[1.0, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float64)[None, None]
K = torch.tensor([[1.0, 0, 0, 0], [3, 3, 0, 0]], dtype=torch.float64)[None, None]


def test_attention_hand_case():
    assert max_attention_logit(Q, K, causal=True) == 1.5
    assert max_attention_logit(Q, K) == 3.0
    # the masking trap: the largest entry (query 0, key 1) is masked out
    mask = torch.tensor([[True, False], [True, True]])
    assert max_attention_logit(Q, K, mask=mask) == 1.5
    assert max_attention_logit(-Q, K, absolute=True) == 3.0
    assert max_attention_logit(-Q, K) == -0.5
    assert max_attention_logit(Q, K, scale=1.0) == 6.0


def test_attention_matches_dense_reference_per_head():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 4, 7, 8, generator=g, dtype=torch.float64)
    k = torch.randn(3, 4, 9, 8, generator=g, dtype=torch.float64)
    mask = torch.rand(3, 1, 7, 9, generator=g) > 0.3
    z = q @ k.transpose(-1, -2) / math.sqrt(8)
    z = z.masked_fill(~mask, -math.inf)
    expected = z.amax(dim=(0, 2, 3))
    got = max_attention_logit(q, k, mask=mask, per_head=True)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert max_attention_logit(q, k, mask=mask) == pytest.approx(float(expected.max()), abs=1e-12)
    assert attention_logit_bound(q, k) >= max_attention_logit(q, k, absolute=True)


def test_qk_recorder_hooks_projections():
    torch.manual_seed(0)
    q_proj, k_proj = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)
    x = torch.randn(2, 5, 8)
    with QKRecorder(q_proj, k_proj, n_heads=2) as rec:
        q_proj(x), k_proj(x)
    q = q_proj(x).detach().reshape(2, 5, 2, 4).transpose(1, 2)
    k = k_proj(x).detach().reshape(2, 5, 2, 4).transpose(1, 2)
    assert rec.max_attention_logit(causal=True) == max_attention_logit(q, k, causal=True)
    assert not q_proj._forward_hooks  # hooks removed on exit


def test_attention_bad_input():
    with pytest.raises(InputError, match="q must be a 4-D tensor"):
        max_attention_logit(Q[0], K)
    with pytest.raises(InputError, match="q and k must agree"):
        max_attention_logit(Q, K[..., :3])
    with pytest.raises(InputError, match="no position allowed"):
        max_attention_logit(Q, K, mask=torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(InputError, match="mask must be a boolean"):
        max_attention_logit(Q, K, mask=torch.ones(2, 2))
    with pytest.raises(InputError, match="q must be finite"):
        max_attention_logit(Q * math.nan, K)


def test_z_loss_hand_case_and_gradient():
    logits = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    loss = z_loss(logits)
    assert float(loss.detach()) == pytest.approx(1e-4 * math.log(2) ** 2, abs=1e-15)
    loss.backward()
    expected = 2e-4 * math.log(2) * torch.full((1, 2), 0.5, dtype=torch.float64)
    torch.testing.assert_close(logits.grad, expected, rtol=0, atol=1e-15)


def test_z_loss_ignores_padding_like_cross_entropy():
    logits = torch.tensor([[[0.0, 0.0], [5.0, 1.0]], [[2.0, 2.0], [9.0, -9.0]]], dtype=torch.float64)
    labels = torch.tensor([[0, -100], [1, -100]])
    kept = torch.logsumexp(logits[labels != -100], dim=-1)
    assert float(z_loss(logits, labels, coefficient=1.0)) == pytest.approx(float((kept ** 2).mean()), abs=1e-12)
    stats = output_logit_stats(logits, labels)
    assert stats["min_logit"] == 0.0 and stats["mean_log_z"] == pytest.approx(float(kept.mean()))
    with pytest.raises(InputError, match="one entry per logit row"):
        z_loss(logits, labels[:1])
    with pytest.raises(InputError, match="at least one row"):
        z_loss(logits, torch.full((2, 2), -100))
    with pytest.raises(InputError, match="logits must be finite"):
        z_loss(torch.tensor([[math.inf, 0.0]]))


def test_lr_sensitivity_hand_case_and_nan_order():
    assert lr_sensitivity([4, 3, 5, math.nan, 12], initial_loss=10) == pytest.approx(3.4, abs=1e-12)
    assert lr_sensitivity([math.nan, 4, 3, 5, 12], initial_loss=10) == pytest.approx(3.4, abs=1e-12)
    assert lr_sensitivity([math.inf, 10.0], initial_loss=10) == 0.0
    with pytest.raises(InputError, match="initial_loss must be a finite number"):
        lr_sensitivity([1.0], initial_loss=math.nan)
    with pytest.raises(InputError, match="lrs must hold one positive learning rate"):
        lr_sensitivity([1.0, 2.0], initial_loss=3.0, lrs=[1e-3])
    with pytest.raises(InputError, match="final_losses must not be empty"):
        lr_sensitivity([], initial_loss=3.0)
    losses = np.array([1.0, np.nan])
    lr_sensitivity(losses, initial_loss=2.0)
    assert np.isnan(losses[1])  # not modified
