"""Placeholder for issue 2: calibration error; being written."""

__all__: list[str] = []
