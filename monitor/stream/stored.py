"""What the worker keeps per patient in its table: the engine state plus input offsets applied.

Value layout: ``{"topic/partition": last offset applied}`` as JSON, a newline, then the engine's
own state bytes (orjson output never contains a raw newline). The offsets make the worker an
idempotent consumer: after a crash, Kafka redelivers everything since the last committed offset,
and a message at or below the patient's high-water mark for its topic-partition was already
applied to the state restored from the changelog. Source-level duplicates (the same event_id
sent twice) are the engine's business; this catches redelivery exactly and costs a few bytes.

A stored value comes from outside this process (the changelog, a local store, another version
of the worker), so reading one may fail: :func:`load` turns every such failure into
:class:`UnreadableState`, which the worker dead-letters before starting the patient afresh.
"""

from __future__ import annotations

import orjson

from monitor.engine import PatientState, loads_state
from monitor.engine.serde import StateFormatError


class UnreadableState(ValueError):
    """A stored value this worker cannot use: corrupt bytes, an unknown format version, or a
    state that belongs to another patient. The message never contains the patient id."""


def pack(offsets: dict[str, int], state: bytes) -> bytes:
    return orjson.dumps(offsets, option=orjson.OPT_SORT_KEYS) + b"\n" + state


def unpack(value: bytes) -> tuple[dict[str, int], bytes]:
    """The offsets and the engine state's bytes; :class:`UnreadableState` if malformed."""
    head, newline, state = value.partition(b"\n")
    try:
        offsets = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise UnreadableState(f"offsets line is not JSON: {exc}") from None
    if not newline or not isinstance(offsets, dict) or not state:
        raise UnreadableState("not a stored patient value (an offsets object, then the state)")
    try:
        return {str(k): int(v) for k, v in offsets.items()}, state
    except (TypeError, ValueError):
        raise UnreadableState("offsets are not integers") from None


def load(pid: str, value: bytes) -> tuple[dict[str, int], PatientState]:
    """Unpack and parse patient ``pid``'s stored value; :class:`UnreadableState` if unusable."""
    offsets, state_bytes = unpack(value)
    try:
        state = loads_state(state_bytes)
    except StateFormatError as exc:
        raise UnreadableState(str(exc)) from None
    except Exception as exc:  # a known version with broken content: just as unusable
        raise UnreadableState(f"state does not parse: {type(exc).__name__}") from None
    if state.patient_id != pid:
        raise UnreadableState("the state is another patient's")
    return offsets, state


def tp_key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"
