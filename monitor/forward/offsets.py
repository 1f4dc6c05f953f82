"""Which offsets may be committed: those of transitions settled without a gap (pure).

A transition is settled when every receiver it routes to has accepted it (or refused it and the
refusal is on the dead-letter topic). Deliveries to different alerts finish in any order, but a
partition's committed offset may only move past a transition once it and every transition before
it in that partition are settled: a restart then resumes at the first one that is not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

TP = tuple[str, int]


class _Partition:
    __slots__ = ("pending", "position", "settled")

    def __init__(self, position: int) -> None:
        self.position = position  # the offset a restart would resume at
        self.pending: deque[int] = deque()  # offsets read, in order, not yet committable
        self.settled: set[int] = set()


class Offsets:
    def __init__(self) -> None:
        self._parts: dict[TP, _Partition] = {}
        self.pending = 0  # transitions read and not yet settled, over all partitions

    def start(self, tp: TP, position: int) -> None:
        """Track ``tp`` from ``position`` (its committed offset, or where reading starts)."""
        self.forget([tp])
        self._parts[tp] = _Partition(position)

    def forget(self, tps: Iterable[TP]) -> None:
        """Stop tracking (the partitions were revoked); their unsettled transitions are dropped."""
        for tp in tps:
            part = self._parts.pop(tp, None)
            if part is not None:
                self.pending -= len(part.pending) - len(part.settled)

    def read(self, tp: TP, offset: int) -> None:
        """A transition was read; offsets within a partition only grow."""
        part = self._parts[tp]
        if part.pending and offset <= part.pending[-1]:
            raise ValueError(f"offset {offset} of {tp} read after {part.pending[-1]}")
        part.pending.append(offset)
        self.pending += 1

    def settle(self, tp: TP, offset: int) -> None:
        part = self._parts.get(tp)
        if part is None:
            return  # revoked meanwhile: the next owner delivers it again
        part.settled.add(offset)
        self.pending -= 1
        while part.pending and part.pending[0] in part.settled:
            done = part.pending.popleft()
            part.settled.discard(done)
            part.position = done + 1

    def position(self, tp: TP) -> int | None:
        """The offset to commit for ``tp``: everything before it is settled."""
        part = self._parts.get(tp)
        return None if part is None else part.position

    def positions(self) -> dict[TP, int]:
        return {tp: p.position for tp, p in self._parts.items()}

    def partitions(self) -> list[TP]:
        return list(self._parts)
