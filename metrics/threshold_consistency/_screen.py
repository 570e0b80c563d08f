"""Float32 screening for the leave-one-out retrieval ranking, exact in float64.

The ranking is defined by the float64 cosine similarities s₆₄ of the normalised rows
(ties broken by the tie rule). Computing them all costs one N×N float64 product and a
top-``depth`` selection in float64; this module gets the very same ranking from one
float32 product, a float32 top list, and a few float64 dot products:

1. **Bound.** For unit rows x, y in float64 and their float32 roundings, the float32
   product differs from the exact dot product by at most 2u₃₂ + u₃₂² + γ_d(1 + u₃₂)²,
   with γ_d = d·u₃₂/(1 − d·u₃₂) for any summation order (Higham, "Accuracy and
   Stability of Numerical Algorithms", 2nd ed., Sec. 3.1), and the float64 product
   from it by γ_d in u₆₄. δ = ((d + 2)(u₃₂ + u₆₄))/(1 − (d + 2)u₃₂) bounds both
   together: |s₃₂ − s₆₄| ≤ δ (u₃₂ = 2⁻²⁴, u₆₄ = 2⁻⁵³).
2. **Top list.** Each query keeps its top ``width`` = depth + max(16, depth/8) items
   by s₃₂. If its depth-th s₃₂ exceeds the width-th by more than 2δ, every item
   outside the list has a smaller s₆₄ than each of the first ``depth`` in the list, so
   the top ``depth`` by s₆₄ (ties at its boundary included) lies in the list. Rows
   where this fails (many items within 2δ of the boundary, e.g. duplicates) rank
   their whole row the same way.
3. **Exact order.** Neighbours in the list closer than 2δ form *clusters*, whose s₆₄
   order s₃₂ does not decide; elsewhere the s₃₂ order is the s₆₄ order. A cluster
   changes the result only if it holds relevant and irrelevant items and starts in
   the top ``depth``; those clusters are re-sorted by (−s₆₄, tie preference, gallery
   index), with s₆₄ computed once per distinct (query, gallery row) pair, so copies of
   a row keep one similarity and tie exactly.

Only IEEE float32 matrix products qualify (not TF32 or bfloat16 modes); otherwise, or
when d is so large that δ is useless, the caller computes in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from metrics.threshold_consistency._options import Ties

__all__ = ["Screen", "screening_margin"]

CHUNK = 4  # columns per group in the two-stage top list
EXTRA = 16  # the top list holds depth + max(EXTRA, depth / 8) items, to show its boundary is clear
_MAX_MARGIN = 1e-3  # beyond this (d of about 16,000) float32 screening is not worth it
_PAIR_CHUNK = 1 << 16  # float64 re-checks computed this many pairs at a time


def _fp32_products_are_ieee(device: torch.device) -> bool:
    """True when float32 matrix products on ``device`` run in full float32 precision."""
    if torch.get_float32_matmul_precision() != "highest":
        return False
    backends = torch.backends
    if device.type == "cuda":
        if backends.cuda.matmul.allow_tf32:
            return False
        return getattr(backends.cuda.matmul, "fp32_precision", "none") in ("none", "ieee")
    if device.type == "cpu":
        mkldnn_matmul = getattr(backends.mkldnn, "matmul", None)
        return getattr(mkldnn_matmul, "fp32_precision", "none") in ("none", "ieee")
    return False


def screening_margin(d: int, device: torch.device) -> float | None:
    """δ ≥ |s₃₂ − s₆₄| for unit rows of dimension ``d``, or None when screening is off."""
    if not _fp32_products_are_ieee(device):
        return None
    u32, u64 = 2.0 ** -24, 2.0 ** -53
    gamma = ((d + 2) * u32 + (d + 2) * u64) / (1.0 - (d + 2) * u32)
    margin = gamma * (1.0 + 2.0 ** -20) + 2.0 ** -120  # slack for this sum; subnormal float32 inputs
    return margin if margin < _MAX_MARGIN else None


def _top_list(s: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A top-``width`` (values by decreasing s, column indices) of each row of ``s``.

    The top ``width`` items lie in the ``width`` groups of ``CHUNK`` consecutive
    columns with the largest maxima (at least ``width`` items reach the width-th
    largest maximum), so only those groups are searched. Equal values come in any order.
    """
    b, n = s.shape
    groups = n // CHUNK
    if groups < 2 * width:
        return torch.topk(s, width, dim=1, sorted=True)
    peaks = s[:, :groups * CHUNK].view(b, groups, CHUNK).amax(dim=2)
    first = torch.topk(peaks, width, dim=1, sorted=False).indices * CHUNK
    cols = (first[:, :, None] + torch.arange(CHUNK, device=s.device)).view(b, width * CHUNK)
    if groups * CHUNK < n:  # the last columns, not in any group, are always searched
        cols = torch.cat([cols, torch.arange(groups * CHUNK, n, device=s.device).expand(b, -1)], dim=1)
    vals, pick = torch.topk(torch.gather(s, 1, cols), width, dim=1, sorted=True)
    return vals, torch.gather(cols, 1, pick)


