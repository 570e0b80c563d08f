"""Placeholder for issue 10: continual evaluation; being written."""

__all__: list[str] = []
