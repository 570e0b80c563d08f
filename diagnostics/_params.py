"""Parameters and gradients given as a Module, a mapping or a sequence, as named tensors;
the fused float64 sums (w·w, w·g, g·g) of many tensor pairs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

from diagnostics._tensors import as_tensor
from metrics.core.errors import InputError


def _is_tensor_like(v: object) -> bool:
    return v is None or isinstance(v, (torch.Tensor, np.ndarray))


def named_tensors(obj: object, name: str, *, trainable_only: bool = False,
                  numbers_as_array: bool = False) -> dict[str, torch.Tensor | None]:
    """Normalise ``obj`` to an ordered ``{name: tensor}`` mapping.

    A ``torch.nn.Module`` gives its named parameters; a mapping keeps its keys (as
    strings); a list, tuple or other iterable (e.g. ``model.parameters()``) is a sequence
    of tensors numbered ``"0"``, ``"1"``, … (so ``[[1, 0], [0, 2]]`` is two tensors);
    a tensor, a numpy array of any dimension, a pandas object or a scalar is ONE tensor
    named ``"0"``, so a 2-D array and the same values as a tensor mean the same thing.
    With ``numbers_as_array`` a list holding no tensor or array (numbers, nested lists of
    numbers) is one array too. With ``trainable_only`` tensors that do not require grad (frozen
    parameters) are left out. ``None`` entries are kept (a parameter without a gradient);
    arrays and lists become tensors of their own dtype (float64 for integers).
    """
    items: dict[str, object]
    if isinstance(obj, torch.nn.Module):
        items = dict(obj.named_parameters())
    elif isinstance(obj, Mapping):
        items = {str(k): v for k, v in obj.items()}
    elif isinstance(obj, (str, bytes)):
        raise InputError(f"{name} must be a torch.nn.Module, a mapping of names to tensors, a sequence of "
                         f"tensors or one array; got a string")
    elif isinstance(obj, (list, tuple)) or (isinstance(obj, Iterable) and not _is_tensor_like(obj)
                                             and not hasattr(obj, "__array__")):
        seq = list(obj)  # type: ignore[arg-type]  # an iterable, checked above
        if numbers_as_array and seq and not any(_is_tensor_like(v) for v in seq):
            items = {"0": seq}  # numbers or nested lists of numbers: one array
        else:
            items = {str(i): v for i, v in enumerate(seq)}
    else:
        items = {"0": obj}
    if not items:
        raise InputError(f"{name} must hold at least one tensor")
    out: dict[str, torch.Tensor | None] = {}
    for k, v in items.items():
        if v is not None and not isinstance(v, torch.Tensor):
            label = name if len(items) == 1 and k == "0" and not isinstance(obj, Mapping) else f"{name}[{k!r}]"
            v = as_tensor(v, label)  # type: ignore[arg-type]  # validated inside
            if not v.dtype.is_floating_point:
                v = v.to(torch.float64)
        if trainable_only and isinstance(v, torch.Tensor) and not v.requires_grad:
            continue
        out[k] = v
    return out


#: float64 elements per row of the staging buffer on an accelerator: bounds its memory
#: (2 x 64 MiB) and keeps the launches few (two slices for a 4096 x 4096 weight)
_BLOCK = 1 << 23
#: the same on the CPU: 2 x 1 MiB, inside a core's L2 cache, so the float64 copies are
#: written and read there and only the float32 data come from main memory
_CPU_BLOCK = 1 << 17


def _dots(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    """``out[:] = [a·a, a·b, b·b]`` (float64 vectors), written in place: no allocation."""
    torch.dot(a, a, out=out[0])
    torch.dot(a, b, out=out[1])
    torch.dot(b, b, out=out[2])


def pair_sums(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """float64 ``(T, 5)`` tensor of ``[w·w, w·g, g·g, max|w|, max|g|]`` per pair, on the
    first pair's device, with no host synchronisation and no host-to-device copy (the
    maxima only for float64 tensors, 0 otherwise).

    The float32 (or half) data are read once, cast into a float64 staging buffer of two
    rows (one fused multi-tensor copy per fill), and the three dot products are taken on
    the buffer while it is in cache: float32 and half products are exact in float64, and
    the sums accumulate in float64. No temporary is larger than the buffer (2 x 1 MiB on
    the CPU, 2 x 64 MiB elsewhere), whatever the size of the model.

    A tensor larger than a buffer row goes through it in slices, each slice's sums written
    into a row of a small table summed at the end. Smaller tensors are packed into the
    buffer in order of size, so that tensors of equal size sit side by side: each run of
    equal sizes gives its 2 x 2 Gram matrices in one batched matmul. The per-tensor rows
    are gathered by one ``stack`` of views, so no index tensor is copied to the device.
    """
    device = pairs[0][0].device
    flat = [(i, w.reshape(-1).to(device), g.reshape(-1).to(device)) for i, (w, g) in enumerate(pairs)]
    limit = _CPU_BLOCK if device.type == "cpu" else _BLOCK
    total = sum(t[1].numel() for t in flat)
    buf = torch.empty(2, max(1, min(total, limit)), dtype=torch.float64, device=device)
    per: list[torch.Tensor | None] = [None] * len(pairs)
    zero = torch.zeros(3, dtype=torch.float64, device=device)

    def fill(block: list[tuple[int, torch.Tensor, torch.Tensor]]) -> list[int]:
        sizes = [t[1].numel() for t in block]
        n = sum(sizes)
        torch._foreach_copy_([*buf[0, :n].split(sizes), *buf[1, :n].split(sizes)],
                             [*(t[1] for t in block), *(t[2] for t in block)])
        return sizes

    def flush(block: list[tuple[int, torch.Tensor, torch.Tensor]]) -> None:
        sizes = fill(block)
        start = offset = 0
        while start < len(block):  # runs of equal size: one batched Gram each
            stop = start
            while stop < len(block) and sizes[stop] == sizes[start]:
                stop += 1
            k, m = stop - start, sizes[start]
            if k == 1:
                res = torch.empty(1, 3, dtype=torch.float64, device=device)
                _dots(buf[0, offset:offset + m], buf[1, offset:offset + m], res[0])
            else:
                v = buf[:, offset:offset + k * m].reshape(2, k, m).transpose(0, 1)  # (k, 2, m)
                gram = torch.bmm(v, v.transpose(1, 2))  # (k, 2, 2)
                res = torch.stack([gram[:, 0, 0], gram[:, 0, 1], gram[:, 1, 1]], dim=1)
            for j in range(k):
                per[block[start + j][0]] = res[j]
            offset += k * m
            start = stop

    block: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    filled = 0
    for i, w, g in sorted(flat, key=lambda t: t[1].numel()):
        n = w.numel()
        if n == 0:
            per[i] = zero
            continue
        if n > limit:  # larger than a buffer row: slice by slice, summed at the end
            parts = torch.empty(-(-n // limit), 3, dtype=torch.float64, device=device)
            for j, s in enumerate(range(0, n, limit)):
                c = min(limit, n - s)
                fill([(i, w[s:s + c], g[s:s + c])])
                _dots(buf[0, :c], buf[1, :c], parts[j])
            per[i] = parts.sum(dim=0)
            continue
        if filled + n > limit:
            flush(block)
            block, filled = [], 0
        block.append((i, w, g))
        filled += n
    if block:
        flush(block)
    # largest magnitudes, only where a square can leave the float64 range (float64 data;
    # squares of float32 / half values cannot): 0 stands for "not needed"
    maxima = [torch.stack([torch.linalg.vector_norm(w, ord=float("inf")).to(torch.float64),
                           torch.linalg.vector_norm(g, ord=float("inf")).to(torch.float64)])
              if (w.dtype == torch.float64 or g.dtype == torch.float64) and w.numel() else zero[:2]
              for _, w, g in flat]
    return torch.cat([torch.stack([p for p in per if p is not None]), torch.stack(maxima)], dim=1)
