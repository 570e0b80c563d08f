"""Softmax Collapse (SC), zero-loss and update-absorption fractions.

Prieto, Barsbey, Mediano & Birdal, *Grokking at the Edge of Numerical Stability*,
ICLR 2025 (arXiv:2501.04697). Once a classifier fits its training set, the gradient
aligns with the *naive loss minimisation* direction (scaling the weights up, which only
scales the logits) until float rounding makes the softmax saturate: the normaliser
``S = sum_k exp(z_k - max z)`` rounds to exactly 1, the loss of a sample becomes exactly
0 and its gradient vanishes (Softmax Collapse), which stalls grokking.

Definitions (``dtype`` = the dtype the *loss* is computed in):

- float32 / float64: the rows go through ``torch.log_softmax(z, dtype=dtype)``, the
  kernel ``F.cross_entropy`` itself runs. Its largest entry is ``-log S`` exactly, so
  label-free collapse (the authors' metric) is ``max_k log_softmax(z)_k == 0``
  (``S == 1``) and label-relative collapse (the paper's) is ``-log_softmax(z)_y == 0``:
  the per-sample cross-entropy is exactly 0 (``-0`` counts), which happens iff
  ``S == 1`` and ``z_y == max z``; then ``p_y == 1`` and the correct-class gradient
  ``p_y - 1`` is 0.
- float16 / bfloat16: ``e_k = fl(exp(z_k - m))`` in ``dtype``, ``S`` accumulated in
  float32 and rounded once to ``dtype`` (what torch's half reductions do); collapse is
  ``S == 1``, the loss ``(m - z_y) + log S``.

``1 + x`` rounds to 1 iff ``x < 2^-p`` (p = significand bits), so a single competitor
is absorbed beyond a gap of 36.74 (float64), 16.64 (float32), 7.62 (float16), 5.55
(bfloat16). With several competitors the *sum* decides, so the sum is computed, never
compared with a gap constant (the paper's ``2^-23`` for float32 is off by a factor of 2).

The fraction is measured in the arithmetic of the device the logits live on: exp and
the order of the summation differ between CPU and GPU kernels, so rows at the edge of
collapse can be classified differently (the same float32 logits gave 0.2402 on a CPU
and 0.2395 on an H200). That is the phenomenon being measured, not an error: measure
on the device that trains. On one machine the result is reproducible bit for bit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from diagnostics._params import named_tensors
from diagnostics._tensors import as_tensor, dtype_name, label_vector, logit_tensor
from metrics.core.errors import InputError
from metrics.core.report import Report
from metrics.core.validation import check_int, check_positive

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "softmax_collapse_fraction",
    "softmax_collapse_report",
    "SoftmaxCollapseReport",
    "zero_loss_fraction",
    "update_absorption_fraction",
]

_FLOAT_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
_HALF = (torch.float16, torch.bfloat16)
#: On the CPU a chunk holds at most this many logits (a few MiB: large enough for the
#: kernels' threads, small enough to bound the temporaries); on an accelerator
#: ``chunk_rows`` alone bounds them. (Chunks of 2^18 logits, sized for the cache, were
#: slower on a two-core machine: the per-call overhead of the many small row operations
#: dominated.)
_CPU_CHUNK_ELEMENTS = 1 << 22
#: The same when a chunk is cast to a wider dtype (the per-row values of half logits in
#: float32): the cast and its ``log_softmax`` output are two float32 temporaries, kept to
#: 4 MiB each on the CPU (2^22 was slower there) and to 256 MiB on an accelerator
#: (never a full-size float32 copy of the logits).
_CPU_CAST_CHUNK_ELEMENTS = 1 << 20
_DEVICE_CAST_CHUNK_ELEMENTS = 1 << 26

TensorsLike = torch.Tensor | npt.ArrayLike | Mapping[str, torch.Tensor | npt.ArrayLike] | Sequence[torch.Tensor]


def check_loss_dtype(dtype: torch.dtype, name: str = "dtype") -> torch.dtype:
    """``dtype`` if it is one of the four float dtypes a loss can be computed in."""
    if dtype not in _FLOAT_DTYPES:
        raise InputError(f"{name} must be one of torch.float64, torch.float32, torch.float16, "
                         f"torch.bfloat16; got {dtype!r}")
    return dtype


# ---------------------------------------------------------------------------------
# the one SC computation, chunk by chunk, no host synchronisation inside
# ---------------------------------------------------------------------------------
@dataclasses.dataclass
class _Chunk:
    collapsed: torch.Tensor          # S == 1, per row
    finite: torch.Tensor             # every logit of the row finite in dtype (see exact)
    log_s: torch.Tensor              # log S in dtype
    lsm_y: torch.Tensor | None       # log p_y = -(per-sample CE) in dtype
    p_y: torch.Tensor | None         # p_y in dtype
    valid: torch.Tensor | None       # label != ignore_index
    bad_label: torch.Tensor | None   # valid label outside [0, C)


def _sc_chunk(z: torch.Tensor, y: torch.Tensor | None, dtype: torch.dtype, ignore_index: int,
              exact_finite: bool, values: bool = False, scratch: torch.Tensor | None = None) -> _Chunk:
    n_classes = z.shape[1]
    if not z.dtype.is_floating_point:
        z = z.to(dtype)
    valid = bad = idx = None
    if y is not None:
        valid = y != ignore_index
        inside = (y >= 0) & (y < n_classes)
        bad = valid & ~inside
        idx = torch.where(valid & inside, y, 0).unsqueeze(1)
    lsm_y = p_y = None
    if dtype in _HALF:
        zc = z.to(dtype)
        lo, m = torch.aminmax(zc, dim=-1)
        finite = torch.isfinite(lo) & torch.isfinite(m)
        e = (zc - m.unsqueeze(1)).exp_()  # our own temporary
        s = torch.sum(e, dim=-1, dtype=torch.float32).to(dtype)  # float32 accumulation, one rounding
        collapsed = s == 1
        log_s = torch.log(s)
        if idx is not None:
            zy = zc.gather(1, idx).squeeze(1)
            lsm_y = -((m - zy) + log_s)  # (m - z_y) >= 0 and log S >= 0
            p_y = e.gather(1, idx).squeeze(1) / s
    else:
        if z.dtype in _HALF and dtype == torch.float32 and not values:
            # the half kernel exps and sums in float32 like the float32 one, and its
            # outputs -log S and (z_y - m) - log S are 0 in the half type iff they are 0
            # in float32: the same tests without a float32 copy of the logits (the
            # values log S and log p_y themselves need the float32 output: ``values``)
            lsm = torch.log_softmax(z, dim=-1)
        elif scratch is not None:  # the cast and its output in buffers reused chunk after chunk
            n = z.shape[0]
            lsm = torch.log_softmax(scratch[0, :n].copy_(z), dim=-1, out=scratch[1, :n])
        else:
            lsm = torch.log_softmax(z, dim=-1, dtype=dtype)
        if lsm.device.type == "cpu":  # hi: (m - m) - log S = -log S exactly
            hi, lo = lsm.amax(dim=-1), lsm.amin(dim=-1)  # two reductions: faster than aminmax on the CPU
        else:
            lo, hi = torch.aminmax(lsm, dim=-1)  # one read of the chunk's output on an accelerator
        collapsed = hi == 0
        if exact_finite:
            finite = torch.isfinite(z.to(dtype)).all(dim=-1)
        else:  # NaN / +inf make the row NaN, -inf a -inf entry: the row's extremes tell
            # in the same pass (a log-probability below the float range only sends the
            # caller to the exact test)
            finite = torch.isfinite(lo) & torch.isfinite(hi)
        log_s = -hi.to(dtype)
        if idx is not None:
            lsm_y = lsm.gather(1, idx).squeeze(1)
            p_y = torch.exp(lsm_y.to(dtype))
    return _Chunk(collapsed, finite, log_s, lsm_y, p_y, valid, bad)


def _chunks(z: torch.Tensor, y: torch.Tensor | None, dtype: torch.dtype, ignore_index: int, chunk_rows: int,
            exact_finite: bool, values: bool = False) -> Iterator[_Chunk]:
    rows = chunk_rows
    casts = z.dtype != dtype and (values or not (z.dtype in _HALF and dtype == torch.float32))
    if z.device.type == "cpu":
        limit = _CPU_CAST_CHUNK_ELEMENTS if casts else _CPU_CHUNK_ELEMENTS
        rows = max(1, min(chunk_rows, limit // max(1, z.shape[1])))
    elif casts:
        rows = max(1, min(chunk_rows, _DEVICE_CAST_CHUNK_ELEMENTS // max(1, z.shape[1])))
    scratch = None  # on the CPU, buffers reused chunk after chunk (fresh ones fragmented the heap)
    if casts and z.device.type == "cpu" and z.dtype.is_floating_point and dtype not in _HALF:
        scratch = torch.empty(2, min(rows, z.shape[0]), z.shape[1], dtype=dtype, device=z.device)
    with torch.no_grad():
        for i in range(0, z.shape[0], rows):
            yield _sc_chunk(z[i:i + rows], None if y is None else y[i:i + rows], dtype, ignore_index, exact_finite,
                            values, scratch)


def sc_counts(z: torch.Tensor, y: torch.Tensor | None, dtype: torch.dtype, ignore_index: int, chunk_rows: int,
              *, exact_finite: bool = False) -> torch.Tensor:
    """int64 device tensor ``[collapsed, zero_loss, rows, nonfinite_rows, bad_labels]`` over
    the kept rows (label not ``ignore_index``, logits finite). No host synchronisation."""
    return _count(_chunks(z, y, dtype, ignore_index, chunk_rows, exact_finite), z.device)


def _count(chunks: Iterable[_Chunk], device: torch.device) -> torch.Tensor:
    total = torch.zeros(5, dtype=torch.int64, device=device)
    for c in chunks:
        keep = c.finite if c.valid is None else c.finite & c.valid
        zero = (c.lsm_y == 0) & keep if c.lsm_y is not None else torch.zeros_like(keep)
        nonfinite = ~c.finite if c.valid is None else ~c.finite & c.valid
        bad = c.bad_label if c.bad_label is not None else torch.zeros_like(keep)
        total += torch.stack([(c.collapsed & keep).sum(), zero.sum(), keep.sum(), nonfinite.sum(), bad.sum()])
    return total


def prepare_rows(logits: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor | None,
                 dtype: torch.dtype, ignore_index: int, *, name: str = "logits"
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated ``(rows, C)`` logits and int64 labels (on the logits' device); ``name`` is
    the caller's name of the logits argument (used in messages)."""
    check_loss_dtype(dtype)
    check_int(ignore_index, "ignore_index")
    z = logit_tensor(logits, name)
    y = None if labels is None else label_vector(labels, tuple(z.shape[:-1]), z.device, logits_name=name)
    return z.reshape(-1, z.shape[-1]), y


