"""Placeholder for issue 5: TCM loss and the OPIS reference experiment; being written."""

__all__: list[str] = []
