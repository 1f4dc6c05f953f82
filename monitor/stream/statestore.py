"""Patient states on their way to the Faust table: the newest per patient, written in bulk.

Every table write is one changelog record: one send through Faust's producer and, on the embedded
broker, one produce request (one record per batch: the embedded broker's defect 3 in
docs/operations.md). Written once per patient per batch, that was about 0.25 records per input
event and a quarter of the worker's CPU. Here a patient's newest state waits in memory and
reaches the table and its changelog when the worker flushes: just before Faust commits input
offsets, and at least every commit interval.

At-least-once still holds. Faust commits only offsets of acknowledged messages; a message is
acknowledged after its batch has put the patient's state here; the commit first writes everything
here to the table and waits for the broker. So the changelog always holds the effect of every
committed message, and a crash replays only uncommitted ones, which the stored offsets
(:mod:`monitor.stream.stored`) skip exactly. A state whose partition this worker no longer owns
is never written (the new owner replays from the last commit), and that flush vetoes its commit.

Each flush ends with an end marker in every changelog partition it wrote: one record, sent after
the broker acknowledged the states, so it is a batch of its own. The embedded broker reports a
partition's end as (first offset of the last batch + 1) (defect 3), so table recovery
stops before the end of a multi-record last batch; with the marker last, the reported end is
right and the states can travel in large producer batches. Marker keys are not UTF-8 (they start
with 0xFF), so they can never be a patient's key, and :meth:`StateStore.keys` leaves them out.

Faust-free: the table is any mutable mapping, so this is tested with a dict.
"""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from typing import Any

from aiokafka.partitioner import murmur2

MARKER_PREFIX = b"\xffnms-end-marker/"


def partition_of(key: bytes, partitions: int) -> int:
    """The partition a key lands on with the Java/aiokafka default (murmur2) partitioner."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def marker_keys(partitions: int) -> dict[int, bytes]:
    """One end-marker key per partition (the first of a fixed sequence that lands there)."""
    found: dict[int, bytes] = {}
    i = 0
    while len(found) < partitions:  # murmur2 spreads these; a few times ``partitions`` suffice
        key = MARKER_PREFIX + str(i).encode()
        found.setdefault(partition_of(key, partitions), key)
        i += 1
    return found


class StateStore:
    def __init__(self, table: MutableMapping[bytes, Any], partitions: int) -> None:
        self.table = table
        self.partitions = partitions
        # key -> newest value where it differs from (or is not yet in) the table; None = deleted.
        # A flush takes the dirty keys' values and writes them a chunk at a time, awaiting the
        # broker in between; reads in the meantime must still see them, so they stay here
        # until written.
        self.latest: dict[bytes, bytes | None] = {}
        self.dirty: set[bytes] = set()  # keys whose latest value must reach the table
        self.markers = marker_keys(partitions)
        self.flushes = 0
        self.generation = 0  # advanced by every forget: a value computed before it is stale

    def get(self, key: bytes) -> bytes | None:
        if key in self.latest:
            return self.latest[key]
        value = self.table.get(key)
        return bytes(value) if value is not None else None

    def put(self, key: bytes, value: bytes | None, durable: bool = True) -> None:
        """Save a patient's newest value; ``durable=False`` keeps it readable without writing it.

        A non-durable value is one whose loss after a crash is harmless (the tick's advance of
        the evaluation clock alone: the next owner evaluates again when it ticks). It reaches
        the table only with the next durable change. A deletion is always durable.
        """
        self.latest[key] = value
        if durable or value is None:
            self.dirty.add(key)

    def keys(self, partitions: Collection[int]) -> list[bytes]:
        """Every stored patient key in these partitions, written or not, minus deletions."""
        keys = set(self.table.keys())
        keys.update(self.latest)
        return [
            k
            for k in keys
            if self.latest.get(k, b"") is not None
            and not k.startswith(MARKER_PREFIX)
            and partition_of(k, self.partitions) in partitions
        ]

    def take(self) -> dict[bytes, bytes | None]:
        """The dirty keys' values, leaving none dirty; the caller writes them (:meth:`write`)."""
        snapshot = {k: self.latest[k] for k in self.dirty}
        self.dirty = set()
        return snapshot

    def forget(self) -> int:
        """Drop everything not yet written (at a rebalance); returns how many were dirty."""
        dropped = len(self.dirty)
        self.generation += 1
        self.latest.clear()
        self.dirty.clear()
        return dropped

    @staticmethod
    def chunks(
        snapshot: dict[bytes, bytes | None], max_bytes: int
    ) -> list[dict[bytes, bytes | None]]:
        """Split a snapshot into parts of at most ``max_bytes`` (at least one entry each)."""
        parts: list[dict[bytes, bytes | None]] = []
        part: dict[bytes, bytes | None] = {}
        size = 0
        for key, value in snapshot.items():
            n = len(key) + (len(value) if value is not None else 0)
            if part and size + n > max_bytes:
                parts.append(part)
                part, size = {}, 0
            part[key] = value
            size += n
        if part:
            parts.append(part)
        return parts

    def write(
        self, snapshot: dict[bytes, bytes | None], owned: Collection[int]
    ) -> tuple[int, int, set[int]]:
        """Write a taken snapshot to the table; keys outside ``owned`` partitions are dropped.

        Returns (written, dropped, the partitions written).
        """
        written = dropped = 0
        touched: set[int] = set()
        for key, value in snapshot.items():
            partition = partition_of(key, self.partitions)
            if partition not in owned:
                dropped += 1
                continue
            touched.add(partition)
            if value is None:
                if key in self.table:
                    del self.table[key]
            else:
                self.table[key] = value
            written += 1
            if key not in self.dirty and self.latest.get(key, b"") is value:
                del self.latest[key]  # the table has it now (unless put again meanwhile)
        return written, dropped, touched

    def write_markers(self, partitions: Collection[int]) -> int:
        """End markers for these partitions; send only once the states before them are acked."""
        self.flushes += 1
        value = str(self.flushes).encode()
        for p in partitions:
            self.table[self.markers[p]] = value
        return len(partitions)
