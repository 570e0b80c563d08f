"""The binning and per-bin sums of the calibration error, once, in torch on the input's device.

numpy input enters as a zero-copy CPU tensor, so the functional form, the report, the
streaming Metric and the public numpy building blocks of ``binning`` run this one code.
Nothing here synchronises with the host except where noted (quantile edges need a
sort and ``unique``; they are used at ``compute()`` and in the functional form, never
in a Metric's ``update()``).

Rules (also on the calibration page of the documentation):

- score/outcome: top-label (max_k p_k, 1[first argmax = y]), positive class (p_1, 1[y = 1])
  or each class k (p_k, 1[y = k]); a 1-D ``p`` means [1 − p, p];
- uniform edges e_k = k/M (correctly rounded doubles); bins [e_k, e_{k+1}), the last closed;
- quantile edges: midpoints between the chunks of ``np.array_split`` of the sorted
  scores, e_0 = 0, e_M' = 1, duplicates dropped;
- sums: counts and Σ outcome in int64, Σ score in float64 (``scatter_add_``, no
  data-dependent output size, so no synchronisation on a GPU).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import TYPE_CHECKING

from metrics.calibration._tensors import (
    labels_as_long,
    n_classes_of,
    row_sum_tolerance,
    row_sums,
    validity_flag,
)
from metrics.core.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "RowReductions",
    "accumulate",
    "accumulate_into",
    "add_uniform_sums",
    "assign_uniform",
    "class_scores",
    "classwise_sums",
    "first_argmax_is_label",
    "pairs_of_rows",
    "pairs_with_flag",
    "quantile_edges_t",
    "reduce_rows",
    "row_chunks",
    "scores_outcomes_t",
    "searchsorted_bins",
    "top_label_t",
    "uniform_edges_t",
    "work_device",
]

#: On the CPU, find the first argmax only where a tie is possible (amax + gather is several
#: times faster there than ``torch.max``'s index reduction). The compaction it needs is a
#: data-dependent size, free on the CPU but a synchronisation on an accelerator, so
#: accelerators always take ``torch.max``; tests switch this off to run that path on the CPU.
CPU_ARGMAX_SHORTCUT = True
#: samples per step of the binning on the CPU: at most torch's parallel grain (32,768
#: elements), so each step runs in one thread on cache-resident data instead of waking the
#: thread pool for microseconds of work, which costs milliseconds on a busy machine
CPU_ROW_CHUNK = 1 << 15
#: elements per block of the classwise pass on the CPU (one thread, cache-resident
#: temporaries, as above) and on accelerators (few, large kernels)
CLASSWISE_BLOCK = 1 << 15
CLASSWISE_BLOCK_ACCELERATOR = 1 << 24
#: the step on the CPU (samples, or classwise elements) when glibc's allocator maps every
#: block of 128 KiB or more straight from the system and unmaps it when freed. That is the
#: case once one of its trim / top-pad / mmap tunables is set, as the nanny of a Dask worker
#: does (``MALLOC_TRIM_THRESHOLD_``): each step's float64 temporaries must then stay under
#: 128 KiB, or every step pays page faults on fresh memory (about 3× slower); with the
#: default allocator the larger step is faster
CPU_STEP_MAPPED_ALLOCATOR = 1 << 13
_MALLOC_TUNABLES = ("TRIM_THRESHOLD", "TOP_PAD", "MMAP_THRESHOLD", "MMAP_MAX")
_MALLOC_TUNED = any(f"MALLOC_{t}_" in os.environ for t in _MALLOC_TUNABLES) or any(
    f"glibc.malloc.{t.lower()}" in os.environ.get("GLIBC_TUNABLES", "") for t in _MALLOC_TUNABLES)


def cpu_step(default: int) -> int:
    """The CPU step: ``default``, or at most :data:`CPU_STEP_MAPPED_ALLOCATOR` under a tuned glibc allocator."""
    return min(default, CPU_STEP_MAPPED_ALLOCATOR) if _MALLOC_TUNED else default


def uniform_edges_t(n_bins: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """[0, 1/M, ..., 1] in float64, each k/M correctly rounded (never ``linspace``)."""
    import torch

    return torch.arange(n_bins + 1, dtype=torch.float64, device=device) / n_bins


@functools.lru_cache(maxsize=64)
def _edge_guards(n_bins: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(lower, upper) of each uniform bin, with −inf below bin 0 and +inf above bin M − 1.

    The infinities make the one-step corrections of :func:`assign_uniform` stay inside
    [0, M − 1] without a clamp. Cached per (M, device): a Metric bins every batch with
    the same two small tables.
    """
    e = uniform_edges_t(n_bins, device)
    lower, upper = e[:n_bins].clone(), e[1:].clone()
    lower[0], upper[-1] = -math.inf, math.inf
    return lower, upper


