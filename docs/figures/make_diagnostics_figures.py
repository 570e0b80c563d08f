"""Regenerate the figures of docs/diagnostics.md from the reference experiments.

Run: .venv/bin/python docs/figures/make_diagnostics_figures.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from reference_models.alignment_experiments import run_dpo_entanglement, run_split_digits_continual  # noqa: E402

HERE = Path(__file__).parent

if __name__ == "__main__":
    dpo = run_dpo_entanglement()
    ax = dpo.plot()
    ax.figure.savefig(HERE / "dpo_entanglement.png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"DPO: sign agreement {dpo.sign_agreement:.3f}, both fell {dpo.both_fall_fraction:.3f}, "
          f"precision {dpo.both_fall_precision}, recall {dpo.both_fall_recall}")
    gap = run_split_digits_continual()
    ax = gap.plot()
    ax.figure.savefig(HERE / "stability_gap.png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"split digits: before {gap.acc_before_switch:.3f}, min after {gap.min_acc_after_switch:.3f}, "
          f"final {gap.final_acc_task_0:.3f} / {gap.final_acc_task_1:.3f}")
