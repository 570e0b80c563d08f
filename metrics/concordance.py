"""Placeholder for issue 6: concordance index family; being written."""

__all__: list[str] = []
