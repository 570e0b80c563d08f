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


def measured_on(text: str) -> str:
    """``CPU``, or the accelerator a page names in its machine line (``GPU: <name>, ...`` or ``device <name>``)."""
    for line in text.splitlines():
        if line.startswith("- Machine:"):
            for marker, label in (("; GPU: ", "GPU "), ("; device ", "")):
                _, found, rest = line.partition(marker)
                if found:
                    return label + rest.split(",", 1)[0].strip()
            return "CPU"
    return "-"


def main() -> None:
    pages = sorted(OUT_DIR.glob("*.md"))  # a GPU page <name>_cuda.md sorts beside <name>.md
    lines = [INTRO, "| benchmark | measured on | page |", "|---|---|---|"]
    for page in pages:
        text = page.read_text()
        title = text.splitlines()[0].lstrip("# ").strip()
        lines.append(f"| {title} | {measured_on(text)} | [benchmarks/{page.name}](benchmarks/{page.name}) |")
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print(f"wrote docs/benchmarks.md ({len(pages)} pages)")


if __name__ == "__main__":
    main()
