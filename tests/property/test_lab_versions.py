"""Versions of lab results (contract version 3) as invariants, over random stories of several
results and codes: the answer does not depend on arrival order or on saving and loading the
state, it is the latest version of each result, and a refused version changes nothing."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.contracts.events import Event, LabEvent
from monitor.engine import dumps_state, loads_state, new_state, step
from monitor.engine.ingest import version_key
from monitor.engine.state import PatientState
from monitor.errors import EventRejected
from monitor.knowledge.thresholds import ClinicalSettings
from tests.builders import at, event

CFG = ClinicalSettings()
UNITS = {"ck": "U/L", "wbc": "10*9/L"}
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def versions(draw: Any, late: bool = False) -> list[Event]:
    """Up to six versions of three results (each result keeps one code and one observation
    time, as a lab sends them), issue times distinct, equal or missing."""
    n = draw(st.integers(1, 6))
    out: list[Event] = []
    for i in range(n):
        rid = draw(st.sampled_from(["L1", "L2", "L3"]))
        code = "ck" if rid != "L3" else "wbc"
        status = draw(st.sampled_from(["final", "corrected", "entered-in-error"]))
        fields: dict[str, Any] = {
            "code": code,
            "unit": UNITS[code],
            "status": status,
            "result_id": rid,
            "event_id": f"v{i}",
        }
        issued = draw(st.sampled_from([None, 3, 5, 7, 9]))
        if issued is not None:
            fields["issued"] = at(issued)
        if status == "final" or draw(st.booleans()):
            fields["value"] = float(draw(st.sampled_from([100, 900, 5_000, 40_000])))
        hours = {"L1": 1.0, "L2": 2.0, "L3": 2.0}[rid]
        out.append(event("lab", hours, "p1", **fields))
    if late:  # time passes past the lateness in between
        out.insert(
            draw(st.integers(0, len(out))),
            event("vital", 60, "p1", code="heart_rate", value=80, unit="/min"),
        )
    return out


def run(events: list[Event], roundtrip: bool = False) -> PatientState:
    state = new_state("p1")
    for ev in events:
        state = step(state, ev, CFG).state
        if roundtrip:
            state = loads_state(dumps_state(state))
    return state


def counted(state: PatientState) -> dict[str, list[tuple[float, float, str]]]:
    return {c: sorted((r[0], r[1], r[3]) for r in rs) for c, rs in state.labs.items() if rs}


def latest(events: list[Event]) -> dict[str, list[tuple[float, float, str]]]:
    """What should count: per result, its latest version's value (none when that withdraws)."""
    best: dict[str, LabEvent] = {}
    for ev in events:
        if not isinstance(ev, LabEvent) or ev.result_id is None:
            continue
        if ev.result_id not in best or version_key(ev) > version_key(best[ev.result_id]):
            best[ev.result_id] = ev
    out: dict[str, list[tuple[float, float, str]]] = {}
    for ev in best.values():
        if ev.value is not None and ev.status != "entered-in-error":
            canonical = ev.value  # both codes are in their canonical units here
            out.setdefault(ev.code, []).append((ev.time.timestamp(), canonical, ev.event_id))
    return {c: sorted(v) for c, v in out.items()}


@PROPS
@given(versions(), st.randoms(use_true_random=False))
def test_the_latest_version_of_each_result_counts_in_any_order(
    events: list[Event], rnd: Any
) -> None:
    expected = latest(events)
    assert counted(run(events)) == expected
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert counted(run(shuffled)) == expected
    assert counted(run(shuffled, roundtrip=True)) == expected


@PROPS
@given(versions(late=True))
def test_late_versions_of_kept_results_give_the_same_answer_as_in_time(
    events: list[Event],
) -> None:
    """A heart rate 60 h on puts every later version 58-59 h behind the clock: those of results
    already kept are applied as if in time (the answer is that of the story without the delay),
    and those of results never seen are refused."""
    labs = [e for e in events if isinstance(e, LabEvent)]
    state = new_state("p1")
    applied: list[Event] = []
    for ev in events:
        try:
            state = step(state, ev, CFG).state
        except EventRejected as exc:
            assert exc.rejection.reason == "too_late"
            assert isinstance(ev, LabEvent) and ev.result_id not in state.lab_versions
            continue
        applied.append(ev)
    assert counted(state) == latest([e for e in applied if e in labs])


@st.composite
def refusable(draw: Any, i: int) -> Event:
    status = draw(st.sampled_from(["final", "corrected", "entered-in-error"]))
    fields: dict[str, Any] = {
        "code": "ck",
        "unit": "U/L",
        "status": status,
        "result_id": draw(st.sampled_from(["A", "B"])),
        "event_id": f"e{i}",
    }
    if draw(st.booleans()):
        fields["issued"] = at(draw(st.integers(0, 200)))
    if status == "final" or draw(st.booleans()):
        fields["value"] = draw(st.sampled_from([100.0, 5_000.0, -5.0, 1e9]))
    return event("lab", draw(st.sampled_from([0.0, 1.0, 60.0, 120.0])), "p1", **fields)


@PROPS
@given(st.data())
def test_a_refused_version_changes_nothing(data: Any) -> None:
    state = new_state("p1")
    for i in range(data.draw(st.integers(1, 10))):
        ev = data.draw(refusable(i))
        before, memo = dumps_state(state), copy.deepcopy(state.memo.labs)
        try:
            state = step(state, ev, CFG).state
        except EventRejected:
            assert dumps_state(state) == before and state.memo.labs == memo


def ck_version(eid: str, status: str, value: float | None, issued: int | None) -> Event:
    fields: dict[str, Any] = {"code": "ck", "unit": "U/L", "result_id": "L1", "status": status}
    if value is not None:
        fields["value"] = value
    if issued is not None:
        fields["issued"] = at(issued)
    return event("lab", 1, "p1", event_id=eid, **fields)


def test_every_order_of_four_versions_gives_one_answer() -> None:
    """Exhaustively, for one mix of equal, missing and distinct issue times."""
    mix = [
        ck_version("a", "final", 100, None),
        ck_version("b", "corrected", 900, 5),
        ck_version("c", "entered-in-error", None, 5),
        ck_version("d", "corrected", 5000, 5),
    ]
    answers = {str(counted(run(list(p)))) for p in itertools.permutations(mix)}
    assert answers == {"{}"}  # the withdrawal at 5 h ranks above both corrections at 5 h
