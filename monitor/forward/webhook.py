"""The generic webhook: the transition JSON as published on ``nms.alerts``, HMAC-signed, pure.

The body is the record's bytes unchanged (the full transition, patient identifier and evidence
included: point a webhook only at a system allowed to hold them). Headers:

- ``X-NMS-Signature-256: sha256=<hex>``: HMAC-SHA256 with the receiver's secret over
  ``<timestamp>.<body>`` (the timestamp binds the signature to the time of sending, so a
  receiver can refuse old replays);
- ``X-NMS-Timestamp``: that timestamp (Unix seconds);
- ``X-NMS-Transition-Id`` and ``Idempotency-Key``: the ``transition_id`` (a redelivery carries
  the same one);
- ``X-NMS-Delivery``: ``notify``, or ``withdraw`` when the alert's new priority is no longer
  routed to this receiver.
"""

from __future__ import annotations

import hashlib
import hmac

from monitor.forward.head import Transition
from monitor.forward.routing import Action

SIGNATURE_HEADER = "X-NMS-Signature-256"
TIMESTAMP_HEADER = "X-NMS-Timestamp"


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: bytes, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does (constant-time comparison)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def headers(
    alert: Transition, action: Action, body: bytes, secret: bytes, now: float
) -> dict[str, str]:
    timestamp = int(now)
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        "X-NMS-Transition-Id": alert.transition_id,
        "Idempotency-Key": alert.transition_id,
        "X-NMS-Delivery": action,
    }
