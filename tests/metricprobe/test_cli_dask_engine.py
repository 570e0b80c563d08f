"""``--engine dask`` on calibration, concordance, linco and regret: the in-memory command's numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")

import metrics  # noqa: E402
from metricprobe.cli import main  # noqa: E402


def _shards(tmp_path, df, name, n=4, fmt="parquet"):
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), n)):
        part = df.iloc[chunk]
        path = tmp_path / f"{name}-{i:02d}.{fmt}"
        if fmt == "parquet":
            part.to_parquet(path)
        elif fmt == "jsonl":
            part.to_json(path, orient="records", lines=True)
        else:
            part.to_csv(path, index=False)
    return str(tmp_path / f"{name}-*.{fmt}")


def _run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture()
def calibration_data():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=900)
    labels = rng.integers(0, 3, size=900)
    df = pd.DataFrame(probs, columns=["prob_0", "prob_1", "prob_2"]).assign(label=labels)
    return df, probs, labels


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_calibration_on_dask_matches_in_memory(tmp_path, capsys, calibration_data, fmt):
    df, probs, labels = calibration_data
    glob = _shards(tmp_path, df, "preds", fmt=fmt)
    out = _run_json(capsys, ["calibration", glob, "--engine", "dask", "--scheduler", "synchronous", "--json",
                             "--n-bins", "10"])
    assert out["engine"] == "dask" and out["n_samples"] == 900
    expected = metrics.calibration_report(probs, labels, n_bins=10)
    assert out["metrics"]["ece"] == pytest.approx(expected.ece, rel=1e-12)
    assert [b["count"] for b in out["bins"]] == expected.counts.tolist()
    assert main(["calibration", glob, "--engine", "dask", "--scheduler", "synchronous"]) == 0
    assert "ECE" in capsys.readouterr().out


def test_calibration_dask_refuses_what_it_cannot_do(tmp_path, capsys, calibration_data):
    glob = _shards(tmp_path, calibration_data[0], "preds")
    assert main(["calibration", glob, "--engine", "dask", "--scheduler", "synchronous", "--bootstrap", "10"]) == 2
    assert "--bootstrap is not available with --engine dask" in capsys.readouterr().err
    assert main(["calibration", glob, "--scheduler", "synchronous"]) == 2
    assert "apply to --engine dask only" in capsys.readouterr().err
    assert main(["calibration", str(tmp_path / "none-*.parquet"), "--engine", "dask",
                 "--scheduler", "synchronous"]) == 2


@pytest.fixture()
def survival_data():
    rng = np.random.default_rng(1)
    n = 800
    df = pd.DataFrame({"time": rng.integers(1, 30, size=n).astype(float), "event": (rng.random(n) < 0.6).astype(int),
                       "risk": np.round(rng.normal(size=n), 1)})
    df.loc[df["time"] == df["time"].max(), "event"] = 1
    return df


def test_concordance_on_dask_matches_in_memory(tmp_path, capsys, survival_data):
    df = survival_data
    glob = _shards(tmp_path, df, "subjects")
    out = _run_json(capsys, ["concordance", glob, "--engine", "dask", "--scheduler", "synchronous", "--uno",
                             "--tau", "20", "--json"])
    memory = _run_json(capsys, ["concordance", str(tmp_path / "subjects-00.parquet"), "--json"])
    assert memory["n"] == 200 and out["n"] == 800
    expected = metrics.concordance_report(df["risk"], df["time"], df["event"])
    assert out["cindex"] == expected.cindex
    for key in ("concordant", "discordant", "tied_risk", "comparable", "tied_time"):
        assert out[key] == getattr(expected, key)
    assert out["uno_cindex"] == pytest.approx(
        metrics.uno_concordance_index(df["risk"], df["time"], df["event"], tau=20.0), rel=1e-12)
    assert main(["concordance", glob, "--engine", "dask", "--scheduler", "synchronous", "--bootstrap", "5"]) == 2


def test_concordance_on_a_local_cluster_started_by_the_cli(tmp_path, capsys, survival_data):
    df = survival_data
    glob = _shards(tmp_path, df, "subjects", n=3)
    out = _run_json(capsys, ["concordance", glob, "--engine", "dask", "--workers", "2", "--json",
                             "--compat", "lifelines"])
    assert out["cindex"] == metrics.concordance_index(df["risk"], df["time"], df["event"], compat="lifelines")


@pytest.fixture()
def judges_data():
    rng = np.random.default_rng(2)
    base = rng.gamma(2.0, 12.0, size=600)
    models = base * rng.lognormal(0.0, 0.3, size=(3, 600))  # 3 group models judge the same 600 cases
    splits = [base * rng.lognormal(0.0, 0.2, size=(3, 600)) for _ in range(2)]  # random-split baselines
    columns = {f"judge_{k}": models[k] for k in range(3)}
    columns |= {f"split{r}_{k}": splits[r][k] for r in range(2) for k in range(3)}
    return pd.DataFrame(columns).assign(case=np.arange(600)), models, splits


def test_linco_on_dask_matches_in_memory(tmp_path, capsys, judges_data):
    df, models, splits = judges_data
    glob = _shards(tmp_path, df, "judges", n=5)
    argv = ["linco", glob, "--columns", "judge_*", "--baseline-columns", "split0_*", "--baseline-columns",
            "split1_*", "--engine", "dask", "--scheduler", "synchronous", "--json"]
    out = _run_json(capsys, argv)
    expected = metrics.linco_report(models, baseline=splits)
    assert out["engine"] == "dask" and out["judge_columns"] == ["judge_0", "judge_1", "judge_2"]
    assert out["baseline_columns"] == [[f"split{r}_{k}" for k in range(3)] for r in range(2)]
    assert out["n_eval"] == 600 and out["n_skipped"] == 0 and "per_case" not in out
    for key in ("value", "raw", "baseline", "ci_low", "ci_high"):
        assert out[key] == pytest.approx(getattr(expected, key), rel=1e-12), key
    assert out["baseline_values"] == pytest.approx(expected.baseline_values, rel=1e-12)
    # the in-memory command on the whole table gives the same numbers
    whole = tmp_path / "judges.csv"
    df.to_csv(whole, index=False)
    memory = _run_json(capsys, ["linco", str(whole), "--columns", "judge_*", "--baseline-columns", "split0_*",
                                "--baseline-columns", "split1_*", "--json"])
    assert memory["value"] == pytest.approx(out["value"], rel=1e-12)
    assert main(argv[:-1]) == 0
    assert "scored on Dask" in capsys.readouterr().out


def test_linco_dask_classification_and_refusals(tmp_path, capsys):
    charges = pd.DataFrame({"m0": ["theft", "fraud", "theft", "robbery"], "m1": ["theft", "theft", "theft", "fraud"],
                            "m2": ["robbery", "theft", "theft", "fraud"]})
    glob = _shards(tmp_path, charges, "charges", n=2, fmt="jsonl")
    out = _run_json(capsys, ["linco", glob, "--columns", "m0,m1,m2", "--task", "classification", "--engine", "dask",
                             "--scheduler", "synchronous", "--json"])
    assert out["value"] == pytest.approx(metrics.linco(charges.to_numpy().T, task="classification"), rel=1e-12)
    for extra, flag in ((["--per-case"], "--per-case"), (["--plot", str(tmp_path / "h.png")], "--plot"),
                        (["--transpose"], "--transpose")):
        assert main(["linco", glob, "--columns", "m0,m1,m2", "--task", "classification", "--engine", "dask",
                     "--scheduler", "synchronous", *extra]) == 2
        assert f"{flag} is not available with --engine dask" in capsys.readouterr().err
    assert main(["linco", glob, "--engine", "dask", "--scheduler", "synchronous"]) == 2
    assert "--columns: name the judge" in capsys.readouterr().err


def test_regret_on_dask_matches_in_memory(tmp_path, capsys):
    rng = np.random.default_rng(3)
    losses = rng.random((400, 3))
    losses[:, 1] -= np.linspace(0.0, 0.4, 400)  # action 1 becomes the best
    policy = rng.dirichlet(np.ones(3), size=400)
    actions = rng.integers(0, 3, size=400)
    df = pd.DataFrame({**{f"loss_{a}": losses[:, a] for a in range(3)}, **{f"pi_{a}": policy[:, a] for a in range(3)},
                       "action": actions, "t": np.arange(400)})
    glob = _shards(tmp_path, df.sample(frac=1.0, random_state=0), "rounds", n=4)  # rounds shuffled over shards
    base = ["regret", glob, "--losses", "loss_*", "--round-col", "t", "--engine", "dask", "--scheduler", "synchronous"]
    out = _run_json(capsys, [*base, "--policy", "pi_*", "--eval-points", "25", "--json"])
    expected = metrics.regret_report(policy, losses, eval_points=25)
    assert out["engine"] == "dask" and out["n_rounds"] == 400 and out["realized"] is False
    for key in ("external_regret", "dynamic_regret", "swap_regret", "variation_budget", "learner_loss"):
        assert out[key] == pytest.approx(getattr(expected, key), rel=1e-12), key
    assert out["best_fixed_action"] == expected.best_fixed_action == 1
    assert out["best_action_switches"] == expected.best_action_switches
    assert out["test"]["eval_points"] == expected.test.eval_points.tolist()
    assert out["test"]["trend_statistic"] == expected.test.trend_statistic
    assert out["columns"] == {"losses": ["loss_0", "loss_1", "loss_2"], "policy": ["pi_0", "pi_1", "pi_2"]}
    # realised regret, rewards, the table with its evaluation points
    out = _run_json(capsys, [*base, "--actions", "action", "--rewards", "--json"])
    assert out["external_regret"] == pytest.approx(metrics.external_regret(actions, -losses), rel=1e-12)
    assert main([*base, "--actions", "action"]) == 0
    table = capsys.readouterr().out
    assert "no-regret test read at log-spaced" in table and "verdict:" in table


def test_regret_dask_refusals(tmp_path, capsys):
    rows = pd.DataFrame({"l0": [0.0, 1.0], "l1": [1.0, 0.0], "action": [0, 1], "t": [1, 1]})
    glob = _shards(tmp_path, rows, "bad", n=1)
    base = ["regret", glob, "--losses", "l0,l1", "--engine", "dask", "--scheduler", "synchronous"]
    assert main([*base, "--round-col", "t"]) == 2
    assert "round 1 appears more than once" in capsys.readouterr().err
    assert main([*base, "--round-col", "nope"]) == 2
    assert "--round-col: column 'nope' not found" in capsys.readouterr().err
    assert main(["regret", glob, "--losses", "l0,l1", "--round-col", "t"]) == 2
    assert "--round-col applies to --engine dask only" in capsys.readouterr().err
    bad = _shards(tmp_path, rows.assign(action=[0, 2]), "labels", n=1)
    assert main(["regret", bad, "--losses", "l0,l1", "--engine", "dask", "--scheduler", "synchronous"]) == 2
    assert "--actions must be integer labels" in capsys.readouterr().err
