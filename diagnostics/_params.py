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


#: float64 elements of the staging buffer per row (w and g): bounds its memory (2 x 64 MiB).
_BLOCK = 1 << 23
#: the same on the CPU: a buffer that stays small (2 x 2 MiB) is reused without page
#: faults, which dominated the cost of a large one there
_CPU_BLOCK = 1 << 18


def pair_sums(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """float64 ``(T, 5)`` tensor of ``[w·w, w·g, g·g, max|w|, max|g|]`` per pair, on the
    first pair's device, with no host synchronisation (the maxima only for float64
    tensors, 0 otherwise).

    The tensors are copied (a fused multi-tensor copy) into one float64 staging buffer of
    two rows, laid out by size so that tensors of equal size sit next to each other; each
    run of equal sizes gives its 2 x 2 Gram matrices in one batched matmul. float32 and
    half products are exact in float64, and the sums accumulate in float64.
    """
    device = pairs[0][0].device
    flat = [(i, w.reshape(-1).to(device), g.reshape(-1).to(device)) for i, (w, g) in enumerate(pairs)]
    out = torch.zeros(len(pairs), 5, dtype=torch.float64, device=device)
    # largest magnitudes, only where a square can leave the float64 range (float64 data;
    # squares of float32 / half values cannot): 0 stands for "not needed"
    for i, w, g in flat:
        if (w.dtype == torch.float64 or g.dtype == torch.float64) and w.numel():
            out[i, 3] = torch.linalg.vector_norm(w.to(torch.float64), ord=float("inf"))
            out[i, 4] = torch.linalg.vector_norm(g.to(torch.float64), ord=float("inf"))
    order = sorted(flat, key=lambda t: t[1].numel())
    total = sum(t[1].numel() for t in order)
    limit = _CPU_BLOCK if device.type == "cpu" else _BLOCK
    buf = torch.empty(2, min(total, limit), dtype=torch.float64, device=device)
    rows: list[torch.Tensor] = []
    grams: list[torch.Tensor] = []

    def flush(block: list[tuple[int, torch.Tensor, torch.Tensor]]) -> None:
        sizes = [t[1].numel() for t in block]
        n = sum(sizes)
        torch._foreach_copy_(list(buf[0, :n].split(sizes)), [t[1] for t in block])
        torch._foreach_copy_(list(buf[1, :n].split(sizes)), [t[2] for t in block])
        start = 0
        while start < len(block):  # runs of equal size: one batched Gram each
            stop = start
            while stop < len(block) and sizes[stop] == sizes[start]:
                stop += 1
            k, m = stop - start, sizes[start]
            offset = sum(sizes[:start])
            if k == 1:  # one tensor (or a slice of a large one): three dot products
                a, b = buf[0, offset:offset + m], buf[1, offset:offset + m]
                grams.append(torch.stack([torch.dot(a, a), torch.dot(a, b), torch.dot(b, b)]).unsqueeze(0))
            else:
                v = buf[:, offset:offset + k * m].reshape(2, k, m).transpose(0, 1)  # (k, 2, m)
                gram = torch.bmm(v, v.transpose(1, 2))  # (k, 2, 2)
                grams.append(torch.stack([gram[:, 0, 0], gram[:, 0, 1], gram[:, 1, 1]], dim=1))
            rows.append(torch.tensor([t[0] for t in block[start:stop]], device=device))
            start = stop

    block: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    filled = 0
    for i, w, g in order:
        n = w.numel()
        if n > limit:  # a tensor larger than the buffer goes through it in slices
            if block:
                flush(block)
                block, filled = [], 0
            for s in range(0, n, limit):
                flush([(i, w[s:s + limit], g[s:s + limit])])
            continue
        if filled + n > limit:
            flush(block)
            block, filled = [], 0
        block.append((i, w, g))
        filled += n
    if block:
        flush(block)
    if grams:
        out[:, :3].index_add_(0, torch.cat(rows), torch.cat(grams))
    return out
