"""Placeholder for issue 6: survival losses and reference model; being written."""

__all__: list[str] = []