@dataclass
class Screen:
    """Float32 copies of the unit rows, shared by every query block."""

    xn: torch.Tensor  # (N, d) float64 unit rows
    gallery: torch.Tensor  # (G, d) float64 distinct rows
    column_of: torch.Tensor | None  # (N,) distinct row of each sample, None when all are distinct
    margin: float  # δ ≥ |s32 − s64|
    x32: torch.Tensor  # (N, d)
    gallery32: torch.Tensor  # (G, d)

    @classmethod
    def build(cls, xn: torch.Tensor, gallery: torch.Tensor, column_of: torch.Tensor | None) -> Screen | None:
        """The screen for unit rows ``xn`` and their distinct rows, or None when float32
        products are not IEEE on this device or d is too large for a useful margin."""
        margin = screening_margin(int(xn.shape[1]), xn.device)
        if margin is None:
            return None
        x32 = xn.to(torch.float32)
        gallery32 = x32 if column_of is None else gallery.to(torch.float32)
        return cls(xn, gallery, column_of, margin, x32, gallery32)

    def ranked_relevance(self, q: torch.Tensor, class_of: torch.Tensor, depth: int, ties: Ties) -> torch.Tensor:
        """Relevance (B, depth) of the top ``depth`` of each query in ``q``, as
        ranking by (−s64, tie preference, gallery index) gives it."""
        n = int(self.xn.shape[0])
        b = int(q.numel())
        query_class = class_of[q]
        s = self.x32[q] @ self.gallery32.T
        if self.column_of is not None:
            s = s[:, self.column_of]
        s[torch.arange(b, device=s.device), q] = -torch.inf
        width = min(n - 1, depth + max(EXTRA, depth // 8))
        sv, idx = _top_list(s, width)
        # every item outside the first `width` is strictly below each of the first `depth`
        # in s64 when the depth-th s32 exceeds the width-th by more than 2δ (or nothing is
        # left outside)
        ok = sv[:, depth - 1].to(torch.float64) > sv[:, width - 1].to(torch.float64) + 2 * self.margin
        if width == n - 1:
            ok[:] = True
        rel = class_of[idx] == query_class[:, None]
        top = self._exact_order(sv, idx, rel, q, depth, ties)[:, :depth]
        bad = (~ok).nonzero().squeeze(1)
        if bad.numel():  # many items tie with the boundary: rank the whole row
            sv, idx = torch.sort(s[bad], dim=1, descending=True)
            sv, idx = sv[:, :n - 1].contiguous(), idx[:, :n - 1].contiguous()  # the own column (−inf) is last
            rel = class_of[idx] == query_class[bad, None]
            top[bad] = self._exact_order(sv, idx, rel, q[bad], depth, ties)[:, :depth]
        return top

    def _exact_order(self, sv: torch.Tensor, gal: torch.Tensor, rel: torch.Tensor, q: torch.Tensor, depth: int,
                     ties: Ties) -> torch.Tensor:
        """Relevance (B, W) in the exact order (``rel`` is reordered in place).

        ``sv`` holds each row's candidates by decreasing s32 (``gal`` their gallery
        indices, ``rel`` their relevance). Neighbours closer than 2δ form clusters, whose
        float64 order s32 does not decide. A cluster matters only if it holds relevant
        and irrelevant items (a relevant and an irrelevant neighbour inside it) and
        starts in the top ``depth``; those are re-sorted by (−s64, tie preference,
        gallery index), with s64 computed once per distinct (query, gallery row) pair.
        Elsewhere the s32 order is the s64 order, or the items it may swap share one
        relevance.
        """
        b, w = sv.shape
        # a float32 difference is within 2⁻²⁴ of exact (−inf − −inf is nan: never close)
        close = (sv[:, :-1] - sv[:, 1:]) <= 2 * self.margin * (1.0 + 2.0 ** -20)
        pair = close.view(-1).nonzero().squeeze(1)  # close neighbours (p, p + 1), flat over (B, W − 1)
        if pair.numel() == 0:
            return rel
        row = torch.div(pair, w - 1, rounding_mode="floor")
        left = row * w + pair % (w - 1)  # flat (B, W) index of the pair's first item
        flat_rel = rel.view(-1)
        mixed = flat_rel[left] != flat_rel[left + 1]
        # runs of consecutive close pairs are the clusters
        starts = torch.ones_like(mixed)
        starts[1:] = left[1:] != left[:-1] + 1
        run = torch.cumsum(starts, 0) - 1
        n_runs = int(run[-1]) + 1
        run_mixed = torch.zeros(n_runs, dtype=torch.int64, device=sv.device).index_add_(0, run, mixed.to(torch.int64))
        run_first = (left[starts] % w)
        hard_run = (run_mixed > 0) & (run_first < depth)
        keep = hard_run[run]
        if not bool(keep.any()):
            return rel
        left, run, starts = left[keep], run[keep], starts[keep]
        ends = torch.ones_like(starts)
        ends[:-1] = starts[1:]
        # members: every pair's first item, plus the last item of each run
        members = torch.cat([left, left[ends] + 1])
        cluster = torch.cat([run, run[ends]])
        g_col = gal.reshape(-1)[members]
        g = self.column_of[g_col] if self.column_of is not None else g_col
        n_gallery = int(self.gallery.shape[0])
        qrow = q[torch.div(members, w, rounding_mode="floor")]
        pairs, inv = torch.unique(qrow * n_gallery + g, return_inverse=True)
        exact = torch.empty(pairs.numel(), dtype=torch.float64, device=sv.device)
        for lo in range(0, pairs.numel(), _PAIR_CHUNK):
            p = pairs[lo:lo + _PAIR_CHUNK]
            exact[lo:lo + _PAIR_CHUNK] = (self.xn[p // n_gallery] * self.gallery[p % n_gallery]).sum(dim=1)
        s64, r = exact[inv], flat_rel[members]
        # stable sorts, least significant key first: gallery index, preference, −s64, cluster
        o = torch.sort(g_col, stable=True).indices
        if ties != "index":
            pref = (~r[o] if ties == "optimistic" else r[o]).to(torch.int8)
            o = o[torch.sort(pref, stable=True).indices]
        o = o[torch.sort(-s64[o], stable=True).indices]
        o = o[torch.sort(cluster[o], stable=True).indices]
        slots = torch.sort(members).values  # each cluster's slots are contiguous, clusters in order
        flat_rel[slots] = r[o]
        return rel
