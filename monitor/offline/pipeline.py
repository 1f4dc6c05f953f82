"""The two steps of an offline run, as functions a worker process (or the main one) calls.

1. :func:`sort_chunk`: read one chunk of input, key every line (event-time order, or position for
   ``--order file``), give it to the partition of its patient, and spill each partition's lines
   as sorted runs once ``run_lines`` are held. Lines that cannot be keyed because they are not
   events are refused here, in file order, as ``replay`` always did before replaying.
2. :class:`Partition`: merge a partition's runs, take each line through the engine
   (:func:`monitor.offline.outcomes.outcomes`) into a sink, then tick every patient to the end
   of the input. The time to tick to is the last event time of the input in event order (known
   after step 1); in file order it is the latest patient clock, known only once every partition
   has run, so the tick is a separate call.

A sink (replay's printer, evaluate's collector) is built inside the process that runs the
partition from a picklable :class:`SinkSpec`, and its :meth:`Sink.finish` result goes back to
the caller.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.contracts.alerts import Alert
from monitor.contracts.decode import decode_event
from monitor.errors import DecodeError, Rejection
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.offline.order import event_key, order_key, partition
from monitor.offline.outcomes import Outcome, outcomes
from monitor.offline.runs import merge_runs, read_run, write_run
from monitor.offline.sources import Chunk, Reading, chunk_lines
from monitor.offline.states import SpillingWard

Run = str | list[tuple[Any, ...]]  # a run file, or (one small input, in one process) its records
# Refused lines of a chunk held in memory until the caller reports them; more go to a file
# (an input of nothing but bad lines must not fill the memory either).
MAX_REFUSED_HELD = 10_000


@dataclass(frozen=True, slots=True)
class ChunkResult:
    chunk: Chunk
    lines: int  # physical lines of the chunk (blank ones included)
    keyed: int  # lines given to the engine (non-blank, keyed)
    runs: list[list[Run]]  # per partition, sorted runs
    refused: Run  # (line number in the chunk, why), in file order; a file when there are many
    n_refused: int
    last_time: float | None  # the latest event time keyed

    def refusals(self) -> Iterator[tuple[int, Rejection]]:
        return read_run(self.refused) if isinstance(self.refused, str) else iter(self.refused)


def sort_chunk(
    chunk: Chunk,
    parts: int,
    by_position: bool,
    tmpdir: str,
    run_lines: int,
    in_memory: bool = False,
    reading: Reading | None = None,
) -> ChunkResult:
    """Step 1 for one chunk. ``in_memory``: a chunk that fits in one run keeps its records
    instead of writing them (one process, one small input)."""
    reading = reading if reading is not None else Reading()
    buffers: list[list[tuple[Any, ...]]] = [[] for _ in range(parts)]
    runs: list[list[Run]] = [[] for _ in range(parts)]
    refused: list[tuple[int, Rejection]] = []
    held = keyed = 0
    last: float | None = None
    f, c = chunk.file, chunk.index
    stem = os.path.join(tmpdir, f"run-{f}-{c}")

    def spill(keep: bool) -> None:
        for p, buf in enumerate(buffers):
            if buf:
                buf.sort()
                runs[p].append(buf if keep else write_run(buf, f"{stem}-{p}-{len(runs[p])}"))
                buffers[p] = []

    for lineno, line in chunk_lines(chunk, reading):
        if by_position:
            found = order_key(line)
            patient = found[1] if found is not None else _patient_of(line)
            record: tuple[Any, ...] = (f, c, lineno, line)
        else:
            found = order_key(line)
            if found is None:
                try:
                    event = decode_event(line)
                except DecodeError as exc:
                    refused.append((lineno, exc.rejection))
                    continue
                found = (event_key(event), event.patient_id)
            key, patient = found
            record = (*key, line, f, c, lineno)
            last = key[0] if last is None or key[0] > last else last
        buffers[partition(patient, parts)].append(record)
        keyed += 1
        held += 1
        if held >= run_lines:
            spill(keep=False)
            held = 0
    spill(keep=in_memory and not any(runs))
    n_refused = len(refused)
    kept: Run = refused if n_refused <= MAX_REFUSED_HELD else write_run(refused, f"{stem}-refused")
    return ChunkResult(chunk, reading.lines, keyed, runs, kept, n_refused, last)


def _patient_of(line: bytes) -> object:
    """The patient of a line that has no order key (file order sends every line on)."""
    try:
        return decode_event(line).patient_id
    except DecodeError:
        return None


class Sink(Protocol):
    """Where a partition's outcomes go (built in the process that runs the partition)."""

    def outcome(self, o: Outcome) -> None: ...

    def ticked(self, patient_id: str, alerts: list[Alert]) -> None: ...

    def finish(self, ward: SpillingWard) -> Any: ...


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """A picklable recipe for a sink: ``factory(context, *args)``."""

    factory: Callable[..., Sink]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    """What a partition needs to know about the whole run."""

    part: int
    parts: int
    cfg: ClinicalSettings
    by_position: bool
    names: list[str]  # input names, for FILE:LINE
    offsets: dict[tuple[int, int], int]  # (file, chunk) -> lines of the file before the chunk
    tmpdir: str
    max_states: int
    direct: bool  # one process: a sink may write its output as it goes

    def where(self, record: tuple[Any, ...]) -> tuple[str, int]:
        """(input name, line number) of a record."""
        f, c, lineno = record[:3] if self.by_position else record[4:7]
        return self.names[f], self.offsets[f, c] + lineno


@dataclass(slots=True)
class Partition:
    """Step 2 for one partition: :meth:`process`, then :meth:`finish` with the tick time."""

    context: Context
    runs: list[Run]
    spec: SinkSpec
    on_progress: Callable[[int], None] | None = None  # hears of the events done so far
    ward: SpillingWard = field(init=False)
    sink: Sink = field(init=False)

    def __post_init__(self) -> None:
        ctx = self.context
        self.ward = SpillingWard(ctx.cfg, ctx.tmpdir, ctx.max_states)
        self.sink = self.spec.factory(ctx, *self.spec.args)

    def records(self) -> Iterator[tuple[Any, ...]]:
        files = [r for r in self.runs if isinstance(r, str)]
        lists = [iter(r) for r in self.runs if not isinstance(r, str)]
        if not files and len(lists) == 1:
            return lists[0]
        merged = merge_runs(files, self.context.tmpdir)
        return heapq.merge(merged, *lists) if lists else merged

    def process(self) -> float | None:
        """Every line through the engine; returns the latest patient clock."""
        sink, report = self.sink, self.on_progress
        latest: float | None = None
        n = 0
        for o in outcomes(self.records(), self.ward):
            sink.outcome(o)
            n += 1
            if report is not None and not n & 0x3FF:
                report(n)
            if o.result is not None:
                clock = o.result.state.clock
                if clock is not None and (latest is None or clock > latest):
                    latest = clock
        if report is not None:
            report(n)
        return latest

    def finish(self, now: float | None) -> Any:
        """Tick every patient to ``now`` (the end of the input), then the sink's result."""
        if now is not None:
            for pid in self.ward.patients():
                self.sink.ticked(pid, self.ward.tick_one(pid, now))
        try:
            return self.sink.finish(self.ward)
        finally:
            self.ward.close()
