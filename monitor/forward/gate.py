"""One receiver's state as its deliveries see it: working, or failing and backing off.

While a receiver fails, its deliveries wait; after the backoff one of them (the probe) tries
again while the others go on waiting, so a receiver coming back is not hit by every queued
delivery at once, and a 429 slows every delivery to that receiver (PagerDuty limits events per
routing key). A success lets them all go. Deliveries already in flight when the failure began
fail too, but only the first failure and the probes' failures lengthen the backoff.

Logs a WARNING when a receiver starts failing, at most every ``log_every_s`` while it goes on
failing, and when it accepts again: the receiver's name and the reason, never its URL or key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from monitor.forward.outcome import Answer, backoff_s, failure_reason

log = logging.getLogger(__name__)


class Gate:
    def __init__(
        self,
        receiver: str,
        initial_s: float,
        max_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        log_every_s: float = 30.0,
    ) -> None:
        self.receiver = receiver
        self.initial_s = initial_s
        self.max_s = max_s
        self.monotonic = monotonic
        self.jitter = jitter
        self.log_every_s = log_every_s
        self.failures = 0  # consecutive failed attempts that counted
        self.reopen_at = 0.0
        self.probing = False
        self.failing_since = 0.0
        self.logged_at = 0.0
        self._changed = asyncio.Event()

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, timeout: float | None) -> None:
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)

    async def enter(self) -> bool:
        """Wait for this delivery's turn; True when it is the probe of a failing receiver."""
        while self.failures:
            now = self.monotonic()
            if self.probing:
                await self._wait(None)
            elif now < self.reopen_at:
                await self._wait(self.reopen_at - now)
            else:
                self.probing = True
                return True
        return False

    def release(self, probe: bool) -> None:
        """The attempt ended without an answer that says anything (it was cancelled)."""
        if probe:
            self.probing = False
            self._pulse()

    def succeeded(self, probe: bool) -> None:
        """The receiver answered (2xx, or a refusal: it is up)."""
        if self.failures:
            log.warning(
                "receiver %s accepts again, after %d failed attempt(s) over %.0f s",
                self.receiver, self.failures, self.monotonic() - self.failing_since,
            )  # fmt: skip
            self.failures = 0
        self.probing = False
        self._pulse()

    def failed(self, answer: Answer, probe: bool) -> float:
        """A retryable failure; returns the wait before the receiver is tried again."""
        now = self.monotonic()
        if self.failures and not probe:
            return max(0.0, self.reopen_at - now)  # in flight before the failure was known
        first = self.failures == 0
        self.failures += 1
        wait = backoff_s(self.failures, self.initial_s, self.max_s, self.jitter())
        if answer.retry_after_s is not None:
            wait = max(wait, answer.retry_after_s)
        self.reopen_at = now + wait
        self.probing = False
        if first:
            self.failing_since = now
        if first or now - self.logged_at >= self.log_every_s:
            self.logged_at = now
            log.warning(
                "receiver %s %s (%s); next attempt in %.1f s, its deliveries wait",
                self.receiver,
                "failing" if first else f"still failing after {self.failures} attempts over "
                f"{now - self.failing_since:.0f} s",
                _why(answer), wait,
            )  # fmt: skip
        self._pulse()
        return wait


def _why(answer: Answer) -> str:
    if answer.status is not None:
        return f"HTTP {answer.status}"
    return answer.error or failure_reason(answer)
