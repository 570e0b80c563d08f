"""Regenerate docs/figures/grokking_collapse.png (three 4000-step runs, ~3-10 min each on one CPU core).

Run: ``.venv/bin/python docs/figures/make_grokking_figure.py``
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from reference_models import run_grokking  # noqa: E402

torch.set_num_threads(1)
runs = [("softmax_ce", "adamw"), ("stablemax_ce", "adamw"), ("softmax_ce", "perp_adamw")]
fig, axes = plt.subplots(1, 3, figsize=(18, 4.5), sharey=True)
for ax, (loss, opt) in zip(axes, runs):
    history = run_grokking(loss, optimizer=opt, steps=4000, log_every=100)
    history.plot(ax=ax)
    print(loss, opt, "final test accuracy", history.test_accuracy[-1], "peak SC", max(history.sc_fraction))
fig.savefig("docs/figures/grokking_collapse.png", dpi=90, bbox_inches="tight")
