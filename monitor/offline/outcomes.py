"""The one path of a line through the engine: decode, step the patient's state, or a reason.

``replay``, ``evaluate`` and ``benchmarks/engine.py`` consume :func:`outcomes`; nothing else
decodes lines for the engine offline. Per event, only the two expected refusals are handled:
:class:`~monitor.errors.DecodeError` (the line is not a valid event) and
:class:`~monitor.errors.EventRejected` (the engine refused it; the state is unchanged). Anything
else, an :class:`~monitor.errors.InternalError` above all, propagates and stops the command
(docs/architecture.md, "Errors").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from monitor.contracts.decode import decode_event
from monitor.contracts.events import Event
from monitor.engine.core import StepResult
from monitor.engine.ward import Ward
from monitor.errors import DecodeError, EventRejected, Rejection


class Outcome(NamedTuple):
    """What became of one line: refused with a reason (``event`` set when the engine refused a
    valid event), or stepped (``result``: the transitions, duplicate, unrecognised drug). A
    named tuple: one is built per line."""

    record: tuple[object, ...]  # the line's record (its order key and where it came from)
    event: Event | None
    result: StepResult | None
    rejection: Rejection | None


def outcomes(records: Iterable[tuple[object, ...]], ward: Ward, line: int = 3) -> Iterator[Outcome]:
    """The outcome of each record's line (``record[line]``), in the records' order."""
    process = ward.process
    for record in records:
        raw = record[line]
        assert isinstance(raw, bytes)
        try:
            event = decode_event(raw)
        except DecodeError as exc:
            yield Outcome(record, None, None, exc.rejection)
            continue
        try:
            result = process(event)
        except EventRejected as exc:
            yield Outcome(record, event, None, exc.rejection)
            continue
        yield Outcome(record, event, result, None)
