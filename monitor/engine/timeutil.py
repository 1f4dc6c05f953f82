"""Event-time helpers: epoch seconds inside the engine, aware UTC datetimes at its edges."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC


def to_epoch(value: dt.datetime) -> float:
    return value.timestamp()


def to_datetime(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, UTC)


def iso(epoch: float) -> str:
    return to_datetime(epoch).isoformat().replace("+00:00", "Z")
