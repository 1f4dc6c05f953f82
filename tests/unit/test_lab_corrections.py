"""Corrected and withdrawn lab results (event contract version 3: result_id, status, issued).

A lab system that corrects a result (HL7 v2 OBX-11 ``C``, FHIR ``corrected``/``amended``) means
the earlier value was wrong; one that marks it entered in error (``W``, ``entered-in-error``)
means it was never this patient's. Both must change what the criteria see, whichever order the
versions arrive in.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.contracts.decode import decode_event
from monitor.contracts.events import EVENT_ADAPTER, Event
from monitor.engine import dumps_state, loads_state, new_state, step
from monitor.engine.ingest import MAX_VERSIONS
from monitor.engine.score import evaluate
from monitor.engine.state import PatientState
from monitor.errors import DecodeError, EventRejected
from monitor.knowledge.iec import CRITERIA
from monitor.knowledge.thresholds import ClinicalSettings
from tests.builders import at, epoch, event, lab, med, patient

CFG = ClinicalSettings()
CK_BIT = 1 << [name for name, _ in CRITERIA].index("ck_elevation")


def ck(
    hours: float,
    value: float | None,
    rid: str | None,
    status: str = "final",
    issued: float | None = None,
    eid: str | None = None,
) -> Event:
    fields: dict[str, Any] = {"code": "ck", "unit": "U/L", "status": status}
    if value is not None:
        fields["value"] = value
    if rid is not None:
        fields["result_id"] = rid
    if issued is not None:
        fields["issued"] = at(issued)
    if eid is not None:
        fields["event_id"] = eid
    return event("lab", hours, "p1", **fields)


def run(events: list[Event]) -> PatientState:
    state = new_state("p1")
    for ev in events:
        state = step(state, ev, CFG).state
    return state


def ck_values(state: PatientState) -> list[float]:
    return [r[1] for r in state.labs.get("ck", [])]


def ck_met(state: PatientState, hours: float) -> bool:
    return bool(evaluate(state, epoch(hours), CFG).met_mask & CK_BIT)


BASE = [patient(0, sex="male"), med(0, "haloperidol 5 mg IV", dose=5, dose_unit="mg")]

# (case, events after BASE, CK values that count, CK criterion met at 10 h)
CASES = [
    ("a final result counts", [ck(2, 12_000, "L1")], [12_000], True),
    (
        "a correction replaces it",
        [ck(2, 12_000, "L1"), ck(2, 120, "L1", "corrected")],
        [120],
        False,
    ),
    (
        "a correction upwards replaces it too",
        [ck(2, 120, "L1"), ck(2, 12_000, "L1", "corrected")],
        [12_000],
        True,
    ),
    (
        "entered in error withdraws it",
        [ck(2, 12_000, "L1"), ck(2, None, "L1", "entered-in-error")],
        [],
        False,
    ),
    (
        "entered in error, with the wrong value repeated, withdraws it",
        [ck(2, 12_000, "L1"), ck(2, 12_000, "L1", "entered-in-error")],
        [],
        False,
    ),
    (
        "another result is untouched",
        [ck(2, 12_000, "L1"), ck(3, 1_500, "L2"), ck(2, None, "L1", "entered-in-error")],
        [1_500],
        True,
    ),
    (
        "results without an identity all count, as before",
        [ck(2, 12_000, None), ck(2, 120, None)],
        [120, 12_000],
        True,
    ),
    (
        "an older version arriving later is kept out",
        [ck(2, 120, "L1", "corrected", issued=9), ck(2, 12_000, "L1", issued=3)],
        [120],
        False,
    ),
    (
        "a withdrawal issued before a re-issue does not undo it",
        [ck(2, 900, "L1", "corrected", issued=9), ck(2, None, "L1", "entered-in-error", issued=5)],
        [900],
        False,
    ),
    (
        "without issue times a correction still comes after the final result",
        [ck(2, 120, "L1", "corrected"), ck(2, 12_000, "L1")],
        [120],
        False,
    ),
    (
        "at equal issue times a correction comes after the final result",
        [ck(2, 120, "L1", "corrected", issued=3), ck(2, 12_000, "L1", issued=3)],
        [120],
        False,
    ),
    (
        "a version without an issue time comes before one with it",
        [ck(2, 12_000, "L1", issued=3), ck(2, 120, "L1", "corrected")],
        [12_000],
        True,
    ),
    (
        "a correction without a value withdraws the result",
        [ck(2, 12_000, "L1"), ck(2, None, "L1", "corrected")],
        [],
        False,
    ),
    (
        "a result re-issued after a withdrawal counts again",
        [
            ck(2, 12_000, "L1", issued=3),
            ck(2, None, "L1", "entered-in-error", issued=4),
            ck(2, 9_000, "L1", "corrected", issued=6),
        ],
        [9_000],
        True,
    ),
    (
        "a withdrawal of a result never seen is remembered",
        [ck(2, None, "L1", "entered-in-error", issued=5), ck(2, 12_000, "L1", issued=3)],
        [],
        False,
    ),
]


@pytest.mark.parametrize(("case", "events", "values", "met"), CASES, ids=[c[0] for c in CASES])
def test_versions_of_a_result(
    case: str, events: list[Event], values: list[float], met: bool
) -> None:
    state = run([*BASE, *events])
    assert sorted(ck_values(state)) == sorted(values)
    assert ck_met(state, 10) is met


def test_a_correction_lowers_an_open_alert() -> None:
    """The engine re-evaluates on the correction: the CK points leave the score at once."""
    story = [
        *BASE,
        event("assessment", 1, "p1", code="rigidity", present=True),
        event("assessment", 1, "p1", code="mental_status", present=True),
    ]
    state = run([*story, ck(2, 40_000, "L1")])
    before = evaluate(state, epoch(2), CFG)
    state = step(state, ck(2.5, 200, "L1", "corrected", eid="fix"), CFG).state
    after = evaluate(state, epoch(2.5), CFG)
    assert before.met_mask & CK_BIT and not after.met_mask & CK_BIT
    assert after.score == before.score - dict(CRITERIA)["ck_elevation"]


def test_an_implausible_correction_is_refused_and_changes_nothing() -> None:
    state = run([*BASE, ck(2, 12_000, "L1")])
    before = dumps_state(state)
    with pytest.raises(EventRejected) as err:
        step(state, ck(2, -5, "L1", "corrected"), CFG)
    assert err.value.rejection.reason == "implausible_value"
    assert dumps_state(state) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "corrected", "value": 120}, "needs the result_id"),
        ({"status": "entered-in-error"}, "needs the result_id"),
        ({"result_id": "L1"}, "needs a value"),
        ({}, "needs a value"),
        ({"result_id": "L1", "status": "amended", "value": 1}, "status"),
        ({"result_id": "", "value": 1}, "result_id"),
        ({"result_id": "L1", "value": 1, "issued": "2026-02-02T03:00:00"}, "issued"),
    ],
)
def test_the_contract_refuses_incomplete_versions(fields: dict[str, Any], message: str) -> None:
    raw = {
        "event_id": "x",
        "patient_id": "p1",
        "kind": "lab",
        "time": at(1),
        "code": "ck",
        "unit": "U/L",
        **fields,
    }
    with pytest.raises(DecodeError) as err:
        decode_event(orjson.dumps(raw))
    assert message in str(err.value)


def test_the_counted_versions_survive_serialisation() -> None:
    state = run([*BASE, ck(2, 12_000, "L1", issued=3), ck(2, None, "L2", "entered-in-error")])
    again = loads_state(dumps_state(state))
    assert again.lab_versions == state.lab_versions
    later = step(again, ck(2, 120, "L1", "corrected", issued=2), CFG).state  # issued earlier
    assert ck_values(later) == [12_000]


def test_remembered_versions_are_bounded() -> None:
    state = run([*BASE, *(ck(2 + i / 100, 150, f"L{i}") for i in range(MAX_VERSIONS + 40))])
    assert len(state.lab_versions) == MAX_VERSIONS
    assert "L0" not in state.lab_versions and f"L{MAX_VERSIONS + 39}" in state.lab_versions


def test_versions_are_forgotten_with_their_results() -> None:
    state = run([*BASE, ck(2, 12_000, "L1"), lab(200, "wbc", 8, "10*9/L")])
    assert "L1" not in state.lab_versions  # older than any lab window plus the lateness


VERSIONS = [
    ck(2, 12_000, "L1", "final", issued=3, eid="v1"),
    ck(2, 2_000, "L1", "corrected", issued=5, eid="v2"),
    ck(2, None, "L1", "entered-in-error", issued=7, eid="v3"),
    ck(2, 1_300, "L1", "corrected", issued=9, eid="v4"),
]


@settings(max_examples=60, deadline=None)
@given(
    chosen=st.lists(st.sampled_from(range(len(VERSIONS))), min_size=1, unique=True),
    order=st.randoms(use_true_random=False),
)
def test_the_latest_issued_version_counts_in_any_arrival_order(
    chosen: list[int], order: Any
) -> None:
    """Whatever subset of versions arrives, in whatever order, the state holds exactly the
    latest issued one (nothing when that is a withdrawal)."""
    events = [VERSIONS[i] for i in chosen]
    order.shuffle(events)
    state = run([*BASE, *events])
    latest = VERSIONS[max(chosen)]
    assert ck_values(state) == (
        [] if latest.value is None or latest.status == "entered-in-error" else [latest.value]
    )
    permutations = itertools.islice(itertools.permutations(events), 6)
    for perm in permutations:
        assert run([*BASE, *perm]).labs == state.labs


@pytest.mark.parametrize("index", range(len(VERSIONS)))
def test_versions_survive_the_wire(index: int) -> None:
    """As the adapters publish them (JSON without nulls) and the worker decodes them."""
    original = VERSIONS[index]
    wire = EVENT_ADAPTER.dump_json(original, exclude_none=True)
    assert decode_event(wire) == original


def test_a_format_4_state_loads_knowing_no_versions() -> None:
    state = run([*BASE, ck(2, 12_000, None)])
    written = orjson.loads(dumps_state(state))
    del written["lv"]
    written["v"] = 4
    again = loads_state(orjson.dumps(written))
    assert again.lab_versions == {} and again.labs == state.labs


def test_a_late_version_of_a_kept_result_is_applied_and_of_an_unknown_one_refused() -> None:
    """A correction keeps its original's observation time, so it may come more than the allowed
    lateness behind the clock; it only replaces a result the state still keeps."""
    hr = event("vital", 60, "p1", code="heart_rate", value=80, unit="/min")
    state = run([*BASE, ck(2, 12_000, "L1"), hr])
    state = step(state, ck(2, 120, "L1", "corrected", issued=59), CFG).state
    assert ck_values(state) == [120] and not ck_met(state, 60)
    before = dumps_state(state)
    with pytest.raises(EventRejected) as err:
        step(state, ck(2, 120, "L9", "corrected"), CFG)
    assert err.value.rejection.reason == "too_late" and dumps_state(state) == before


def test_a_counted_version_is_never_forgotten_for_the_bound() -> None:
    """Beyond the bound the versions forgotten are withdrawals and versions whose value has left
    the kept results, never one that still counts."""
    first = ck(2, 12_000, "L1")
    others = [ck(2 + i / 100, None, f"W{i}", "entered-in-error") for i in range(MAX_VERSIONS + 5)]
    state = run([*BASE, first, *others])
    assert "L1" in state.lab_versions and len(state.lab_versions) == MAX_VERSIONS
    state = step(state, ck(2, None, "L1", "entered-in-error", eid="late-w"), CFG).state
    assert ck_values(state) == []


def version(n: int, issued: int | None, status: str, value: float) -> Event:
    return ck(2, None if status == "entered-in-error" else value, "L1", status, issued, f"v{n}")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, 3, 5]),
            st.sampled_from(["final", "corrected", "entered-in-error"]),
            st.sampled_from([120.0, 900.0, 12_000.0]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_versions_with_equal_or_missing_issue_times_give_one_answer_in_every_order(
    spec: list[tuple[int | None, str, float]],
) -> None:
    events = [version(n, *v) for n, v in enumerate(spec)]
    answers = {
        orjson.dumps(run([*BASE, *perm]).labs.get("ck", []))
        for perm in itertools.permutations(events)
    }
    assert len(answers) == 1
