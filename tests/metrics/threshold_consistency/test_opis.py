"""OPIS / ε-OPIS: hand-worked cases, a dense O(N²) reference, quantile replication, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import metrics
from metrics import InputError, epsilon_opis, opis, opis_report
from metrics.threshold_consistency import _passes
from metrics.threshold_consistency._curves import quantile_from_order_statistics, quantile_positions

# ----------------------------------------------------------------------------------------
# hand-worked case: points 0..3, classes A = {0, 1}, B = {2, 3}
#   positive distances: A: 1 - cos60° = 1/2 ; B: (0,1)·(-1,0) = 0 -> 1
#   negative distances: 1 - √3/2, 1, 3/2, 2  -> far_range (1/4, 3/4), linear:
#   d_min = 0.134 + 0.75·(1 - 0.134) = 0.78349, d_max = 1.5 + 0.25·0.5 = 1.625, n = 3
#   grid: 0.78349, 1.20425, 1.625 ; TNR (both classes) = 3/4, 1/2, 1/4
#   TPR_A = 1, 1, 1 ; TPR_B = 0, 1, 1
#   U_A = 2·TNR/(1+TNR) = 6/7, 2/3, 2/5 ; U_B = 0, 2/3, 2/5
#   V = ((U_A - U_B)/2)² = 9/49, 0, 0 -> OPIS = 3/49, trapezoid (9/49/2)/2 = 9/196
#   β = 2: U_A(θ0) = 5·(3/4)/(4 + 3/4) = 15/19, U_B = 0 -> V0 = (15/38)², OPIS = (15/38)²/3
#   pooled: TPR = 1/2, 1, 1 ; TNR = 3/4, 1/2, 1/4 -> Ū = 3/5, 2/3, 2/5
#       V0 = ((6/7 - 3/5)² + (3/5)²)/2 = ((9/35)² + (21/35)²)/2 = 522/2450 -> OPIS = 87/1225
#   ε = 0.5 -> k = 1: gap = 6/7, 0, 0 -> ε-OPIS = (36/49)/3 = 12/49

HAND_X = np.array([[1.0, 0.0], [0.5, math.sqrt(3) / 2], [0.0, 1.0], [-3.0, 0.0]])
HAND_Y = np.array([0, 0, 1, 1])
HAND_KW = dict(far_range=(0.25, 0.75), n_thresholds=3)


def test_hand_case_values():
    rep = opis_report(HAND_X, HAND_Y, epsilons=(0.5,), **HAND_KW)
    assert rep.d_min == pytest.approx(1 - math.sqrt(3) / 2 + 0.75 * math.sqrt(3) / 2, abs=1e-15)
    assert rep.d_max == pytest.approx(1.625, abs=1e-15)
    np.testing.assert_allclose(rep.tnr, [[0.75, 0.5, 0.25]] * 2, atol=1e-15)
    np.testing.assert_allclose(rep.tpr, [[1, 1, 1], [0, 1, 1]], atol=1e-15)
    np.testing.assert_allclose(rep.utility, [[6 / 7, 2 / 3, 0.4], [0, 2 / 3, 0.4]], atol=1e-15)
    assert rep.opis == pytest.approx(3 / 49, abs=1e-15)
    assert rep.opis_trapezoid == pytest.approx(9 / 196, abs=1e-15)
    assert rep.eps_opis[0.5] == pytest.approx(12 / 49, abs=1e-15)
    assert rep.T == 2 and list(rep.n_pos_pairs) == [1, 1] and list(rep.n_neg_pairs) == [4, 4]
    assert opis(HAND_X, HAND_Y, integration="trapezoid", **HAND_KW) == pytest.approx(9 / 196, abs=1e-15)
    assert opis(HAND_X, HAND_Y, beta=2.0, **HAND_KW) == pytest.approx((15 / 38) ** 2 / 3, abs=1e-15)
    assert opis(HAND_X, HAND_Y, reference="pooled", **HAND_KW) == pytest.approx(87 / 1225, abs=1e-15)
    assert epsilon_opis(HAND_X, HAND_Y, epsilon=0.5, **HAND_KW) == pytest.approx(12 / 49, abs=1e-15)
    assert epsilon_opis(HAND_X, HAND_Y, epsilon=0.5, rank="once", **HAND_KW) == pytest.approx(12 / 49, abs=1e-15)


def test_hand_case_exclusive_threshold():
    # d < θ instead of d ≤ θ: with far_range (0, 1) the grid ends are the extreme negatives
    # 1 - √3/2 and 2; at θ0 = 1 - √3/2 the pair at exactly θ0 is no longer accepted.
    rep_in = opis_report(HAND_X, HAND_Y, far_range=(0.0, 1.0), n_thresholds=2)
    rep_ex = opis_report(HAND_X, HAND_Y, far_range=(0.0, 1.0), n_thresholds=2, inclusive=False)
    np.testing.assert_allclose(rep_in.tnr[:, 0], [0.75, 0.75])  # 3 of 4 negatives are > θ0
    np.testing.assert_allclose(rep_ex.tnr[:, 0], [1.0, 1.0])  # d < θ0 rejects all
    np.testing.assert_allclose(rep_in.tnr[:, 1], [0.0, 0.0])  # all d ≤ 2
    np.testing.assert_allclose(rep_ex.tnr[:, 1], [0.25, 0.25])  # the pair at d = 2 is not < 2


def test_l2_hand_value():
    # l2 on unit vectors: d = sqrt(2 - 2s). Negatives: sqrt(2 - √3), √2, √3, 2; A positive 1, B √2.
    rep = opis_report(HAND_X, HAND_Y, distance="l2", far_range=(0.0, 1.0), n_thresholds=2)
    assert rep.d_min == pytest.approx(math.sqrt(2 - math.sqrt(3)), abs=1e-15)
    assert rep.d_max == pytest.approx(2.0, abs=1e-15)
    np.testing.assert_allclose(rep.tpr, [[0, 1], [0, 1]])


# ----------------------------------------------------------------------------------------
# dense O(N²) reference, written independently of the streaming code


def dense_report(x, y, *, far_range=(0.01, 0.1), n_thresholds=101, beta=1.0, distance="cosine",
                 reference="class_mean", min_class_size=2, inclusive=True, integration="mean",
                 quantile_method="linear", epsilon=0.1, rank="per_threshold"):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    n, dim = x.shape
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    s = (xn @ xn.T)[np.triu_indices(n, 1)]
    a, b = np.triu_indices(n, 1)
    tau = (dim + 2) * 2.0 ** -52  # identical vectors: distance exactly 0
    if distance == "cosine":
        d = 1.0 - s
        d[d < tau] = 0.0
    else:
        d2 = 2.0 - 2.0 * s
        d2[d2 < 2 * tau] = 0.0
        d = np.sqrt(d2)
    same = y[a] == y[b]
    d_min, d_max = np.quantile(d[~same], far_range, method=quantile_method)
    th = np.linspace(d_min, d_max, n_thresholds)
    accept = (d[:, None] <= th[None, :]) if inclusive else (d[:, None] < th[None, :])
    classes, counts = np.unique(y, return_counts=True)
    elig = classes[counts >= min_class_size]
    tpr, tnr = [], []
    for c in elig:
        p = same & (y[a] == c)
        q = ~same & ((y[a] == c) | (y[b] == c))
        tpr.append(accept[p].mean(axis=0))
        tnr.append((~accept[q]).mean(axis=0))
    tpr, tnr = np.array(tpr), np.array(tnr)

    def fb(tp, tn):
        den = beta ** 2 * tp + tn
        return np.where(den > 0, (1 + beta ** 2) * tp * tn / np.where(den > 0, den, 1), 0.0)

    u = fb(tpr, tnr)
    ref = u.mean(axis=0) if reference == "class_mean" else fb(accept[same].mean(axis=0),
                                                             (~accept[~same]).mean(axis=0))
    v = ((u - ref) ** 2).mean(axis=0)

    def integ(c):
        return c.mean() if integration == "mean" else sum((c[j] + c[j + 1]) / 2 for j in range(len(c) - 1)) / (len(c) - 1)

    t = len(elig)
    k = max(1, int(math.floor(epsilon * t + 1e-9)))
    if rank == "per_threshold":
        gaps = []
        for j in range(n_thresholds):
            col = sorted(u[:, j])
            gaps.append(np.mean(col[-k:]) - np.mean(col[:k]))
        gaps = np.array(gaps)
    else:
        means = u.mean(axis=1)
        order = sorted(range(t), key=lambda i: (means[i], elig[i]))
        gaps = u[order[-k:]].mean(axis=0) - u[order[:k]].mean(axis=0)
    return dict(opis=integ(v), eps=integ(gaps ** 2), d_min=d_min, d_max=d_max, tpr=tpr, tnr=tnr, classes=elig)


def _imbalanced(rng, n, dim, n_classes=6):
    probs = rng.dirichlet(np.full(n_classes, 0.6))
    y = rng.choice(n_classes, size=n, p=probs)
    y[:3] = [50, 51, 52]  # singletons: only in negatives and the quantiles
    centres = rng.normal(size=(n_classes, dim)) * 1.5
    x = centres[np.minimum(y, n_classes - 1)] + rng.normal(size=(n, dim))
    x[10:14] = x[20]  # identical embeddings, also across classes
    return x, y


def _lattice(rng, n):
    """Unit vectors of the 24-cell (entries 0, ±1/2, ±1) times powers of two: all
    dot products are exact, so distances tie exactly (0, 1/2, 1, 3/2, 2)."""
    verts = []
    for i in range(4):
        for sgn in (1.0, -1.0):
            v = np.zeros(4)
            v[i] = sgn
            verts.append(v)
    for signs in np.ndindex(2, 2, 2, 2):
        verts.append(np.where(np.array(signs) == 0, 0.5, -0.5))
    verts = np.array(verts)
    x = verts[rng.integers(0, len(verts), size=n)] * 2.0 ** rng.integers(-3, 4, size=(n, 1))
    y = rng.integers(0, 5, size=n)
    y[:2] = [9, 10]
    return x, y


@pytest.mark.parametrize("block_size", [1, 3, 17, None])
@pytest.mark.parametrize("case", ["imbalanced", "lattice"])
def test_streamed_equals_dense(block_size, case):
    rng = np.random.default_rng(7 if case == "imbalanced" else 8)
    x, y = _imbalanced(rng, 90, 5) if case == "imbalanced" else _lattice(rng, 70)
    for kw in (dict(), dict(far_range=(1e-3, 0.1)), dict(distance="l2", reference="pooled", beta=0.5),
               dict(inclusive=False, integration="trapezoid", min_class_size=3, far_range=(0.0, 0.5)),
               dict(quantile_method="lower", n_thresholds=7), dict(quantile_method="midpoint", rank="once"),
               dict(quantile_method="nearest", far_range=(0.2, 0.9)), dict(quantile_method="higher")):
        opts = {k: v for k, v in kw.items() if k != "rank"}
        rank = kw.get("rank", "per_threshold")
        ref = dense_report(x, y, **kw)
        rep = opis_report(x, y, block_size=block_size, epsilons=(0.1,), rank=rank, **opts)
        assert rep.d_min == ref["d_min"] or abs(rep.d_min - ref["d_min"]) < 1e-15
        assert abs(rep.opis - ref["opis"]) < 1e-12, kw
        assert abs(rep.eps_opis[0.1] - ref["eps"]) < 1e-12, kw
        np.testing.assert_array_equal(rep.classes, ref["classes"])
        np.testing.assert_allclose(rep.tpr, ref["tpr"], atol=1e-12)
        np.testing.assert_allclose(rep.tnr, ref["tnr"], atol=1e-12)


def test_lattice_ties_are_exact():
    # with exact arithmetic the streamed curves equal the dense ones bit for bit
    rng = np.random.default_rng(3)
    x, y = _lattice(rng, 60)
    for kw in (dict(), dict(inclusive=False), dict(distance="l2", far_range=(0.05, 0.6))):
        ref = dense_report(x, y, **kw)
        rep = opis_report(x, y, block_size=5, **kw)
        assert rep.d_min == ref["d_min"] and rep.d_max == ref["d_max"]
        np.testing.assert_array_equal(rep.tpr, ref["tpr"])
        np.testing.assert_array_equal(rep.tnr, ref["tnr"])


def test_bin_splitting_and_tied_bins(monkeypatch):
    # force the refinement path: tiny collection cap, so bins are split (and a bin of
    # identical values is resolved from its min == max)
    monkeypatch.setattr(_passes, "COLLECT_CAP", 3)
    for case, seed in (("imbalanced", 1), ("lattice", 2)):
        rng = np.random.default_rng(seed)
        x, y = _imbalanced(rng, 60, 4) if case == "imbalanced" else _lattice(rng, 50)
        for kw in (dict(), dict(far_range=(0.013, 0.77), quantile_method="midpoint")):
            ref = dense_report(x, y, **kw)
            rep = opis_report(x, y, block_size=7, **kw)
            assert abs(rep.d_min - ref["d_min"]) < 1e-15 and abs(rep.d_max - ref["d_max"]) < 1e-15
            assert abs(rep.opis - ref["opis"]) < 1e-12


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
def test_quantile_positions_reproduce_numpy(method):
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 5, 10, 97, 1000, 4097):
        v = np.sort(rng.normal(size=m))
        for q in (0.0, 1e-3, 0.01, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.999, 1.0):
            i0, i1, g = quantile_positions(m, q, method)
            got = quantile_from_order_statistics(v[i0], v[i1], g)
            assert got == np.quantile(v, q, method=method), (m, q)


def test_approx_mode_close_to_exact():
    rng = np.random.default_rng(5)
    x, y = _imbalanced(rng, 200, 8)
    exact = opis_report(x, y)
    approx = opis_report(x, y, mode="approx")
    assert approx.resolution == 2.0 / 4096 and exact.resolution == 0.0
    assert abs(approx.d_min - exact.d_min) <= 2.0 / 4096
    assert abs(approx.opis - exact.opis) < 0.02


def test_torch_input_and_no_mutation():
    rng = np.random.default_rng(2)
    x, y = _imbalanced(rng, 50, 4)
    x_copy, y_copy = x.copy(), y.copy()
    a = opis(x, y)
    xt = torch.tensor(x, dtype=torch.float32)
    xt_copy = xt.clone()
    b = opis(xt, torch.tensor(y))
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert torch.equal(xt, xt_copy)
    ref = dense_report(x.astype(np.float32).astype(np.float64), y)
    assert abs(a - dense_report(x, y)["opis"]) < 1e-12 and abs(b - ref["opis"]) < 1e-12
    assert isinstance(a, float)


def test_zero_vector_has_cosine_distance_one():
    x = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    y = np.array([0, 0, 1, 1, 1])
    rep = opis_report(x, y, far_range=(0.0, 1.0), n_thresholds=2)
    ref = dense_report(x, y, far_range=(0.0, 1.0), n_thresholds=2)
    assert abs(rep.opis - ref["opis"]) < 1e-12


def test_report_frame_dict_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rep = opis_report(HAND_X, HAND_Y, epsilons=(0.1, 0.5), **HAND_KW)
    frame = rep.to_frame()
    assert list(frame["class"]) == [0, 1] and frame.shape[0] == 2
    d = rep.to_dict()
    assert d["params"]["n_thresholds"] == 3 and len(d["thresholds"]) == 3
    ax = rep.plot()
    assert len(ax.lines) >= 3
    ax.figure.savefig(tmp_path / "u.png")


def test_device_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(4)
    x, y = _imbalanced(rng, 300, 16)
    cpu = opis_report(x, y)
    gpu = opis_report(torch.tensor(x, device="cuda"), y)
    assert abs(cpu.opis - gpu.opis) < 1e-12 and abs(cpu.eps_opis[0.1] - gpu.eps_opis[0.1]) < 1e-12


@pytest.mark.parametrize("kwargs, word", [
    (dict(embeddings=np.zeros(4)), "embeddings"),
    (dict(embeddings=np.array([[np.nan, 0], [1, 0], [0, 1], [1, 1]])), "embeddings"),
    (dict(embeddings=np.array([[np.inf, 0], [1, 0], [0, 1], [1, 1]])), "embeddings"),
    (dict(embeddings=np.zeros((0, 2)), labels=[]), "embeddings"),
    (dict(labels=[0, 0, 1]), "labels"),
    (dict(labels=[0, 0, 1, 2]), "labels"),  # one eligible class only
    (dict(labels=[0, 0, 0, 0]), "labels"),
    (dict(labels=[0, 0, 1, -1]), "labels"),
    (dict(far_range=(0.5, 0.1)), "far_range"),
    (dict(far_range=(-0.1, 0.5)), "far_range"),
    (dict(far_range=(0.1, 1.5)), "far_range"),
    (dict(far_range=(0.1,)), "far_range"),
    (dict(n_thresholds=1), "n_thresholds"),
    (dict(beta=0.0), "beta"),
    (dict(distance="euclid"), "distance"),
    (dict(reference="median"), "reference"),
    (dict(min_class_size=1), "min_class_size"),
    (dict(inclusive="yes"), "inclusive"),
    (dict(integration="simpson"), "integration"),
    (dict(quantile_method="weibull"), "quantile_method"),
    (dict(mode="fast"), "mode"),
    (dict(block_size=0), "block_size"),
    (dict(device="nonsense"), "device"),
])
def test_bad_input(kwargs, word):
    args = dict(embeddings=HAND_X, labels=HAND_Y)
    args.update(kwargs)
    with pytest.raises(InputError, match=word):
        opis(args.pop("embeddings"), args.pop("labels"), **args)


@pytest.mark.parametrize("eps", [0.0, 0.6, -1, float("nan"), "a"])
def test_bad_epsilon(eps):
    with pytest.raises(InputError, match="epsilon"):
        epsilon_opis(HAND_X, HAND_Y, epsilon=eps)
    with pytest.raises(InputError, match="rank"):
        epsilon_opis(HAND_X, HAND_Y, rank="twice")


def test_reexported():
    for name in ("opis", "epsilon_opis", "opis_report", "OPISReport", "OPIS", "recall_at_k", "map_at_r",
                 "r_precision"):
        assert name in metrics.__all__ and hasattr(metrics, name)


def test_options_are_defined_once():
    import dataclasses

    from metrics.threshold_consistency._options import OPISKeywords, OPISOptions

    assert set(OPISKeywords.__annotations__) == {f.name for f in dataclasses.fields(OPISOptions)}
    with pytest.raises(InputError, match="unknown OPIS option"):
        opis(HAND_X, HAND_Y, far_rang=(0.1, 0.2))
    with pytest.raises(InputError, match="distance"):
        metrics.OPIS(distance="cos")


def test_plot_labels_the_worst_classes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(12)
    x, y = _imbalanced(rng, 200, 6, n_classes=9)
    rep = opis_report(x, y)
    ax = rep.plot()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    worst = rep.classes[np.argsort(-rep.per_class_opis)[:5]]
    assert [lab.split()[1] for lab in labels if lab.startswith("class ")] == [str(c) for c in worst]
    assert any(lab.startswith("other ") for lab in labels)
    ax.figure.savefig(tmp_path / "opis.png")
