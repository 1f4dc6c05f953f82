"""Is the worker working? What ``/healthz/live`` and ``/healthz/ready`` answer.

``/metrics`` answers as soon as its thread starts, before the worker has joined its group or
recovered its tables, and goes on answering when processing is stuck; probes on it say only that
the process exists. Here:

- **live**: the event loop turns (a heartbeat at least every ``stall_after_s``), and no batch,
  flush or tick has been in progress for longer than that. A worker with nothing to do is live;
  one whose batch waits forever on the broker, or whose loop is blocked, is not, and its
  supervisor should restart it.
- **ready**: live, has joined the consumer group (received an assignment, possibly empty), and
  is not rebalancing or recovering tables. A worker that is not ready is not yet serving its
  partitions; a rolling update should wait for it.

The event loop writes these fields and the HTTP server's thread reads them; each write is one
attribute or dict-item assignment, which the interpreter makes atomic.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Gauge


class Health:
    def __init__(self, stall_after_s: float, monotonic: Callable[[], float] = time.monotonic):
        self.stall_after_s = stall_after_s
        self.monotonic = monotonic
        self.started_at = monotonic()
        self.beat_at: float | None = None
        self.joined = False
        self.recovering = False
        self._busy: dict[int, tuple[str, float]] = {}  # token -> (what, since)
        self._tokens = itertools.count()

    def beat(self, *, joined: bool, recovering: bool) -> None:
        """The event loop's heartbeat, with the group and recovery state it sees."""
        self.beat_at = self.monotonic()
        self.joined = self.joined or joined
        self.recovering = recovering

    @contextmanager
    def working(self, what: str) -> Iterator[None]:
        """Mark a piece of work (batch, flush, tick) in progress for as long as it runs."""
        token = next(self._tokens)
        self._busy[token] = (what, self.monotonic())
        try:
            yield
        finally:
            del self._busy[token]

    def live(self) -> tuple[bool, str]:
        now = self.monotonic()
        last = self.beat_at if self.beat_at is not None else self.started_at
        if now - last > self.stall_after_s:
            return False, f"event loop silent for {now - last:.0f} s"
        for what, since in list(self._busy.values()):
            if now - since > self.stall_after_s:
                return False, f"{what} in progress for {now - since:.0f} s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        live, why = self.live()
        if not live:
            return False, why
        if not self.joined:
            return False, "not yet joined the consumer group"
        if self.recovering:
            return False, "rebalancing or recovering tables"
        return True, "ok"


def register_health(registry: CollectorRegistry, health: Health) -> None:
    """``nms_live`` and ``nms_ready`` on ``registry``: 1 when ``/healthz/live`` and
    ``/healthz/ready`` would answer 200, read at each scrape (for alert rules: ``up`` says only
    that ``/metrics`` answered)."""
    live = Gauge("nms_live", "1 when /healthz/live answers 200 (the process makes progress).",
                 registry=registry)  # fmt: skip
    live.set_function(lambda: float(health.live()[0]))
    ready = Gauge(
        "nms_ready",
        "1 when /healthz/ready answers 200 (joined its consumer group, recovered, working).",
        registry=registry,
    )
    ready.set_function(lambda: float(health.ready()[0]))
