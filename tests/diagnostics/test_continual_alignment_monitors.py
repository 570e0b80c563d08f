"""ContinualEvaluationMonitor and GradientAlignmentMonitor: equal the functions they report."""

import numpy as np
import pytest
import torch

from diagnostics import (
    ContinualEvaluationMonitor,
    GradientAlignmentMonitor,
    continual_eval_report,
    gradient_cosine,
    gradient_entanglement,
)
from metrics import InputError
from tests.diagnostics.test_alignment import TinyCausalLM, make_pairs


def test_continual_monitor_equals_report_on_random_history():
    rng = np.random.default_rng(0)
    p, k = 40, 3
    tasks = np.sort(rng.integers(0, k, p))
    tasks[0] = 0
    table = rng.choice([0.1, 0.3, 0.5, 0.7, 0.9, 1.0], size=(p, k))
    state = {"row": 0}
    monitor = ContinualEvaluationMonitor(lambda model, task, idx: table[model["row"], task], windows=(2, 5))
    for step in range(p):
        state["row"] = step
        monitor.on_step(step, model=state, current_task=int(tasks[step]))
    acc = monitor.acc_matrix()
    expected_acc = np.where(np.arange(k)[None, :] <= tasks[:, None], table, np.nan)
    np.testing.assert_array_equal(acc, expected_acc)
    report = continual_eval_report(acc, tasks, windows=(2, 5))
    frame = monitor.to_frame()
    for name, values in (("wc_acc", report.wc_acc), ("wf_2", report.forgetting[2]), ("wf_5", report.forgetting[5]),
                         ("wp_2", report.plasticity[2]), ("wp_5", report.plasticity[5])):
        np.testing.assert_allclose(frame[name].to_numpy(dtype=float), values, atol=1e-12, err_msg=name)
    defined = tasks > 0
    np.testing.assert_allclose(frame["min_acc"].to_numpy(dtype=float)[defined], report.min_acc[defined], atol=1e-12)
    assert frame["min_acc"][~defined].isna().all()


def test_continual_monitor_subsamples_fresh_indices_and_validates():
    seen = []
    monitor = ContinualEvaluationMonitor(lambda m, t, idx: seen.append((t, idx)) or 0.5, every_n_steps=2,
                                         subsample=3, task_sizes=[10, 2], seed=1)
    for step in range(4):
        monitor.on_step(step, model=None, current_task=0 if step < 2 else 1)
    assert [t for t, _ in seen] == [0, 0, 1]  # steps 0 and 2 are due
    assert len(seen[0][1]) == 3 and set(seen[0][1]) <= set(range(10))
    assert not np.array_equal(seen[0][1], seen[1][1])  # a fresh subsample each time
    np.testing.assert_array_equal(seen[2][1], [0, 1])  # smaller than subsample: the whole set
    with pytest.raises(InputError, match="current_task must be non-decreasing"):
        monitor.on_step(4, model=None, current_task=0)
    bad = ContinualEvaluationMonitor(lambda m, t, idx: 1.5)
    with pytest.raises(InputError, match="accuracy in \\[0, 1\\]"):
        bad.on_step(0, model=None, current_task=0)
    with pytest.raises(InputError, match="window must be an integer ≥ 2"):
        ContinualEvaluationMonitor(lambda m, t, i: 1.0, windows=(1,))


def test_gradient_alignment_monitor_conflict_every_n_steps():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    head = torch.nn.Parameter(torch.tensor([0.5]))

    def probe(batch):
        loss_a = (w ** 2).sum() + head.sum()
        loss_b = -(w[0] * 3.0) + 2 * head.sum()
        return loss_a, loss_b, {"w": w, "head": head}

    monitor = GradientAlignmentMonitor(probe, every_n_steps=3, groups={"head": ["head"]},
                                       thresholds={"global_cos": ("<", 0.0)}, on_alert="ignore")
    for step in range(7):
        monitor.on_step(step, batch=None)
    assert [r["step"] for r in monitor.history] == [0, 3, 6]
    direct = gradient_cosine(*probe(None)[:2], params=probe(None)[2], groups={"head": ["head"]})
    record = monitor.latest
    assert record["global_inner"] == pytest.approx(direct.global_inner)
    assert record["global_inner"] == pytest.approx(-4.0)  # (2, 4)·(−3, 0) + 1·2
    assert record["cos/head"] == pytest.approx(1.0) and record["global_conflict"] is True
    assert [a["step"] for a in monitor.alerts] == [0]  # alerts when it becomes crossed, once


def test_gradient_alignment_monitor_entanglement_and_plasticity():
    model = TinyCausalLM()
    chosen, rejected = make_pairs()
    monitor = GradientAlignmentMonitor(lambda: {"model": model, "chosen": chosen, "rejected": rejected},
                                       kind="entanglement", every_n_steps=1)
    record = monitor.on_step()
    direct = gradient_entanglement(model, chosen, rejected)
    assert record["mean_inner"] == pytest.approx(direct.mean["inner"], rel=1e-12)
    expected = sum((p.ratio_min or 0) >= 1 for p in direct.per_pair) / 3
    assert record["frac_entangled"] == pytest.approx(expected)
    w = torch.nn.Parameter(torch.ones(2))
    ps = GradientAlignmentMonitor(lambda: (3 * w[0], w[1], [w]), kind="plasticity_stability", every_n_steps=1)
    assert ps.on_step()["share_stable"] == pytest.approx(0.25)
    with pytest.raises(InputError, match="kind must be one of"):
        GradientAlignmentMonitor(lambda: None, kind="nope")
    with pytest.raises(InputError, match="plasticity_stability"):
        GradientAlignmentMonitor(lambda: (w[0], w[1]), kind="plasticity_stability", every_n_steps=1).on_step()


def test_continual_monitor_in_a_two_step_lightning_fit():
    lightning = pytest.importorskip("lightning.pytorch")

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return {"loss": torch.nn.functional.cross_entropy(self.layer(x), y), "current_task": 0}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    x = torch.randn(8, 2)
    y = (x[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)

    def accuracy(model, task, indices):
        with torch.no_grad():
            return float((model.layer(x).argmax(1) == y).float().mean())

    monitor = ContinualEvaluationMonitor(accuracy, every_n_steps=1, windows=(2,))
    trainer = lightning.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, accelerator="cpu", callbacks=[monitor.lightning_callback()])
    trainer.fit(Module(), loader)
    assert [r["step"] for r in monitor.history] == [0, 1]
    assert monitor.history[0]["current_task"] == 0 and monitor.history[0]["min_acc"] is None
