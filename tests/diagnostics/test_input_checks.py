"""Bad or unusual inputs to the diagnostics: shapes, label values, containers, dtypes, scale.

Each case here was a defect (a silent acceptance, a foreign exception or a wrong number);
the expected values come from numpy in float64 or from hand cases.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from diagnostics import (
    attention_logit_bound,
    gradient_cosine,
    nlm_alignment,
    output_logit_stats,
    plasticity_stability,
    preference_coefficients,
    softmax_collapse_fraction,
    softmax_collapse_report,
    update_absorption_fraction,
    z_loss,
    zero_loss_fraction,
)
from metrics import InputError

RNG = np.random.default_rng(7)
LOGITS = np.round(RNG.normal(size=(12, 5)) * 256) / 256  # exact in float16
LABELS = RNG.integers(0, 5, 12)


# ------------------------------------------------------------------ label shapes and values
LABEL_FUNCTIONS = [softmax_collapse_fraction, softmax_collapse_report, zero_loss_fraction, z_loss, output_logit_stats]


@pytest.mark.parametrize("fn", LABEL_FUNCTIONS, ids=lambda f: f.__name__)
def test_labels_with_an_extra_dimension_are_rejected(fn):
    with pytest.raises(InputError, match="labels must be 1-D"):
        fn(LOGITS, LABELS[None])


@pytest.mark.parametrize("fn", LABEL_FUNCTIONS, ids=lambda f: f.__name__)
def test_labels_in_the_logits_batch_shape_or_flat_are_accepted(fn):
    z3 = LOGITS.reshape(3, 4, 5)
    a, b = fn(z3, LABELS.reshape(3, 4)), fn(z3, LABELS)
    ref = fn(LOGITS, LABELS)
    for value in (a, b):
        if isinstance(value, dict):
            assert value == pytest.approx(ref, rel=1e-12)
        elif hasattr(value, "sum_exp"):
            np.testing.assert_array_equal(value.sum_exp, ref.sum_exp)
        else:
            assert float(value) == pytest.approx(float(ref), rel=1e-12)
    with pytest.raises(InputError, match="labels"):
        fn(z3, LABELS.reshape(4, 3))


@pytest.mark.parametrize("fn", [z_loss, output_logit_stats], ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [0.5, -1.0, np.nan, 5.0])
def test_z_loss_labels_are_validated(fn, bad):
    labels = LABELS.astype(np.float64)
    labels[3] = bad
    with pytest.raises(InputError, match="labels"):
        fn(LOGITS, labels)


def test_z_loss_accepts_a_custom_ignore_index_and_skips_checks_without_validation():
    labels = LABELS.copy()
    labels[:3] = -1
    kept = LOGITS[3:]
    log_z = np.log(np.exp(kept - kept.max(1, keepdims=True)).sum(1)) + kept.max(1)
    assert float(z_loss(LOGITS, labels, ignore_index=-1, coefficient=1.0)) == pytest.approx(
        float(np.mean(log_z ** 2)), rel=1e-12)
    # validate_args=False: no host read; the labels only mask rows
    assert float(z_loss(LOGITS, labels, ignore_index=-1, coefficient=1.0, validate_args=False)) == pytest.approx(
        float(np.mean(log_z ** 2)), rel=1e-12)


def test_zero_loss_fraction_messages_name_its_argument():
    bad = LOGITS.copy()
    bad[2, 1] = np.nan
    for x in (bad, np.float64(1.0), LOGITS[:0]):
        with pytest.raises(InputError, match="losses_or_logits"):
            zero_loss_fraction(x, LABELS[:len(np.atleast_1d(x))] if np.ndim(x) == 2 and len(x) else LABELS)
    with pytest.raises(InputError, match="losses_or_logits"):
        zero_loss_fraction(np.array([0.0, np.inf]))


# ------------------------------------------------------------------ dtypes
def test_collapse_report_of_half_logits_gives_the_float32_sums():
    """float16 logits, loss in float32: S is the float32 sum (the values are exact in float16)."""
    z = LOGITS
    ref = np.exp(z - z.max(1, keepdims=True)).sum(1)  # float64
    for dt in (np.float16, np.float32):
        r = softmax_collapse_report(z.astype(dt), LABELS)
        np.testing.assert_allclose(r.sum_exp, ref, rtol=1e-6)  # float16 arithmetic was 4e-4 off
        np.testing.assert_allclose(r.loss, (np.log(ref) + z.max(1) - z[np.arange(12), LABELS]), rtol=1e-6, atol=1e-6)
    half = softmax_collapse_report(torch.tensor(z, dtype=torch.float16), LABELS)
    single = softmax_collapse_report(torch.tensor(z, dtype=torch.float32), LABELS)
    np.testing.assert_array_equal(half.sum_exp, single.sum_exp)
    np.testing.assert_array_equal(half.collapsed, single.collapsed)
    assert half.zero_loss_fraction == single.zero_loss_fraction


def test_attention_logit_bound_is_float64_whatever_the_input_dtype():
    rng = np.random.default_rng(3)
    q = np.round(rng.normal(size=(2, 3, 5, 4)) * 64) / 64
    k = np.round(rng.normal(size=(2, 3, 6, 4)) * 64) / 64
    ref = 0.5 * np.linalg.norm(q, axis=3).max(axis=(0, 2)) * np.linalg.norm(k, axis=3).max(axis=(0, 2))
    for dt in (np.float16, np.float32, np.float64):
        assert attention_logit_bound(q.astype(dt), k.astype(dt)) == pytest.approx(ref.max(), rel=1e-15)
        per_head = attention_logit_bound(torch.tensor(q.astype(dt)), torch.tensor(k.astype(dt)), per_head=True)
        np.testing.assert_allclose(per_head.numpy(), ref, rtol=1e-15)


def test_z_loss_is_computed_in_the_logits_dtype():
    """Documented: float32 logits give the float32 kernel's value (a loss term), float64 the exact one."""
    z = LOGITS
    log_z = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    exact = 1e-4 * np.mean(log_z ** 2)
    assert float(z_loss(z)) == pytest.approx(exact, rel=1e-14)
    z32 = float(z_loss(z.astype(np.float32)))
    assert z32 == pytest.approx(exact, rel=1e-6)
    assert z_loss(z.astype(np.float32)).dtype == torch.float32