def raise_for_counts(z: torch.Tensor, y: torch.Tensor | None, dtype: torch.dtype, ignore_index: int,
                     counts: list[int], *, skip_nonfinite: bool, name: str = "logits") -> None:
    """Error path after the one host read: name the first offending row."""
    n_classes = z.shape[1]
    if counts[4] and y is not None:
        bad = (y != ignore_index) & ((y < 0) | (y >= n_classes))
        i = int(torch.nonzero(bad)[0, 0])
        raise InputError(f"labels must be in [0, {n_classes}) or ignore_index={ignore_index}; "
                         f"element {i} is {int(y[i])}")
    if counts[3] and not skip_nonfinite:
        zd = z.to(dtype) if z.dtype.is_floating_point else z.to(dtype)
        finite = torch.isfinite(zd)
        rows = ~finite.all(dim=-1)
        if y is not None:
            rows &= y != ignore_index
        i = int(torch.nonzero(rows)[0, 0])
        raise InputError(f"{name} must be finite in {dtype_name(dtype)}; row {i} holds "
                         f"{float(zd[i][~finite[i]][0])}")
    if counts[2] == 0 and counts[3] == 0:
        raise InputError(f"labels are all ignore_index={ignore_index}; no rows left to score")


def collapse_counts(z: torch.Tensor, y: torch.Tensor | None, dtype: torch.dtype, ignore_index: int,
                    chunk_rows: int, *, skip_nonfinite: bool, name: str = "logits") -> list[int]:
    """``[collapsed, zero_loss, rows, nonfinite_rows, bad_labels]`` as Python ints: one host
    read (two when a row holds -inf log-probabilities, to tell overflow from bad input)."""
    counts = sc_counts(z, y, dtype, ignore_index, chunk_rows).tolist()
    if counts[3]:  # the cheap test flagged rows: count them exactly
        counts = sc_counts(z, y, dtype, ignore_index, chunk_rows, exact_finite=True).tolist()
    raise_for_counts(z, y, dtype, ignore_index, counts, skip_nonfinite=skip_nonfinite, name=name)
    return counts


