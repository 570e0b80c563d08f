"""The base every metric family shares: errors, input validation, the report base,
file readers and lazy package exports. Imports no other part of the project."""

from metrics.core.errors import InputError

__all__ = ["InputError"]
