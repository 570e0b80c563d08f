"""Calibration error on Dask equals the in-memory value, whatever the partitioning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

import metrics  # noqa: E402
from metrics import InputError  # noqa: E402
from metrics.distributed import calibration_error, finalize_state, merge_states, partial_state  # noqa: E402

SYNC = "synchronous"
K = 4
COLUMNS = [f"prob_{c}" for c in ("zebra", "yak", "ant", "bee")]  # file order, not alphabetical


def _frame(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(K, 0.7), size=n)
    labels = np.array([rng.choice(K, p=p ** 2 / (p ** 2).sum()) for p in probs])  # over-confident
    df = pd.DataFrame(probs, columns=COLUMNS)
    df["label"] = labels
    return df, probs, labels


@pytest.mark.parametrize("scope", ["top_label", "classwise"])
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("npartitions", [1, 4, 9])
def test_equals_in_memory_for_any_partitioning(scope, norm, npartitions):
    df, probs, labels = _frame()
    expected = metrics.calibration_error(probs, labels, n_bins=10, norm=norm, scope=scope)
    got = calibration_error(dd.from_pandas(df, npartitions=npartitions), prob_columns=COLUMNS,
                            label_column="label", n_bins=10, norm=norm, scope=scope, scheduler="synchronous")
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_binary_single_column_and_empty_partitions():
    df, probs, labels = _frame(seed=1)
    binary = pd.DataFrame({"p1": probs[:, 0], "y": (labels == 0).astype(int)})
    frame = dd.from_pandas(binary, npartitions=3)
    frame = dd.concat([frame, frame.head(0, compute=False)]).repartition(npartitions=5)
    expected = metrics.calibration_error(binary["p1"].to_numpy(), binary["y"].to_numpy(), n_bins=15)
    got = calibration_error(frame, prob_columns=["p1"], label_column="y", scheduler="synchronous")
    assert got == pytest.approx(expected, rel=1e-12)


def test_parquet_glob_on_a_two_process_local_cluster(tmp_path, local_client):
    df, probs, labels = _frame(n=4000, seed=2)
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), 5)):
        df.iloc[chunk].to_parquet(tmp_path / f"preds-{i:03d}.parquet")
    expected = metrics.calibration_error(probs, labels)
    got = calibration_error(str(tmp_path / "preds-*.parquet"), prob_columns=COLUMNS, label_column="label")
    assert got == pytest.approx(expected, rel=1e-12)


def test_state_functions_merge_like_the_union():
    from metrics import CalibrationError

    rng = np.random.default_rng(3)
    probs, labels = rng.dirichlet(np.ones(3), size=500), rng.integers(0, 3, size=500)
    import torch

    a = partial_state(lambda: CalibrationError(n_bins=7), torch.tensor(probs[:200]), torch.tensor(labels[:200]))
    b = partial_state(lambda: CalibrationError(n_bins=7), torch.tensor(probs[200:]), torch.tensor(labels[200:]))
    merged = merge_states(a, b)
    assert int(merged.count.sum()) == 500 and int(a.count.sum()) == 200  # inputs untouched
    assert float(finalize_state(merged)) == pytest.approx(metrics.calibration_error(probs, labels, n_bins=7),
                                                          rel=1e-12)


def test_bad_input_names_the_argument():
    df, _, _ = _frame(n=50)
    frame = dd.from_pandas(df, npartitions=2)
    with pytest.raises(InputError, match="prob_columns: no column 'prob_cat'"):
        calibration_error(frame, prob_columns=["prob_cat"], label_column="label")
    with pytest.raises(InputError, match="binning: only 'uniform'"):
        calibration_error(frame, prob_columns=COLUMNS, label_column="label", binning="quantile")
    with pytest.raises(InputError, match="path glob must end in"):
        calibration_error("preds-*.txt", prob_columns=COLUMNS, label_column="label")
    bad = df.copy()
    bad.loc[3, "label"] = 7
    with pytest.raises(InputError):
        calibration_error(dd.from_pandas(bad, npartitions=2), prob_columns=COLUMNS, label_column="label",
                          scheduler="synchronous")


@pytest.mark.parametrize("scope", ["top_label", "classwise", "positive_class"])
def test_report_equals_in_memory(scope):
    from metrics.distributed import calibration_report

    df, probs, labels = _frame(n=2000, seed=4)
    columns = COLUMNS
    if scope == "positive_class":
        df = pd.DataFrame({"p1": probs[:, 0], "label": (labels == 0).astype(int)})
        probs, labels, columns = probs[:, 0], (labels == 0).astype(int), ["p1"]
    expected = metrics.calibration_report(probs, labels, n_bins=8, scope=scope)
    got = calibration_report(dd.from_pandas(df, npartitions=6), prob_columns=columns, label_column="label",
                             n_bins=8, scope=scope, scheduler="synchronous")
    assert type(got) is type(expected)
    np.testing.assert_array_equal(got.counts, expected.counts)  # integer state: identical
    np.testing.assert_array_equal(got.edges, expected.edges)
    np.testing.assert_array_equal(got.nonempty, expected.nonempty)
    np.testing.assert_allclose(got.mean_confidence, expected.mean_confidence, rtol=1e-12)
    np.testing.assert_allclose(got.accuracy, expected.accuracy, rtol=1e-12)
    for field in ("ece", "mce", "ace", "l2", "l2_debiased"):
        assert getattr(got, field) == pytest.approx(getattr(expected, field), rel=1e-12, abs=1e-15), field
    assert got.n_samples == expected.n_samples and got.ci is None
    assert got.params == expected.params
    with pytest.raises(InputError, match="n_bootstrap"):
        calibration_report(dd.from_pandas(df, npartitions=2), prob_columns=columns, label_column="label",
                           n_bootstrap=100)


def _top_label_ece(p1, y, n_bins):
    """ECE of a binary model from its positive-class probabilities, by plain numpy (the test's reference)."""
    score = np.maximum(p1, 1.0 - p1)
    correct = (p1 > 0.5).astype(int) == y
    edges = np.arange(n_bins + 1) / n_bins
    bins = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, n_bins - 1)
    gap = np.bincount(bins, weights=score, minlength=n_bins) - np.bincount(bins, weights=correct, minlength=n_bins)
    return np.abs(gap).sum() / y.size


