"""Placeholder for issue 10: instability signals; being written."""

__all__: list[str] = []
