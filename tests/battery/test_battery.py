"""The registry battery: every public array-taking function and Metric, every unusual input.

One run over the registry (tests/battery/registry.py): equivalent layouts and types give
the plain input's value, bad values raise ``InputError`` naming a real argument, extreme
values give an error or a right value, scale-free metrics are scale-free, no input is
mutated, and every Metric keeps its training-time semantics. A case listed in an entry's
``known_failures`` is expected to fail (the gap stays visible); once fixed, the battery
asks for the entry to be removed.
"""

from __future__ import annotations

import importlib

import pytest

from tests.battery.registry import EXEMPT, PACKAGES, REGISTRY
from tests.battery.runner import run_entry


def test_every_public_name_is_registered_or_exempt():
    public = set()
    for package in PACKAGES:
        module = importlib.import_module(package)
        public |= {f"{package}.{name}" for name in module.__all__}
    unregistered = sorted(public - set(REGISTRY) - set(EXEMPT))
    assert not unregistered, (
        "public names with no battery entry (add example inputs to tests/battery/registry.py, "
        f"or an EXEMPT reason if they take no array): {unregistered}")
    stale = sorted((set(REGISTRY) | set(EXEMPT)) - public)
    assert not stale, f"registry names that are no longer public: {stale}"
    assert not set(REGISTRY) & set(EXEMPT)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_battery(name):
    entry = REGISTRY[name]
    outcomes = run_entry(entry)
    assert outcomes, "no case ran"
    failures = [o for o in outcomes if not o.ok and o.case not in entry.known_failures]
    fixed = sorted(set(entry.known_failures) & {o.case for o in outcomes if o.ok})
    lines = [f"{o.case}: {o.detail}" for o in failures]
    lines += [f"{case}: passes now; remove it from known_failures" for case in fixed]
    assert not lines, f"{name}: " + "\n".join(lines)