def test_parquet_glob_read_in_batches(tmp_path, monkeypatch):
    from metrics.distributed import _calibration

    monkeypatch.setattr(_calibration, "_BATCH_ROWS", 7)  # many batches per file, a short last one
    rng = np.random.default_rng(5)
    p1 = rng.random(500)
    y = (rng.random(500) < p1).astype(np.int8)
    for i, chunk in enumerate(np.array_split(np.arange(500), 3)):
        pd.DataFrame({"p": p1[chunk], "y": y[chunk]}).to_parquet(tmp_path / f"part-{i}.parquet")
    pd.DataFrame({"p": p1[:0], "y": y[:0]}).to_parquet(tmp_path / "part-9.parquet")  # an empty file
    got = calibration_error(str(tmp_path / "part-*.parquet"), prob_columns=["p"], label_column="y", n_bins=10,
                            scheduler=SYNC)
    assert got == pytest.approx(_top_label_ece(p1, y.astype(int), 10), rel=1e-12)


def test_parquet_glob_bad_input(tmp_path):
    pd.DataFrame({"p": [0.2, np.nan], "y": [0, 1]}).to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(InputError, match="prob_columns: no column 'q'"):
        calibration_error(str(tmp_path / "*.parquet"), prob_columns=["q"], label_column="y", scheduler=SYNC)
    with pytest.raises(InputError, match="preds"):
        calibration_error(str(tmp_path / "*.parquet"), prob_columns=["p"], label_column="y", scheduler=SYNC)
    pd.DataFrame({"p": [0.2, 0.7], "y": [0.0, 0.5]}).to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(InputError, match="integer class labels"):
        calibration_error(str(tmp_path / "*.parquet"), prob_columns=["p"], label_column="y", scheduler=SYNC)
    pd.DataFrame({"p": [0.2, 0.7], "label": [0, 1]}).to_parquet(tmp_path / "nan.parquet")
    pd.DataFrame({"p": [0.2, 0.7], "y": [0, 1]}).to_parquet(tmp_path / "a.parquet")  # the first file
    with pytest.raises(InputError, match="no column 'y' in .*nan.parquet"):
        calibration_error(str(tmp_path / "*.parquet"), prob_columns=["p"], label_column="y", scheduler=SYNC)
    with pytest.raises(InputError, match="no file matches"):
        calibration_error(str(tmp_path / "none-*.parquet"), prob_columns=["p"], label_column="y", scheduler=SYNC)


def test_small_steps_under_a_tuned_allocator_give_the_same_sums(monkeypatch):
    # a Dask worker's nanny sets MALLOC_TRIM_THRESHOLD_; the update then bins in steps of 8,192 rows
    from metrics import CalibrationError
    from metrics.calibration import _kernel

    rng = np.random.default_rng(6)
    p1 = rng.random(50_000)
    y = (rng.random(50_000) < p1).astype(np.int64)
    probs = np.stack([1.0 - p1, p1], axis=1)
    monkeypatch.setattr(_kernel, "_MALLOC_TUNED", False)
    assert _kernel.cpu_step(1 << 15) == 1 << 15
    expected_classwise = metrics.calibration_error(probs, y, n_bins=12, scope="classwise")  # steps of 32,768
    monkeypatch.setattr(_kernel, "_MALLOC_TUNED", True)
    assert _kernel.cpu_step(1 << 15) == 1 << 13
    metric = CalibrationError(n_bins=12)
    metric.update(p1, y)
    assert float(metric.compute()) == pytest.approx(_top_label_ece(p1, y, 12), rel=1e-12)
    classwise = CalibrationError(n_bins=12, scope="classwise", num_classes=2)
    classwise.update(probs, y)
    assert float(classwise.compute()) == pytest.approx(expected_classwise, rel=1e-12)
