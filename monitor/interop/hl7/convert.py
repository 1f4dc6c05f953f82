"""HL7 v2 results and administrations to contract events: pure functions, no I/O.

ORU^R01 (laboratory results; IHE PCD-01 device observations) and RAS^O17 (pharmacy
administration) are read segment by segment: each PID opens a patient, PV1 gives its location,
OBR its order (and the fallback time OBR-7), each OBX one observation and each RXA (with the RXR
after it) one administration.

- OBX-3 is looked up with its coding system (CWE-1/3, then the alternate CWE-4/6; for MDC also the
  reference id in CWE-2); an unknown code is skipped and counted.
- OBX-11: F, C, A, R (device results), U and an empty status are published; P and S
  (preliminary, partial) are held back, so the final result is the only one the engine sees;
  D and W (deleted, entered in error) and X (cannot be obtained) are dropped; I, N, O carry no
  result. Skips are counted by reason. A lab result under an order number (OBR-3, else OBR-2)
  is published with its identity (order, OBX-3, OBX-4) and issue time (OBR-22, else MSH-7): C
  and A are corrections that replace it, and W and D withdraw it (contract version 3).
- OBX-5 numeric: NM, or SN with no comparator, '=' or '>'/'>=' (the bound is a value the result
  reaches; '<' is skipped as censored). A value of another type (ST, TX, CWE, RP, ...) that is
  not a number is skipped as non-numeric; an NM or SN that is not a number is a problem.
- OBX-6: the unit, converted through the tables; OBX-7: its upper limit becomes the
  ``reference_high`` of a lab.
- Time: OBX-14, else OBR-7; a time without a UTC offset is read in the configured zone, and the
  conversion says so (a note for the ACK, and in the event's ``source``).
- ``event_id``: ``v2:<MSH-3>:<MSH-10>:<OBR number>.<OBX-1>`` (``rxa<n>`` for administrations).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from monitor.interop.codes import CodeTables, Target
from monitor.interop.events import (
    Conversion,
    ResultVersion,
    build_event,
    event_id,
    medication_codes,
    observation_event,
    parse_number,
    valid_codes,
)
from monitor.interop.hl7.message import Message, Segment, parse_dtm

SUPPORTED = frozenset({("ORU", "R01"), ("RAS", "O17")})
PUBLISH_STATUS = frozenset({"F", "C", "A", "R", "U", ""})
HOLD_STATUS = frozenset({"P", "S"})
DROP_STATUS = frozenset({"D", "W", "X"})
# OBX-11 of an identified lab result in the contract's terms (HL7 table 0085): C and A replace
# the result; W (wrong, e.g. wrong patient) and D (deleted) withdraw it.
LAB_STATUS = {
    "F": "final",
    "R": "final",
    "U": "final",
    "": "final",
    "C": "corrected",
    "A": "corrected",
    "W": "entered-in-error",
    "D": "entered-in-error",
    "X": "corrected",  # cannot be obtained: the result has no value now
}
WITHDRAW_STATUS = frozenset({"W", "D", "X"})
_RANGE = re.compile(
    r"^\s*(?:(?P<low>[-+]?\d+(?:\.\d+)?)\s*(?:-|_|to|–)\s*(?P<high>[-+]?\d+(?:\.\d+)?)"
    r"|<=?\s*(?P<lt>[-+]?\d+(?:\.\d+)?))\s*$",
    re.IGNORECASE,
)
_SEX = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}


@dataclass(frozen=True, slots=True)
class Hl7Context:
    tables: CodeTables
    zone: ZoneInfo
    assigning_authority: str | None = None


def reference_high(text: str) -> float | None:
    """The upper limit of an OBX-7 range: '70-105', '70_105', '4300 to 10800', '<120'."""
    if not text:
        return None
    m = _RANGE.match(text)
    if m is None:
        return None
    value = parse_number(m["high"] or m["lt"])
    return value if value is not None and value > 0 else None


def patient_id(pid: Segment, authority: str | None) -> str | None:
    """PID-3: the identifier of ``authority`` (CX-4 namespace or universal id) when configured,
    else the first of type MR, else the first."""
    ids: list[tuple[str, str, str, str]] = []
    for rep in range(1, max(1, pid.repetitions(3)) + 1):
        value = pid.get(3, 1, rep).strip()
        if value:
            ids.append((value, pid.get(3, 4, rep, 1), pid.get(3, 4, rep, 2), pid.get(3, 5, rep)))
    if authority is not None:
        return next((v for v, ns, uid, _ in ids if authority in (ns, uid)), None)
    return next((v for v, *_, kind in ids if kind == "MR"), ids[0][0] if ids else None)


def _location(pv1: Segment) -> str | None:
    parts = [pv1.get(3, c).strip() for c in (1, 2, 3)] + [pv1.get(3, 4).strip()]
    text = " ".join(p for p in parts if p)
    return text[:256] or None


class _Reader:
    """Walks one message's segments, keeping the current patient and order."""

    def __init__(self, msg: Message, ctx: Hl7Context) -> None:
        self.msg, self.ctx = msg, ctx
        self.out = Conversion()
        app = msg.msh.get(3, 1).strip() or "unknown"
        self.prefix = ("v2", app, msg.control_id)
        self.source = f"HL7 v2 {app}"[:200]
        self.pid_n = self.obr_n = self.rxa_n = 0
        self.patient: str | None = None
        self.obr: Segment | None = None
        self.used: set[str] = set()
        self.results: dict[tuple[int, str], int] = {}

    def run(self) -> Conversion:
        segs = self.msg.segments
        for i, seg in enumerate(segs):
            if seg.name == "PID":
                self._pid(seg, segs[i + 1 :])
            elif seg.name == "OBR":
                self.obr_n += 1
                self.obr = seg
            elif seg.name == "OBX":
                self._obx(seg, i)
            elif seg.name == "RXA":
                self.rxa_n += 1
                rxr = next((s for s in segs[i + 1 :] if s.name in ("RXR", "RXA", "ORC")), None)
                self._rxa(seg, rxr if rxr is not None and rxr.name == "RXR" else None)
        if self.patient is None and not self.out.problems:
            self.out.problem("PID", "missing_field", "the message has no PID segment")
        return self.out

    def _time(self, text: str, where: str) -> tuple[dt.datetime, str] | None:
        """The time and the ``source`` to give its event (which says when a zone was assumed)."""
        parsed = parse_dtm(text, self.ctx.zone)
        if parsed is None:
            return None
        when, assumed = parsed
        if not assumed:
            return when, self.source
        note = f"{where} has no UTC offset: read in {self.ctx.zone.key}"
        if note not in self.out.notes:
            self.out.notes.append(note)
        return when, f"{self.source} ({note})"

    def _ident(self, *tail: str) -> str:
        ident = event_id(*self.prefix, *tail)
        n = 2
        while ident in self.used:
            ident = event_id(*self.prefix, *tail, str(n))
            n += 1
        self.used.add(ident)
        return ident

    def _pid(self, pid: Segment, rest: list[Segment]) -> None:
        self.pid_n += 1
        self.patient = patient_id(pid, self.ctx.assigning_authority)
        self.obr = None
        if self.patient is None:
            which = f" of assigning authority {self.ctx.assigning_authority}"
            self.out.problem(
                f"PID[{self.pid_n}]-3",
                "missing_field",
                "no patient identifier" + (which if self.ctx.assigning_authority else ""),
            )
            return
        pv1 = next((s for s in rest if s.name in ("PV1", "PID")), None)
        location = _location(pv1) if pv1 is not None and pv1.name == "PV1" else None
        sex = _SEX.get(pid.get(8).strip().upper())
        timed = self._time(self.msg.msh.get(7), "MSH-7")
        if (location or sex) and timed is not None:
            raw: dict[str, Any] = {
                "event_id": self._ident(f"pid{self.pid_n}"),
                "patient_id": self.patient,
                "kind": "patient",
                "time": timed[0],
                "action": "update",
                "location": location,
                "sex": sex,
                "source": timed[1],
            }
            if (ev := build_event(raw, f"PID[{self.pid_n}]", self.out)) is not None:
                self.out.events.append(ev)

    def _target(self, obx: Segment) -> Target | None:
        tables = self.ctx.tables
        if (t := tables.observation(obx.get(3, 3), obx.get(3, 1))) is not None:
            return t
        if (t := tables.observation(obx.get(3, 6), obx.get(3, 4))) is not None:
            return t
        if obx.get(3, 1).strip():  # a code the tables do not know: never guess from its text
            return None
        return tables.observation(obx.get(3, 3), obx.get(3, 2))  # an MDC reference id alone

    def _obx(self, obx: Segment, index: int) -> None:
        set_id = obx.get(1)
        where = f"OBX[{set_id or index}]"
        target = self._target(obx)
        if target is None:
            self.out.skipped["unknown_code"] += 1
            return
        status = obx.get(11).strip().upper()
        version = self._version(obx, status) if target.kind == "lab" else None
        # W, D and X of a named lab result withdraw it: its value, unit and time are not used.
        withdrawn = version is not None and status in WITHDRAW_STATUS
        if status not in PUBLISH_STATUS and not withdrawn:
            reason = (
                "preliminary"
                if status in HOLD_STATUS
                else "cancelled"
                if status in DROP_STATUS
                else "no_result"
            )
            self.out.skipped[reason] += 1
            return
        if self.patient is None:
            return  # the PID problem is already reported
        problems = len(self.out.problems)
        value = None if withdrawn else self._value(obx, where)
        if value is None and len(self.out.problems) > problems:
            return
        # A correction to a text ("specimen clotted") or censored result withdraws the number.
        takes_back = withdrawn or (version is not None and version.status == "corrected")
        if value is None and not takes_back:
            return  # skipped and counted by _value
        obx_time = obx.get(14)
        if obx_time:
            timed = self._time(obx_time, "OBX-14")
        else:
            timed = self._time(self.obr.get(7) if self.obr is not None else "", "OBR-7")
        if timed is None and value is None and version is not None:
            timed = self._time(self.msg.msh.get(7), "MSH-7")
        if timed is None and withdrawn:
            self.out.skipped["cancelled"] += 1  # no time to place it: dropped, as before
            return
        if timed is None:
            obr_time = self.obr.get(7) if self.obr is not None else ""
            self.out.problem(
                f"{where}-14",
                "invalid_field",
                f"no observation time to the minute (OBX-14 {obx_time!r}, OBR-7 {obr_time!r})",
            )
            return
        units = [obx.get(6, 1), obx.get(6, 2), obx.get(6, 4), obx.get(6, 5)]
        ev = observation_event(
            self.ctx.tables,
            target,
            ident=self._ident(f"{self.obr_n}.{set_id.strip() or index}"),
            patient_id=self.patient,
            time=timed[0],
            value=value,
            units=units,
            reference_high=reference_high(obx.get(7)),
            source=timed[1],
            where=f"{where}-6",
            out=self.out,
            version=version,
        )
        if ev is not None:
            self.out.events.append(ev)

    def _version(self, obx: Segment, status: str) -> ResultVersion | None:
        """The lab result this OBX is a version of: the order (OBR-3 filler number, else OBR-2
        placer number, with its namespace or universal id), the test (OBX-3) and OBX-4 (OBX-3
        repeated under one order without OBX-4: its place among them); issued at OBR-22, else
        MSH-7. None without an order number (the result cannot be named again)."""
        mapped = LAB_STATUS.get(status)
        if mapped is None or self.obr is None:
            return None
        field = 3 if self.obr.get(3, 1).strip() else 2
        order = self.obr.get(field, 1).strip()
        if not order:
            return None
        namespace = (
            self.obr.get(field, 2).strip() or self.obr.get(field, 3).strip() or self.prefix[1]
        )
        test = f"{obx.get(3, 1).strip()}^{obx.get(3, 3).strip()}"
        rid = event_id("v2", namespace, order, test, obx.get(4).strip())
        seen = self.results.get((self.obr_n, rid), 0)
        self.results[(self.obr_n, rid)] = seen + 1
        if seen:
            rid = event_id("v2", namespace, order, test, obx.get(4).strip(), str(seen + 1))
        zone = self.ctx.zone
        parsed = parse_dtm(self.obr.get(22), zone) or parse_dtm(self.msg.msh.get(7), zone)
        return ResultVersion(rid, mapped, parsed[0] if parsed is not None else None)

    def _value(self, obx: Segment, where: str) -> float | None:
        if obx.repetitions(5) > 1:
            self.out.problem(f"{where}-5", "invalid_field", "several values; one is expected")
            return None
        kind = obx.get(2).strip().upper()
        if kind == "SN":
            comparator, text = obx.get(5, 1).strip(), obx.get(5, 2)
            if obx.get(5, 3).strip() or obx.get(5, 4).strip():
                self.out.problem(f"{where}-5", "invalid_field", "a range or ratio, not a value")
                return None
            if comparator in ("<", "<="):
                self.out.skipped["censored"] += 1
                return None
            if comparator not in ("", "=", ">", ">="):
                self.out.problem(f"{where}-5", "invalid_field", f"comparator {comparator!r}")
                return None
        else:
            text = obx.get(5)
        if not text.strip():
            self.out.skipped["no_value"] += 1
            return None
        value = parse_number(text)
        if value is None and kind in ("NM", "SN"):
            self.out.problem(f"{where}-5", "invalid_field", f"{text[:40]!r} is not a number")
        elif value is None:  # a text result ("haemolysed") of a numeric test: not a value
            self.out.skipped["non_numeric"] += 1
        return value

    def _rxa(self, rxa: Segment, rxr: Segment | None) -> None:
        where = f"RXA[{self.rxa_n}]"
        if rxa.get(20).strip().upper() in ("RE", "NA") or rxa.get(21).strip().upper() == "D":
            self.out.skipped[
                "cancelled" if rxa.get(21).strip().upper() == "D" else "not_administered"
            ] += 1
            return
        if self.patient is None:
            return
        timed = self._time(rxa.get(3), "RXA-3")
        if timed is None:
            self.out.problem(
                f"{where}-3", "invalid_field", f"{rxa.get(3)!r} is not a time to the minute"
            )
            return
        tables = self.ctx.tables
        codings = [(rxa.get(5, 3), rxa.get(5, 1)), (rxa.get(5, 6), rxa.get(5, 4))]
        codings.append((rxa.get(5, 12), rxa.get(5, 10)))
        codes = valid_codes(medication_codes(tables, codings), self.out)
        text = next((t for t in (rxa.get(5, 2), rxa.get(5, 5), rxa.get(5, 9)) if t.strip()), "")
        route = None
        if rxr is not None and rxr.get(1).strip():
            candidates = [rxr.get(1, c) for c in (1, 2, 4, 5)]
            route = tables.route(candidates) or "other"
        raw: dict[str, Any] = {
            "event_id": self._ident(f"rxa{self.rxa_n}"),
            "patient_id": self.patient,
            "kind": "medication",
            "time": timed[0],
            "drug": text.strip()[:200] or None,
            "codes": codes or None,
            "action": "administered",
            "dose": parse_number(rxa.get(6)) if rxa.get(6).strip() else None,
            "dose_unit": rxa.get(7, 1).strip()[:32] or None,
            "route": route,
            "source": timed[1],
        }
        if raw["dose"] is not None and raw["dose"] < 0:
            raw["dose"] = None
        if (ev := build_event(raw, f"{where}-5", self.out)) is not None:
            self.out.events.append(ev)


def convert_message(msg: Message, ctx: Hl7Context) -> Conversion:
    """Every contract event of one ORU^R01 or RAS^O17 message (see the module docstring)."""
    return _Reader(msg, ctx).run()
