"""Placeholder for issue 2: calibrators; being written."""

__all__: list[str] = []
