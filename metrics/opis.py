"""Placeholder for issue 5: OPIS, epsilon-OPIS, retrieval metrics; being written."""

__all__: list[str] = []
