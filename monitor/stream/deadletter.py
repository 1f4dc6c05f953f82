"""The dead-letter record: the original bytes, where they came from, and why they were refused."""

from __future__ import annotations

import base64
import hashlib
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


def envelope(msg: Inbound, reason: str, detail: str, rejected_at: float) -> bytes:
    """JSON envelope for ``nms.deadletter``; the original value is kept base64-encoded (and as
    text when it is UTF-8), up to 256 KiB, with its SHA-256 so a truncated value stays traceable.
    """
    value = msg.value or b""
    kept = value[:MAX_KEPT_BYTES]
    text: str | None
    try:
        text = kept.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    record = {
        "reason": reason,
        "detail": detail,
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "key": msg.key.decode("utf-8", "replace") if msg.key is not None else None,
        "value_base64": base64.b64encode(kept).decode("ascii"),
        "value_text": text,
        "value_bytes": len(value),
        "value_sha256": hashlib.sha256(value).hexdigest(),
        "truncated": len(value) > MAX_KEPT_BYTES,
        "rejected_at": rejected_at,
    }
    return orjson.dumps(record)
