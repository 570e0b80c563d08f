"""The leave-one-out retrieval kernel behind Recall@k, MAP@R and R-precision, in float64.

``_screen`` gets the same ranking from a float32 product where float32 products are
IEEE; the blocks are ranked here otherwise.

Every sample whose class has at least two members queries all other samples by
cosine similarity of the normalised embeddings (float64), on the embeddings' device.

* Query blocks are multiplied with the gallery's *distinct* rows (one BLAS product per
  block) and the columns are gathered back, so identical gallery embeddings get the
  very same similarity (one computed value, not one per column: a BLAS kernel may round
  two equal columns differently), and the tie rule decides their order.
* Only the top ``depth`` = max(k, R) of each query is ranked: ``torch.topk`` of
  ``depth + 1`` values; when the (depth+1)-th value is below the depth-th, the top set
  does not depend on the tie rule and only that short prefix is sorted by
  (−s, tie preference, gallery index). Rows whose boundary value is tied beyond the
  prefix take the exact path :func:`_ranked_relevance_with_boundary_ties`.
"""

from __future__ import annotations

import torch

from metrics.threshold_consistency._options import Ties

__all__ = ["distinct_rows", "ranked_relevance", "BLOCK_ELEMENTS"]

BLOCK_ELEMENTS = 1 << 24  # query rows × gallery size per block (128 MB of float64)
_HASH_SEED = 0x5DEECE66D


def distinct_rows(xn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(gallery, column_of): the distinct rows of ``xn`` and, for each row, its index
    among them (None when all rows are distinct; then the gallery is ``xn`` itself).

    Rows are compared exactly: an integer hash of their bits groups candidates
    (int64 arithmetic, independent of summation order), and each group is checked
    element by element; a hash collision falls back to ``torch.unique(dim=0)``.
    """
    n, d = xn.shape
    bits = (xn + 0.0).contiguous().view(torch.int64)  # + 0.0 folds −0.0 into +0.0
    gen = torch.Generator().manual_seed(_HASH_SEED)
    mult = (torch.randint(1, 2 ** 62, (d,), generator=gen, dtype=torch.int64) * 2 + 1).to(xn.device)
    h = (bits * mult).sum(dim=1)
    uh, inverse = torch.unique(h, return_inverse=True)
    if uh.numel() == n:
        return xn, None
    first = torch.full((uh.numel(),), n, dtype=torch.int64, device=xn.device)
    first.scatter_reduce_(0, inverse, torch.arange(n, device=xn.device), "amin")
    if not bool((xn == xn[first[inverse]]).all()):  # a hash collision between different rows
        gallery, inverse = torch.unique(xn, dim=0, return_inverse=True)
        return gallery, inverse
    return xn[first], inverse


def ranked_relevance(s: torch.Tensor, class_of: torch.Tensor, query_class: torch.Tensor, depth: int,
                     ties: Ties) -> torch.Tensor:
    """Relevance (B, depth) of each query's top ``depth`` items, ranked by
    (−s, tie preference, gallery index).

    ``s`` (B, N) similarities in gallery-index order along each row, each query's own
    column at −inf; ``class_of`` (B, N) the gallery classes (a broadcast view is fine);
    ``query_class`` (B,). ``depth`` ≤ N − 1.
    """
    b, n = s.shape
    m = min(depth + 1, n)
    vals, idx = torch.topk(s, m, dim=1, largest=True, sorted=True)
    if m > depth:
        spill = vals[:, depth] == vals[:, depth - 1]
    else:
        spill = torch.zeros(b, dtype=torch.bool, device=s.device)
    vals, idx = vals[:, :depth], idx[:, :depth]
    top = torch.gather(class_of, 1, idx) == query_class[:, None]
    # topk's order among equal values is unspecified: rows with ties inside the prefix
    # are re-sorted by (−s, preference, gallery index); the others are already ranked
    inner = (vals[:, 1:] == vals[:, :-1]).any(dim=1) & ~spill if depth > 1 else spill & False
    if bool(inner.any()):
        rows = inner.nonzero().squeeze(1)
        top[rows] = _order_prefix(vals[rows], idx[rows], top[rows], ties)
    if bool(spill.any()):
        rows = spill.nonzero().squeeze(1)
        full_rel = class_of[rows] == query_class[rows, None]
        top[rows] = _ranked_relevance_with_boundary_ties(s[rows], full_rel, depth, ties)
    return top


def _order_prefix(vals: torch.Tensor, idx: torch.Tensor, rel: torch.Tensor, ties: Ties) -> torch.Tensor:
    """Relevance of a top set sorted by (−s, tie preference, gallery index) with stable sorts."""
    perm = torch.argsort(idx, dim=1)  # gallery index order (indices are distinct)
    vals, rel = torch.gather(vals, 1, perm), torch.gather(rel, 1, perm)
    if ties != "index":
        pref = (~rel if ties == "optimistic" else rel).to(torch.int8)
        perm = torch.sort(pref, dim=1, stable=True).indices
        vals, rel = torch.gather(vals, 1, perm), torch.gather(rel, 1, perm)
    perm = torch.sort(vals, dim=1, descending=True, stable=True).indices
    return torch.gather(rel, 1, perm)


def _ranked_relevance_with_boundary_ties(s: torch.Tensor, rel: torch.Tensor, depth: int, ties: Ties
                                         ) -> torch.Tensor:
    """The exact path for rows whose depth-th value is tied with items beyond it.

    The multiset of the top ``depth`` values is exact (``topk``); the items tied at the
    boundary value are chosen by the tie rule, and the chosen prefix is sorted by
    (−s, preference, gallery index) with stable sorts. The query's own column (−inf)
    is never chosen: ``rel`` is False there and every other value is finite.
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
        pref = (~top_rel if ties == "optimistic" else top_rel).to(torch.int8)
        perm = torch.sort(pref, dim=1, stable=True).indices
        top_s, top_rel = torch.gather(top_s, 1, perm), torch.gather(top_rel, 1, perm)
    perm = torch.sort(-top_s, dim=1, stable=True).indices
    return torch.gather(top_rel, 1, perm)
