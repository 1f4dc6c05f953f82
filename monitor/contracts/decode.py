"""Decoding raw bytes into events, with machine-readable rejection reasons.

Reasons (stable strings, used as dead-letter reasons and metric label values):
``invalid_json``, ``not_an_object``, ``unknown_kind``, ``missing_field``, ``naive_timestamp``,
``invalid_field``, ``too_large``. The engine adds its own (:class:`monitor.errors.EventRejected`).
"""

from __future__ import annotations

from pydantic import ValidationError

from monitor.contracts.events import EVENT_ADAPTER, EVENT_KINDS, Event
from monitor.errors import DecodeError, Rejection

__all__ = ["MAX_EVENT_BYTES", "DecodeError", "Rejection", "decode_event"]

MAX_EVENT_BYTES = 64 * 1024


def _loc(loc: tuple[int | str, ...]) -> str:
    # Drop the discriminator tag pydantic inserts ("vital", "lab", ...) from the path.
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in EVENT_KINDS)]
    return ".".join(parts) or "event"


def rejection_from_validation(exc: ValidationError) -> Rejection:
    """Map a pydantic error to one reason code plus a message naming every bad field."""
    errors = exc.errors(include_url=False)
    reason = "invalid_field"
    messages: list[str] = []
    for err in errors:
        etype = err["type"]
        where = _loc(err["loc"])
        if etype == "union_tag_invalid":
            reason = "unknown_kind"
            tag = err.get("input", {})
            kind = tag.get("kind") if isinstance(tag, dict) else None
            messages.append(f"kind {kind!r} is not one of {', '.join(EVENT_KINDS)}")
            continue
        if etype == "union_tag_not_found":
            reason = "missing_field"
            messages.append("kind: field required")
            continue
        if etype == "timezone_aware":
            reason = "naive_timestamp" if reason == "invalid_field" else reason
            messages.append(
                f"{where}: timestamp needs a UTC offset (naive timestamps are rejected)"
            )
            continue
        if etype == "missing" and reason == "invalid_field":
            reason = "missing_field"
        if not err["loc"]:
            reason = "not_an_object"
        msg = err["msg"].removeprefix("Value error, ")
        messages.append(msg if where == "event" else f"{where}: {msg}")
    return Rejection(reason, "; ".join(messages))


def decode_event(raw: bytes | str) -> Event:
    """Parse and validate one JSON event; raise :class:`DecodeError` with the reason."""
    if len(raw) > MAX_EVENT_BYTES:
        raise DecodeError(Rejection("too_large", f"{len(raw)} bytes > {MAX_EVENT_BYTES}"))
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
            msg = exc.errors(include_url=False)[0]["msg"]
            raise DecodeError(Rejection("invalid_json", msg)) from None
        raise DecodeError(rejection_from_validation(exc)) from None
