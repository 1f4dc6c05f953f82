"""Engine exceptions.

``EventRejected``  an input the engine refuses (expected: dead-letter it and count it).
    reasons: ``too_late``, ``implausible_value``, ``displaced_probe``, ``unknown_alert``,
    ``invalid_snooze``, ``patient_mismatch``.
``InvariantError``  the engine broke one of its own rules: a bug, never swallowed quietly.
"""

from __future__ import annotations

from monitor.contracts.decode import Rejection


class EventRejected(ValueError):
    """The engine refused an event; the state is unchanged."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.rejection = Rejection(reason, detail)


class InvariantError(AssertionError):
    """An internal invariant failed; this is a bug in nms-monitor."""
