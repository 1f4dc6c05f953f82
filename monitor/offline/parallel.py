"""Run an offline job: sort the input into partitions, then replay each partition, in one
process or in ``jobs`` worker processes.

Patients are partitioned across processes (``monitor.offline.order.partition``); each process
sorts chunks of the input as they come (step 1), then replays one partition (step 2). Worker
processes are started with ``spawn`` (no state inherited from the parent) and kept for both
steps: the partition's engine states stay in its process between the replay and the final
tick. An exception in a worker, an ``InternalError`` above all, is sent to the parent and
raised there as itself (with the worker's traceback as a note); a worker that dies stops the run.
Temporary files (sorted runs, waiting states, spilled output) live in one directory removed at
the end (``TMPDIR`` chooses where).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection, wait
from typing import Any

from monitor.errors import Rejection
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.offline.pipeline import ChunkResult, Context, Partition, Run, SinkSpec, sort_chunk
from monitor.offline.progress import Progress
from monitor.offline.sources import Chunk, Reading, Source, open_sources, plan_chunks

# sort_chunk's arguments after the chunk: partitions, by position, tmpdir, run lines, in memory
SortArgs = tuple[int, bool, str, int, bool]
SMALL_INPUT = 16 << 20  # below this many bytes one process is faster than starting workers


@dataclass(frozen=True, slots=True)
class Job:
    names: list[str]
    cfg: ClinicalSettings
    sink: SinkSpec
    jobs: int | None = None  # None: one per core (one for a small input)
    by_position: bool = False  # evaluate --order file
    label: str = "replay"
    chunk_bytes: int = 32 << 20
    run_lines: int = 200_000  # lines held before a sorted run is written (per process)
    max_states: int = 6000  # patient states in memory, all processes together


@dataclass(slots=True)
class Result:
    sources: list[Source]
    lines: int  # non-blank lines read
    parts: list[Any] = field(default_factory=list)  # each partition's sink result
    processes: int = 1


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def scratch(label: str) -> tempfile.TemporaryDirectory[str]:
    """The temporary directory of one run (``TMPDIR`` chooses where); a sink's spilled output
    is in it, so read that before leaving it."""
    return tempfile.TemporaryDirectory(prefix=f"nms-{label}-")


def run_job(job: Job, refused: Callable[[str, int, Rejection], None], tmp: str) -> Result:
    """Run ``job`` with temporary files in ``tmp``; ``refused(name, line, rejection)`` is called
    for each line that is not an event, in file order, before any partition is replayed.
    Raises ``UnreadableInput``."""
    sources = open_sources(job.names, tmp)
    size = sum(s.size for s in sources)
    parts = job.jobs if job.jobs is not None else (cores() if size >= SMALL_INPUT else 1)
    parts = max(1, parts)
    chunks = plan_chunks(sources, job.chunk_bytes)
    workers: _Workers = _InProcess() if parts == 1 else _Processes(parts)
    try:
        return _run(job, sources, chunks, parts, workers, tmp, size, refused)
    finally:
        workers.close()


def _run(
    job: Job,
    sources: list[Source],
    chunks: list[Chunk],
    parts: int,
    workers: _Workers,
    tmp: str,
    size: int,
    refused: Callable[[str, int, Rejection], None],
) -> Result:
    progress = Progress(f"{job.label}: reading", size, "B")
    args: SortArgs = (parts, job.by_position, tmp, job.run_lines, parts == 1 and len(chunks) == 1)
    sorted_chunks = workers.sort(chunks, args, progress)
    progress.close()
    offsets: dict[tuple[int, int], int] = {}
    seen: dict[int, int] = {}
    lines = 0
    last: float | None = None
    for r in sorted_chunks:
        offsets[r.chunk.file, r.chunk.index] = seen.get(r.chunk.file, 0)
        seen[r.chunk.file] = offsets[r.chunk.file, r.chunk.index] + r.lines
        for lineno, rejection in r.refusals():
            refused(
                sources[r.chunk.file].name, offsets[r.chunk.file, r.chunk.index] + lineno, rejection
            )
        lines += r.keyed + r.n_refused
        if r.last_time is not None and (last is None or r.last_time > last):
            last = r.last_time
    names = [s.name for s in sources]
    limit = max(500, job.max_states // parts)
    contexts = [
        Context(p, parts, job.cfg, job.by_position, names, offsets, tmp, limit, parts == 1)
        for p in range(parts)
    ]
    runs = [[run for r in sorted_chunks for run in r.runs[p]] for p in range(parts)]
    keyed = sum(r.keyed for r in sorted_chunks)
    progress = Progress(job.label, keyed, "events")
    results = workers.replay(contexts, runs, job.sink, None if job.by_position else last, progress)
    progress.close()
    return Result(sources, lines, results, parts)


class _Workers:
    def sort(self, chunks: list[Chunk], args: SortArgs, progress: Progress) -> list[ChunkResult]:
        raise NotImplementedError

    def replay(
        self,
        contexts: list[Context],
        runs: list[list[Run]],
        spec: SinkSpec,
        end: float | None,
        progress: Progress,
    ) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _InProcess(_Workers):
    def sort(self, chunks: list[Chunk], args: SortArgs, progress: Progress) -> list[ChunkResult]:
        out = []
        base = 0
        for chunk in chunks:
            reading = Reading(on_progress=partial(_shown, progress, base))
            out.append(sort_chunk(chunk, *args, reading=reading))
            base += chunk.end - chunk.start
        return out

    def replay(
        self,
        contexts: list[Context],
        runs: list[list[Run]],
        spec: SinkSpec,
        end: float | None,
        progress: Progress,
    ) -> list[Any]:
        (context,) = contexts
        part = Partition(context, runs[0], spec, progress.update)
        latest = part.process()
        return [part.finish(end if not context.by_position else latest)]


def _shown(progress: Progress, base: int, consumed: int) -> None:
    progress.update(base + consumed)


class _Processes(_Workers):
    """``n`` worker processes, one pipe each; progress through shared counters."""

    def __init__(self, n: int) -> None:
        ctx = mp.get_context("spawn")
        self.shared = ctx.Array("q", n, lock=False)
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        self.peaks: list[int] = []  # each worker's peak resident memory (bytes), when known
        for i in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=worker_main, args=(child, self.shared, i), name=f"nms-worker-{i}"
            )
            proc.daemon = True
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def _recv(self, i: int) -> tuple[Any, ...]:
        try:
            msg: tuple[Any, ...] = self.conns[i].recv()
        except (EOFError, OSError):
            code = self.procs[i].exitcode
            raise RuntimeError(f"worker process {i} died (exit status {code})") from None
        if msg[0] == "error":
            exc: BaseException = msg[1]
            exc.add_note(f"raised in worker process {i}:\n{msg[2]}")
            raise exc
        return msg

    def _ready(self, busy: list[int], timeout: float) -> list[int]:
        ready = wait([self.conns[i] for i in busy], timeout)
        return [i for i in busy if self.conns[i] in ready]

    def sort(self, chunks: list[Chunk], args: SortArgs, progress: Progress) -> list[ChunkResult]:
        results: list[ChunkResult | None] = [None] * len(chunks)
        pending = list(range(len(chunks)))[::-1]
        busy: dict[int, int] = {}  # worker -> chunk
        read = 0

        def dispatch(i: int) -> None:
            if pending:
                k = pending.pop()
                busy[i] = k
                self.shared[i] = 0
                self.conns[i].send(("sort", chunks[k], args))

        for i in range(len(self.conns)):
            dispatch(i)
        while busy:
            for i in self._ready(list(busy), 0.5):
                k = busy.pop(i)
                results[k] = self._recv(i)[1]
                read += chunks[k].end - chunks[k].start
                dispatch(i)
            progress.update(read + sum(self.shared[i] for i in busy))
        return [r for r in results if r is not None]

    def replay(
        self,
        contexts: list[Context],
        runs: list[list[Run]],
        spec: SinkSpec,
        end: float | None,
        progress: Progress,
    ) -> list[Any]:
        n = len(self.conns)
        for i in range(n):
            self.shared[i] = 0
            self.conns[i].send(("run", contexts[i], runs[i], spec))
        clocks: dict[int, float | None] = {}
        while len(clocks) < n:
            for i in self._ready([i for i in range(n) if i not in clocks], 0.5):
                clocks[i] = self._recv(i)[1]
            progress.update(sum(self.shared[i] for i in range(n)))
        if contexts[0].by_position:  # file order: the latest clock of any patient
            end = max((c for c in clocks.values() if c is not None), default=None)
        for conn in self.conns:
            conn.send(("finish", end))
        out = []
        for i in range(n):
            msg = self._recv(i)
            out.append(msg[1])
            self.peaks.append(msg[2])
        return out

    def close(self) -> None:
        for conn, proc in zip(self.conns, self.procs, strict=True):
            if proc.is_alive():
                with contextlib.suppress(OSError):  # it may be exiting on its own
                    conn.send(("stop",))
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        for conn in self.conns:
            conn.close()


def peak_rss() -> int:
    """This process's peak resident memory in bytes (VmHWM; 0 where /proc does not exist)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def worker_main(conn: Connection, shared: Any, i: int) -> None:
    """A worker process: sort chunks and replay one partition, as the parent asks."""
    # Engine state is many small long-lived objects and few cycles (as in the main process).
    gc.set_threshold(50_000, 20, 100)
    part: Partition | None = None
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        try:
            if msg[0] == "stop":
                return
            if msg[0] == "sort":
                args: SortArgs = msg[2]
                reading = Reading(on_progress=partial(shared.__setitem__, i))
                result = sort_chunk(msg[1], *args, reading=reading)
                conn.send(("sorted", result))
            elif msg[0] == "run":
                part = Partition(msg[1], msg[2], msg[3], partial(shared.__setitem__, i))
                conn.send(("clock", part.process()))
            elif msg[0] == "finish":
                assert part is not None
                conn.send(("done", part.finish(msg[1]), peak_rss()))
        except BaseException as exc:  # sent to the parent, which raises it
            text = traceback.format_exc()
            try:
                conn.send(("error", exc, text))
            except Exception:  # an exception that does not pickle
                conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), text))
            return
