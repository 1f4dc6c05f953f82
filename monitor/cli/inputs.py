"""NDJSON inputs shared by the commands that read event files (``replay``, ``send``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, BinaryIO

from monitor.contracts.decode import Rejection

Opened = list[tuple[str, BinaryIO]]


def open_inputs(paths: list[str]) -> Opened | str:
    """Open every path (``-`` is standard input) before reading any; on failure, close what was
    opened and return the message for the user (the command exits 2)."""
    opened: Opened = []
    for path in paths:
        if path == "-":
            opened.append(("<stdin>", sys.stdin.buffer))
            continue
        try:
            opened.append((path, open(path, "rb")))  # noqa: SIM115 - closed by close_inputs
        except OSError as exc:
            close_inputs(opened)
            return f"cannot read {path}: {exc.strerror or exc}"
    return opened


def close_inputs(opened: Opened) -> None:
    for _, fh in opened:
        if fh is not sys.stdin.buffer:
            fh.close()


def ndjson_lines(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(line number, stripped line) for every non-blank line."""
    for lineno, raw in enumerate(fh, start=1):
        line = raw.strip()
        if line:
            yield lineno, line


def report(err: IO[str], name: str, lineno: int, rej: Rejection) -> None:
    """One refused line, as ``FILE:LINE: reason: detail``."""
    print(f"{name}:{lineno}: {rej.reason}: {rej.detail}", file=err)
