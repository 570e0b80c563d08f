"""The lazy package tables: complete, in sync with the modules, and cheap to import."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = ["metrics", "metrics.calibration", "metrics.concordance", "metrics.detection",
            "metrics.group_consistency", "metrics.regret", "metrics.threshold_consistency",
            "diagnostics", "reference_models", "metricprobe"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves_to_its_module(name):
    package = importlib.import_module(name)
    assert len(package.__all__) == len(set(package.__all__))
    for public in package.__all__:
        if public == "__version__":
            continue
        value = getattr(package, public)
        assert value is not None, public


@pytest.mark.parametrize("name", PACKAGES)
def test_no_public_name_is_also_a_submodule(name):
    """A submodule bound on import would shadow a lazily exported function of the same name."""
    package = importlib.import_module(name)
    if not hasattr(package, "__path__"):
        return
    submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert not submodules & set(package.__all__)


@pytest.mark.parametrize("name", ["metrics", "diagnostics", "reference_models"])
def test_package_exports_every_public_name_of_its_modules(name):
    """Each module's ``__all__`` in a family is listed in the package table (nothing forgotten)."""
    package = importlib.import_module(name)
    for module, names in package._EXPORTS.items():
        if module == "metrics.core.errors":
            continue
        declared = set(importlib.import_module(module).__all__)
        assert set(names) <= declared, (module, set(names) - declared)


def test_metricprobe_facade_has_every_name_of_the_three_packages():
    import diagnostics
    import metricprobe
    import metrics
    import reference_models

    union = set(metrics.__all__) | set(diagnostics.__all__) | set(reference_models.__all__)
    assert union <= set(metricprobe.__all__)


def test_importing_the_packages_does_not_import_torch():
    code = "import sys, metricprobe, metrics, diagnostics, reference_models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
