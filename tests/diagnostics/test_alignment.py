"""Gradient-alignment probes against autograd, a real SGD step and hand cases."""

import math

import pytest
import torch

from diagnostics import (
    gradient_cosine,
    gradient_entanglement,
    plasticity_stability,
    preference_coefficients,
    sequence_logps,
)
from metrics import InputError
from reference_models.alignment_experiments import TinyCausalLM as ReferenceTinyLM

V, D = 11, 6


def TinyCausalLM(seed=0):
    return ReferenceTinyLM(vocab_size=V, width=D, seed=seed)


def make_pairs(b=3, t=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids_w = torch.randint(0, V, (b, t), generator=g)
    ids_l = ids_w.clone()
    ids_l[:, 3:] = torch.randint(0, V, (b, t - 3), generator=g)
    mask = torch.zeros(b, t, dtype=torch.long)
    mask[:, 3:] = 1
    return {"input_ids": ids_w, "response_mask": mask}, {"input_ids": ids_l, "response_mask": mask.clone()}


def manual_gradient(model, batch, i, reduction="sum"):
    """Straightforward autograd of one sequence's response log-prob, one pair at a time."""
    model.zero_grad()
    ids = batch["input_ids"][i: i + 1]
    out = model(input_ids=ids)
    logp = torch.log_softmax(getattr(out, "logits", out)[0, :-1], dim=-1)
    tok = logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]]
    mask = batch["response_mask"][i, 1:].bool()
    value = tok[mask].sum() / (mask.sum() if reduction == "mean" else 1)
    value.backward()
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    model.zero_grad()
    return grads


def test_loop_equals_manual_autograd_and_vmap():
    model = TinyCausalLM()
    chosen, rejected = make_pairs()
    loop = gradient_entanglement(model, chosen, rejected, method="loop")
    vmapped = gradient_entanglement(model, chosen, rejected, method="vmap")
    for i, (a, b) in enumerate(zip(loop.per_pair, vmapped.per_pair)):
        gw, gl = manual_gradient(model, chosen, i), manual_gradient(model, rejected, i)
        assert a.inner == pytest.approx(float(gw @ gl), rel=1e-12, abs=1e-12)
        assert a.norm_w == pytest.approx(float(gw.norm()), rel=1e-12)
        for field in ("inner", "norm_w", "norm_l", "delta_chosen", "delta_rejected", "ratio_min"):
            assert getattr(b, field) == pytest.approx(getattr(a, field), rel=1e-10, abs=1e-10)
    assert all(p.grad is None for p in model.parameters())  # .grad untouched


def test_simpo_uses_mean_log_probs():
    model = TinyCausalLM()
    chosen, rejected = make_pairs()
    rep = gradient_entanglement(model, chosen, rejected, loss="simpo", beta=2.0, gamma=0.5)
    gw, gl = manual_gradient(model, chosen, 0, "mean"), manual_gradient(model, rejected, 0, "mean")
    assert rep.per_pair[0].inner == pytest.approx(float(gw @ gl), rel=1e-12)
    lw = sequence_logps(model, chosen, reduction="mean")[0].detach()
    ll = sequence_logps(model, rejected, reduction="mean")[0].detach()
    u = 2.0 * (lw - ll) - 0.5
    assert rep.per_pair[0].c_w == pytest.approx(2.0 * float(torch.sigmoid(-u)), rel=1e-12)


