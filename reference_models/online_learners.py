"""Placeholder for issue 8: online learners, regret_loss; being written."""

__all__: list[str] = []
