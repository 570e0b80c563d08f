"""StableMax, StableMax cross-entropy, ⊥Grad and the reference grokking task."""

from __future__ import annotations

import math

import pytest
import torch

from metrics.core.errors import InputError
from reference_models import (
    GrokkingMLP,
    ModularAdditionTask,
    PerpGrad,
    StableMaxCrossEntropy,
    log_stablemax,
    perpendicular_gradient,
    run_grokking,
    stablemax,
)


def _authors_log_stablemax(x):
    """The authors' float64 form: log of the ratio s(x_y) / Σ s, s(x) = 1/(1 − x + 1e-30) for x < 0."""
    x = x.double()
    s = torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)
    return torch.log(s / s.sum(-1, keepdim=True))


def test_hand_case_values_and_gradient():
    x = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64, requires_grad=True)
    assert torch.allclose(stablemax(x), torch.tensor([[3, 1, 0.5]], dtype=torch.float64) / 4.5, atol=1e-15)
    loss = StableMaxCrossEntropy()(x, torch.tensor([0]))
    assert abs(float(loss.detach()) - math.log(1.5)) < 1e-15
    loss.backward()
    expected = torch.tensor([[-1 / 9, 2 / 9, 1 / 18]], dtype=torch.float64)
    assert torch.allclose(x.grad, expected, atol=1e-15, rtol=0)


def test_gradient_formula_random():
    torch.manual_seed(0)
    x = (torch.randn(6, 5, dtype=torch.float64) * 4).requires_grad_()
    y = torch.randint(0, 5, (6,))
    StableMaxCrossEntropy(reduction="sum")(x, y).backward()
    xd = x.detach()
    s = torch.where(xd >= 0, xd + 1, 1 / (1 - xd))
    ds = torch.where(xd >= 0, torch.ones_like(xd), (1 - xd) ** -2)
    grad = ds / s.sum(1, keepdim=True)
    rows = torch.arange(6)
    grad[rows, y] -= ds[rows, y] / s[rows, y]
    assert torch.allclose(x.grad, grad, atol=1e-14, rtol=0)


def test_matches_authors_log_of_ratio_and_prop1():
    torch.manual_seed(1)
    x = torch.randn(50, 7, dtype=torch.float64) * 30
    assert torch.allclose(log_stablemax(x), _authors_log_stablemax(x), atol=1e-12, rtol=0)
    # Prop. 1: StableMax(x) = softmax(g(x)), checked with s computed directly
    s = torch.where(x >= 0, x + 1, 1 / (1 - x))
    assert torch.allclose(stablemax(x), s / s.sum(-1, keepdim=True), atol=1e-15, rtol=0)


def test_huge_logits_float32_dtype_none():
    x = torch.tensor([2e38, 2e38, 0.0], dtype=torch.float32)
    out = log_stablemax(x, dtype=None)
    assert out.dtype == torch.float32
    expected = torch.tensor([-math.log(2), -math.log(2), -88.8845278949])
    assert torch.allclose(out, expected, rtol=0, atol=2 * 8 * 2**-23 * 8)  # a few float32 ulps at g ≈ 88
    xg = x.clone().requires_grad_()
    StableMaxCrossEntropy(dtype=None)(xg[None], torch.tensor([2])).backward()
    assert torch.isfinite(xg.grad).all()