@pytest.mark.parametrize("loss", ["dpo", "ipo"])
def test_closed_form_coefficients_equal_autograd(loss):
    g = torch.Generator().manual_seed(3)
    lw, ll, rw, rl = (torch.randn(5, generator=g, dtype=torch.float64) for _ in range(4))
    beta = 0.3

    def dpo(a, b, ra, rb):
        return -torch.nn.functional.logsigmoid(beta * ((a - ra) - (b - rb)))

    def ipo(a, b, ra, rb):
        return ((a - ra) - (b - rb) - 1 / (2 * beta)) ** 2

    closed = preference_coefficients(loss, lw, ll, rw, rl, beta=beta)
    auto = preference_coefficients(dpo if loss == "dpo" else ipo, lw, ll, rw, rl, beta=beta)
    torch.testing.assert_close(closed[0], auto[0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(closed[1], auto[1], rtol=1e-12, atol=1e-14)


def test_predicted_change_matches_a_real_sgd_step():
    model = TinyCausalLM(seed=4)
    chosen, rejected = make_pairs(b=2, seed=5)
    beta, eta = 0.5, 1e-5
    rep = gradient_entanglement(model, chosen, rejected, loss="dpo", beta=beta)
    for i in range(2):
        pair_w = {k: v[i: i + 1] for k, v in chosen.items()}
        pair_l = {k: v[i: i + 1] for k, v in rejected.items()}
        before_w, before_l = float(sequence_logps(model, pair_w).detach()), float(sequence_logps(model, pair_l).detach())
        stepped = TinyCausalLM(seed=4)
        m = sequence_logps(stepped, pair_w) - sequence_logps(stepped, pair_l)
        (-torch.nn.functional.logsigmoid(beta * m)).sum().backward()
        with torch.no_grad():
            for p in stepped.parameters():
                p -= eta * p.grad
        dw = float(sequence_logps(stepped, pair_w).detach()) - before_w
        dl = float(sequence_logps(stepped, pair_l).detach()) - before_l
        assert dw == pytest.approx(eta * rep.per_pair[i].delta_chosen, rel=1e-3)
        assert dl == pytest.approx(eta * rep.per_pair[i].delta_rejected, rel=1e-3)


def test_padding_is_inert():
    model = TinyCausalLM()
    chosen, rejected = make_pairs()
    padded = []
    for batch in (chosen, rejected):
        b, t = batch["input_ids"].shape
        padded.append({
            "input_ids": torch.cat([batch["input_ids"], torch.zeros(b, 3, dtype=torch.long)], 1),
            "response_mask": torch.cat([batch["response_mask"], torch.zeros(b, 3, dtype=torch.long)], 1),
            "attention_mask": torch.cat([torch.ones(b, t, dtype=torch.long), torch.zeros(b, 3, dtype=torch.long)], 1),
        })
    a = gradient_entanglement(model, chosen, rejected)
    b = gradient_entanglement(model, *padded)
    for x, y in zip(a.per_pair, b.per_pair):
        assert y.inner == pytest.approx(x.inner, rel=1e-12)
        assert y.c_w == pytest.approx(x.c_w, rel=1e-12)


def test_last_layer_closed_form_equals_autograd_on_the_head_and_token_matrix_sums():
    model = TinyCausalLM()
    chosen, rejected = make_pairs()
    head = {"lm_head.weight": model.lm_head.weight, "lm_head.bias": model.lm_head.bias}
    exact = gradient_entanglement(model, chosen, rejected, params=head, token_matrix=True)
    closed = gradient_entanglement(model, chosen, rejected, method="last_layer", token_matrix=True)
    for x, y in zip(exact.per_pair, closed.per_pair):
        assert y.inner == pytest.approx(x.inner, rel=1e-10, abs=1e-12)
        assert y.norm_w == pytest.approx(x.norm_w, rel=1e-10)
        assert x.token_matrix.shape == (4, 4)
        assert x.token_matrix.sum() == pytest.approx(x.inner, rel=1e-10, abs=1e-12)
        assert y.token_matrix.sum() == pytest.approx(y.inner, rel=1e-10, abs=1e-12)
    assert exact.mean["inner"] == pytest.approx(sum(p.inner for p in exact.per_pair) / 3)
    assert list(exact.to_frame().columns)[:2] == ["inner", "cos"]


def test_entanglement_bad_input():
    model = TinyCausalLM()
    chosen, rejected = make_pairs()
    with pytest.raises(InputError, match="same number of pairs"):
        gradient_entanglement(model, chosen, {k: v[:2] for k, v in rejected.items()})
    empty = dict(rejected, response_mask=torch.zeros_like(rejected["response_mask"]))
    with pytest.raises(InputError, match="response_mask'\\] is empty for pair 0"):
        gradient_entanglement(model, chosen, empty)
    with pytest.raises(InputError, match="loss='ipo' needs a reference"):
        gradient_entanglement(model, chosen, rejected, loss="ipo")
    with pytest.raises(InputError, match="loss must be one of"):
        gradient_entanglement(model, chosen, rejected, loss="kto")
    with pytest.raises(InputError, match="method must be one of"):
        gradient_entanglement(model, chosen, rejected, method="fast")
    with pytest.raises(InputError, match="must have the shape of input_ids"):
        gradient_entanglement(model, dict(chosen, response_mask=chosen["response_mask"][:, :3]), rejected)
    with pytest.raises(InputError, match="ref_logps must hold 3 values"):
        gradient_entanglement(model, chosen, rejected, ref_logps=(torch.zeros(2), torch.zeros(2)))


def test_gradient_cosine_hand_case_groups_and_unused_parameters():
    res = gradient_cosine({"w": torch.tensor([1.0, 0.0]), "b": torch.tensor([2.0])},
                          {"w": torch.tensor([-1.0, 1.0]), "b": torch.tensor([0.0])}, groups={"head": ["w"]})
    assert res.per_tensor["w"].inner == -1.0 and res.per_tensor["w"].cos == pytest.approx(-1 / math.sqrt(2))
    assert res.per_tensor["b"].cos is None and res.per_tensor["b"].conflict is False
    assert res.per_group["head"].conflict and res.global_inner == -1.0
    assert res.global_norm_a == pytest.approx(math.sqrt(5)) and res.global_cos == pytest.approx(-1 / math.sqrt(10))
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    unused = torch.tensor([3.0], requires_grad=True)
    loss_a, loss_b = (w ** 2).sum(), -(w[0] * 3.0)
    res = gradient_cosine(loss_a, loss_b, params={"w": w, "unused": unused})
    assert res.per_tensor["w"].inner == pytest.approx(-6.0) and res.per_tensor["unused"].norm_a == 0.0
    with pytest.raises(InputError, match="params is required"):
        gradient_cosine(loss_a, loss_b)
    with pytest.raises(InputError, match="must be finite"):
        gradient_cosine({"w": torch.tensor([math.nan])}, {"w": torch.tensor([1.0])})
    with pytest.raises(InputError, match="unknown parameter"):
        gradient_cosine({"w": torch.ones(1)}, {"w": torch.ones(1)}, groups={"g": ["x"]})


def test_plasticity_stability_share():
    w = torch.tensor([1.0, 1.0], requires_grad=True)
    res = plasticity_stability(3.0 * w[0], 4.0 * w[1] * 0.25, [w])
    assert res.global_norm_a == pytest.approx(3.0) and res.global_norm_b == pytest.approx(1.0)
    assert res.share_stable == pytest.approx(0.25) and res.global_inner == 0.0
    assert res.to_frame().iloc[-1]["name"] == "all"


def test_hugging_face_causal_lm_works_unchanged():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=V, n_positions=16, n_embd=8, n_layer=1, n_head=2,
                                     tie_word_embeddings=False)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).double().eval()
    chosen, rejected = make_pairs(b=2)
    chosen["attention_mask"] = torch.ones_like(chosen["input_ids"])
    rejected["attention_mask"] = torch.ones_like(rejected["input_ids"])
    exact = gradient_entanglement(model, chosen, rejected, params={"w": model.lm_head.weight})
    closed = gradient_entanglement(model, chosen, rejected, method="last_layer")
    for x, y in zip(exact.per_pair, closed.per_pair):
        assert y.inner == pytest.approx(x.inner, rel=1e-9, abs=1e-12)
    full = gradient_entanglement(model, chosen, rejected)
    gw = manual_gradient(model, chosen, 0)
    assert full.per_pair[0].norm_w == pytest.approx(float(gw.norm()), rel=1e-10)


@pytest.mark.parametrize("method", ["loop", "vmap", "last_layer"])
def test_entanglement_reports_progress_over_pairs(method):
    model = TinyCausalLM()
    chosen, rejected = make_pairs(b=3)
    calls = []
    rep = gradient_entanglement(model, chosen, rejected, method=method, progress=lambda done, total: calls.append((done, total)))
    assert len(rep.per_pair) == 3
    assert calls[-1] == (3, 3) and all(t == 3 for _, t in calls)
    if method == "loop":
        assert calls == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(InputError, match="progress"):
        gradient_entanglement(model, chosen, rejected, progress="yes")
