"""The gradient-alignment monitor: conflict, plasticity / stability or entanglement every n steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from diagnostics.conflict import ConflictResult, PlasticityStabilityResult, gradient_cosine, plasticity_stability
from diagnostics.entanglement import gradient_entanglement
from diagnostics.monitors import Monitor, Record, Threshold
from metrics.core.errors import InputError
from metrics.core.options import check_choice

__all__ = ["GradientAlignmentMonitor"]

# ---------------------------------------------------------------------------------------------

class GradientAlignmentMonitor(Monitor):
    """Run a gradient-alignment probe every n steps and log its scalars.

    Parameters
    ----------
    probe_fn : callable
        Called with the keyword inputs of ``on_step`` (e.g. ``model``, ``batch``) and
        returning the probe's arguments:

        * ``kind="conflict"``: ``(a, b)`` or ``(a, b, params)`` for :func:`gradient_cosine`;
        * ``kind="plasticity_stability"``: ``(loss_plastic, loss_stable, params)``;
        * ``kind="entanglement"``: a dict of keyword arguments of
          :func:`gradient_entanglement` (``model``, ``chosen``, ``rejected``, ...).
    kind : {"conflict", "plasticity_stability", "entanglement"}
    every_n_steps : int
    groups : mapping, optional
        Parameter groups for the conflict kinds; each group's cosine is logged as
        ``cos/<group>``.
    **kwargs
        ``thresholds``, ``on_alert``, ``log_fn`` of :class:`~diagnostics.Monitor`.

    Records: ``global_inner``, ``global_cos``, ``global_conflict`` (and ``share_stable``)
    for the conflict kinds; for entanglement the pair means of ``inner``, ``cos``,
    ``ratio_chosen``, ``ratio_min``, ``delta_chosen``, ``delta_rejected``, plus
    ``frac_entangled`` (pairs with ``ratio_min`` ≥ 1, where equal-coefficient losses cannot
    raise the chosen and lower the rejected log-probability at once) and
    ``frac_chosen_falls`` (pairs whose predicted Δℓ_w < 0). The ``.latest_result`` attribute
    keeps the full result object of the last probe.

    Cost per logged step: one extra backward pass for the conflict kinds, two per pair for
    entanglement (``method="loop"``); nothing on other steps.
    """

    name = "gradient_alignment"

    def __init__(self, probe_fn: Callable[..., object], *,
                 kind: Literal["conflict", "plasticity_stability", "entanglement"] = "conflict",
                 every_n_steps: int = 100, groups: Mapping[str, Sequence[str]] | None = None,
                 thresholds: Mapping[str, Threshold] | None = None,
                 on_alert: Literal["warn", "raise", "ignore"] = "warn", log_fn: Callable[[Record], object] | None = None):
        if not callable(probe_fn):
            raise InputError(f"probe_fn must be callable; got {probe_fn!r}")
        self.probe_fn = probe_fn
        check_choice(kind, "kind", ("conflict", "plasticity_stability", "entanglement"))
        self.kind = kind
        self.groups = groups
        self.latest_result: object = None
        super().__init__(every_n_steps=every_n_steps, thresholds=thresholds, on_alert=on_alert, log_fn=log_fn)

    def compute(self, **inputs: object) -> Record:
        args = self.probe_fn(**inputs)
        if self.kind == "entanglement":
            if not isinstance(args, Mapping):
                raise InputError("probe_fn must return a dict of gradient_entanglement arguments for "
                                 "kind='entanglement'")
            entangled = gradient_entanglement(**args)
            self.latest_result = entangled
            record: Record = {f"mean_{f}": entangled.mean[f] for f in
                      ("inner", "cos", "ratio_chosen", "ratio_min", "delta_chosen", "delta_rejected")}
            n = len(entangled.per_pair)
            record["frac_entangled"] = sum((p.ratio_min or 0.0) >= 1.0 for p in entangled.per_pair) / n
            record["frac_chosen_falls"] = sum(p.delta_chosen < 0 for p in entangled.per_pair) / n
            return record
        if not isinstance(args, (tuple, list)) or len(args) not in (2, 3):
            raise InputError("probe_fn must return (a, b) or (a, b, params) for the conflict kinds")
        result: ConflictResult
        if self.kind == "conflict":
            a, b, *rest = args
            result = gradient_cosine(a, b, params=rest[0] if rest else None, groups=self.groups)
        else:
            if len(args) != 3:
                raise InputError("probe_fn must return (loss_plastic, loss_stable, params) for "
                                 "kind='plasticity_stability'")
            result = plasticity_stability(*args, groups=self.groups)
        self.latest_result = result
        out: Record = {"global_inner": result.global_inner, "global_cos": result.global_cos,
                  "global_conflict": result.global_conflict}
        out.update({f"cos/{g}": r.cos for g, r in result.per_group.items()})
        if isinstance(result, PlasticityStabilityResult):
            out["share_stable"] = result.share_stable
        return out
