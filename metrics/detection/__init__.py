"""Placeholder for issues 3-4: LVIS AP, AP-Fixed, AP-Pool, D-ECE; being written."""

__all__: list[str] = []
