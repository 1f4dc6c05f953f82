"""The order in which files are replayed, and which worker process a line belongs to.

Replay order is event time; events at the same instant are ordered by content, never by file
position, so that splitting or shuffling the input cannot change the output: demographics and
orders before results, acknowledgements last (they refer to the alert the rest produces), then
by ``event_id``, then by the line's bytes (two different lines with the same time, kind and id).
Only identical lines are left, and among them the first in file order is replayed first (the
rest are duplicates, or refused with their own ``FILE:LINE``).

A record is ``(time, kind rank, event_id, line, file, chunk, line number)``: a tuple that sorts
in that order. ``--order file`` (``evaluate`` only) keys records by position instead.

Lines are assigned to worker processes by patient (a CRC-32 of the ``patient_id``), so each
patient's events meet its state in one process.
"""

from __future__ import annotations

import datetime as dt
import zlib

import orjson

from monitor.contracts.events import Event

KIND_ORDER = {"patient": 0, "medication": 1, "lab": 2, "assessment": 3, "vital": 4, "ack": 5}
OrderKey = tuple[float, int, str]
# (time, kind rank, event_id, line, file index, chunk index, line number in the chunk)
Record = tuple[float, int, str, bytes, int, int, int]
# (file index, chunk index, line number in the chunk): where a line came from
Where = tuple[int, int, int]


def order_key(line: bytes) -> tuple[OrderKey, object] | None:
    """(event time, kind rank, event id) of a line, cheaply, and its ``patient_id`` as the line
    gives it; None when the line needs validation to tell."""
    try:
        obj = orjson.loads(line)
        when = dt.datetime.fromisoformat(obj["time"])
        key = (when.timestamp(), KIND_ORDER[obj["kind"]], str(obj["event_id"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return key, obj.get("patient_id")


def event_key(event: Event) -> OrderKey:
    """The order key of a decoded event (for lines the cheap path could not key)."""
    return (event.time.timestamp(), KIND_ORDER[event.kind], event.event_id)


def partition(patient_id: object, parts: int) -> int:
    """The worker process of a patient. A line whose ``patient_id`` is not a string cannot
    decode (the contract needs a string) and may go anywhere: worker 0."""
    if parts == 1 or not isinstance(patient_id, str):
        return 0
    return zlib.crc32(patient_id.encode("utf-8", "surrogatepass")) % parts


__all__ = [
    "KIND_ORDER",
    "OrderKey",
    "Record",
    "Where",
    "event_key",
    "order_key",
    "partition",
]