def assign_uniform(s: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Bin of each float64 score under k/M edges: floor(s·M), corrected by one step against the edges.

    Equals ``searchsorted(e[1:M], s, right=True)``; the product can be off by one ulp
    across an edge, and one comparison each way fixes it (nine element-wise passes, and
    no binary search, which is several times slower on the CPU). Out-of-range or NaN
    scores (possible only without validation) land in [0, M − 1], never out of bounds.
    """
    import torch

    if n_bins == 1:
        return torch.zeros(s.shape, dtype=torch.int64, device=s.device)
    lower, upper = _edge_guards(n_bins, s.device)
    s = s.contiguous()
    idx = (s * n_bins).to(torch.int64).clamp_(0, n_bins - 1)  # NaN → some integer, then clamped
    flat = idx.view(-1)  # index_select, not e[idx]: advanced indexing is far slower on the CPU
    idx.add_(s < lower.index_select(0, flat).view(idx.shape), alpha=-1)
    idx += s >= upper.index_select(0, flat).view(idx.shape)
    return idx


def searchsorted_bins(s: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Bin of each score for arbitrary increasing edges: [e_k, e_{k+1}), the last closed."""
    import torch

    m = edges.numel() - 1
    if m == 1:
        return torch.zeros(s.shape, dtype=torch.int64, device=s.device)
    inner = edges[1:-1].to(device=s.device, dtype=torch.float64).contiguous()
    return torch.searchsorted(inner, s.contiguous(), right=True)


def quantile_edges_t(s: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Equal-mass edges of the scores ``s`` (float64, on their device; synchronises)."""
    import torch

    srt = torch.sort(s.to(torch.float64)).values
    n = srt.numel()
    m = min(n_bins, n)
    size, extra = divmod(n, m)
    j = torch.arange(1, m, device=s.device)
    ends = j * size + torch.clamp(j, max=extra)
    interior = (srt.index_select(0, ends - 1) + srt.index_select(0, ends)) / 2.0
    ends_t = torch.tensor([0.0, 1.0], dtype=torch.float64, device=s.device)
    return torch.unique(torch.cat([ends_t[:1], interior, ends_t[1:]]))


def top_label_t(p: torch.Tensor, y: torch.Tensor,
                row_max: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-label confidence max_k p_k (float64) and 1[first argmax = y] (bool).

    On accelerators one ``torch.max`` gives the values and first maximal indices in one
    read. On the CPU, where the index reduction is several times slower than ``amax``,
    correctness is p_{i,y_i} == max_i, and only rows where a tie at the maximum is
    possible (2·max ≤ row sum ≤ 1 + tolerance for valid rows) get an exact first argmax;
    the result is identical. Labels outside [0, K) (possible only without validation)
    are clamped for the lookup, never read out of bounds.
    """
    import torch

    if p.ndim == 1:
        p64 = p.to(torch.float64)
        q = 1.0 - p64
        return torch.maximum(p64, q), (p64 > q) == (y == 1)  # a tie goes to class 0
    if not _shortcut(p):
        values, index = p.max(dim=1)
        return values.to(torch.float64), index == y
    if row_max is None:
        row_max = p.amax(dim=1)
    return row_max.to(torch.float64), first_argmax_is_label(p, y, row_max)


def first_argmax_is_label(p: torch.Tensor, y: torch.Tensor, row_max: torch.Tensor) -> torch.Tensor:
    """1[first argmax of row i = y_i] on the CPU, from the row maxima (see :func:`top_label_t`).

    p[i, y_i] is compared with the row maximum in single-threaded steps of rows; the
    rows where a tie at the maximum is possible are then collected once and get an exact
    ``argmax``.
    """
    import torch

    n, k = p.shape
    correct = torch.empty(n, dtype=torch.bool, device=p.device)
    maybe_tie = torch.empty(n, dtype=torch.bool, device=p.device)
    bound = (1.0 + row_sum_tolerance(p.dtype)) / 2.0  # a tie needs 2·max ≤ row sum ≤ 1 + tolerance
    flat = p.view(-1) if p.is_contiguous() else None
    for rows in row_chunks(n, p.device):
        y_in = y[rows].clamp(0, k - 1)  # in range even without validation
        if flat is not None:  # p[i, y_i] by a flat index_select: faster than gather on the CPU
            offsets = torch.arange(rows.start * k, rows.stop * k, k, device=p.device)
            picked = flat.index_select(0, offsets.add_(y_in))
        else:
            picked = p[rows].gather(1, y_in.unsqueeze(1)).squeeze(1)
        torch.eq(picked, row_max[rows], out=correct[rows])
        torch.le(row_max[rows], bound, out=maybe_tie[rows])
        maybe_tie[rows].logical_and_(correct[rows])
    tie_rows = maybe_tie.nonzero().squeeze(1)
    if tie_rows.numel():  # a CPU tensor: its size is known without a synchronisation
        exact = p.index_select(0, tie_rows).argmax(dim=1) == y.index_select(0, tie_rows)
        correct.scatter_(0, tie_rows, exact)
    return correct


@dataclasses.dataclass(frozen=True)
class RowReductions:
    """Per-row reductions of an (N, K) batch, shared by the validation and the top-label pass.

    ``row_max`` and ``argmax`` (the first maximal class) come from one ``torch.max`` on
    accelerators; on the CPU only ``row_max`` is kept (``amax``) and correctness is
    derived from it by :func:`top_label_t`. Both are None for other scopes and for 1-D
    probabilities.
    """

    row_max: torch.Tensor | None = None
    argmax: torch.Tensor | None = None


def reduce_rows(p: torch.Tensor, y: torch.Tensor, scope: str, validate: bool
                ) -> tuple[RowReductions, torch.Tensor | None]:
    """The row reductions of a batch and its validity flag (None when not validating).

    A validated top-label batch reads the (N, K) probabilities three times on the CPU
    (row maxima, row sums, global minimum) and the flag reuses the first two.
    """
    if scope != "top_label" or p.ndim == 1:
        return RowReductions(), (validity_flag(p, y) if validate else None)
    if _shortcut(p):
        row_max = p.amax(dim=1)
        return RowReductions(row_max), (validity_flag(p, y, row_max=row_max, row_sum=row_sums(p)) if validate else None)
    values, index = p.max(dim=1)
    return RowReductions(values, index), (validity_flag(p, y, row_max=values) if validate else None)


def pairs_of_rows(p: torch.Tensor, y: torch.Tensor, scope: str, reductions: RowReductions,
                  rows: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
    """(score float64, outcome bool) of the samples ``rows``, with int64 labels ``y``.

    Apple MPS has no float64: there the (N,) scores and outcomes move to the host (never
    the (N, K) batch) and are binned there.
    """
    import torch

    if reductions.argmax is not None:
        assert reductions.row_max is not None
        s, o = reductions.row_max[rows], reductions.argmax[rows] == y[rows]
    elif reductions.row_max is not None:
        s, o = top_label_t(p[rows], y[rows], reductions.row_max[rows])
    else:
        s, o = scores_outcomes_t(_host_if_mps(p[rows]), _host_if_mps(y[rows]), scope)
    return _host_if_mps(s).to(torch.float64), _host_if_mps(o)


def pairs_with_flag(p: torch.Tensor, y: torch.Tensor, scope: str, validate: bool
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(score float64, outcome bool, validity flag or None) of a whole batch."""
    reductions, flag = reduce_rows(p, y, scope, validate)
    return (*pairs_of_rows(p, labels_as_long(y), scope, reductions), flag)


def add_uniform_sums(count: torch.Tensor, sum_s: torch.Tensor, sum_o: torch.Tensor, p: torch.Tensor,
                     y: torch.Tensor, *, n_bins: int, scope: str, reductions: RowReductions) -> None:
    """Bin the top-label / positive-class pairs of a batch into k/M bins and add them to the sums in place.

    ``y`` holds int64 labels. On the CPU the per-sample work runs in steps of
    :data:`CPU_ROW_CHUNK` samples; the float64 sums are added in the same order either way.
    """
    import torch

    if reductions.row_max is not None and reductions.argmax is None:
        # CPU top-label: the rows that need an exact argmax are collected over all rows first
        row_max = reductions.row_max
        correct = first_argmax_is_label(p, y, row_max)
        for rows in row_chunks(int(p.shape[0]), p.device):
            s_rows = row_max[rows].to(torch.float64)
            accumulate_into(count, sum_s, sum_o, assign_uniform(s_rows, n_bins), s_rows, correct[rows])
        return
    for rows in row_chunks(int(p.shape[0]), p.device):
        s_rows, o_rows = pairs_of_rows(p, y, scope, reductions, rows)
        accumulate_into(count, sum_s, sum_o, assign_uniform(s_rows, n_bins), s_rows, o_rows)


def row_chunks(n: int, device: torch.device) -> list[slice]:
    """Row ranges of the per-sample work: one on accelerators, ``cpu_step(CPU_ROW_CHUNK)`` rows each on the CPU."""
    step = cpu_step(CPU_ROW_CHUNK)
    if device.type != "cpu" or n <= step:
        return [slice(0, n)]
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def _host_if_mps(t: torch.Tensor) -> torch.Tensor:
    return t.cpu() if t.device.type == "mps" else t


def work_device(p: torch.Tensor) -> torch.device:
    """Where a batch's scores are binned and summed: its own device, or the host for MPS (no float64)."""
    import torch

    return torch.device("cpu") if p.device.type == "mps" else p.device


def _shortcut(p: torch.Tensor) -> bool:
    return CPU_ARGMAX_SHORTCUT and p.device.type == "cpu"


def binned_sums(p: torch.Tensor, y: torch.Tensor, *, n_bins: int, binning: str, scope: str, validate: bool
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(count, Σ score, Σ outcome, edges, validity flag) of a whole data set.

    On the inputs' device (on the host for MPS, which has no float64). Shapes (M',) or
    (K, M') for ``classwise`` (quantile edges padded with NaN, their sums with 0, when
    classes end up with different numbers of bins). Quantile edges synchronise (sort,
    unique); uniform ones never do.
    """
    import torch

    if scope != "classwise":
        reductions, flag = reduce_rows(p, y, scope, validate)
        yl = labels_as_long(y)
        if binning == "uniform":
            dev = work_device(p)
            sums = (torch.zeros(n_bins, dtype=torch.int64, device=dev),
                    torch.zeros(n_bins, dtype=torch.float64, device=dev),
                    torch.zeros(n_bins, dtype=torch.int64, device=dev))
            add_uniform_sums(*sums, p, yl, n_bins=n_bins, scope=scope, reductions=reductions)
            return (*sums, uniform_edges_t(n_bins, dev), flag)
        s, o = pairs_of_rows(p, yl, scope, reductions)
        edges = quantile_edges_t(s, n_bins)
        return (*accumulate(searchsorted_bins(s, edges), s, o, edges.numel() - 1), edges, flag)
    flag = validity_flag(p, y) if validate else None
    yl = labels_as_long(y)
    if binning == "uniform":
        count, sum_s, sum_o = classwise_sums(p, yl, n_bins)
        edges = uniform_edges_t(n_bins, count.device).expand(count.shape[0], n_bins + 1)
        return count, sum_s, sum_o, edges, flag
    p, yl = _host_if_mps(p), _host_if_mps(yl)  # no float64 on MPS: the batch moves to the host
    parts = []
    for k in range(n_classes_of(p)):  # one step per class: each class has its own edges
        s = class_scores(p, k)
        e = quantile_edges_t(s, n_bins)
        parts.append((*accumulate(searchsorted_bins(s, e), s, yl == k, e.numel() - 1), e))
    width = max(part[0].numel() for part in parts)

    def pad(t: torch.Tensor, length: int, fill: float) -> torch.Tensor:
        return torch.cat([t, torch.full((length - t.numel(),), fill, dtype=t.dtype, device=t.device)])

    count = torch.stack([pad(c, width, 0) for c, _, _, _ in parts])
    sum_s = torch.stack([pad(ss, width, 0.0) for _, ss, _, _ in parts])
    sum_o = torch.stack([pad(so, width, 0) for _, _, so, _ in parts])
    edges = torch.stack([pad(e, width + 1, float("nan")) for _, _, _, e in parts])
    return count, sum_s, sum_o, edges, flag


def positive_class_t(p: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """p_1 (float64) and 1[y = 1]; K must be 2."""
    import torch

    if p.ndim == 2 and p.shape[1] != 2:
        raise InputError(f"scope='positive_class' needs 1-D probabilities or K = 2 columns; "
                         f"probs has K = {p.shape[1]} (use 'top_label' or 'classwise')")
    s = p if p.ndim == 1 else p[:, 1]
    return s.to(torch.float64), y == 1


def scores_outcomes_t(p: torch.Tensor, y: torch.Tensor, scope: str,
                      row_max: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(score float64, outcome bool) of ``top_label`` or ``positive_class``."""
    if scope == "top_label":
        return top_label_t(p, y, row_max)
    if scope == "positive_class":
        return positive_class_t(p, y)
    raise InputError(f"scope must be 'top_label' or 'positive_class' here; got {scope!r}")


def class_scores(p: torch.Tensor, k: int) -> torch.Tensor:
    """Class k's scores p_k over all samples (float64)."""
    import torch

    if p.ndim == 1:
        p64 = p.to(torch.float64)
        return p64 if k == 1 else 1.0 - p64
    return p[:, k].to(torch.float64)


def accumulate(bins: torch.Tensor, s: torch.Tensor, o: torch.Tensor, size: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(count int64, Σ score float64, Σ outcome int64) over ``size`` bins by ``scatter_add_``."""
    import torch

    dev = bins.device
    sums = (torch.zeros(size, dtype=torch.int64, device=dev), torch.zeros(size, dtype=torch.float64, device=dev),
            torch.zeros(size, dtype=torch.int64, device=dev))
    accumulate_into(*sums, bins, s, o)
    return sums


def accumulate_into(count: torch.Tensor, sum_s: torch.Tensor, sum_o: torch.Tensor,
                    bins: torch.Tensor, s: torch.Tensor, o: torch.Tensor) -> None:
    """Add each sample to its bin of ``count`` (int64), ``sum_s`` (float64), ``sum_o`` (int64), in place.

    ``scatter_add_`` has no data-dependent output size, so it never synchronises; the
    sums are exact (integers) or float64.
    """
    import torch

    count.scatter_add_(0, bins, torch.ones(1, dtype=torch.int64, device=bins.device).expand(bins.shape))
    sum_s.scatter_add_(0, bins, s)
    sum_o.scatter_add_(0, bins, o.to(torch.int64))


def classwise_sums(p: torch.Tensor, y: torch.Tensor, n_bins: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uniform-bin sums of every class, shaped (K, M), in blocks of rows (no synchronisation).

    Every (sample, class) score is binned and counted; the outcome 1[y = k] is 1 for one
    class per sample only, so Σ outcome adds one per row at the bin of the row's own
    class (an (N,) scatter instead of an (N, K) one; identical integer sums).
    """
    import torch

    p, y = _host_if_mps(p), _host_if_mps(y)  # no float64 on MPS: the batch moves to the host
    k_all = n_classes_of(p)
    n = y.shape[0]
    size = k_all * n_bins
    dev = p.device
    count = torch.zeros(size, dtype=torch.int64, device=dev)
    sum_s = torch.zeros(size, dtype=torch.float64, device=dev)
    sum_o = torch.zeros(size, dtype=torch.int64, device=dev)
    full = torch.stack([1.0 - p.to(torch.float64), p.to(torch.float64)], dim=1) if p.ndim == 1 else p
    offsets = torch.arange(k_all, device=dev) * n_bins
    own_class = y.clamp(0, k_all - 1).unsqueeze(1)  # in range even without validation
    one = torch.ones(1, dtype=torch.int64, device=dev)
    block = cpu_step(CLASSWISE_BLOCK) if dev.type == "cpu" else CLASSWISE_BLOCK_ACCELERATOR
    step = max(1, block // max(k_all, 1))
    for start in range(0, n, step):
        s = full[start:start + step].to(torch.float64).contiguous()
        flat = assign_uniform(s, n_bins).add_(offsets)
        count.scatter_add_(0, flat.view(-1), one.expand(flat.numel()))
        sum_s.scatter_add_(0, flat.view(-1), s.view(-1))
        own_bin = flat.gather(1, own_class[start:start + step]).squeeze(1)
        sum_o.scatter_add_(0, own_bin, one.expand(own_bin.numel()))
    return count.reshape(k_all, n_bins), sum_s.reshape(k_all, n_bins), sum_o.reshape(k_all, n_bins)