@pytest.mark.parametrize("point", [-1.0, 0.0, 1.0])
def test_finite_gradients_and_finite_differences(point):
    x = torch.tensor([[point, 0.3, -2.0]], dtype=torch.float64, requires_grad=True)
    for y in (0, 1):
        x.grad = None
        StableMaxCrossEntropy()(x, torch.tensor([y])).backward()
        assert torch.isfinite(x.grad).all()
        if point != 0.0:  # s is C1 but not C2 at 0; central differences elsewhere
            h = 1e-6
            for j in range(3):
                e = torch.zeros_like(x)
                e[0, j] = h
                lp = StableMaxCrossEntropy()(x.detach() + e, torch.tensor([y]))
                lm = StableMaxCrossEntropy()(x.detach() - e, torch.tensor([y]))
                assert abs(float((lp - lm) / (2 * h)) - float(x.grad[0, j])) < 1e-8
    # the derivative is continuous at 0: one-sided differences agree
    h = 1e-7
    f = lambda t: float(log_stablemax(torch.tensor([[t, 1.0]], dtype=torch.float64))[0, 0])  # noqa: E731
    assert abs((f(h) - f(0)) / h - (f(0) - f(-h)) / h) < 1e-5
    assert torch.autograd.gradcheck(lambda t: log_stablemax(t), (torch.randn(3, 4, dtype=torch.float64,
                                                                             requires_grad=True) * 3,))


def test_reductions_ignore_index_and_errors():
    x = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    none = StableMaxCrossEntropy("none")(x, torch.tensor([0, -100]))
    assert none.shape == (2,) and none[1] == 0 and abs(float(none[0]) - math.log(1.5)) < 1e-12
    assert float(StableMaxCrossEntropy()(x, torch.tensor([0, -100]))) == pytest.approx(math.log(1.5), abs=1e-12)
    with pytest.raises(InputError):
        StableMaxCrossEntropy()(x, torch.tensor([0, 3]))
    with pytest.raises(InputError):
        StableMaxCrossEntropy()(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]))
    with pytest.raises(InputError):
        StableMaxCrossEntropy(reduction="max")


def test_perpendicular_gradient_hand_cases():
    w, g = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    assert torch.allclose(perpendicular_gradient(w, g, rescale=False), torch.tensor([0.0, 1.0]))
    assert torch.allclose(perpendicular_gradient(w, g), torch.tensor([0.0, math.sqrt(2)]))
    assert torch.equal(perpendicular_gradient(torch.zeros(2), g), g)
    w = torch.tensor([0.3, -1.7, 2.2])
    assert torch.equal(perpendicular_gradient(w, 2 * w), torch.zeros(3))
    torch.manual_seed(0)
    w, g = torch.randn(40), torch.randn(40)
    out = perpendicular_gradient(w, g)
    assert abs(float(out @ w)) / (out.norm() * w.norm()) < 1e-6
    assert float(out.norm()) == pytest.approx(float(g.norm()), rel=1e-6)
    half = perpendicular_gradient(w.half(), g.half())
    assert half.dtype == torch.float16


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_perpgrad_update_is_orthogonal_to_the_weights(scope):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5, bias=False), torch.nn.ReLU(), torch.nn.Linear(5, 3, bias=False))
    before = [p.detach().clone() for p in net.parameters()]
    opt = PerpGrad(torch.optim.SGD(net.parameters(), lr=0.1), scope=scope)
    torch.nn.functional.cross_entropy(net(torch.randn(8, 6)), torch.randint(0, 3, (8,))).backward()
    opt.step()
    deltas = [p.detach() - b for p, b in zip(net.parameters(), before)]
    if scope == "tensor":
        for d, b in zip(deltas, before):
            assert abs(float((d * b).sum())) / (d.norm() * b.norm()) < 1e-5
    else:
        dot = sum(float((d * b).sum()) for d, b in zip(deltas, before))
        norm = math.sqrt(sum(float(d.norm()) ** 2 for d in deltas)) * math.sqrt(sum(float(b.norm()) ** 2 for b in before))
        assert abs(dot) / norm < 1e-5


def test_perpgrad_delegates_to_the_base_optimizer():
    net = torch.nn.Linear(3, 2, bias=False)
    base = torch.optim.Adam(net.parameters(), lr=0.1, betas=(0.5, 0.6), eps=1e-3)
    opt = PerpGrad(base)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.05 and opt.param_groups[0]["betas"] == (0.5, 0.6)
    assert opt.state_dict()["param_groups"][0]["eps"] == 1e-3
    opt.zero_grad()
    assert net.weight.grad is None
    with pytest.raises(InputError):
        PerpGrad(object())


