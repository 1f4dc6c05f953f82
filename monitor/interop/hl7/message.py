"""An HL7 v2 message as received: bytes to text, python-hl7's parse, and a typed, forgiving way to
read fields (an absent field, component or repetition is the empty string, never an exception).

Published sample messages use LF or CRLF between segments and some begin with a UTF-8 byte-order
mark; HL7 requires CR alone. A receiver copes: the BOM is dropped and every line break becomes CR
(a line break cannot occur inside an HL7 field: it must be escaped there).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import hl7

BOM = "\ufeff"
_LINE_BREAKS = re.compile(r"\r\n|\n|\r")
_DTM = re.compile(
    r"(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.(?P<frac>\d{1,4}))?(?P<tz>[+-]\d{4})?"
)


class Hl7Error(ValueError):
    """A payload that is not a usable HL7 v2 message; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def decode_text(payload: bytes) -> str:
    """Bytes to text: UTF-8 (HL7 v2.8's preferred set) else ISO 8859-1 (every byte is a char);
    without a byte-order mark, and with CR between segments."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = payload.decode("latin-1")
    text = text.lstrip(BOM).strip()
    return _LINE_BREAKS.sub("\r", text)


def _pick(node: Any, index: int) -> Any:
    if isinstance(node, str):
        return node if index == 1 else ""
    return node[index - 1] if 0 < index <= len(node) else ""


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment; fields are numbered as in the standard (``MSH-9`` is ``get(9)``)."""

    name: str
    _seg: Any
    _msg: Any

    def get(self, field: int, comp: int = 1, rep: int = 1, sub: int = 1) -> str:
        """The unescaped text at FIELD.REP.COMP.SUB ('' when absent)."""
        node: Any = self._seg[field] if field < len(self._seg) else ""
        for index in (rep, comp, sub):
            if isinstance(node, str):
                node = node if index == 1 else ""
                continue
            node = _pick(node, index)
        text = node if isinstance(node, str) else str(node)
        if self.name == "MSH" and field in (1, 2):
            return text
        return str(self._msg.unescape(text)) if "\\" in text else text

    def raw(self, field: int) -> str:
        """The field as written (repetitions and components included), '' when absent."""
        return str(self._seg[field]) if field < len(self._seg) else ""

    def repetitions(self, field: int) -> int:
        node = self._seg[field] if field < len(self._seg) else ""
        if isinstance(node, str) or not node or all(isinstance(x, str) for x in node):
            return 1 if str(node) else 0
        return len(node)


class Message:
    """A parsed message with its segments in order."""

    def __init__(self, text: str) -> None:
        if not text.startswith("MSH") or len(text) < 8:
            raise Hl7Error("not_hl7", "the message does not begin with an MSH segment")
        try:
            self._msg = hl7.parse(text)
        except Exception as exc:  # python-hl7 raises several kinds on malformed input
            raise Hl7Error("unparseable", f"cannot parse the message: {exc}") from None
        self.segments = [Segment(str(s[0]), s, self._msg) for s in self._msg]
        self.msh = self.segments[0]
        self.body = text.partition("\r")[2]  # every segment after MSH, as received

    @classmethod
    def from_bytes(cls, payload: bytes) -> Message:
        return cls(decode_text(payload))

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    @property
    def control_id(self) -> str:
        return self.msh.get(10)

    @property
    def message_type(self) -> tuple[str, str]:
        return self.msh.get(9, 1), self.msh.get(9, 2)


def parse_dtm(text: str, zone: ZoneInfo) -> tuple[dt.datetime, bool] | None:
    """An HL7 DTM/TS at least to the minute, and whether ``zone`` had to be assumed (the value
    had no UTC offset). None when it is malformed or less precise than a minute."""
    m = _DTM.fullmatch(text.strip())
    if m is None or m["mi"] is None:
        return None
    frac = m["frac"] or ""
    try:
        naive = dt.datetime(  # noqa: DTZ001 - the zone is attached just below
            int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]),
            int(m["s"] or 0), int((frac + "000000")[:6]),
        )  # fmt: skip
    except ValueError:
        return None
    tz = m["tz"]
    if tz is None:
        return naive.replace(tzinfo=zone), True
    offset = dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
    if offset >= dt.timedelta(hours=24) or int(tz[3:5]) >= 60:
        return None
    return naive.replace(tzinfo=dt.timezone(offset if tz[0] == "+" else -offset)), False
