"""MLLP framing (HL7 Minimal Lower Layer Protocol, release 1): a pure byte-stream state machine.

A message travels as ``<VT> payload <FS><CR>`` (0x0B, then 0x1C 0x0D). The decoder only moves
bytes: it knows nothing of HL7, does no I/O, and gives the same items however the stream is cut
into chunks. It never holds more than ``max_bytes`` of a message: a larger one is discarded up to
its end marker and reported as :class:`Oversized` (with its first bytes, so the receiver can still
name the message in its refusal).

Leniency, as receivers in the field need it: whitespace between frames is ignored; an ``<FS>``
not followed by ``<CR>`` still ends a frame; other bytes outside a frame are reported as
:class:`Garbage` (their count, once the run ends); a ``<VT>`` inside a frame means the frame before
it was cut short (:class:`Truncated`), and a new frame starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

VT = 0x0B
FS = 0x1C
CR = 0x0D
_WHITESPACE = frozenset(b" \t\r\n")


def frame(payload: bytes) -> bytes:
    """Wrap one message for the wire."""
    return b"\x0b" + payload + b"\x1c\x0d"


@dataclass(frozen=True, slots=True)
class Frame:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Oversized:
    """A frame larger than the limit, discarded; ``head`` holds its first bytes."""

    size: int
    head: bytes


@dataclass(frozen=True, slots=True)
class Truncated:
    """A frame that never ended (another began, or the stream closed); ``head``: its first bytes."""

    size: int
    head: bytes


@dataclass(frozen=True, slots=True)
class Garbage:
    """``size`` bytes outside any frame that were neither a start marker nor whitespace."""

    size: int


Item = Frame | Oversized | Truncated | Garbage


class _State(Enum):
    OUTSIDE = auto()
    IN_FRAME = auto()
    DISCARD = auto()  # an oversized frame, until its end marker
    AFTER_FS = auto()  # saw <FS> at the end of a chunk; a <CR> may follow


class Decoder:
    """Feed bytes, get complete items; :meth:`close` at the end of the stream."""

    def __init__(self, max_bytes: int, head_bytes: int = 4096) -> None:
        self.max_bytes = max_bytes
        self.head_bytes = head_bytes
        self._state = _State.OUTSIDE
        self._buf = bytearray()
        self._size = 0  # bytes of the current frame, also while discarding
        self._garbage = 0
        self._discard_state = _State.IN_FRAME  # what AFTER_FS completes

    @property
    def in_frame(self) -> bool:
        """True between a frame's first byte and its end marker."""
        return self._state is not _State.OUTSIDE

    def feed(self, data: bytes) -> list[Item]:
        out: list[Item] = []
        i, n = 0, len(data)
        while i < n:
            if self._state is _State.OUTSIDE:
                j = data.find(VT, i)
                end = n if j < 0 else j
                self._garbage += sum(1 for b in data[i:end] if b not in _WHITESPACE)
                if j < 0:
                    break
                self._flush_garbage(out)
                self._start()
                i = j + 1
            elif self._state is _State.AFTER_FS:
                self._finish(out)
                if data[i] == CR:
                    i += 1
            else:
                i = self._in_frame(data, i, out)
        return out

    def close(self) -> list[Item]:
        """The end of the stream: a frame that had not ended is reported as truncated."""
        out: list[Item] = []
        if self._state is _State.AFTER_FS:
            self._finish(out)
        elif self._state is not _State.OUTSIDE:
            out.append(Truncated(self._size, bytes(self._buf[: self.head_bytes])))
            self._reset()
        self._flush_garbage(out)
        return out

    def take_garbage(self) -> Garbage | None:
        """The garbage run so far, ended now (a receiver answers it without waiting for the next
        frame; the items then depend on where the stream was cut, so only a transport calls it)."""
        out: list[Item] = []
        self._flush_garbage(out)
        return out[0] if out and isinstance(out[0], Garbage) else None

    def _in_frame(self, data: bytes, i: int, out: list[Item]) -> int:
        j = data.find(FS, i)
        end = len(data) if j < 0 else j
        if self._state is _State.IN_FRAME:
            k = data.find(VT, i, end)
            if k >= 0:  # a new frame began before this one ended
                self._append(data[i:k])
                out.append(Truncated(self._size, bytes(self._buf[: self.head_bytes])))
                self._start()
                return k + 1
        self._append(data[i:end])
        if j < 0:
            return len(data)
        if j + 1 < len(data):
            self._finish(out)
            return j + 2 if data[j + 1] == CR else j + 1
        self._discard_state = self._state
        self._state = _State.AFTER_FS
        return j + 1

    def _append(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._state is _State.IN_FRAME and self._size <= self.max_bytes:
            self._buf += chunk
            return
        if self._state is _State.IN_FRAME:  # just went over the limit: keep the head only
            self._buf += chunk[: max(0, self.head_bytes - len(self._buf))]
            del self._buf[self.head_bytes :]
            self._state = _State.DISCARD
        elif len(self._buf) < self.head_bytes:
            self._buf += chunk[: self.head_bytes - len(self._buf)]

    def _finish(self, out: list[Item]) -> None:
        was = self._discard_state if self._state is _State.AFTER_FS else self._state
        if was is _State.DISCARD:
            out.append(Oversized(self._size, bytes(self._buf)))
        else:
            out.append(Frame(bytes(self._buf)))
        self._reset()

    def _start(self) -> None:
        self._buf = bytearray()
        self._size = 0
        self._state = _State.IN_FRAME

    def _reset(self) -> None:
        self._buf = bytearray()
        self._size = 0
        self._state = _State.OUTSIDE

    def _flush_garbage(self, out: list[Item]) -> None:
        if self._garbage:
            out.append(Garbage(self._garbage))
            self._garbage = 0
