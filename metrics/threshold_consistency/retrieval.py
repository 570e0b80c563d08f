"""Leave-one-out retrieval metrics: Recall@k (hit rate), MAP@R and R-precision.

Every sample whose class has at least two members queries all other samples by
cosine similarity of the normalised embeddings (float64). Query blocks are
multiplied with the whole gallery in one matrix product each, so identical gallery
embeddings get bit-identical similarities and the tie rule decides their order:

* ``ties="index"``: equal similarities put the lower gallery index first;
* ``"optimistic"``: relevant (same-class) items first; ``"pessimistic"``: last.

Only the top max(k, R) of each query is ranked (``torch.topk`` plus an explicit
(−s, tie preference, index) sort of that prefix), never a full N×N sort.

* Recall@k = share of queries with a same-class item in the top k (torchmetrics'
  ``RetrievalHitRate``, not ``RetrievalRecall``).
* MAP@R (Musgrave, Belongie & Lim, "A Metric Learning Reality Check", ECCV 2020):
  R = n_c − 1, AP@R = (1/R) Σ_{i ≤ R} P@i · rel_i, averaged over queries.
* R-precision = (relevant items in the top R) / R.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from metrics.core.errors import InputError
from metrics.core.validation import check_int
from metrics.threshold_consistency._inputs import as_embeddings_and_labels, check_ties, resolve_device
from metrics.threshold_consistency._pairs import normalise

__all__ = ["recall_at_k", "map_at_r", "r_precision"]

RETRIEVAL_BLOCK_ELEMENTS = 1 << 22  # query rows × gallery size per block (32 MB of float64)


def _check_ks(k: Any, n: int) -> tuple[int, ...]:
    ks = (k,) if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else k
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        raise InputError(f"k must be an integer or a sequence of integers; got {k!r}")
    ks = tuple(ks)
    if not ks:
        raise InputError("k must hold at least one integer; got an empty sequence")
    out = []
    for v in ks:
        v = check_int(v, "k", min_value=1)
        if v > n - 1:
            raise InputError(f"k must lie in [1, N-1] = [1, {n - 1}]; got {v}")
        out.append(v)
    return tuple(dict.fromkeys(out))


def _ranked_relevance(s: torch.Tensor, rel: torch.Tensor, depth: int, ties: str) -> torch.Tensor:
    """Relevance (B, depth) of each query's top ``depth`` items under the tie rule.

    ``s`` (B, G) similarities with the query itself at −inf, ``rel`` (B, G) bool.
    The multiset of the top ``depth`` values is exact (``topk``); the items tied at
    the boundary value are chosen by the tie rule, and the chosen prefix is sorted by
    (−s, preference, gallery index) with stable sorts.
    """
    boundary = torch.topk(s, depth, dim=1, sorted=False).values.min(dim=1, keepdim=True).values
    above = s > boundary
    tied = s == boundary
    need = depth - above.sum(dim=1, keepdim=True)
    if ties == "index":
        order = tied.cumsum(dim=1)
    else:
        first = tied & rel if ties == "optimistic" else tied & ~rel
        second = tied & ~first
        order = torch.where(first, first.cumsum(dim=1), first.sum(dim=1, keepdim=True) + second.cumsum(dim=1))
    chosen = above | (tied & (order <= need))
    cols = chosen.nonzero()[:, 1].view(s.shape[0], depth)  # row-major: gallery index order
    top_s = torch.gather(s, 1, cols)
    top_rel = torch.gather(rel, 1, cols)
    if ties != "index":
        # preference first (stable, keeps index order), then similarity (stable)
        pref = (~top_rel if ties == "optimistic" else top_rel).to(torch.int8)
        perm = torch.sort(pref, dim=1, stable=True).indices
        top_s, top_rel = torch.gather(top_s, 1, perm), torch.gather(top_rel, 1, perm)
    perm = torch.sort(-top_s, dim=1, stable=True).indices
    return torch.gather(top_rel, 1, perm)


def retrieval_scores(embeddings: Any, labels: Any, *, ks: Iterable[int] | int | None = None, r_metrics: bool = True,
                     ties: str = "index", device: Any = None) -> dict[str, Any]:
    """Recall@k for each k, and MAP@R and R-precision when ``r_metrics``, in one pass.

    Returns ``{"recall": {k: value}, "map_at_r": value, "r_precision": value,
    "n_queries": int}``. The shared engine of the three public functions and the CLI.
    """
    ties = check_ties(ties)
    dev = resolve_device(embeddings, device)
    x, lab = as_embeddings_and_labels(embeddings, labels, dev)
    n = x.shape[0]
    if n < 2:
        raise InputError(f"embeddings must have at least 2 rows for leave-one-out retrieval; got {n}")
    ks = _check_ks(ks, n) if ks is not None else ()
    _, inverse, counts = np.unique(lab, return_inverse=True, return_counts=True)
    r_of = counts[inverse] - 1  # R per sample
    queries = np.flatnonzero(r_of >= 1)
    if queries.size == 0:
        raise InputError("labels must contain a class with at least 2 samples to have any retrieval query; "
                         "every class is a singleton")
    queries = queries[np.argsort(r_of[queries], kind="stable")]  # similar depths share a block
    xn = normalise(x)
    lab_t = torch.as_tensor(inverse, device=dev)
    kmax = max(ks) if ks else 0
    hits = {k: 0 for k in ks}
    ap_sum = rp_sum = 0.0
    rows_per_block = max(1, RETRIEVAL_BLOCK_ELEMENTS // n)
    for start in range(0, queries.size, rows_per_block):
        q = queries[start:start + rows_per_block]
        q_t = torch.as_tensor(q, device=dev)
        r = torch.as_tensor(r_of[q], device=dev)
        depth = min(n - 1, max(kmax, int(r_of[q].max()) if r_metrics else 0))
        s = xn[q_t] @ xn.T  # one product per query block against the whole gallery
        rows = torch.arange(q.size, device=dev)
        s[rows, q_t] = -torch.inf
        rel = lab_t[q_t][:, None] == lab_t[None, :]
        rel[rows, q_t] = False
        top = _ranked_relevance(s, rel, depth, ties)
        del s, rel
        for k in ks:
            hits[k] += int(top[:, :k].any(dim=1).sum())
        if r_metrics:
            pos = torch.arange(1, depth + 1, device=dev, dtype=torch.float64)
            within = pos[None, :] <= r[:, None]
            top_w = top & within
            precision = top_w.cumsum(dim=1).to(torch.float64) / pos[None, :]
            rf = r.to(torch.float64)
            ap_sum += float(((precision * top_w).sum(dim=1) / rf).sum())
            rp_sum += float((top_w.sum(dim=1) / rf).sum())
    nq = int(queries.size)
    out: dict[str, Any] = {"recall": {k: hits[k] / nq for k in ks}, "n_queries": nq}
    if r_metrics:
        out["map_at_r"] = ap_sum / nq
        out["r_precision"] = rp_sum / nq
    return out


def recall_at_k(embeddings: Any, labels: Any, *, k: int | Iterable[int] = (1, 2, 4, 8),
                ties: str = "index") -> dict[int, float]:
    """Recall@k: the share of queries with at least one same-class item among their k nearest.

    Leave-one-out over the samples whose class has ≥ 2 members, cosine similarity of
    normalised embeddings. This is a hit rate (torchmetrics ``RetrievalHitRate``).
    ``k`` is an int or a sequence of ints in [1, N − 1]; returns ``{k: value}``.
    """
    return retrieval_scores(embeddings, labels, ks=k, r_metrics=False, ties=ties)["recall"]


def map_at_r(embeddings: Any, labels: Any, *, ties: str = "index") -> float:
    """MAP@R (Musgrave et al., ECCV 2020): mean over queries of (1/R) Σ_{i≤R} P@i·rel_i, R = n_c − 1."""
    return float(retrieval_scores(embeddings, labels, r_metrics=True, ties=ties)["map_at_r"])


def r_precision(embeddings: Any, labels: Any, *, ties: str = "index") -> float:
    """R-precision: mean over queries of (same-class items in the top R) / R, R = n_c − 1."""
    return float(retrieval_scores(embeddings, labels, r_metrics=True, ties=ties)["r_precision"])

