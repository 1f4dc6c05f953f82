"""Input files of the offline commands: plain or gzip-compressed NDJSON, or standard input,
read in chunks that worker processes can read independently.

A plain file is cut into byte ranges; a line belongs to the chunk where it starts, so every line
is read exactly once whatever the cut. A gzip file (recognised by its magic bytes, whatever its
name) is one chunk: it can only be read from its start. Standard input is copied to a file in
the run's temporary directory first (worker processes cannot share it). Line numbers count
every physical line, blank ones included, as an editor does; a chunk counts its own, and the
caller adds the lines of the chunks before it.
"""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from monitor.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"


class UnreadableInput(InputError):
    """An input file that cannot be read (missing, a directory, a broken gzip stream)."""


@dataclass(frozen=True, slots=True)
class Source:
    """One input as the user named it, and the file that holds its bytes."""

    name: str  # as reported in FILE:LINE messages ("<stdin>" for standard input)
    path: str
    size: int
    gzip: bool


@dataclass(frozen=True, slots=True)
class Chunk:
    """Lines of one source starting in [start, end) (a gzip source: all of it)."""

    file: int  # index of the source
    index: int  # order of the chunk within its source
    path: str
    start: int
    end: int
    gzip: bool


def open_sources(names: list[str], tmpdir: str) -> list[Source]:
    """Check that every input can be read (before any is read) and spool standard input;
    raises :class:`UnreadableInput` with the message for the user."""
    out: list[Source] = []
    for name in names:
        path, shown = name, name
        if name == STDIN:
            path, shown = os.path.join(tmpdir, f"stdin-{len(out)}"), "<stdin>"
            with open(path, "wb") as dst:
                shutil.copyfileobj(sys.stdin.buffer, dst, 1 << 20)
        try:
            with open(path, "rb") as fh:
                magic = fh.read(2)
            size = os.path.getsize(path)
        except OSError as exc:
            raise UnreadableInput(f"cannot read {shown}: {exc.strerror or exc}") from None
        out.append(Source(shown, path, size, magic == GZIP_MAGIC))
    return out


def plan_chunks(sources: list[Source], chunk_bytes: int) -> list[Chunk]:
    """Byte ranges of about ``chunk_bytes`` (whole gzip sources), in input order."""
    chunks: list[Chunk] = []
    for i, src in enumerate(sources):
        if src.gzip or src.size <= chunk_bytes:
            chunks.append(Chunk(i, 0, src.path, 0, src.size, src.gzip))
            continue
        edges = [*range(0, src.size, chunk_bytes), src.size]
        for k, (start, end) in enumerate(itertools.pairwise(edges)):
            chunks.append(Chunk(i, k, src.path, start, end, False))
    return chunks


@dataclass(slots=True)
class Reading:
    """How far a chunk has been read: input bytes consumed (compressed bytes for gzip), and
    physical lines (all of them once the chunk is read); ``on_progress`` hears of the bytes."""

    consumed: int = 0
    lines: int = 0
    on_progress: Callable[[int], None] | None = None

    def advance(self, consumed: int) -> None:
        self.consumed = consumed
        if self.on_progress is not None:
            self.on_progress(consumed)


def chunk_lines(chunk: Chunk, reading: Reading) -> Iterator[tuple[int, bytes]]:
    """(line number in the chunk, stripped line) for every non-blank line starting in the
    chunk; ``reading`` follows the progress."""
    with open(chunk.path, "rb") as raw:
        if not chunk.gzip:
            yield from _lines(raw, chunk, raw, reading)
            return
        try:
            with gzip.GzipFile(fileobj=raw) as fh:
                yield from _lines(fh, chunk, raw, reading)  # type: ignore[arg-type]
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableInput(f"{chunk.path}: not a readable gzip file: {exc}") from None


def _lines(
    fh: BinaryIO, chunk: Chunk, raw: BinaryIO, reading: Reading
) -> Iterator[tuple[int, bytes]]:
    pos = chunk.start
    if chunk.start > 0:
        # The line in progress at ``start`` belongs to the chunk before: skip to its end.
        fh.seek(chunk.start - 1)
        pos = chunk.start - 1 + len(fh.readline())
    lineno = 0
    for raw_line in fh:
        if not chunk.gzip and pos >= chunk.end:
            break
        pos += len(raw_line)
        lineno += 1
        if not lineno & 0xFFF:
            reading.advance(raw.tell() - chunk.start)
        line = raw_line.strip()
        if line:
            yield lineno, line
    reading.lines = lineno
    reading.advance((raw.tell() if chunk.gzip else chunk.end) - chunk.start)
