"""The dead-letter record: the original bytes, where they came from, and why they were refused."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

MAX_KEPT_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Inbound:
    """One consumed message, as the worker saw it."""

    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int


def envelope(
    msg: Inbound,
    reason: str,
    detail: str,
    rejected_at: float,
    extra: Mapping[str, object] | None = None,
) -> bytes:
    """JSON envelope for ``nms.deadletter``; the original value is kept base64-encoded (and as
    text when it is UTF-8), up to 256 KiB, with its SHA-256 so a truncated value stays traceable.
    ``extra`` adds fields (the forwarder: the receiver and its answer).
    """
    return _record(msg.value, msg.key, msg.topic, msg.partition, msg.offset, reason, detail,
                   rejected_at, extra)  # fmt: skip


def state_envelope(
    key: bytes, value: bytes, topic: str, partition: int, detail: str, rejected_at: float
) -> bytes:
    """The envelope of a stored patient state that cannot be read (reason ``state_unreadable``):
    ``topic`` and ``partition`` are the changelog's; its offset is not known to the table, so
    ``offset`` is null."""
    return _record(value, key, topic, partition, None, "state_unreadable", detail, rejected_at)


def _record(
    value: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int | None,
    reason: str,
    detail: str,
    rejected_at: float,
    extra: Mapping[str, object] | None = None,
) -> bytes:
    value = value or b""
    kept = value[:MAX_KEPT_BYTES]
    text: str | None
    try:
        text = kept.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    record = {
        "reason": reason,
        "detail": detail,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode("utf-8", "replace") if key is not None else None,
        # The exact key bytes, for keys that are not UTF-8.
        "key_base64": base64.b64encode(key).decode("ascii") if key is not None else None,
        "value_base64": base64.b64encode(kept).decode("ascii"),
        "value_text": text,
        "value_bytes": len(value),
        "value_sha256": hashlib.sha256(value).hexdigest(),
        "truncated": len(value) > MAX_KEPT_BYTES,
        "rejected_at": rejected_at,
    }
    if extra:
        record.update(extra)
    return orjson.dumps(record)
