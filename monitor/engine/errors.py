"""The engine's exceptions (defined with every other one in :mod:`monitor.errors`).

``EventRejected``  an input the engine refuses (expected: dead-letter it and count it).
    reasons: ``too_late``, ``implausible_value``, ``displaced_probe``, ``unknown_alert``,
    ``invalid_snooze``.
``InvariantError``  the engine broke one of its own rules: a bug, never handled as bad input.
"""

from __future__ import annotations

from monitor.errors import EventRejected, InvariantError

__all__ = ["EventRejected", "InvariantError"]
