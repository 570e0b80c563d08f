"""ConcordanceReport: interval vocabulary, progress, plot."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from metrics import InputError, concordance_report

matplotlib.use("Agg")


def _data(n=120, seed=4):
    rng = np.random.default_rng(seed)
    return rng.random(n), rng.integers(0, 25, n).astype(float), rng.random(n) < 0.5


def test_ci_level_and_deprecated_confidence():
    risk, time, event = _data()
    new = concordance_report(risk, time, event, n_bootstrap=40, ci_level=0.8, seed=2)
    with pytest.warns(DeprecationWarning, match="ci_level"):
        old = concordance_report(risk, time, event, n_bootstrap=40, confidence=0.8, seed=2)
    assert new == old and new.ci_level == 0.8
    reps = new.replicates
    assert reps.size == 40 - new.n_bootstrap_undefined
    assert (new.ci_low, new.ci_high) == tuple(np.quantile(reps, [0.1, 0.9]))
    with pytest.warns(DeprecationWarning, match="ci_level"):
        assert new.confidence == 0.8
    assert "replicates" not in new.to_dict() and new.to_dict()["ci_level"] == 0.8
    with pytest.raises(InputError, match="ci_level"):
        concordance_report(risk, time, event, n_bootstrap=5, ci_level=1.5)


def test_progress_reports_every_replicate():
    risk, time, event = _data()
    seen = []
    concordance_report(risk, time, event, n_bootstrap=12, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 12) for k in range(1, 13)]
    with pytest.raises(InputError, match="progress"):
        concordance_report(risk, time, event, n_bootstrap=2, progress="yes")


@pytest.mark.parametrize("kwargs, name", [(dict(compat="R"), "compat"), (dict(higher_is="hazard"), "higher_is"),
                                          (dict(on_undefined="zero"), "on_undefined")])
def test_options_named_in_errors(kwargs, name):
    risk, time, event = _data(10)
    with pytest.raises(InputError, match=f"{name} must be one of"):
        concordance_report(risk, time, event, **kwargs)


def test_plot_bootstrap_distribution_and_pair_counts():
    import matplotlib.pyplot as plt

    risk, time, event = _data()
    rep = concordance_report(risk, time, event, n_bootstrap=60, seed=1)
    ax = rep.plot()
    heights = [p.get_height() for p in ax.patches if p.get_width() > 0 and p.get_height() > 0]
    assert sum(heights) >= rep.replicates.size  # histogram bars (plus the interval span)
    assert any(abs(line.get_xdata()[0] - rep.cindex) < 1e-12 for line in ax.lines)
    assert "interval" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    plt.close(ax.figure)
    plain = concordance_report(risk, time, event)
    fig, ax2 = plt.subplots()
    assert plain.plot(ax=ax2) is ax2
    widths = sorted(p.get_width() for p in ax2.patches)
    assert widths == sorted([plain.concordant, plain.discordant, plain.tied_risk])
    plt.close(fig)
