"""External sorting: sorted runs spilled to files, merged back k ways.

A run is a file of pickled blocks of records (tuples), in order. Reading a run holds one block
in memory, so a merge of k runs holds k blocks whatever the runs' length; more than
``FAN_IN`` runs are first merged in groups into longer runs (each pass reads and writes every
record once more), so memory stays bounded whatever the input's size. Records are compared as
tuples; the caller makes them totally ordered (see ``monitor.offline.order``).
"""

from __future__ import annotations

import heapq
import os
import pickle
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

BLOCK = 1024  # records per pickled block: the unit of reading
FAN_IN = 64  # runs merged at once


class RunWriter:
    """Append records (already in order) to a run file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0
        self._fh: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._block: list[Any] = []

    def add(self, record: Any) -> None:
        self._block.append(record)
        if len(self._block) >= BLOCK:
            self._flush()

    def extend(self, records: Iterable[Any]) -> None:
        for record in records:
            self.add(record)

    def _flush(self) -> None:
        if self._block:
            pickle.dump(self._block, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
            self.count += len(self._block)
            self._block = []

    def close(self) -> str:
        self._flush()
        self._fh.close()
        return self.path


def write_run(records: list[Any], path: str) -> str:
    """Write sorted ``records`` as one run; returns its path."""
    with open(path, "wb") as fh:
        for i in range(0, len(records), BLOCK):
            pickle.dump(records[i : i + BLOCK], fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def read_run(path: str) -> Iterator[Any]:
    """The records of a run, one block in memory at a time."""
    with open(path, "rb") as fh:
        while True:
            try:
                block = pickle.load(fh)
            except EOFError:
                return
            yield from block


def merge_runs(paths: list[str], tmpdir: str, fan_in: int = FAN_IN) -> Iterator[Any]:
    """Every record of the runs, in order. Runs are removed once merged into longer ones;
    the caller's temporary directory removes the rest."""
    level = 0
    while len(paths) > fan_in:
        merged: list[str] = []
        for i in range(0, len(paths), fan_in):
            group = paths[i : i + fan_in]
            out = RunWriter(os.path.join(tmpdir, f"merge-{level}-{len(merged)}-{os.getpid()}"))
            out.extend(heapq.merge(*(read_run(p) for p in group)))
            merged.append(out.close())
            for p in group:
                os.remove(p)
        paths = merged
        level += 1
    return heapq.merge(*(read_run(p) for p in paths))
