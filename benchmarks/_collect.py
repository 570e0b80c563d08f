"""Rebuild docs/benchmarks.md from the pages that ``make bench`` wrote in docs/benchmarks/."""

from __future__ import annotations

from benchmarks._harness import OUT_DIR, ROOT

INTRO = """# Benchmarks

Every number on these pages is written by a script in `benchmarks/` (`make bench` runs them
all and regenerates this index). Each script runs metricprobe side by side with the anchor
(the established implementation, run as its users run it) in one process, on the same data,
alternately, and records the best wall time, the ratio, peak memory, the machine, the thread
count and every library's version. A page whose machine differs from yours will differ in
absolute time; ratios measured in one process are the comparable figure.
"""


def main() -> None:
    pages = sorted(OUT_DIR.glob("*.md"))
    lines = [INTRO, "| benchmark | page |", "|---|---|"]
    for page in pages:
        title = page.read_text().splitlines()[0].lstrip("# ").strip()
        lines.append(f"| {title} | [benchmarks/{page.name}](benchmarks/{page.name}) |")
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print(f"wrote docs/benchmarks.md ({len(pages)} pages)")


if __name__ == "__main__":
    main()
