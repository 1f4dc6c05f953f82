"""What an answer means, and how long to wait before the next attempt (pure).

- 2xx: delivered.
- 429 (too many requests), 408 (request timeout), 5xx, and no answer at all (connection refused
  or reset, timeout): retried, for as long as it takes, with exponential backoff and jitter; a
  ``Retry-After`` of the answer is honoured when longer. PagerDuty's Events API asks for exactly
  this (retry 429, 5xx and network errors; not 400).
- Anything else (other 4xx, and 3xx: redirects are not followed, a moved receiver is a
  configuration error): refused; the transition goes to the dead-letter topic with the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["delivered", "retry", "refused"]
RETRY_AFTER_CAP_S = 3600.0


@dataclass(frozen=True, slots=True)
class Answer:
    """What a receiver answered; ``status`` None when it did not (``error`` says why)."""

    status: int | None
    body: bytes = b""
    retry_after_s: float | None = None
    error: str | None = None  # "timeout" or "network"


def verdict(answer: Answer) -> Verdict:
    status = answer.status
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 429) or status >= 500:
        return "retry"
    return "refused"


def failure_reason(answer: Answer) -> str:
    """A bounded label for a failed attempt: http_429, http_408, http_5xx, timeout, network."""
    if answer.status is None:
        return answer.error or "network"
    if answer.status >= 500:
        return "http_5xx"
    return f"http_{answer.status}"


def backoff_s(failures: int, initial_s: float, max_s: float, jitter: float) -> float:
    """The wait after ``failures`` consecutive failures (1, 2, ...): ``initial * 2**(n-1)``
    capped at ``max``, then "equal jitter" (half fixed, half random: ``jitter`` in [0, 1)), so
    many forwarders do not retry in step and the wait still grows."""
    base = min(max_s, initial_s * 2.0 ** min(failures - 1, 62))
    return base / 2 + base / 2 * jitter


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the delta form; an HTTP date is ignored), capped at 1 h."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds < 0:
        return None
    return min(seconds, RETRY_AFTER_CAP_S)
