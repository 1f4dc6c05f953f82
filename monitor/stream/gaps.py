"""Input offsets a worker never received: the alarm for silently skipped input.

Within one assignment a partition's messages reach the agent in offset order, one after the
other; a seek back to the committed offset (after a rebalance) replays some of them, which the
stored offsets skip (:mod:`monitor.stream.stored`). A jump forward over offsets that were never
delivered means input this worker will not apply until the next restart replays it. That is how
faust-streaming's recovery race lost readings (see :mod:`monitor.stream.flow`); this makes any
such loss visible as a counter and a warning instead of a wrong alert.

Offsets that hold no message are jumped over too: transaction markers, and records removed by
compaction. Input topics written without transactions and never compacted have neither, so
there any gap is lost input. The first message of each partition after an assignment sets the
baseline, so a loss before it is not seen here.
"""

from __future__ import annotations


class OffsetGaps:
    def __init__(self) -> None:
        self.last: dict[tuple[str, int], int] = {}

    def reset(self) -> None:
        """Forget every partition's position (at a rebalance: a new baseline follows)."""
        self.last.clear()

    def see(self, topic: str, partition: int, offset: int) -> int:
        """Note a delivered message; returns how many offsets before it were never delivered."""
        key = (topic, partition)
        previous = self.last.get(key)
        self.last[key] = offset  # a step back (a replay after a seek) starts a new run
        if previous is None or offset <= previous + 1:
            return 0
        return offset - previous - 1
