"""Time for the shell: the clocks it reads (injected, so tests set them) and stream time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Clocks:
    """Every clock the shell reads, and its sleep. Tests pass fakes; the worker the real ones."""

    wall: Callable[[], float] = time.time  # seconds since the epoch (stream time, lag, envelopes)
    perf: Callable[[], float] = time.perf_counter  # durations (flush time, tick slices)
    monotonic: Callable[[], float] = time.monotonic  # health: progress and staleness
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


@dataclass
class StreamClock:
    """The latest event time this worker has seen, and the wall time when it saw it."""

    max_event_time: float = 0.0
    max_event_seen_at: float = 0.0

    def saw(self, event_time: float, wall: float) -> None:
        """Note the latest event time of a batch processed at wall time ``wall``."""
        if event_time > self.max_event_time:
            self.max_event_time = event_time
            self.max_event_seen_at = wall

    def now(self, wall: float) -> float:
        """Event time now: the latest event time seen, advanced by the wall time since then.

        Equals the wall clock for a live feed; for a replayed historical feed it moves forward at
        real speed from the data, so ticks do not leap months ahead of the patients' events.
        0.0 until an event has been seen.
        """
        if self.max_event_seen_at == 0.0:
            return 0.0
        return self.max_event_time + (wall - self.max_event_seen_at)
