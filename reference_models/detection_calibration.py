"""Placeholder for issue 4: DetectionCalibrator; being written."""

__all__: list[str] = []
