"""Generate ``linco_sample.csv``: synthetic criminal cases with text facts for LInCo.

Deterministic (fixed seed, fixed formatting): rerunning rewrites the same bytes.
Run: ``python reference_models/data/make_linco_sample.py``.

Each case has a region (the group), a charge, a prison term in whole months and a
short fact description generated from the same latent factors that set the term.
Sentencing differs by region: region r multiplies the term by (1 + 0.3 b_r) with
b = (-1, -1/3, 1/3, 1) for (north, east, south, west), so LInCo on this file is
clearly above its random-split baseline. Everything here is invented.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 20210325
N_CASES = 1200
REGIONS = ("north", "east", "south", "west")
REGION_BIAS = (-1.0, -1.0 / 3.0, 1.0 / 3.0, 1.0)
BIAS_STRENGTH = 0.3
CHARGES = ("theft", "fraud", "robbery", "assault")
CHARGE_EFFECT = (0.0, 0.2, 0.7, 0.4)
AMOUNTS = ("a small sum", "a considerable sum", "a large sum", "an enormous sum")
PRIORS = ("had no prior record", "had one prior conviction", "had several prior convictions")
OPENINGS = ("The court found that", "It was established that", "According to the indictment,",
            "The evidence shows that")
OUT = Path(__file__).resolve().parent / "linco_sample.csv"


def make_cases(seed: int = SEED, n: int = N_CASES) -> list[dict]:
    rng = np.random.default_rng(seed)
    region = rng.integers(0, len(REGIONS), n)
    charge = rng.integers(0, len(CHARGES), n)
    amount = rng.integers(0, len(AMOUNTS), n)
    priors = rng.choice(3, n, p=[0.55, 0.3, 0.15])
    weapon = rng.uniform(size=n) < 0.25
    injury = rng.choice(3, n, p=[0.6, 0.28, 0.12])  # none, slight, serious
    confessed = rng.uniform(size=n) < 0.5
    restitution = rng.uniform(size=n) < 0.3
    opening = rng.integers(0, len(OPENINGS), n)
    noise = rng.standard_normal(n)
    log_term = (1.6 + 0.45 * amount + 0.3 * priors + 0.35 * weapon + 0.25 * (injury == 1)
                + 0.7 * (injury == 2) - 0.2 * confessed - 0.25 * restitution
                + np.asarray(CHARGE_EFFECT)[charge] + 0.2 * noise)
    factor = 1.0 + BIAS_STRENGTH * np.asarray(REGION_BIAS)[region]
    term = np.maximum(1, np.round(np.exp(log_term) * factor)).astype(int)
    rows = []
    for i in range(n):
        parts = [f"{OPENINGS[opening[i]]} the defendant committed {CHARGES[charge[i]]} involving {AMOUNTS[amount[i]]}"]
        if weapon[i]:
            parts.append("and was armed with a knife")
        facts = " ".join(parts) + "."
        if injury[i] == 1:
            facts += " The victim was slightly injured."
        elif injury[i] == 2:
            facts += " The victim was seriously injured."
        facts += f" The defendant {PRIORS[priors[i]]}"
        facts += " and confessed." if confessed[i] else " and denied the charges."
        if restitution[i]:
            facts += " The stolen property was returned."
        rows.append({"case_id": i, "region": REGIONS[region[i]], "charge": CHARGES[charge[i]],
                     "term": int(term[i]), "facts": facts})
    return rows


def main() -> None:
    rows = make_cases()
    with open(OUT, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(rows)} cases)")


if __name__ == "__main__":
    main()
