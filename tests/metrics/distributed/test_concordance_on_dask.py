"""Harrell's C on Dask equals the in-memory value bit for bit, whatever the partitioning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

import metrics  # noqa: E402
from metrics import InputError  # noqa: E402
from metrics.distributed import concordance_index, uno_concordance_index  # noqa: E402

SYNC = "synchronous"


def _pairwise_c(risk, time, event, tol):
    """Harrell's C from every ordered pair (n x n arrays; the test's independent reference)."""
    risk, time, event = (np.asarray(a) for a in (risk, time, event))
    later = (time[None, :] > time[:, None]) | ((time[None, :] == time[:, None]) & ~event[None, :])
    comparable = event[:, None] & later
    with np.errstate(invalid="ignore"):
        d = risk[:, None] - risk[None, :]
    tied = (risk[:, None] == risk[None, :]) | (np.abs(d) <= tol)
    conc = comparable & ~tied & (d > 0)
    tie = comparable & tied
    return (2 * int(conc.sum()) + int(tie.sum())) / 2 / int(comparable.sum())


def _data(n, seed, *, time_levels=12, risk_decimals=None, n_inf=0, near_ties=False, event_rate=0.6):
    rng = np.random.default_rng(seed)
    time = rng.integers(0, time_levels, size=n).astype(np.float64) * 0.5  # heavy time ties
    event = rng.random(n) < event_rate
    risk = rng.normal(size=n)
    if risk_decimals is not None:
        risk = np.round(risk, risk_decimals)  # heavy exact risk ties
    if near_ties:  # chains of scores 4e-9 apart: ties within 1e-8 that are not transitive
        risk = np.round(risk, 1) + 4e-9 * rng.integers(0, 6, size=n)
    if n_inf:
        idx = rng.choice(n, size=n_inf, replace=False)
        risk[idx] = np.where(rng.random(n_inf) < 0.5, np.inf, -np.inf)
    return pd.DataFrame({"risk": risk, "time": time, "event": event.astype(np.int64)})


def _expected(df, **options):
    return metrics.concordance_index(df["risk"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy(),
                                     **options)


def _on_dask(frame, **options):
    return concordance_index(frame, risk_column="risk", time_column="time", event_column="event",
                             scheduler=SYNC, **options)


def test_hand_worked_case():
    df = pd.DataFrame({"time": [2, 3, 3, 5, 5, 8], "event": [1, 1, 0, 1, 1, 0],
                       "risk": [.9, .5, .7, .5, .2, .5]})
    frame = dd.from_pandas(df, npartitions=3)
    assert _on_dask(frame) == 7.5 / 11
    flipped = dd.from_pandas(df.assign(risk=-df["risk"]), npartitions=2)
    assert _on_dask(flipped, compat="lifelines") == 7.5 / 11
    assert _on_dask(frame, compat="lifelines") == 3.5 / 11


OPTIONS = [
    {},
    {"compat": "lifelines"},
    {"compat": "sksurv"},
    {"higher_is": "survival"},
    {"tied_tol": 0.0},
    {"tied_tol": 1e-8},
    {"tied_tol": 0.3},  # wide: every bucket boundary is dropped, one bucket
]
DATA = {
    "continuous": {},
    "rounded_risks": {"risk_decimals": 1},
    "near_ties": {"near_ties": True},
    "infinities": {"risk_decimals": 2, "n_inf": 25},
}


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("kind", list(DATA))
def test_bit_identical_to_in_memory(kind, options):
    df = _data(400, seed=len(kind) * 7 + len(options), **DATA[kind])
    expected = _expected(df, **options)
    for npartitions in (1, 3, 8):
        got = _on_dask(dd.from_pandas(df, npartitions=npartitions), **options)
        assert got == expected, (npartitions, got, expected)


@pytest.mark.parametrize("npartitions", range(1, 10))
def test_any_partitioning_and_the_pairwise_reference(npartitions):
    df = _data(150, seed=npartitions, time_levels=6, near_ties=True)
    expected = _pairwise_c(df["risk"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy(bool), 1e-8)
    assert _on_dask(dd.from_pandas(df, npartitions=npartitions)) == expected
    assert _expected(df) == expected


def test_one_time_only_and_a_shuffled_input():
    df = _data(300, seed=11, time_levels=1, risk_decimals=1)  # every subject at one time
    expected = _expected(df)
    assert _on_dask(dd.from_pandas(df, npartitions=4)) == expected
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert _on_dask(dd.from_pandas(shuffled, npartitions=5)) == expected


def test_empty_partitions():
    df = _data(300, seed=5, risk_decimals=1)
    frame = dd.from_pandas(df, npartitions=4)
    empty = frame.head(0, compute=False)
    padded = dd.concat([empty, frame, empty, empty])
    padded = padded.map_partitions(lambda p: p[p["time"] >= 0.5] if len(p) and p["time"].min() < 0.5 else p,
                                   meta=frame._meta)  # may empty whole partitions of the input
    kept = df[df["time"] >= 0.5] if (df["time"] < 0.5).any() else df
    assert padded.npartitions >= 6
    assert _on_dask(padded) == _expected(kept.reset_index(drop=True))


def test_without_event_column_every_subject_had_the_event():
    df = _data(200, seed=8, risk_decimals=1)
    frame = dd.from_pandas(df[["risk", "time"]], npartitions=3)
    got = concordance_index(frame, risk_column="risk", time_column="time", scheduler=SYNC)
    assert got == metrics.concordance_index(df["risk"].to_numpy(), df["time"].to_numpy())


def test_all_censored_is_undefined():
    df = _data(100, seed=1).assign(event=0)
    frame = dd.from_pandas(df, npartitions=3)
    with pytest.raises(InputError, match="no comparable pair"):
        _on_dask(frame)
    assert np.isnan(_on_dask(frame, on_undefined="nan"))
    assert np.isnan(_expected(df, on_undefined="nan"))


def test_bad_input_names_the_argument():
    df = _data(50, seed=2)
    frame = dd.from_pandas(df, npartitions=2)
    with pytest.raises(InputError, match="no column 'score'"):
        concordance_index(frame, risk_column="score", time_column="time", scheduler=SYNC)
    with pytest.raises(InputError, match="conflicts with compat"):
        _on_dask(frame, compat="lifelines", tied_tol=1e-8)
    with pytest.raises(InputError, match="compat"):
        _on_dask(frame, compat="R")
    bad = df.assign(risk=df["risk"].where(df.index != 7, np.nan))
    with pytest.raises(InputError, match="risk"):
        _on_dask(dd.from_pandas(bad, npartitions=2))
    bad = df.assign(event=df["event"].where(df.index != 3, 2))
    with pytest.raises(InputError, match="event"):
        _on_dask(dd.from_pandas(bad, npartitions=2))


# ----------------------------------------------------------------------------- Uno
def _uno_expected(df, **options):
    return metrics.uno_concordance_index(df["risk"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy(),
                                         **options)


def _uno_on_dask(frame, **options):
    return uno_concordance_index(frame, risk_column="risk", time_column="time", event_column="event",
                                 scheduler=SYNC, **options)


def test_uno_hand_worked_case():
    df = pd.DataFrame({"time": [2, 3, 3, 5, 5, 8], "event": [1, 1, 0, 1, 1, 0],
                       "risk": [.9, .5, .7, .5, .2, .5]})
    for npartitions in (1, 2, 4):
        frame = dd.from_pandas(df, npartitions=npartitions)
        assert _uno_on_dask(frame) == pytest.approx(85 / 141, rel=1e-12)
        assert _uno_on_dask(frame, tau=4) == pytest.approx(77 / 109, rel=1e-12)
        assert _uno_on_dask(frame, pairs="strict") == pytest.approx(61 / 125, rel=1e-12)
        assert _uno_on_dask(frame, g_at="T-") == pytest.approx(71 / 113, rel=1e-12)


UNO_OPTIONS = [
    {},
    {"tau": 4.0},
    {"pairs": "strict"},
    {"g_at": "T-"},
    {"compat": "sksurv"},
    {"higher_is": "survival", "tied_tol": 0.0},
    {"tied_tol": 0.3},
]


@pytest.mark.parametrize("options", UNO_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("kind", ["rounded_risks", "near_ties", "infinities"])
def test_uno_equals_in_memory(kind, options):
    # the last time holds an event only, so that Ĝ stays > 0 where events are weighted
    df = _data(400, seed=len(kind) + 3 * len(options), **DATA[kind])
    df.loc[df["time"] == df["time"].max(), "event"] = 1
    expected = _uno_expected(df, **options)
    for npartitions in (1, 3, 7):
        got = _uno_on_dask(dd.from_pandas(df, npartitions=npartitions), **options)
        assert got == pytest.approx(expected, rel=1e-12, abs=0), (npartitions, got, expected)


def test_uno_with_in_memory_training_data():
    df = _data(300, seed=21, risk_decimals=1)
    train = _data(500, seed=22, time_levels=15)
    train.loc[train["time"] == train["time"].max(), "event"] = 1
    options = {"train_time": train["time"].to_numpy(), "train_event": train["event"].to_numpy(), "tau": 5.0}
    expected = _uno_expected(df, **options)
    got = _uno_on_dask(dd.from_pandas(df, npartitions=4), **options)
    assert got == pytest.approx(expected, rel=1e-12)


def test_uno_without_censoring_equals_harrell():
    df = _data(300, seed=4, risk_decimals=1).assign(event=1)
    frame = dd.from_pandas(df, npartitions=5)
    assert _uno_on_dask(frame) == pytest.approx(_on_dask(frame), rel=1e-12)


def test_uno_errors_name_the_argument():
    df = _data(200, seed=6)
    last = df["time"] == df["time"].max()
    df.loc[last, "event"] = [1] + [0] * (int(last.sum()) - 1)  # an event where Ĝ drops to 0
    frame = dd.from_pandas(df, npartitions=3)
    with pytest.raises(InputError, match="pass tau"):
        _uno_expected(df)
    with pytest.raises(InputError, match=r"pass tau ≤ 5.5"):
        _uno_on_dask(frame)
    assert _uno_on_dask(frame, tau=5.5) == pytest.approx(_uno_expected(df, tau=5.5), rel=1e-12)
    with pytest.raises(InputError, match="train_event is required"):
        _uno_on_dask(frame, train_time=[1.0, 2.0])
    with pytest.raises(InputError, match="pairs='strict'"):
        _uno_on_dask(frame, pairs="strict", tied_tol=1e-8)
    with pytest.raises(InputError, match="g_at"):
        _uno_on_dask(frame, compat="sksurv", g_at="T-")
    with pytest.raises(InputError, match="tau"):
        _uno_on_dask(frame, tau=-1.0)
    later = df.assign(time=df["time"] + 1.0)  # every event after tau: no weighted pair
    assert np.isnan(_uno_expected(later, tau=0.5, on_undefined="nan"))
    assert np.isnan(_uno_on_dask(dd.from_pandas(later, npartitions=2), tau=0.5, on_undefined="nan"))
    with pytest.raises(InputError, match="carries weight"):
        _uno_on_dask(dd.from_pandas(later, npartitions=2), tau=0.5)


def test_harrell_and_uno_on_a_two_process_local_cluster(tmp_path, local_client):
    df = _data(3000, seed=30, risk_decimals=2, n_inf=10)
    df.loc[df["time"] == df["time"].max(), "event"] = 1
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), 6)):
        df.iloc[chunk].to_parquet(tmp_path / f"subjects-{i:02d}.parquet")
    glob = str(tmp_path / "subjects-*.parquet")
    assert concordance_index(glob, risk_column="risk", time_column="time", event_column="event") == _expected(df)
    got = uno_concordance_index(glob, risk_column="risk", time_column="time", event_column="event", tau=5.0)
    assert got == pytest.approx(_uno_expected(df, tau=5.0), rel=1e-12)


def test_many_small_buckets_and_int_times(monkeypatch):
    from metrics.distributed import _concordance

    monkeypatch.setattr(_concordance, "_BUCKET_ROWS", 40)  # about 25 score buckets for 1,000 subjects
    rng = np.random.default_rng(11)
    risk = np.round(rng.normal(size=1000), 2)
    time = rng.integers(0, 30, size=1000)
    event = rng.random(1000) < 0.6
    frame = dd.from_pandas(pd.DataFrame({"risk": risk, "time": time, "event": event}), npartitions=3)
    got = concordance_index(frame, risk_column="risk", time_column="time", event_column="event", scheduler=SYNC)
    assert got == metrics.concordance_index(risk, time, event)
    assert got == pytest.approx(_pairwise_c(risk, time, event, 0.0), rel=1e-12)
