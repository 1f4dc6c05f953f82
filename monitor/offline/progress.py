"""A progress line on standard error for long offline runs: done, rate, time left.

Shown only when standard error is a terminal (a pipe or a file gets nothing, so logs and tests
see exactly what they saw before), redrawn at most twice a second, and erased when the step
ends. The wall clock here measures the run for the user; the engine never sees it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

REDRAW_S = 0.5


def _count(n: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def _amount(n: float, unit: str) -> str:
    return f"{n / 1e6:.1f} MB" if unit == "B" else f"{_count(n)} {unit}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """One step of a run (``label``), ``total`` units of ``unit`` (0 when unknown)."""

    def __init__(self, label: str, total: float, unit: str, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.label, self.total, self.unit = label, total, unit
        self.started = time.monotonic()
        self._drawn = 0.0
        self._width = 0

    def update(self, done: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn < REDRAW_S:
            return
        self._drawn = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        text = f"{self.label}: {_amount(done, self.unit)}"
        if self.total:
            share = 100 * min(done / self.total, 1.0)
            text += f" of {_amount(self.total, self.unit)} ({share:.0f} %)"
        text += f", {_amount(rate, self.unit)}/s"
        if self.total and rate > 0 and done < self.total:
            text += f", {_clock((self.total - done) / rate)} left"
        self._write(text)

    def _write(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.enabled and self._width:
            self._write("")
            self.stream.write("\r")
            self.stream.flush()