# ------------------------------------------------------------------ containers
def test_update_absorption_treats_arrays_and_tensors_alike():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(6, 4)).astype(np.float32)
    g = (rng.normal(size=(6, 4)) * 2.0 ** rng.integers(-40, 0, size=(6, 4))).astype(np.float32)
    lr = 2.0 ** -5
    ref = np.mean((w - np.float32(lr) * g) == w)  # every g is non-zero
    assert ref not in (0.0, 1.0)
    forms = [w, torch.tensor(w), pd.DataFrame(w), w.tolist()]
    gforms = [g, torch.tensor(g), pd.DataFrame(g)]
    for a in forms[:3]:
        for b in gforms:
            assert update_absorption_fraction(a, b, lr=lr) == pytest.approx(ref, abs=0)
    assert update_absorption_fraction([torch.tensor(w[:3]), torch.tensor(w[3:])],
                                      [torch.tensor(g[:3]), torch.tensor(g[3:])], lr=lr) == pytest.approx(ref, abs=0)
    with pytest.raises(InputError, match="grads"):
        update_absorption_fraction(np.float32(1.0), g, lr=lr)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_update_absorption_rejects_non_finite_weights(bad):
    w = np.ones((3, 2))
    w[1, 1] = bad
    with pytest.raises(InputError, match="weights must be finite"):
        update_absorption_fraction(w, np.full((3, 2), 1e-30), lr=0.1)


def test_nlm_alignment_of_empty_tensors_has_no_direction():
    r = nlm_alignment(torch.zeros(0, 4), torch.zeros(0, 4))
    assert r.global_cos is None and r.per_tensor["0"].cos is None and r.global_grad_norm == 0.0
    r = nlm_alignment([torch.zeros(0), torch.tensor([1.0, 0.0])], [torch.zeros(0), torch.tensor([-2.0, 0.0])])
    assert r.global_cos == 1.0


# ------------------------------------------------------------------ gradient cosine
def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a / np.abs(a).max(), b / np.abs(b).max()  # the cosine is scale-free; numpy's norm is not
    return float(a.ravel() @ b.ravel() / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_gradient_cosine_of_numpy_vectors_is_one_tensor():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=5), rng.normal(size=5)
    r = gradient_cosine(a, b)
    assert list(r.per_tensor) == ["0"]
    assert r.global_cos == pytest.approx(_cos(a, b), rel=1e-12)
    assert r.global_inner == pytest.approx(float(a @ b), rel=1e-12)