def softmax_collapse_fraction(logits: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor | None = None,
                              *, dtype: torch.dtype = torch.float32, ignore_index: int = -100,
                              chunk_rows: int = 8192) -> float:
    """Fraction of rows in Softmax Collapse when the loss is computed in ``dtype``.

    Without ``labels``: the label-free test of the authors' code, S == 1 with
    S = Σ_k exp(z_k − max z) as the loss kernel computes it in ``dtype``. With
    ``labels``: the paper's label-relative test, the per-sample cross-entropy in
    ``dtype`` is exactly 0 (S == 1 and z_y == max z). See the module docstring for the
    exact definitions and :func:`softmax_collapse_report` for per-row values.

    Runs on the logits' device in chunks of ``chunk_rows`` rows (on the CPU, chunks
    sized to stay in cache) with one host read at the end. Cost O(N·C): one
    ``log_softmax`` and one reduction per chunk.

    Examples
    --------
    >>> softmax_collapse_fraction([[3.0, 21.5, 0.0]])                  # float32
    1.0
    >>> softmax_collapse_fraction([[3.0, 21.5, 0.0]], dtype=torch.float64)
    0.0
    """
    return _collapse_fraction(logits, labels, dtype, ignore_index, check_int(chunk_rows, "chunk_rows", min_value=1),
                              "logits")


