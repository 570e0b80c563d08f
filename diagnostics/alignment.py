"""Placeholder for issue 10: gradient entanglement, gradient cosine; being written."""

__all__: list[str] = []