def test_task_and_model_shapes():
    task = ModularAdditionTask(p=7, train_fraction=0.5, seed=3)
    assert task.x_train.shape[1] == 14 and len(task.y_train) + len(task.y_test) == 49
    a, b = task.x_train[:, :7].argmax(1), task.x_train[:, 7:].argmax(1)
    assert torch.equal((a + b) % 7, task.y_train)
    again = ModularAdditionTask(p=7, train_fraction=0.5, seed=3)
    assert torch.equal(again.y_test, task.y_test)
    model = GrokkingMLP(7, width=5, depth=2)
    assert sum(isinstance(m, torch.nn.Linear) for m in model) == 3
    x = torch.randn(4, 14)
    out = model(x)
    assert torch.allclose(model(2 * x), 2 * out, atol=1e-6)  # degree 1 in the input
    with torch.no_grad():
        for prm in model.parameters():
            prm.mul_(2)
    assert torch.allclose(model(x), 8 * out, atol=1e-5)  # degree 3 = number of layers in θ


def test_grokking_smoke_direction():
    # a small task (p = 23, width 64, lr 1e-2, 200 steps): float32 softmax CE drives the
    # training loss to zero without generalising; ⊥Grad generalises; StableMax never
    # reaches an exactly-zero loss. Seeds 0-2 give the same direction.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        kw = dict(steps=200, log_every=50, p=23, width=64, lr=1e-2)
        soft = run_grokking("softmax_ce", **kw)
        perp = run_grokking("softmax_ce", optimizer="perp_adamw", **kw)
        stab = run_grokking("stablemax_ce", **kw)
    finally:
        torch.set_num_threads(threads)
    assert soft.train_accuracy[-1] == 1.0 and soft.test_accuracy[-1] < 0.1
    assert perp.test_accuracy[-1] > 0.5
    assert max(stab.zero_loss_fraction) == 0.0
    assert soft.nlm_cos[-1] > 0.5  # the gradient has aligned with the weights
    frame = soft.to_frame()
    assert list(frame["step"]) == [0, 50, 100, 150, 199]


def test_grokking_smoke_collapse_rises_under_softmax_not_under_stablemax():
    # p = 23, width 64, AdamW lr 3e-2, 800 full-batch steps: float32 softmax CE collapses
    # (label-free SC fraction 0 → ≈ 0.76 for seeds 0-2), while StableMax's trained loss is
    # never exactly zero.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        kw = dict(steps=800, log_every=100, p=23, width=64, lr=3e-2)
        soft = run_grokking("softmax_ce", **kw).to_frame()
        stab = run_grokking("stablemax_ce", **kw).to_frame()
    finally:
        torch.set_num_threads(threads)
    assert soft["sc_fraction"].iloc[0] == 0.0 and soft["sc_fraction"].iloc[-1] > 0.5
    assert soft["zero_loss_fraction"].iloc[-1] > 0.5
    assert (stab["zero_loss_fraction"] == 0.0).all()


def test_run_grokking_progress_keyword_and_deprecated_callback():
    calls = []
    history = run_grokking(steps=4, log_every=2, p=7, width=8, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert history.step == [0, 2, 3]
    rows = []
    with pytest.warns(DeprecationWarning, match="progress="):
        run_grokking(steps=2, log_every=1, p=7, width=8, callback=rows.append)
    assert [r["step"] for r in rows] == [0, 1]


def test_grokking_history_plot_returns_figure_or_the_given_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = run_grokking(steps=3, log_every=1, p=7, width=8)
    fig = history.plot()
    assert hasattr(fig, "axes")
    _, ax = plt.subplots()
    assert history.plot(ax=ax) is ax
    plt.close("all")