def _collapse_fraction(logits: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor | None,
                       dtype: torch.dtype, ignore_index: int, chunk_rows: int, name: str) -> float:
    z, y = prepare_rows(logits, labels, dtype, ignore_index, name=name)
    counts = collapse_counts(z, y, dtype, ignore_index, chunk_rows, skip_nonfinite=False, name=name)
    return (counts[0] if y is None else counts[1]) / counts[2]


@dataclasses.dataclass(frozen=True)
class SoftmaxCollapseReport(Report):
    """Per-row Softmax Collapse tests (see :func:`softmax_collapse_report`).

    Arrays have one entry per kept row (``ignore_index`` rows dropped). Label-relative
    fields are ``None`` without labels.
    """

    dtype: str
    sum_exp: np.ndarray
    collapsed: np.ndarray
    loss: np.ndarray | None
    loss_zero: np.ndarray | None
    p_true_is_one: np.ndarray | None
    true_grad_zero: np.ndarray | None
    collapse_fraction: float
    zero_loss_fraction: float | None

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = {"sum_exp": self.sum_exp, "collapsed": self.collapsed}
        for k in ("loss", "loss_zero", "p_true_is_one", "true_grad_zero"):
            if getattr(self, k) is not None:
                cols[k] = getattr(self, k)
        return pd.DataFrame(cols)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Histogram of log10(S − 1), the distance of each row from collapse; collapsed
        rows (S == 1) are drawn as a separate bar at the left."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        gap = np.log10(self.sum_exp[~self.collapsed] - 1.0) if (~self.collapsed).any() else np.array([])
        gap = gap[np.isfinite(gap)]
        lo = float(gap.min()) - 1.0 if gap.size else -8.0
        if gap.size:
            ax.hist(gap, bins=40, color="tab:blue", label="not collapsed")
        n_col = int(self.collapsed.sum())
        ax.bar([lo], [n_col], width=0.5, color="tab:red", label=f"collapsed (S = 1): {n_col} rows")
        ax.set_xlabel("log10(S − 1), S = Σ exp(z − max z)")
        ax.set_ylabel("rows")
        title = f"Softmax Collapse in {self.dtype}: {self.collapse_fraction:.1%} of rows"
        if self.zero_loss_fraction is not None:
            title += f", zero loss {self.zero_loss_fraction:.1%}"
        ax.set_title(title)
        ax.legend(fontsize=8)
        return ax


