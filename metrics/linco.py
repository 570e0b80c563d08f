"""Placeholder for issue 7: LInCo; being written."""

__all__: list[str] = []
