"""Every ```python example in README.md and docs/*.md runs as written.

The blocks of one page run in order in one namespace (as a reader follows the page), in a
temporary working directory, with matplotlib drawing off-screen. Sample data are reached the
way the docs show it: ``reference_models.data.sample_path(name)``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Pages whose examples are known to fail, with why; their owners are fixing them. Remove an entry
#: once its page runs (the test then reports XPASS).
KNOWN_FAILING: dict[str, str] = {}  # page name -> why its examples cannot run yet
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of each ```python block, indentation removed."""
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body")) + 1
        blocks.append((line, textwrap.dedent(match.group("body"))))
    return blocks


def test_block_extraction():
    text = "a\n```python\nx = 1\n```\n\n  ```python\n  y = 2\n  ```\n```sh\nls\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (7, "y = 2\n")]


def _param(page: Path):
    reason = KNOWN_FAILING.get(page.name)
    marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
    return pytest.param(page, id=page.name, marks=marks)


@pytest.mark.parametrize("page", [_param(p) for p in PAGES if python_blocks(p.read_text())])
def test_examples_run(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_example_{page.stem}"}
    try:
        for line, code in python_blocks(page.read_text()):
            try:
                exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"the example at {page.relative_to(ROOT)} line {line} fails: "
                                     f"{type(exc).__name__}: {exc}") from exc
    finally:
        plt.close("all")
