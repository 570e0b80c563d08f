"""Every report and result class of the diagnostics draws itself: ``plot(ax=None)`` returns
the Axes (or Figure) it drew on, and accepts an Axes to draw into."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import diagnostics  # noqa: E402
from metrics.core.report import Report  # noqa: E402
from reference_models.alignment_experiments import TinyCausalLM  # noqa: E402


def _reports():
    acc = np.array([[0.2, np.nan], [0.6, np.nan], [0.9, np.nan], [0.7, 0.2], [0.5, 0.6], [0.8, 0.9]])
    task = np.array([0, 0, 0, 1, 1, 1])
    w, g = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    p = torch.nn.Parameter(torch.zeros(2))
    ids = torch.tensor([[1, 2, 3, 4], [2, 3, 1, 0]])
    mask = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]])
    lm = TinyCausalLM(vocab_size=5, width=4, seed=0)
    return {
        "EntanglementReport": diagnostics.gradient_entanglement(
            lm, {"input_ids": ids, "response_mask": mask}, {"input_ids": ids.flip(1), "response_mask": mask}),
        "SoftmaxCollapseReport": diagnostics.softmax_collapse_report([[3.0, 21.5, 0.0], [1.0, 0.0, 0.0]], [1, 0]),
        "AlignmentResult": diagnostics.nlm_alignment(w, g),
        "ConflictResult": diagnostics.gradient_cosine(w, g),
        "PlasticityStabilityResult": diagnostics.plasticity_stability({"0": g[0]}, {"0": g[1]}, [p]),
        "ContinualEvalReport": diagnostics.continual_eval_report(acc, task, windows=(2,)),
        "ContinualEvalReport without acc": diagnostics.ContinualEvalReport(
            current_task=task, min_acc=np.full(6, np.nan), wc_acc=np.full(6, 0.5), forgetting={}, plasticity={}),
    }


REPORT_CLASSES = sorted(n for n in diagnostics.__all__ if n.endswith(("Report", "Result")))


def test_every_report_class_is_covered():
    covered = {type(r).__name__ for r in _reports().values()}
    assert set(REPORT_CLASSES) <= covered
    for name in REPORT_CLASSES:
        assert issubclass(getattr(diagnostics, name), Report)


@pytest.mark.parametrize("name", list(_reports()))
def test_plot_returns_what_it_drew_on(name):
    report = _reports()[name]
    out = report.plot()
    assert hasattr(out, "figure") or hasattr(out, "axes")
    fig, ax = plt.subplots()
    assert report.plot(ax=ax) is ax
    plt.close("all")
    assert isinstance(str(report), str) and report.to_frame() is not None and isinstance(report.to_dict(), dict)
