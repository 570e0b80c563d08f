"""Placeholder for issue 9: StableMax, PerpGrad, grokking task; being written."""

__all__: list[str] = []
