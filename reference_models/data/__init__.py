"""Bundled sample data for the demo and the examples, with the scripts that generate it.

Each ``make_<family>_sample.py`` script writes its files next to itself, deterministically
(``python -m reference_models.data.make_calibration_sample``); :func:`sample_path` finds them.
"""

from __future__ import annotations

from pathlib import Path

from metrics.core.errors import InputError

__all__ = ["sample_path"]


def sample_path(name: str) -> Path:
    """Path of a bundled sample file, e.g. ``sample_path("lvis_sample_gt.json")``."""
    path = Path(__file__).resolve().with_name(name)
    if not path.is_file():
        available = sorted(p.name for p in path.parent.iterdir() if p.suffix in (".npz", ".json", ".csv", ".jsonl"))
        raise InputError(f"name: no bundled sample {name!r}; available: {', '.join(available)}")
    return path
