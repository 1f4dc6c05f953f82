"""Published case reports as event streams (``tests/cases/*.json``): loading, running, judging.

A case file is one published report rewritten as the input events a hospital would have sent,
with every value marked ``stated`` (the report prints it) or ``inferred`` (assumed, with the
reason), and the behaviour a good detector should show: for an NMS case, the priority it must
reach and by when; for a mimic, the highest priority allowed and the differential it must name.
The format is documented in ``tests/cases/README.md``. Pure: files are read by the caller.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import orjson

from monitor.contracts.alerts import PRIORITY_RANK, Alert
from monitor.contracts.decode import DecodeError, decode_event
from monitor.contracts.events import Event
from monitor.engine.ward import Ward
from monitor.errors import CaseError, EventRejected
from monitor.knowledge.thresholds import HOUR, ClinicalSettings

# Events at the same instant in the order replay uses (monitor.cli.replay.KIND_ORDER).
_KIND_RANK = {"patient": 0, "medication": 1, "lab": 2, "assessment": 3, "vital": 4, "ack": 5}
_RESERVED = ("event_id", "patient_id", "time")


@dataclass(frozen=True, slots=True)
class Expected:
    positive: bool
    min_priority: str | None  # NMS: at least this priority ...
    by_hours: float | None  # ... no later than this many hours after the start
    max_priority: str | None  # mimic: never above this (None: no alert at all)
    differential: tuple[str, ...]  # mimic: conditions the alert must name
    rationale: str


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    title: str
    citation: str
    url: str
    category: str
    start: float
    expected: Expected
    events: tuple[Event, ...]
    stated: int
    inferred: int
    rejected: tuple[str, ...]  # events the contract refuses (a fault in the case file)


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    highest: str | None
    reached_at_hours: float | None  # when the expected priority was first reached (NMS cases)
    named: tuple[str, ...]  # differential named at the highest priority reached
    refused: tuple[str, ...]  # events the engine refused, with reasons
    ok: bool
    why: str

    @property
    def expected_text(self) -> str:
        e = self.case.expected
        if e.positive:
            return f"{e.min_priority} by {e.by_hours:g} h"
        allowed = f"at most {e.max_priority}" if e.max_priority else "no alert"
        named = f", names {', '.join(e.differential)}" if e.differential else ""
        return f"{allowed}{named}"

    @property
    def got_text(self) -> str:
        if self.highest is None:
            return "no alert"
        parts = [f"{self.highest}"]
        if self.reached_at_hours is not None:
            parts.append(f"{self.case.expected.min_priority} at {self.reached_at_hours:g} h")
        if self.named:
            parts.append("names " + ", ".join(self.named))
        return "; ".join(parts)


def _priority(value: Any, where: str) -> str | None:
    if value is None or value in ("low", "medium", "high"):
        return value  # type: ignore[no-any-return]
    raise CaseError(f"{where}: priority must be low, medium, high or null, not {value!r}")


def parse_case(doc: Any, name: str) -> Case:
    """A case from its decoded JSON; :class:`CaseError` names what is wrong."""
    if not isinstance(doc, dict):
        raise CaseError(f"{name}: expected a JSON object")
    try:
        cid, start_text, exp, raw_events = doc["id"], doc["start"], doc["expected"], doc["events"]
        citation = doc["citation"]
    except KeyError as exc:
        raise CaseError(f"{name}: missing {exc.args[0]!r}") from None
    if not isinstance(cid, str) or not 1 <= len(cid) <= 64:
        raise CaseError(f"{name}: id must be a string of 1-64 characters")
    try:
        start = dt.datetime.fromisoformat(start_text)
    except (TypeError, ValueError):
        raise CaseError(f"{name}: start {start_text!r} is not an RFC 3339 time") from None
    if start.tzinfo is None:
        raise CaseError(f"{name}: start needs a UTC offset")
    if not isinstance(exp, dict) or not isinstance(exp.get("positive"), bool):
        raise CaseError(f"{name}: expected.positive must be true or false")
    expected = Expected(
        positive=exp["positive"],
        min_priority=_priority(exp.get("min_priority"), f"{name}: expected.min_priority"),
        by_hours=float(exp["by_hours"]) if exp.get("by_hours") is not None else None,
        max_priority=_priority(exp.get("max_priority"), f"{name}: expected.max_priority"),
        differential=tuple(exp.get("differential") or ()),
        rationale=str(exp.get("rationale", "")),
    )
    if expected.positive and (expected.min_priority is None or expected.by_hours is None):
        raise CaseError(f"{name}: an NMS case needs expected.min_priority and by_hours")
    if not isinstance(raw_events, list) or not raw_events:
        raise CaseError(f"{name}: events must be a non-empty list")
    dicts: list[tuple[float, dict[str, Any]]] = []
    stated = inferred = 0
    for i, raw in enumerate(raw_events):
        where = f"{name}: events[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("h"), int | float):
            raise CaseError(f"{where}: needs an hour offset 'h'")
        marks = [k for k in ("stated", "inferred") if k in raw]
        if len(marks) != 1:
            raise CaseError(f"{where}: needs exactly one of 'stated' or 'inferred'")
        stated += marks[0] == "stated"
        inferred += marks[0] == "inferred"
        if any(k in raw for k in _RESERVED):
            raise CaseError(f"{where}: event_id, patient_id and time are generated, not given")
        dicts.append((float(raw["h"]), raw))
    patient = doc.get("patient") or {}
    first_h = min(0.0, *(h for h, _ in dicts))
    admit = {"h": first_h, "kind": "patient", "action": "admit", **patient}
    events: list[Event] = []
    rejected: list[str] = []
    for i, (h, raw) in enumerate([(first_h, admit), *dicts]):
        body = {k: v for k, v in raw.items() if k not in ("h", "stated", "inferred")}
        when = start + dt.timedelta(hours=h)
        body.update(event_id=f"{cid}-{i:03d}", patient_id=cid, time=when.isoformat())
        try:  # decoded exactly as the stream decodes, from bytes
            events.append(decode_event(orjson.dumps(body)))
        except DecodeError as exc:
            rejected.append(f"events[{i - 1}]: {exc.rejection.reason}: {exc.rejection.detail}")
    return Case(
        id=cid,
        title=str(doc.get("title", "")),
        citation=str(citation),
        url=str(doc.get("url", "")),
        category=str(doc.get("category", "")),
        start=start.timestamp(),
        expected=expected,
        events=tuple(events),
        stated=stated,
        inferred=inferred,
        rejected=tuple(rejected),
    )


def _order(e: Event) -> tuple[float, int, str]:
    return (e.time.timestamp(), _KIND_RANK[e.kind], e.event_id)


def run_case(case: Case, cfg: ClinicalSettings) -> tuple[list[Alert], list[str]]:
    """The case's events through the engine in replay's order, then time up to the later of
    its last event and ``by_hours``: the transitions and the engine's refusals."""
    ward = Ward(cfg)
    alerts: list[Alert] = []
    refused: list[str] = []
    for e in sorted(case.events, key=_order):
        try:
            alerts.extend(ward.process(e).transitions)
        except EventRejected as exc:
            refused.append(f"{e.event_id}: {exc.rejection.reason}")
    end = max(e.time.timestamp() for e in case.events)
    if case.expected.by_hours is not None:
        end = max(end, case.start + case.expected.by_hours * HOUR)
    alerts.extend(ward.tick_all(end))
    return alerts, refused


