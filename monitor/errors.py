"""Every exception nms-monitor raises on purpose, in one tree.

::

    NmsError                      the root: anything nms-monitor raises by design
    ├── InputError (ValueError)   something it was given is wrong: expected, reported, counted
    │   ├── DecodeError           bytes that are not a valid event (a Rejection with the reason)
    │   ├── EventRejected         a valid event the engine refuses; the patient state is unchanged
    │   ├── ImplausibleValue      a value outside physiological limits, inside ingest only
    │   │                         (monitor.knowledge.units; the engine turns it into EventRejected)
    │   ├── StateFormatError      stored state bytes this version cannot read
    │   ├── CatalogueError        a drug catalogue file that cannot be used
    │   ├── TruthError            a ground-truth file that cannot be used (evaluate)
    │   └── CaseError             a published-case file that cannot be used (evaluate --cases)
    └── InternalError             nms-monitor broke one of its own rules: a bug
        └── InvariantError        an engine invariant failed (e.g. an event given to the state of
                                  another patient)

Policy (docs/architecture.md, "Errors"): an ``InputError`` about one event is that event's
outcome: it is reported (standard error, a dead letter), counted, and processing goes on. Other
input errors stop a command at its start with exit status 2 and the reason. An ``InternalError``
is never handled as bad input: the offline commands (``replay``, ``evaluate``) stop at once and
exit with status 3 and a message saying it is a bug; nothing catches it per event.

The streaming worker (``monitor/stream``) still has exceptions of its own; they will move under
this root later. Its batch loop dead-letters any exception from the engine as ``engine_error``
and rolls the patient back, which includes an ``InternalError`` (logged as an error).

Every exception here pickles with its own arguments, so one raised in a worker process of
``--jobs N`` reaches the parent as itself.
"""

from __future__ import annotations

from typing import NamedTuple


class Rejection(NamedTuple):
    """Why an input was refused: a stable reason code and a human-readable detail."""

    reason: str
    detail: str


class NmsError(Exception):
    """The root of every exception nms-monitor raises on purpose."""


class InputError(NmsError, ValueError):
    """Something nms-monitor was given is wrong (an event, a file, a setting): expected."""


class DecodeError(InputError):
    """The input is not a valid event; carries a :class:`Rejection`."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(f"{rejection.reason}: {rejection.detail}")
        self.rejection = rejection

    def __reduce__(self) -> tuple[type[DecodeError], tuple[Rejection]]:
        return (type(self), (self.rejection,))


class EventRejected(InputError):
    """The engine refused an event; the state is unchanged.

    Reasons: ``too_late``, ``implausible_value``, ``displaced_probe``, ``unknown_alert``,
    ``invalid_snooze``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.rejection = Rejection(reason, detail)

    def __reduce__(self) -> tuple[type[EventRejected], tuple[str, str]]:
        return (type(self), (self.rejection.reason, self.rejection.detail))


class StateFormatError(InputError):
    """Bytes that are not a state this version can read."""


class CatalogueError(InputError):
    """A catalogue file that cannot be used; the message names the file and the entry."""


class TruthError(InputError):
    """The ground-truth file is unusable; the message says where and why."""


class CaseError(InputError):
    """A case file that cannot be used; the message names the file and the field."""


class InternalError(NmsError):
    """nms-monitor broke one of its own rules: a bug, never treated as bad input."""


class InvariantError(InternalError, AssertionError):
    """An internal invariant failed; this is a bug in nms-monitor."""
