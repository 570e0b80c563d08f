"""The Monitor base contract and its Lightning / Hugging Face adapters."""

from __future__ import annotations

import warnings

import pytest
import torch

from diagnostics import (
    HFMonitorCallback,
    LightningMonitorCallback,
    Monitor,
    MonitorAlert,
    MonitorWarning,
    SoftmaxCollapseMonitor,
)
from metrics.core.errors import InputError


class MaxLogit(Monitor):
    name = "max_logit"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = 0

    def compute(self, *, logits, labels=None):
        self.calls += 1
        return {"max_logit": float(torch.as_tensor(logits).max())}


def test_every_n_steps_with_explicit_and_implicit_steps():
    m = MaxLogit(every_n_steps=3)
    out = [m.on_step(s, logits=[float(s)]) for s in range(7)]
    assert [r["step"] for r in m.history] == [0, 3, 6]
    assert [r["max_logit"] for r in m.history] == [0.0, 3.0, 6.0]
    assert out[1] is None and out[3] == {"step": 3, "max_logit": 3.0}
    assert m.calls == 3 and m.n_runs == 3
    m.reset()
    assert m.history == [] and m.latest is None
    for v in range(5):  # step=None counts calls from 0
        m.on_step(logits=[float(v)])
    assert [r["step"] for r in m.history] == [0, 3]
    frame = m.to_frame()
    assert list(frame.columns) == ["step", "max_logit"] and frame["max_logit"].tolist() == [0.0, 3.0]


def test_warn_once_per_crossing_and_below_thresholds():
    m = MaxLogit(thresholds={"max_logit": 2.0}, on_alert="warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for v in [1.0, 3.0, 4.0, 1.0, 5.0]:
            m.on_step(logits=[v])
    assert [w.category for w in caught] == [MonitorWarning, MonitorWarning]
    assert [a["step"] for a in m.alerts] == [1, 4]
    low = MaxLogit(thresholds={"max_logit": ("<=", 0.0)}, on_alert="ignore")
    for v in [1.0, 0.0, -1.0]:
        low.on_step(logits=[v])
    assert [a["step"] for a in low.alerts] == [1]


def test_raise_stores_record_first():
    m = MaxLogit(thresholds={"max_logit": 2.0}, on_alert="raise")
    m.on_step(logits=[1.0])
    with pytest.raises(MonitorAlert) as info:
        m.on_step(logits=[2.5])
    assert info.value.step == 1 and info.value.value == 2.5 and info.value.key == "max_logit"
    assert len(m.history) == 2


def test_bad_options():
    with pytest.raises(InputError, match="every_n_steps"):
        MaxLogit(every_n_steps=0)
    with pytest.raises(InputError, match="on_alert"):
        MaxLogit(on_alert="shout")
    with pytest.raises(InputError, match="thresholds"):
        MaxLogit(thresholds={"max_logit": ("==", 1.0)})
    with pytest.raises(NotImplementedError):
        Monitor().on_step(x=1)


def test_state_dict_round_trip_and_filter_inputs():
    m = MaxLogit(every_n_steps=2)
    for v in range(4):
        m.on_step(logits=[float(v)])
    other = MaxLogit(every_n_steps=2)
    other.load_state_dict(m.state_dict())
    assert other.history == m.history
    other.on_step(logits=[9.0])
    assert other.latest == {"step": 4, "max_logit": 9.0}
    assert m.filter_inputs({"logits": 1, "labels": 2, "model": 3}) == {"logits": 1, "labels": 2}


def _tiny_data(n=32, d=4, c=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long()


def test_lightning_adapter_in_a_real_fit(tmp_path):
    L = pytest.importorskip("lightning.pytorch")

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(4, 3, bias=False)

        def training_step(self, batch, batch_idx):
            x, y = batch
            logits = self.net(x)
            return {"loss": torch.nn.functional.cross_entropy(logits, y), "logits": logits.detach(), "labels": y}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    x, y = _tiny_data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    monitor = SoftmaxCollapseMonitor(every_n_steps=2)
    module = Tiny()
    trainer = L.Trainer(max_steps=5, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[monitor.lightning_callback()])
    trainer.fit(module, loader)
    assert [r["step"] for r in monitor.history] == [0, 2, 4]
    rec = monitor.history[0]
    assert rec["rows"] == 8 and rec["collapse_fraction"] == 0.0 and rec["zero_loss_fraction"] == 0.0
    assert rec["nlm_cos"] is not None and -1.0 <= rec["nlm_cos"] <= 1.0
    assert "softmax_collapse/collapse_fraction" in trainer.callback_metrics


def test_hf_adapter_with_a_local_tiny_model(tmp_path):
    pytest.importorskip("transformers")
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    cfg = GPT2Config(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg)
    ids = torch.randint(0, 11, (16, 6), generator=torch.Generator().manual_seed(1))

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(ids)

        def __getitem__(self, i):
            return {"input_ids": ids[i], "labels": ids[i]}

    monitor = SoftmaxCollapseMonitor(every_n_steps=2)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4,
                             report_to=[], save_strategy="no", logging_strategy="no", use_cpu=True,
                             disable_tqdm=True, dataloader_num_workers=0)
    Trainer(model=model, args=args, train_dataset=DS(),
            callbacks=[monitor.hf_callback(causal_lm=True)]).train()
    assert [r["step"] for r in monitor.history] == [0, 2]
    assert monitor.history[0]["rows"] == 4 * 5  # shifted: 5 scored positions per sequence
    assert monitor.history[0]["nlm_cos"] is not None


def test_adapters_reject_non_monitors():
    pytest.importorskip("lightning.pytorch")
    with pytest.raises(InputError):
        LightningMonitorCallback(object())
    with pytest.raises(InputError):
        HFMonitorCallback(object())


def _lightning_fit(tmp_path, module, monitor):
    L = pytest.importorskip("lightning.pytorch")
    x, y = _tiny_data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    trainer = L.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[monitor.lightning_callback()])
    trainer.fit(module, loader)
    return trainer


