"""The options of the LVIS evaluator: defaults and which mode uses which, stated once.

``None`` means "not given": a parameter the chosen mode does not use must stay None
(an explicit value, even one equal to the default, raises), and a parameter the mode
uses takes its default when None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from metrics.core.errors import InputError
from metrics.core.validation import check_int

__all__: list[str] = []

DEFAULT_MAX_DETS_PER_IMAGE = 300
DEFAULT_DETS_PER_CAT = 10_000
DEFAULT_POOLS = ("all", "r", "c", "f")
DEFAULT_SEGM_AREA = "mask"

#: Which parameters each mode reads.
USED_BY = {
    "standard": ("max_dets_per_image",),
    "fixed": ("dets_per_cat",),
    "pooled": ("dets_per_cat", "pools"),
    "all": ("max_dets_per_image", "dets_per_cat", "pools"),
}


@dataclasses.dataclass(frozen=True)
class LVISOptions:
    iou_type: str
    max_dets_per_image: int
    dets_per_cat: int
    pools: tuple[str, ...]
    segm_area: str

    def params(self, mode: str) -> dict[str, object]:
        return {"iou_type": self.iou_type, "mode": mode, "max_dets_per_image": self.max_dets_per_image,
                "dets_per_cat": self.dets_per_cat, "pools": list(self.pools), "segm_area": self.segm_area}


def check_limit(value: object, name: str) -> int:
    """An int ≥ 1, or −1 for no limit."""
    out = check_int(value, name)
    if out == 0 or out < -1:
        raise InputError(f"{name} must be an integer ≥ 1, or −1 for no limit; got {out}")
    return out


def check_pools(pools: Sequence[str] | str) -> tuple[str, ...]:
    """A non-empty subset of all, r, c, f (a sequence, or one comma-separated string)."""
    if isinstance(pools, str):
        pools = tuple(p.strip() for p in pools.split(","))
    try:
        out = tuple(pools)
    except TypeError:
        raise InputError(f"pools must be a non-empty subset of 'all', 'r', 'c', 'f'; got {pools!r}") from None
    if not out or any(p not in DEFAULT_POOLS for p in out) or len(set(out)) != len(out):
        raise InputError(f"pools must be a non-empty subset of 'all', 'r', 'c', 'f' without repeats; got {pools!r}")
    return out


def resolve_lvis_options(*, mode: str, iou_type: str, max_dets_per_image: int | None, dets_per_cat: int | None,
                         pools: Sequence[str] | str | None, segm_area: str | None) -> LVISOptions:
    """Check the options against the mode and fill in the defaults of the unset ones."""
    given = {"max_dets_per_image": max_dets_per_image, "dets_per_cat": dets_per_cat, "pools": pools}
    for name, value in given.items():
        if value is not None and name not in USED_BY[mode]:
            users = [repr(m) for m in USED_BY if name in USED_BY[m] and m != "all"]
            noun = "mode" if len(users) == 1 else "modes"
            raise InputError(f"{name} applies to {noun} {' and '.join(users)} only (it does not apply to "
                             f"mode {mode!r}); got {value!r}")
    if segm_area is not None and iou_type != "segm":
        raise InputError(f"segm_area applies to iou_type 'segm' only; got {segm_area!r} with iou_type {iou_type!r}")
    return LVISOptions(
        iou_type=iou_type,
        max_dets_per_image=(DEFAULT_MAX_DETS_PER_IMAGE if max_dets_per_image is None
                            else check_limit(max_dets_per_image, "max_dets_per_image")),
        dets_per_cat=DEFAULT_DETS_PER_CAT if dets_per_cat is None else check_limit(dets_per_cat, "dets_per_cat"),
        pools=DEFAULT_POOLS if pools is None else check_pools(pools),
        segm_area=DEFAULT_SEGM_AREA if segm_area is None else segm_area)
