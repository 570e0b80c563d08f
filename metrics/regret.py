"""Placeholder for issue 8: regret metrics; being written."""

__all__: list[str] = []
