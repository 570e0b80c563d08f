"""The architecture rules, checked on the source: floors, private names, name collisions,
self-contained text and module size.

- The four packages are floors: ``metrics`` < ``diagnostics`` < ``reference_models`` <
  ``metricprobe``; a lower floor never imports a higher one (also inside functions).
- No module imports a ``_private`` name, or from a ``_private`` module, of another
  top-level package: what two packages share is public in the lower one.
- No public name of a package is also the name of one of its submodules or subpackages.
- The repository explains itself: no section sign, no path to or name of a planning
  page, no issue-number references (an upstream bug is cited with its URL).
- No module of the packages is longer than ``MAX_LINES`` lines.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ("metrics", "diagnostics", "reference_models", "metricprobe")
MAX_LINES = 500

SECTION_SIGN = "\u00a7"
#: Planning pages that are not documentation pages of the repository.
PLANNING_PAGES = ("conventions", "layout", "training", "distributed", "coco")
ISSUE_REFERENCE = re.compile(r"\b(issue|ticket)\s*#?\s*\d+", re.IGNORECASE)
URL = re.compile(r"https?://")


def _package_files() -> list[Path]:
    return sorted(p for floor in FLOORS for p in (ROOT / floor).rglob("*.py"))


def _repository_text_files() -> list[Path]:
    """Tracked and untracked-but-not-ignored .py / .md / .toml files."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.split("\n")
        files = [ROOT / f for f in out if f.endswith((".py", ".md", ".toml"))]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: scan the tree
        files = [p for ext in ("py", "md", "toml") for p in ROOT.rglob(f"*.{ext}")
                 if ".venv" not in p.parts and "build" not in p.parts]
    return sorted(p for p in files if p.is_file())


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return found


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def test_lower_floors_never_import_higher_ones():
    violations = []
    for path in _package_files():
        own = FLOORS.index(path.relative_to(ROOT).parts[0])
        for line, module, _ in _imports(path):
            top = module.split(".")[0]
            if top in FLOORS and FLOORS.index(top) > own:
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {module} (a higher floor)")
    assert not violations, "\n".join(violations)


def test_no_private_name_crosses_a_package_boundary():
    violations = []
    for path in _package_files():
        own = path.relative_to(ROOT).parts[0]
        for line, module, name in _imports(path):
            parts = module.split(".")
            if parts[0] not in FLOORS or parts[0] == own:
                continue
            private = [p for p in parts[1:] if _is_private(p)]
            if name and _is_private(name):
                private.append(name)
            if private:
                what = f"{module}.{name}" if name else module
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {what} (private: {', '.join(private)})")
    assert not violations, "\n".join(violations)


def _packages() -> list[Path]:
    return sorted(p.parent for floor in FLOORS for p in (ROOT / floor).rglob("__init__.py"))


@pytest.mark.parametrize("package_dir", _packages(), ids=lambda p: _module_name(p / "__init__.py"))
def test_no_public_name_is_also_a_submodule(package_dir):
    submodules = {p.stem for p in package_dir.glob("*.py") if p.stem != "__init__"}
    submodules |= {p.name for p in package_dir.iterdir() if (p / "__init__.py").is_file()}
    module = importlib.import_module(_module_name(package_dir / "__init__.py"))
    public = set(getattr(module, "__all__", ()))
    clash = sorted(public & submodules)
    assert not clash, f"{module.__name__}: public names that are also submodules: {clash}"


def _text_violations(path: Path) -> list[str]:
    found = []
    pages = [re.compile(rf"\b{re.escape(name)}\.md\b") for name in PLANNING_PAGES
             if not (ROOT / "docs" / f"{name}.md").exists()]
    planning_dir = re.compile(r"\bspecs/")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return found
    for number, line in enumerate(lines, 1):
        where = f"{path.relative_to(ROOT)}:{number}"
        if SECTION_SIGN in line:
            found.append(f"{where}: section sign: {line.strip()[:100]}")
        if planning_dir.search(line):
            found.append(f"{where}: path to planning pages: {line.strip()[:100]}")
        for page in pages:
            if page.search(line):
                found.append(f"{where}: planning page name: {line.strip()[:100]}")
        if ISSUE_REFERENCE.search(line) and not URL.search(line):
            found.append(f"{where}: issue reference without a URL: {line.strip()[:100]}")
    return found


def test_repository_text_is_self_contained():
    violations = [v for path in _repository_text_files() for v in _text_violations(path)]
    assert not violations, f"{len(violations)} references to planning documents:\n" + "\n".join(violations)


def test_no_module_is_over_the_size_limit():
    sizes = {path: sum(1 for _ in path.open(encoding="utf-8")) for path in _package_files()}
    large = sorted((n, str(p.relative_to(ROOT))) for p, n in sizes.items() if n > MAX_LINES)
    assert not large, f"modules over {MAX_LINES} lines (split them by job): " + ", ".join(
        f"{name} ({n})" for n, name in reversed(large))


# ------------------------------------------------------------------ the checks themselves


def test_the_text_scan_catches_what_it_must(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = tmp_path / "bad.py"
    bad.write_text(
        f"# see {SECTION_SIGN}2\n# ../shared/{'specs'}/x\n# as in {'training'}.md\n# fixes {'issue'} 14\n"
        f"# upstream {'issue'} 12 https://github.com/x/y/issues/12\n# docs/calibration.md is fine\n",
        encoding="utf-8",
    )
    found = _text_violations(bad)
    assert [f.split(": ", 2)[1] for f in found] == [
        "section sign", "path to planning pages", "planning page name", "issue reference without a URL"]


def test_the_import_scan_resolves_relative_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    package = tmp_path / "diagnostics" / "sub"
    package.mkdir(parents=True)
    module = package / "mod.py"
    module.write_text("from ..x import _y\nfrom metrics.calibration._kernel import f\nimport reference_models\n",
                      encoding="utf-8")
    assert _imports(module) == [(1, "diagnostics.x", "_y"), (2, "metrics.calibration._kernel", "f"),
                                (3, "reference_models", None)]


def test_every_report_class_implements_the_four_methods():
    """Every Report subclass in the three packages draws itself (to_dict, to_frame and str come from the base)."""
    import importlib
    import inspect
    import pkgutil

    import diagnostics
    import metrics
    import reference_models
    from metrics.core.report import Report

    without_plot = []
    for package in (metrics, diagnostics, reference_models):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.startswith("metrics.distributed"):
                continue  # needs the optional dask extra; it defines no report class
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if (inspect.isclass(obj) and issubclass(obj, Report) and obj is not Report
                        and obj.__module__ == module.__name__ and obj.plot is Report.plot):
                    without_plot.append(f"{module.__name__}.{name}")
    assert without_plot == []
