"""Placeholder for issue 9: Monitor base and framework adapters; being written."""

__all__: list[str] = []
