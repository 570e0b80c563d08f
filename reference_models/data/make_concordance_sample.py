"""Write the bundled concordance sample: ``concordance_sample.csv`` (deterministic).

400 synthetic subjects (Weibull failure times driven by two covariates, uniform
censoring, times rounded to whole days so that many are tied) with the true linear
risk plus noise as ``risk``, and a predicted median survival time ``pred_time``
(survival direction). Run ``python reference_models/data/make_concordance_sample.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).with_name("concordance_sample.csv")


def make(n: int = 400, seed: int = 20240611) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    true_risk = 0.8 * x[:, 0] - 0.5 * x[:, 1]
    fail = 365.0 * rng.weibull(1.3, n) * np.exp(-true_risk / 1.3)
    cens = rng.uniform(30, 900, n)
    time = np.ceil(np.minimum(fail, cens))
    event = (fail <= cens).astype(int)
    risk = np.round(true_risk + rng.normal(scale=0.6, size=n), 3)
    pred_time = np.round(365.0 * np.log(2) ** (1 / 1.3) * np.exp(-risk / 1.3), 1)
    return pd.DataFrame({"time": time, "event": event, "risk": risk, "pred_time": pred_time})


if __name__ == "__main__":
    make().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
