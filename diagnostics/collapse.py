"""Placeholder for issue 9: Softmax Collapse, NLM alignment; being written."""

__all__: list[str] = []
