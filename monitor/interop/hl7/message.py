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
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import hl7
from hl7 import util as hl7_util

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
    return _LINE_BREAKS.sub("\r", text) if "\n" in text else text


@dataclass(frozen=True, slots=True)
class Separators:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


def _nth(text: str, sep: str, n: int) -> str:
    if n == 1 and sep not in text:
        return text
    parts = text.split(sep)
    return parts[n - 1] if 0 < n <= len(parts) else ""


class Encoding:
    """A message's separators, what :meth:`Segment.get` looks for, and its escape decoding.
    Segments hold this, not their message: a segment that pointed back at its message would
    make every parse a reference cycle, left for the garbage collector (a fifth of a busy
    listener's time went there)."""

    __slots__ = ("_python_hl7", "separators", "specials")

    def __init__(self, separators: Separators) -> None:
        self.separators = separators
        s = separators
        # component, repetition, escape, subcomponent
        self.specials = (s.component, s.repetition, s.escape, s.subcomponent)
        self._python_hl7: Any = None

    def unescape(self, text: str) -> str:
        """Decode HL7 escape sequences (\\F\\, \\S\\, \\X0D\\, ...) with python-hl7."""
        if self._python_hl7 is None:
            s = self.separators
            self._python_hl7 = hl7.parse(
                f"MSH{s.field}{s.component}{s.repetition}{s.escape}{s.subcomponent}"
            )
        return str(hl7_util.unescape(self._python_hl7, text))


class Segment:
    """One segment; fields are numbered as in the standard (``MSH-9`` is ``get(9)``)."""

    __slots__ = ("_enc", "_fields", "_split", "name")

    def __init__(self, name: str, fields: list[str], encoding: Encoding) -> None:
        self.name, self._fields, self._enc = name, fields, encoding
        self._split: dict[tuple[int, int], list[str]] = {}

    def _components(self, field: int, rep: int) -> list[str]:
        """The components of one repetition of a field, split once."""
        key = (field, rep)
        comps = self._split.get(key)
        if comps is None:
            text = self._fields[field] if field < len(self._fields) else ""
            if self.name == "MSH" and field in (1, 2):  # the separators themselves
                comps = [text] if rep == 1 else []
            else:
                seps = self._enc.separators
                comps = _nth(text, seps.repetition, rep).split(seps.component)
            self._split[key] = comps
        return comps

    def get(self, field: int, comp: int = 1, rep: int = 1, sub: int = 1) -> str:
        """The unescaped text at FIELD.REP.COMP.SUB ('' when absent)."""
        fields = self._fields
        text = fields[field] if field < len(fields) else ""
        if not text:
            return ""
        c, r, e, s = self._enc.specials
        if c not in text and r not in text and e not in text and s not in text:
            # the common case (MSH-1 too): no separator nor escape, the field is its first part
            return text if comp == 1 and rep == 1 and sub == 1 else ""
        comps = self._components(field, rep)
        text = comps[comp - 1] if 0 < comp <= len(comps) else ""
        if self.name == "MSH" and field in (1, 2):
            return text if sub == 1 else ""
        if sub != 1 or s in text:
            text = _nth(text, s, sub)
        return self._enc.unescape(text) if e in text else text

    def raw(self, field: int) -> str:
        """The field as written (repetitions and components included), '' when absent."""
        return self._fields[field] if field < len(self._fields) else ""

    def repetitions(self, field: int) -> int:
        text = self.raw(field)
        return text.count(self._enc.separators.repetition) + 1 if text else 0


class Message:
    """A message split into segments and fields by the separators its MSH declares; components
    are split when read. Escape sequences are decoded by python-hl7 (``hl7.util.unescape``), and
    tests check every field against python-hl7's own parse of the published samples: its full
    parse tree costs about 1.2 ms for a 7-observation message here, over half the budget of a
    listener meant to take 2,000 messages a second."""

    def __init__(self, text: str) -> None:
        if not text.startswith("MSH") or len(text) < 8:
            raise Hl7Error("not_hl7", "the message does not begin with an MSH segment")
        fsep = text[3]
        chars = text[4:].split(fsep, 1)[0]
        if len(chars) < 2 or fsep.isalnum() or fsep in chars:
            raise Hl7Error("unparseable", f"MSH-1/MSH-2 declare no usable separators: {text[:9]!r}")
        padded = chars + "~\\&"[len(chars) - 1 :] if len(chars) < 4 else chars
        self.separators = Separators(fsep, padded[0], padded[1], padded[2], padded[3])
        self.encoding = encoding = Encoding(self.separators)
        self.segments: list[Segment] = []
        for n, line in enumerate(text.split("\r"), start=1):
            if not line:
                continue
            fields = line.split(fsep)
            name = fields[0]
            if len(name) != 3 or not name.isalnum():
                raise Hl7Error("unparseable", f"segment {n} does not begin with a segment id")
            if name == "MSH":
                fields = ["MSH", fsep, *fields[1:]]
            self.segments.append(Segment(name, fields, encoding))
        self.msh = self.segments[0]
        self.body = text.partition("\r")[2]  # every segment after MSH, as received

    @classmethod
    def from_bytes(cls, payload: bytes) -> Message:
        return cls(decode_text(payload))

    def unescape(self, text: str) -> str:
        """Decode HL7 escape sequences (\\F\\, \\S\\, \\X0D\\, ...) with python-hl7."""
        return self.encoding.unescape(text)

    @property
    def control_id(self) -> str:
        return self.msh.get(10)

    @property
    def message_type(self) -> tuple[str, str]:
        return self.msh.get(9, 1), self.msh.get(9, 2)


@lru_cache(maxsize=4096)  # the observations of a message share their times
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
