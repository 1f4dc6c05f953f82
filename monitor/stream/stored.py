"""What the worker keeps per patient in its table: the engine state plus input offsets applied.

Value layout: ``{"topic/partition": last offset applied}`` as JSON, a newline, then the engine's
own state bytes (orjson output never contains a raw newline). The offsets make the worker an
idempotent consumer: after a crash, Kafka redelivers everything since the last committed offset,
and a message at or below the patient's high-water mark for its topic-partition was already
applied to the state restored from the changelog. Source-level duplicates (the same event_id
sent twice) are the engine's business; this catches redelivery exactly and costs a few bytes.
"""

from __future__ import annotations

import orjson


def pack(offsets: dict[str, int], state: bytes) -> bytes:
    return orjson.dumps(offsets, option=orjson.OPT_SORT_KEYS) + b"\n" + state


def unpack(value: bytes) -> tuple[dict[str, int], bytes]:
    head, _, state = value.partition(b"\n")
    offsets = orjson.loads(head)
    if not isinstance(offsets, dict) or not state:
        raise ValueError("not a stored patient value")
    return {str(k): int(v) for k, v in offsets.items()}, state


def tp_key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"
