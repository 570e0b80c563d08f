"""The input types of the detection evaluators and the calibration audit.

- :data:`GroundTruthInput`: a JSON path, the parsed JSON object, or an object holding it
  as ``.dataset`` (``lvis.LVIS``, ``pycocotools.coco.COCO``; duck-typed, never imported).
- :data:`ResultsInput`: a JSON / JSON Lines path (streamed), a sequence of detection
  dicts, or (COCO bbox only) an (N, 7) array ``[image_id, x, y, w, h, score, category_id]``.
- :class:`ResultsCalibrator`: anything with ``transform(results)`` returning detection
  dicts with new scores (a fitted ``reference_models.DetectionCalibrator``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Protocol, Union

import numpy as np

__all__ = ["GroundTruthInput", "ResultsInput", "ResultsCalibrator", "HasDataset"]


class HasDataset(Protocol):
    """An object that holds the ground-truth JSON object as ``.dataset``."""

    @property
    def dataset(self) -> Mapping[str, object]: ...


class ResultsCalibrator(Protocol):
    """What the calibration audit needs of a calibrator: new scores for detection dicts."""

    def transform(self, results: ResultsInput) -> list[dict]: ...


GroundTruthInput = Union[str, "os.PathLike[str]", Mapping[str, object], HasDataset]
ResultsInput = Union[str, "os.PathLike[str]", Sequence[Mapping[str, object]], np.ndarray]
