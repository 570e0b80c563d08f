"""Placeholder for issue 7: per-group judge models; being written."""

__all__: list[str] = []
