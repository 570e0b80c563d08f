"""OPIS, ε-OPIS and the retrieval metrics Recall@k, MAP@R and R-precision.

OPIS and ε-OPIS (Zhang, Xu, Tang, Fang, Wu, Tighe & Xing, "Threshold-Consistent Margin
Loss for Open-World Deep Metric Learning", ICLR 2024, arXiv 2307.04047) measure how
unevenly one distance threshold treats the classes. For each eligible class c
(n_c ≥ ``min_class_size``) and threshold θ over the unordered pairs a < b of normalised
embeddings,

    TPR_c(θ) = #{positive pairs of c with d ≤ θ} / |P_c|,
    TNR_c(θ) = #{negative pairs touching c with d > θ} / |N_c|,  |N_c| = n_c (N − n_c),
    U_c(θ)   = (1 + β²)·TPR·TNR / (β²·TPR + TNR)   (0 when the denominator is 0),

on the grid θ_j = linspace(d_min, d_max, n) where (d_min, d_max) are the ``far_range``
quantiles of all negative-pair distances. Then

    OPIS    = mean_j  (1/T) Σ_c (U_c(θ_j) − Ū(θ_j))²,
    ε-OPIS  = mean_j  (mean of the top-k U_c(θ_j) − mean of the bottom-k)²,  k = max(1, ⌊εT⌋).

The pairs are streamed in blocks; the N×N matrix is never built. The options are
those of :class:`OPISOptions` (one definition, shared with :class:`metrics.OPIS`); see
``docs/opis.md`` for the conventions.

The retrieval metrics are leave-one-out over the samples whose class has ≥ 2 members,
by cosine similarity: Recall@k is a hit rate (torchmetrics ``RetrievalHitRate``), MAP@R
follows Musgrave, Belongie & Lim ("A Metric Learning Reality Check", ECCV 2020).

Torch tensors are computed on their device (``device=`` overrides); numpy input on the
CPU. Both paths give the same value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict, Unpack

import numpy as np
import numpy.typing as npt
import torch

from metrics.core.errors import InputError
from metrics.core.progress import Progress, check_progress
from metrics.core.validation import check_int
from metrics.threshold_consistency import _retrieval
from metrics.threshold_consistency._curves import compute_curves, summarise
from metrics.threshold_consistency._inputs import as_embeddings_and_labels, normalise, resolve_device
from metrics.threshold_consistency._options import (
    OPISKeywords,
    OPISOptions,
    Rank,
    Ties,
    check_epsilon,
    check_rank,
    check_ties,
)
from metrics.threshold_consistency._screen import Screen
from metrics.threshold_consistency.report import OPISReport

__all__ = ["opis", "epsilon_opis", "opis_report", "recall_at_k", "map_at_r", "r_precision",
           "retrieval_scores", "RetrievalScores", "OPISOptions"]


def opis(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor,
         **options: Unpack[OPISKeywords]) -> float:
    """Operating-Point-Inconsistency Score (Zhang et al., ICLR 2024). Lower is better; ≤ 0.25.

    OPIS = mean_j (1/T) Σ_c (U_c(θ_j) − Ū(θ_j))² over the calibration grid
    θ_j = linspace(d_min, d_max, n_thresholds), where U_c is the F_β of class c's TPR
    and TNR and Ū the class mean (or the pooled utility, ``reference="pooled"``).

    Parameters
    ----------
    embeddings : array-like or tensor (N, d)
        Finite embeddings (numpy of any memory order, torch on any device, lists).
        Cosine geometry is scale-free: each row is divided by its largest absolute value
        and then by its norm; an all-zero row stays zero (cosine distance 1 to everything).
    labels : array-like or tensor (N,)
        Non-negative integer class labels (integral floats are accepted, 0.7 is not).
    **options
        The options of :class:`OPISOptions`: ``far_range=(0.01, 0.1)``,
        ``n_thresholds=101``, ``beta=1.0``, ``distance="cosine"``,
        ``reference="class_mean"``, ``min_class_size=2``, ``inclusive=True``,
        ``integration="mean"``, ``quantile_method="linear"``, ``mode="exact"``,
        ``device=None``, ``block_size=None``.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [0.5, 3 ** 0.5 / 2], [0.0, 1.0], [-3.0, 0.0]])
    >>> round(opis(x, [0, 0, 1, 1], far_range=(0.25, 0.75), n_thresholds=3), 6)  # 3/49
    0.061224
    """
    opts = OPISOptions.from_keywords(options)
    return summarise(compute_curves(embeddings, labels, opts), opts, (), "per_threshold").opis


def epsilon_opis(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
                 epsilon: float = 0.1, rank: Rank = "per_threshold", **options: Unpack[OPISKeywords]) -> float:
    """ε-OPIS: the squared utility gap between the best and the worst ε-fraction of classes.

    k = max(1, ⌊ε·T + 1e-9⌋) classes per tail; gap_j = mean(top k U_c(θ_j)) −
    mean(bottom k U_c(θ_j)) with the classes ranked at each threshold
    (``rank="per_threshold"``) or once by their grid-mean utility (``"once"``, ties
    broken by label); ε-OPIS = mean_j gap_j² (or the trapezoid rule). ``reference``
    does not enter ε-OPIS. ``epsilon`` lies in (0, 0.5]; other options as :func:`opis`.
    """
    opts = OPISOptions.from_keywords(options)
    eps = check_epsilon(epsilon)
    rank = check_rank(rank)
    return summarise(compute_curves(embeddings, labels, opts), opts, (eps,), rank).eps_opis[eps]


def opis_report(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
                epsilons: float | tuple[float, ...] = (0.1,), rank: Rank = "per_threshold",
                progress: Progress = False, **options: Unpack[OPISKeywords]) -> OPISReport:
    """OPIS, ε-OPIS for each ε in ``epsilons`` and the curves behind them (one streamed run).

    Options as :func:`opis` and :func:`epsilon_opis`; ``progress`` is False, True (a
    bar) or a callable ``progress(done, total)`` advanced once per block of pairs.
    Returns an :class:`OPISReport` (``to_frame()``: one row per class; ``plot()``: the
    utility curves with the worst classes highlighted).
    """
    opts = OPISOptions.from_keywords(options)
    eps_in = (epsilons,) if isinstance(epsilons, (int, float)) else tuple(epsilons)
    eps = tuple(check_epsilon(e, "epsilons") for e in eps_in)
    rank = check_rank(rank)
    progress = check_progress(progress)
    return summarise(compute_curves(embeddings, labels, opts, progress), opts, eps, rank)


class RetrievalScores(TypedDict, total=False):
    """Result of :func:`retrieval_scores`."""

    recall: dict[int, float]
    map_at_r: float
    r_precision: float
    n_queries: int


def _check_ks(k: int | Iterable[int], n: int) -> tuple[int, ...]:
    ks = (k,) if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else k
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        raise InputError(f"k must be an integer or a sequence of integers; got {k!r}")
    values = tuple(ks)
    if not values:
        raise InputError("k must hold at least one integer; got an empty sequence")
    out = []
    for v in values:
        v = check_int(v, "k", min_value=1)
        if v > n - 1:
            raise InputError(f"k must lie in [1, N-1] = [1, {n - 1}]; got {v}")
        out.append(v)
    return tuple(dict.fromkeys(out))


def retrieval_scores(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
                     ks: int | Iterable[int] | None = None, r_metrics: bool = True, ties: Ties = "index",
                     device: str | torch.device | None = None) -> RetrievalScores:
    """Recall@k for each k, and MAP@R and R-precision when ``r_metrics``, in one pass.

    Returns ``{"recall": {k: value}, "map_at_r": value, "r_precision": value,
    "n_queries": int}``; the engine of :func:`recall_at_k`, :func:`map_at_r`,
    :func:`r_precision` and the command line. Ranking by (−s, tie preference, gallery
    index) with ``ties`` in {"index", "optimistic", "pessimistic"}; identical
    embeddings always tie exactly.
    """
    ties = check_ties(ties)
    dev = resolve_device(embeddings, device)
    x, lab = as_embeddings_and_labels(embeddings, labels, dev)
    n = int(x.shape[0])
    if n < 2:
        raise InputError(f"embeddings must have at least 2 rows for leave-one-out retrieval; got {n}")
    k_values = _check_ks(ks, n) if ks is not None else ()
    _, inverse, counts = torch.unique(lab, return_inverse=True, return_counts=True)
    r_of = counts[inverse] - 1  # R per sample
    queries = (r_of >= 1).nonzero().squeeze(1)
    if queries.numel() == 0:
        raise InputError("labels must contain a class with at least 2 samples to have any retrieval query; "
                         "every class is a singleton")
    queries = queries[torch.argsort(r_of[queries], stable=True)]  # similar depths share a block
    r_sorted = r_of[queries].cpu().numpy()
    xn = normalise(x)
    gallery, column_of = _retrieval.distinct_rows(xn)
    screen = Screen.build(xn, gallery, column_of)  # None: rank in float64 directly
    kmax = max(k_values) if k_values else 0
    hits = {k: torch.zeros((), dtype=torch.int64, device=dev) for k in k_values}
    ap_sum = torch.zeros((), dtype=torch.float64, device=dev)
    rp_sum = torch.zeros((), dtype=torch.float64, device=dev)
    # float32 screening: 256 MB blocks (fewer, larger operations; memory stays bounded)
    rows_per_block = max(1, _retrieval.BLOCK_ELEMENTS * (1 if screen is None else 4) // n)
    for start in range(0, queries.numel(), rows_per_block):
        q = queries[start:start + rows_per_block]
        r = r_of[q]
        depth = min(n - 1, max(kmax, int(r_sorted[start:start + rows_per_block].max()) if r_metrics else 0))
        if screen is not None:
            top = screen.ranked_relevance(q, inverse, depth, ties)
        else:
            s = xn[q] @ gallery.T  # one product per query block, against the distinct rows
            if column_of is not None:
                s = s[:, column_of]
            s[torch.arange(q.numel(), device=dev), q] = -torch.inf
            top = _retrieval.ranked_relevance(s, inverse.expand(q.numel(), n), inverse[q], depth, ties)
            del s
        for k in k_values:
            hits[k] += top[:, :k].any(dim=1).sum()
        if r_metrics:  # AP@R = (1/R) Σ_{i ≤ R} P@i·rel_i; R-precision = (hits in the top R)/R
            rank = torch.arange(1, depth + 1, device=dev, dtype=torch.float64)
            top_w = top & (rank[None, :] <= r[:, None])
            hits_upto = top_w.cumsum(dim=1, dtype=torch.float64)
            rf = r.to(torch.float64)
            ap_sum += (torch.where(top_w, hits_upto / rank, 0.0).sum(dim=1) / rf).sum()
            rp_sum += (hits_upto[:, -1] / rf).sum()
    nq = int(queries.numel())
    out: RetrievalScores = {"recall": {k: int(hits[k]) / nq for k in k_values}, "n_queries": nq}
    if r_metrics:
        out["map_at_r"] = float(ap_sum) / nq
        out["r_precision"] = float(rp_sum) / nq
    return out


def recall_at_k(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
                k: int | Iterable[int] = (1, 2, 4, 8), ties: Ties = "index",
                device: str | torch.device | None = None) -> dict[int, float]:
    """Recall@k: the share of queries with at least one same-class item among their k nearest.

    Leave-one-out over the samples whose class has ≥ 2 members, cosine similarity of
    normalised embeddings. This is a hit rate (torchmetrics ``RetrievalHitRate``).
    ``k`` is an int or a sequence of ints in [1, N − 1]; returns ``{k: value}``.
    ``ties``: equal similarities ranked by gallery index (``"index"``), relevant first
    (``"optimistic"``) or last (``"pessimistic"``).
    """
    return retrieval_scores(embeddings, labels, ks=k, r_metrics=False, ties=ties, device=device)["recall"]


def map_at_r(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
             ties: Ties = "index", device: str | torch.device | None = None) -> float:
    """MAP@R (Musgrave et al., ECCV 2020): mean over queries of (1/R) Σ_{i≤R} P@i·rel_i, R = n_c − 1."""
    return float(retrieval_scores(embeddings, labels, r_metrics=True, ties=ties, device=device)["map_at_r"])


def r_precision(embeddings: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor, *,
                ties: Ties = "index", device: str | torch.device | None = None) -> float:
    """R-precision: mean over queries of (same-class items in the top R) / R, R = n_c − 1."""
    return float(retrieval_scores(embeddings, labels, r_metrics=True, ties=ties, device=device)["r_precision"])