@pytest.mark.parametrize("calls", ["self", "child"])
def test_lightning_training_step_returning_only_the_loss(tmp_path, calls):
    L = pytest.importorskip("lightning.pytorch")

    class LossOnly(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(4, 3, bias=False)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            logits = self(x) if calls == "self" else self.net(x)
            return torch.nn.functional.cross_entropy(logits, y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    monitor = SoftmaxCollapseMonitor(every_n_steps=2)
    trainer = _lightning_fit(tmp_path, LossOnly(), monitor)
    assert [r["step"] for r in monitor.history] == [0, 2]
    rec = monitor.history[0]
    assert rec["rows"] == 8 and rec["zero_loss_fraction"] == 0.0 and rec["nlm_cos"] is not None
    assert "softmax_collapse/collapse_fraction" in trainer.callback_metrics


def test_lightning_without_logits_says_what_to_return(tmp_path):
    L = pytest.importorskip("lightning.pytorch")

    class NoForward(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(4, 3))

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.cross_entropy(x @ self.w, y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    with pytest.raises(InputError, match="'logits': logits.detach()"):
        _lightning_fit(tmp_path, NoForward(), SoftmaxCollapseMonitor(every_n_steps=2))


@pytest.mark.parametrize("attach", [True, False])
def test_hf_adapter_values_reach_the_trainer_logs(tmp_path, attach):
    pytest.importorskip("transformers")
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2))
    ids = torch.randint(0, 11, (16, 6), generator=torch.Generator().manual_seed(1))
    data = [{"input_ids": ids[i], "labels": ids[i]} for i in range(len(ids))]
    seen = []

    class Sink(TrainerCallback):  # stands for TensorBoard / W&B: sees what on_log hands out
        def on_log(self, args, state, control, logs=None, **kwargs):
            seen.append(dict(logs))

    monitor = SoftmaxCollapseMonitor(every_n_steps=2)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4,
                             report_to=[], save_strategy="no", logging_strategy="no", use_cpu=True,
                             disable_tqdm=True, dataloader_num_workers=0)
    callback = monitor.hf_callback(causal_lm=True)
    if attach:
        trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[Sink()])
        callback.attach(trainer)
    else:
        trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback, Sink()])
    trainer.train()
    logged = [h for h in trainer.state.log_history if "softmax_collapse/collapse_fraction" in h]
    assert len(logged) == 2
    assert logged[0]["softmax_collapse/rows"] == monitor.history[0]["rows"] == 20
    assert sum("softmax_collapse/collapse_fraction" in s for s in seen) == 2
