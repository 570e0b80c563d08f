"""Placeholder for issue 10: DPO and continual reference experiments; being written."""

__all__: list[str] = []
