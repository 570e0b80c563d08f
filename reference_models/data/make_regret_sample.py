"""Write ``regret_sample.jsonl``: a small deterministic log of an online learner (for the demo).

Each line is one round: ``{"round": t, "losses": [...], "policy": [...], "action": a}``.
The policy is stored rounded to 12 decimals: floating results differ by an ulp across
CPUs and libm builds, and the bundled file must not depend on the machine that wrote it.
Hedge (tuned η) plays 400 rounds against A = 3 Bernoulli losses whose means drift
half-way, so the log has a non-trivial dynamic regret and variation budget.

    python reference_models/data/make_regret_sample.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("regret_sample.jsonl")
N_ROUNDS, N_ACTIONS, SEED = 400, 3, 0
POLICY_DECIMALS = 12


def make_log(n_rounds: int = N_ROUNDS, seed: int = SEED) -> list[dict]:
    from reference_models.online_learners import Hedge, run

    rng = np.random.default_rng(seed)
    means = np.where(np.arange(n_rounds)[:, None] < n_rounds // 2, [0.3, 0.5, 0.7], [0.6, 0.5, 0.2])
    losses = (rng.random((n_rounds, N_ACTIONS)) < means).astype(float)
    policy, actions = run(Hedge(N_ACTIONS, horizon=n_rounds), losses, seed=seed)
    return [{"round": t + 1, "losses": losses[t].tolist(), "policy": [round(p, POLICY_DECIMALS) for p in policy[t].tolist()], "action": int(actions[t])}
            for t in range(n_rounds)]


def main() -> None:
    with open(OUT, "w") as fh:
        for row in make_log():
            fh.write(json.dumps(row) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