def softmax_collapse_report(logits: npt.ArrayLike | torch.Tensor, labels: npt.ArrayLike | torch.Tensor | None = None,
                            *, dtype: torch.dtype = torch.float32, ignore_index: int = -100,
                            chunk_rows: int = 8192) -> SoftmaxCollapseReport:
    """Per-row Softmax Collapse tests in ``dtype``.

    For each row z (logits ``(..., C)`` are flattened to rows) computed in ``dtype``:
    ``sum_exp`` = S = Σ_k exp(z_k − max z) (float32 / float64: exp(log S) of the loss
    kernel, exactly 1 iff collapsed; half types: the float32 sum rounded once);
    ``collapsed`` = (S == 1); with labels, ``loss`` = −log_softmax(z)_y = (max z − z_y)
    + log S, ``loss_zero`` = (loss == 0), ``p_true_is_one`` = (p_y == 1) and
    ``true_grad_zero`` = (p_y − 1 == 0). The four label-relative tests agree by
    construction (Prieto et al. 2025, Sec. 3).

    Parameters
    ----------
    logits : array-like (..., C)
    labels : array-like (...), optional
        Integer classes; entries equal to ``ignore_index`` drop their row.
    dtype : torch dtype
        The dtype the loss uses (float64, float32, float16, bfloat16).
    chunk_rows : int
        Rows processed at once (bounds memory).

    Raises
    ------
    InputError
        Empty input, non-finite logits (after casting to ``dtype``), labels of the wrong
        length or outside ``[0, C)``, all rows ignored.
    """
    chunk_rows = check_int(chunk_rows, "chunk_rows", min_value=1)
    z, y = prepare_rows(logits, labels, dtype, ignore_index)
    parts = list(_chunks(z, y, dtype, ignore_index, chunk_rows, exact_finite=False, values=True))
    counts = _count(parts, z.device).tolist()  # one pass over the logits serves counts and rows
    if counts[3]:  # the cheap test flagged rows: count them exactly
        counts = sc_counts(z, y, dtype, ignore_index, chunk_rows, exact_finite=True).tolist()
    raise_for_counts(z, y, dtype, ignore_index, counts, skip_nonfinite=False)
    cat = lambda f: torch.cat([getattr(c, f) for c in parts])  # noqa: E731
    log_s = cat("log_s")
    if dtype in _HALF:
        sum_exp = torch.exp(log_s.to(torch.float32)).to(dtype).to(torch.float64)  # S itself, exactly
    else:
        sum_exp = torch.exp(log_s.to(torch.float64))
    collapsed = cat("collapsed")
    if y is None:
        return SoftmaxCollapseReport(dtype_name(dtype), sum_exp.cpu().numpy(), collapsed.cpu().numpy(), None, None,
                                     None, None, counts[0] / counts[2], None)
    keep = cat("valid").cpu()
    lsm_y, p_y = cat("lsm_y"), cat("p_y")  # present: labels were given
    host = lambda t: t.cpu()[keep].numpy()  # noqa: E731
    loss = -lsm_y
    return SoftmaxCollapseReport(
        dtype_name(dtype), host(sum_exp), host(collapsed), host(loss.to(torch.float64)), host(loss == 0),
        host(p_y == 1), host((p_y - 1) == 0), counts[0] / counts[2], counts[1] / counts[2])


