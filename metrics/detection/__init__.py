"""Placeholder for issues 3-4 (LVIS AP, AP-Fixed, AP-Pool, D-ECE); being written.

The LVIS developer owns this file; it must keep re-exporting metrics.detection.audit.
"""

from metrics.detection import audit
from metrics.detection.audit import *  # noqa: F401,F403

__all__: list[str] = []
__all__ += audit.__all__