def test_gradient_cosine_shape_mismatch_is_an_input_error():
    with pytest.raises(InputError, match="b must have the shape of a"):
        gradient_cosine(torch.randn(6, 4), torch.randn(5, 4))
    with pytest.raises(InputError, match="must have the shape"):
        gradient_cosine(torch.tensor(1.0), torch.randn(6, 4))
    with pytest.raises(InputError, match=r"b\['w'\] must have the shape"):
        gradient_cosine({"w": torch.randn(3)}, {"w": torch.randn(4)})


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_gradient_cosine_is_scale_free(scale):
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    ref = _cos(a, b)
    r = gradient_cosine(torch.tensor(a * scale), torch.tensor(b))
    assert r.global_cos == pytest.approx(ref, rel=1e-12)
    assert r.per_tensor["0"].cos == pytest.approx(ref, rel=1e-12)
    assert r.global_norm_a == pytest.approx(np.linalg.norm(a) * scale, rel=1e-12)
    assert r.global_inner == pytest.approx(float((a * b).sum()) * scale, rel=1e-12)
    g = gradient_cosine({"x": torch.tensor(a * scale), "y": torch.tensor(b)},
                        {"x": torch.tensor(b), "y": torch.tensor(a)}, groups={"both": ["x", "y"]})
    both = np.concatenate([(a * scale).ravel(), b.ravel()]), np.concatenate([b.ravel(), a.ravel()])
    assert g.per_group["both"].cos == pytest.approx(_cos(*both), rel=1e-9, abs=1e-12)


def test_gradient_cosine_with_a_huge_entry_gives_no_nan():
    a, b = np.ones(4), np.array([1e308, 1.0, 1.0, 1.0])
    r = gradient_cosine(torch.tensor(a), torch.tensor(b))
    assert r.global_cos == pytest.approx(0.5, rel=1e-12)  # (1e308 + 3) / (2 * 1e308)
    assert r.global_norm_b == pytest.approx(1e308, rel=1e-12)


def test_plasticity_stability_share_with_gradient_mappings():
    p = torch.nn.Parameter(torch.zeros(3))
    r = plasticity_stability({"0": torch.tensor([3.0, 0.0, 4.0])}, {"0": torch.tensor([0.0, 1.0, 0.0])}, [p])
    assert r.share_stable == pytest.approx(1.0 / 6.0, rel=1e-15) and r.global_cos == 0.0


# ------------------------------------------------------------------ preference coefficients
def test_preference_coefficients_check_shapes_and_loss():
    t6, t5 = torch.randn(6), torch.randn(5)
    with pytest.raises(InputError, match="logp_l must have the shape of logp_w"):
        preference_coefficients("dpo", t6, t5, t6, t6)
    with pytest.raises(InputError, match="ref_w must have the shape"):
        preference_coefficients("dpo", t6, t6, torch.tensor(0.0), t6)
    with pytest.raises(InputError, match="logp_l"):
        preference_coefficients("dpo", torch.tensor(1.0), t6, t6, t6)
    with pytest.raises(InputError, match="loss must be one of"):
        preference_coefficients("kto", t6, t6, t6, t6)
    c_w, c_l = preference_coefficients("dpo", t6, t6 - 1, torch.zeros(6), torch.zeros(6), beta=0.5)
    np.testing.assert_allclose(c_w.numpy(), 0.5 / (1 + math.exp(0.5)), rtol=1e-6)


def test_z_loss_gradient_is_2c_log_z_softmax_and_passes_gradcheck():
    z = torch.tensor(LOGITS[:6], requires_grad=True)
    labels = torch.tensor(LABELS[:6])
    labels[1] = -100
    torch.autograd.gradcheck(lambda t: z_loss(t, labels, coefficient=0.3), (z,))
    z_loss(z, labels, coefficient=0.3).backward()
    x = LOGITS[:6]
    log_z = np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) + x.max(1)
    soft = np.exp(x - log_z[:, None])
    keep = (labels != -100).numpy()
    expected = 2 * 0.3 * (log_z * keep / keep.sum())[:, None] * soft
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    zb = torch.tensor(LOGITS[:6], dtype=torch.bfloat16, requires_grad=True)
    z_loss(zb, labels, coefficient=0.3).backward()
    assert zb.grad.dtype == torch.bfloat16
    np.testing.assert_allclose(zb.grad.double().numpy(), expected, rtol=1e-2, atol=1e-5)