def zero_loss_fraction(losses_or_logits: npt.ArrayLike | torch.Tensor,
                       labels: npt.ArrayLike | torch.Tensor | None = None, *,
                       loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                       dtype: torch.dtype = torch.float32, ignore_index: int = -100) -> float:
    """Fraction of samples whose loss is exactly 0 (these give no gradient).

    Without ``labels`` the input is a 1-D array of per-sample losses. With ``labels``
    the input is logits ``(..., C)`` and the per-sample losses are
    ``loss_fn(logits_rows, labels)`` (``reduction="none"``); the default is softmax
    cross-entropy in ``dtype``, i.e. the label-relative collapse test. Rows labelled
    ``ignore_index`` are dropped before ``loss_fn`` is called.
    """
    check_loss_dtype(dtype)
    if labels is None:
        if loss_fn is not None:
            raise InputError("loss_fn needs labels; pass logits and labels, or per-sample losses alone")
        t = as_tensor(losses_or_logits, "losses_or_logits")
        if t.ndim != 1 or t.numel() == 0:
            raise InputError(f"losses_or_logits must be a non-empty 1-D array of per-sample losses when labels "
                             f"are not given; got shape {tuple(t.shape)}")
        if not t.dtype.is_floating_point:
            t = t.to(torch.float64)
        zero, finite = torch.stack([(t == 0).sum(), torch.isfinite(t).all()]).tolist()
        if not finite:
            i = int(torch.nonzero(~torch.isfinite(t))[0, 0])
            raise InputError(f"losses_or_logits must be finite; element {i} is {float(t[i])}")
        return zero / t.numel()
    if loss_fn is None:
        return _collapse_fraction(losses_or_logits, labels, dtype, ignore_index, 8192, "losses_or_logits")
    if not callable(loss_fn):
        raise InputError(f"loss_fn must be callable; got {loss_fn!r}")
    z, y_all = prepare_rows(losses_or_logits, labels, dtype, ignore_index, name="losses_or_logits")
    assert y_all is not None  # labels were given
    keep = y_all != ignore_index
    z, y = z[keep], y_all[keep]
    if z.shape[0] == 0:
        raise InputError(f"labels are all ignore_index={ignore_index}; no rows left to score")
    with torch.no_grad():
        losses = torch.as_tensor(loss_fn(z, y)).reshape(-1)
    if losses.numel() != z.shape[0]:
        raise InputError(f"loss_fn must return one loss per row (reduction='none'); got {losses.numel()} "
                         f"values for {z.shape[0]} rows")
    return float((losses == 0).sum()) / losses.numel()


def update_absorption_fraction(weights: TensorsLike, grads: TensorsLike, *, lr: float) -> float:
    """Fraction of non-zero gradient entries whose SGD update is absorbed by rounding.

    #{g ≠ 0 : fl(w − lr·g) == w in w's dtype} / #{g ≠ 0} (Prieto et al. 2025, App. C;
    the denominator is ours). ``weights`` and ``grads`` are each one tensor or array (a
    numpy array, pandas object or nested list of numbers is one array, whatever its
    dimension), or mappings / sequences of tensors with the same names and shapes
    (``None`` gradients are skipped). Non-finite weights or gradients are an error. The
    update is computed in the weights' own dtype, whatever the container: float32
    numpy weights give the same answer as float32 tensors.
    """
    lr = check_positive(lr, "lr")
    ws = named_tensors(weights, "weights", numbers_as_array=True)
    gs = named_tensors(grads, "grads", numbers_as_array=True)
    if set(ws) != set(gs):
        raise InputError(f"grads must have the same names as weights; weights {sorted(ws)}, grads {sorted(gs)}")
    names, parts = [], []
    for k, w in ws.items():
        g = gs[k]
        if g is None or w is None:
            continue
        if g.shape != w.shape:
            where = "grads" if len(ws) == 1 and k == "0" else f"grads[{k!r}]"
            raise InputError(f"{where} must have the shape of its weights {tuple(w.shape)}; got {tuple(g.shape)}")
        w = w.detach()
        g = g.detach().to(device=w.device, dtype=w.dtype if w.dtype.is_floating_point else torch.float64)
        nz = g != 0
        names.append(k)
        parts.append(torch.stack([nz.sum(), (((w - lr * g) == w) & nz).sum(), (~torch.isfinite(g)).sum(),
                                  (~torch.isfinite(w)).sum()]))
    if not parts:
        raise InputError("grads must have at least one non-zero entry; the absorption fraction is undefined")
    counts = torch.stack([p.to(parts[0].device) for p in parts]).cpu()  # the one host read
    for col, arg in ((3, "weights"), (2, "grads")):
        if int(counts[:, col].sum()):
            k = names[int(torch.nonzero(counts[:, col])[0, 0])]
            where = arg if len(ws) == 1 and k == "0" else f"{arg}[{k!r}]"
            raise InputError(f"{where} must be finite; found NaN or inf")
    nonzero, absorbed = int(counts[:, 0].sum()), int(counts[:, 1].sum())
    if nonzero == 0:
        raise InputError("grads must have at least one non-zero entry; the absorption fraction is undefined")
    return absorbed / nonzero
