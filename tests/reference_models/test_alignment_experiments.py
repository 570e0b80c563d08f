"""The issue-10 reference experiments show what the papers predict."""

import numpy as np

from reference_models.alignment_experiments import run_dpo_entanglement, run_split_digits_continual


def test_entanglement_probe_predicts_which_pairs_see_both_log_probs_fall():
    result = run_dpo_entanglement(steps=64, n_pairs=32, seed=0)
    assert result.sign_agreement >= 0.9
    assert result.both_fall_fraction > 0  # the entanglement pitfall happens ...
    assert result.both_fall_precision >= 0.8 and result.both_fall_recall >= 0.8  # ... and the probe sees it
    # the predictions are first-order in the step size: they track the measured changes
    assert np.corrcoef(result.predicted_chosen, result.actual_chosen)[0, 1] > 0.95
    assert np.corrcoef(result.predicted_rejected, result.actual_rejected)[0, 1] > 0.95


def test_split_digits_shows_a_stability_gap_in_the_monitor():
    result = run_split_digits_continual(steps_per_task=100, seed=0)
    frame = result.history
    assert result.acc_before_switch > 0.9
    assert result.gap > 0.2 and result.recovery > 0.1  # sharp drop after the switch, then recovery
    assert result.final_acc_task_1 > 0.8
    after = frame[frame["step"] >= result.switch_step]
    assert after["min_acc"].min() == result.min_acc_after_switch  # min-ACC records the gap
    assert (after["current_task"] == 1).all() and list(frame.columns[:3]) == ["step", "current_task", "acc_task_0"]


def test_experiment_runners_take_the_progress_keyword():
    calls = []
    run_dpo_entanglement(steps=3, n_pairs=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    calls.clear()
    run_split_digits_continual(steps_per_task=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
