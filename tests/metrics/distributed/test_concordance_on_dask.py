"""Harrell's C on Dask equals the in-memory value bit for bit, whatever the partitioning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

import metrics  # noqa: E402
from metrics import InputError  # noqa: E402
from metrics.distributed import concordance_index, concordance_report, uno_concordance_index  # noqa: E402

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


# ----------------------------------------------------------------------------- heavy times
def _counts(risk, time, event, tol, *, same_time_censored=True):
    """Every ordered pair (n x n): concordant, discordant, tied_risk, comparable, tied_time (the reference)."""
    risk, time, event = np.asarray(risk, float), np.asarray(time, float), np.asarray(event).astype(bool)
    same = (time[None, :] == time[:, None]) & ~event[None, :]
    comparable = event[:, None] & ((time[None, :] > time[:, None]) | (same if same_time_censored else False))
    with np.errstate(invalid="ignore"):
        d = risk[:, None] - risk[None, :]
    tied = (risk[:, None] == risk[None, :]) | (np.abs(d) <= tol)
    tied_time = int((event[:, None] & same).sum()) if same_time_censored else 0
    return (int((comparable & ~tied & (d > 0)).sum()), int((comparable & ~tied & (d < 0)).sum()),
            int((comparable & tied).sum()), int(comparable.sum()), tied_time)


def _heavy_data(n, seed, levels, *, risk_decimals=1, n_inf=0):
    """``n`` subjects on ``levels`` times, more than half of them on the first one (a heavy time)."""
    rng = np.random.default_rng(seed)
    p = np.array([8.0] + [1.0] * (levels - 1))
    time = rng.choice(np.arange(levels) * 1.5 + 2.0, size=n, p=p / p.sum())
    risk = np.round(rng.normal(size=n), risk_decimals)
    if n_inf:
        idx = rng.choice(n, size=n_inf, replace=False)
        risk[idx] = np.where(rng.random(n_inf) < 0.5, np.inf, -np.inf)
    return pd.DataFrame({"risk": risk, "time": time, "event": (rng.random(n) < 0.5).astype(np.int64)})


@pytest.fixture
def layouts(monkeypatch):
    """The layouts the driver chose, to check that a heavy time really was spread over partitions."""
    from metrics.distributed import _concordance_plan

    seen = []
    original = _concordance_plan.time_layout

    def spy(*args):
        seen.append(original(*args))
        return seen[-1]

    monkeypatch.setattr(_concordance_plan, "time_layout", spy)
    return seen


def test_the_layout_gives_a_heavy_time_partitions_of_its_own():
    from metrics.distributed._concordance_plan import partition_of, time_layout

    time = np.concatenate([np.full(600, 3.0), np.linspace(0.0, 10.0, 400)])
    parts = np.array_split(time, 4)
    layout = time_layout([(np.quantile(p, np.linspace(0, 1, 256), method="lower"), p.size) for p in parts], 4)
    heavy = np.flatnonzero(layout.spread > 1)
    assert heavy.size == 1 and layout.bounds[heavy[0]] == 3.0 and layout.bounds[heavy[0] + 1] == np.nextafter(3.0, 4)
    assert layout.spread[heavy[0]] == 3  # about 600 subjects at 250 a partition
    target = partition_of(time, layout)
    own = np.arange(layout.first[heavy[0]], layout.first[heavy[0]] + 3)
    assert set(target[time == 3.0]) == set(own) and not np.isin(target[time != 3.0], own).any()
    assert np.bincount(target[time == 3.0])[own].tolist() == [200, 200, 200]  # dealt in turn
    # partition numbers follow the time order: each partition's times lie at or below the next one's
    lowest = [time[target == p].min(initial=np.inf) for p in range(layout.n_partitions)]
    highest = [time[target == p].max(initial=-np.inf) for p in range(layout.n_partitions)]
    assert all(h <= min(lowest[p + 1:], default=np.inf) for p, h in enumerate(highest))


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_a_heavy_time_spread_over_partitions(layouts, options):
    df = _heavy_data(700, seed=len(options), levels=4, n_inf=12)
    expected = _expected(df, **options)
    report = metrics.concordance_report(df["risk"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy(),
                                        **options)
    for npartitions in (1, 4, 9):
        frame = dd.from_pandas(df, npartitions=npartitions)
        assert _on_dask(frame, **options) == expected
        got = concordance_report(frame, risk_column="risk", time_column="time", event_column="event",
                                 scheduler=SYNC, **options)
        assert (got.concordant, got.discordant, got.tied_risk, got.comparable, got.tied_time) == (
            report.concordant, report.discordant, report.tied_risk, report.comparable, report.tied_time)
    assert max(layout.spread.max() for layout in layouts) >= 4  # the heavy time had partitions of its own


@pytest.mark.parametrize("npartitions", range(1, 10))
def test_heavy_times_and_the_pairwise_reference(layouts, npartitions):
    df = _heavy_data(520, seed=npartitions, levels=1 + npartitions % 4, n_inf=8)
    risk, time, event = df["risk"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy()
    conc, disc, tie, comp, tied_time = _counts(risk, time, event, 1e-8)
    got = concordance_report(dd.from_pandas(df, npartitions=npartitions), risk_column="risk", time_column="time",
                             event_column="event", scheduler=SYNC)
    assert (got.concordant, got.discordant, got.tied_risk, got.comparable, got.tied_time) == (
        conc, disc, tie, comp, tied_time)
    assert got.cindex == (2 * conc + tie) / 2 / comp == _expected(df)
    assert npartitions == 1 or layouts[-1].spread.max() > 1


@pytest.mark.parametrize("options", UNO_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_uno_with_heavy_times(layouts, options):
    df = _heavy_data(600, seed=3 + len(options), levels=5, n_inf=6)
    df.loc[df["time"] == df["time"].max(), "event"] = 1  # Ĝ stays > 0 where events are weighted
    df = pd.concat([df, df.iloc[::2].assign(time=5.0)])  # a second heavy time, events and censorings
    expected = _uno_expected(df, **options)
    for npartitions in (2, 5, 8):
        got = _uno_on_dask(dd.from_pandas(df, npartitions=npartitions), **options)
        assert got == pytest.approx(expected, rel=1e-12, abs=0), (npartitions, got, expected)
    assert (layouts[-1].spread > 1).sum() == 2


def test_uno_names_tau_when_g_drops_to_zero_at_a_heavy_time():
    df = _heavy_data(400, seed=9, levels=1)  # the last time: events, and censorings that end the follow-up
    df = pd.concat([pd.DataFrame({"risk": [0.5], "time": [1.0], "event": [1]}), df], ignore_index=True)
    with pytest.raises(InputError, match=r"pass tau ≤ 2"):
        _uno_expected(df)
    with pytest.raises(InputError, match=r"pass tau ≤ 2"):
        _uno_on_dask(dd.from_pandas(df, npartitions=4))


# ----------------------------------------------------------------------------- heavy scores
@pytest.fixture
def one_score_buckets(monkeypatch):
    """Small buckets (about 40 subjects), and a record of which buckets held a single score."""
    from metrics.distributed import _concordance, _concordance_plan

    monkeypatch.setattr(_concordance, "_BUCKET_ROWS", 40)
    seen = []
    original = _concordance_plan.one_score_buckets

    def spy(cuts):
        seen.append(original(cuts))
        return seen[-1]

    monkeypatch.setattr(_concordance_plan, "one_score_buckets", spy)
    return seen


def _clinical_data(n, seed, *, levels=4):
    """An integer risk score (most subjects on a few values, as a clinical score) and heavy times."""
    df = _heavy_data(n, seed, levels)
    rng = np.random.default_rng(seed + 100)
    score = rng.choice([0.0, 1.0, 2.0, 5.0], size=n, p=[0.4, 0.3, 0.2, 0.1])
    other = rng.random(n) < 0.1  # a few continuous scores between and around the levels
    score[other] = np.round(rng.normal(2.0, 2.0, size=int(other.sum())), 2)
    return df.assign(risk=score)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_a_heavy_score_gets_a_bucket_of_its_own(one_score_buckets, options):
    df = _clinical_data(800, seed=len(options))
    risk, time, event = df["risk"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy()
    report = metrics.concordance_report(risk, time, event, **options)
    for npartitions in (1, 3, 6):
        got = concordance_report(dd.from_pandas(df, npartitions=npartitions), risk_column="risk",
                                 time_column="time", event_column="event", scheduler=SYNC, **options)
        assert (got.concordant, got.discordant, got.tied_risk, got.comparable, got.tied_time) == (
            report.concordant, report.discordant, report.tied_risk, report.comparable, report.tied_time)
        assert got.cindex == report.cindex
    if options.get("tied_tol", 1e-8) < 0.3:  # a wide tolerance drops the cuts around a value
        assert one_score_buckets[-1].sum() >= 3


@pytest.mark.parametrize("npartitions", [1, 2, 5, 9])
def test_heavy_scores_and_the_pairwise_reference(one_score_buckets, npartitions):
    df = _clinical_data(600, seed=npartitions, levels=1 + npartitions % 3)
    risk, time, event = df["risk"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy()
    got = concordance_report(dd.from_pandas(df, npartitions=npartitions), risk_column="risk", time_column="time",
                             event_column="event", scheduler=SYNC)
    assert (got.concordant, got.discordant, got.tied_risk, got.comparable, got.tied_time) == _counts(
        risk, time, event, 1e-8)
    assert one_score_buckets[-1].any()


@pytest.mark.parametrize("options", UNO_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_uno_with_heavy_scores(one_score_buckets, options):
    df = _clinical_data(700, seed=5 + len(options), levels=5)
    df.loc[df["time"] == df["time"].max(), "event"] = 1
    expected = _uno_expected(df, **options)
    for npartitions in (1, 4, 7):
        got = _uno_on_dask(dd.from_pandas(df, npartitions=npartitions), **options)
        assert got == pytest.approx(expected, rel=1e-12, abs=0), (npartitions, got, expected)
    if options.get("tied_tol", 1e-8) < 0.3:
        assert one_score_buckets[-1].sum() >= 3


def test_one_score_buckets_are_found_from_the_cuts():
    from metrics.distributed._concordance_plan import one_score_buckets

    cuts = np.array([-1.0, 0.0, np.nextafter(0.0, 1.0), 0.5, 2.0, np.nextafter(2.0, 3.0)])
    assert one_score_buckets(cuts).tolist() == [False, False, True, False, False, True, False]
    assert one_score_buckets(np.empty(0)).tolist() == [False]


def test_heavy_times_and_scores_on_a_two_process_local_cluster(tmp_path, local_client, monkeypatch, layouts):
    from metrics.distributed import _concordance

    monkeypatch.setattr(_concordance, "_BUCKET_ROWS", 100)  # one-score buckets for the five levels
    df = _clinical_data(3000, seed=31, levels=5)
    df.loc[df["time"] == df["time"].max(), "event"] = 1
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), 6)):
        df.iloc[chunk].to_parquet(tmp_path / f"subjects-{i:02d}.parquet")
    glob = str(tmp_path / "subjects-*.parquet")
    got = concordance_report(glob, risk_column="risk", time_column="time", event_column="event")
    report = metrics.concordance_report(df["risk"].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy())
    assert (got.concordant, got.discordant, got.tied_risk, got.comparable, got.tied_time) == (
        report.concordant, report.discordant, report.tied_risk, report.comparable, report.tied_time)
    assert layouts[-1].spread.max() >= 3  # Dask's peer-to-peer shuffle moved a heavy time to its partitions
    got = uno_concordance_index(glob, risk_column="risk", time_column="time", event_column="event")
    assert got == pytest.approx(_uno_expected(df), rel=1e-12)