def judge(case: Case, alerts: list[Alert], refused: list[str]) -> Outcome:
    """Whether the transitions show the expected behaviour, and why not."""
    firing = [a for a in alerts if a.status == "firing"]
    highest = max((a.priority for a in firing), key=lambda p: PRIORITY_RANK[p], default=None)
    top = [a for a in firing if a.priority == highest]
    named = tuple(
        sorted({d.condition for d in top[-1].differential}) if top else ()
    )  # the latest transition at the highest priority
    e = case.expected
    if case.rejected:
        why = f"case file has events the contract refuses: {case.rejected[0]}"
        return Outcome(case, highest, None, named, tuple(refused), False, why)
    if e.positive:
        assert e.min_priority is not None and e.by_hours is not None
        need = PRIORITY_RANK[e.min_priority]
        first = next((a for a in firing if PRIORITY_RANK[a.priority] >= need), None)
        reached = None if first is None else round((first.time.timestamp() - case.start) / HOUR, 1)
        if reached is None:
            why = f"never reached {e.min_priority} (highest: {highest or 'no alert'})"
        elif reached > e.by_hours:
            why = f"reached {e.min_priority} only at {reached:g} h"
        else:
            why = ""
        return Outcome(case, highest, reached, named, tuple(refused), not why, why)
    why = ""
    if PRIORITY_RANK[highest] > PRIORITY_RANK[e.max_priority]:
        why = f"reached {highest}, above the allowed {e.max_priority or 'no alert'}"
    elif highest is not None:
        missing = [c for c in e.differential if c not in named]
        if missing:
            why = f"the alert does not name {', '.join(missing)}"
    return Outcome(case, highest, None, named, tuple(refused), not why, why)


def short_citation(citation: str) -> str:
    """'Fader JP, et al. ... 2024;...' -> 'Fader 2024': the first author's surname (initials
    dropped, particles kept: 'dos Santos DT' -> 'dos Santos') and the first plausible year."""
    words = re.split(r",|\. ", citation, maxsplit=1)[0].split()
    if len(words) > 1 and words[-1].isupper() and len(words[-1]) <= 3:
        words = words[:-1]
    tokens = citation.replace(";", " ").replace(".", " ").replace("(", " ").split()
    year = next((w[:4] for w in tokens if w[:4].isdigit() and 1900 <= int(w[:4]) <= 2100), "")
    return f"{' '.join(words)} {year}".strip()
