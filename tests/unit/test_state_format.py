"""The serialised state's versions: old bytes load through the migrations, unknown ones do not.

``tests/data/state_v1.json`` was written by the version-1 code (commit 1f10316) from the events in
``v1_events``: an open alert, doses, a dopaminergic stop, charting, GCS, temperatures and a CK.
``tests/data/state_v2.json`` was written by the version-2 code (commit c0c34db): a haloperidol
decanoate injection (a long-acting flag then, a product now) and an oral olanzapine dose.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor.engine import dumps_state, loads_state, step, tick
from monitor.engine.serde import VERSION, StateFormatError
from monitor.engine.state import new_state
from monitor.knowledge.thresholds import ClinicalSettings
from tests.builders import baseline, chart, epoch, gcs, lab, med, patient, vital, vitals

CFG = ClinicalSettings()
V1 = Path(__file__).parent.parent / "data" / "state_v1.json"
V2 = Path(__file__).parent.parent / "data" / "state_v2.json"


def v1_events() -> list[object]:
    """The events the version-1 bytes were written from (kept to document the fixture)."""
    return [
        patient(0, sex="female", location="ICU-1 bed 2", history=["schizophrenia"]),
        *baseline(0, 12),
        med(0, "haloperidol", route="im", dose=5),
        med(12, "levodopa", dose=100),
        med(20, "levodopa", action="discontinued"),
        chart(24, "mental_status"),
        gcs(24, 12),
        chart(26, "rigidity"),
        *vitals(28, temp=38.6, hr=118, rr=28, sbp=165, dbp=100),
        *vitals(29, temp=38.9),
        lab(30, "ck", 3000, "U/L", reference_high=200),
    ]


def test_a_version_1_state_loads_and_is_written_as_the_current_version() -> None:
    raw = V1.read_bytes()
    assert orjson.loads(raw)["v"] == 1
    state = loads_state(raw)
    assert state.patient_id == "p1" and state.sex == "female"
    assert state.location == "ICU-1 bed 2" and state.history == {"schizophrenia"}
    assert state.alert is not None and state.alert.priority == "high"
    assert set(state.meds) == {"haloperidol", "levodopa"}
    assert state.meds["levodopa"].discontinued_at == epoch(20)
    assert state.charted["rigidity"][1] and state.gcs[-1][1] == 12
    assert state.labs["ck"][0][2] == 200
    assert state.latest == {}  # not in version 1: rebuilt from the next readings
    out = dumps_state(state)
    assert orjson.loads(out)["v"] == VERSION
    assert dumps_state(loads_state(out)) == out


def test_a_migrated_state_carries_its_episode_on() -> None:
    """After the migration the patient's episode carries on: the same alert, its sequence
    continued, no second 'opened'; and it behaves the same written again as the new version."""
    migrated = loads_state(V1.read_bytes())
    again = loads_state(dumps_state(migrated))
    assert migrated.alert is not None
    alert_id, seq = migrated.alert.alert_id, migrated.alert.seq
    later = [
        chart(31, "diaphoresis"),
        *vitals(34, temp=39.1, hr=120, rr=28, sbp=170, dbp=100),
        chart(40, "rigidity", present=False),
        chart(40, "mental_status", present=False),
    ]
    got = [a for e in later for a in step(migrated, e, CFG).transitions]
    got += tick(migrated, epoch(60), CFG)
    assert got, "the changes after the migration are published"
    assert {a.alert_id for a in got} == {alert_id}
    assert [a.sequence for a in got] == list(range(seq, seq + len(got)))
    assert "opened" not in {a.transition for a in got}
    same = [a for e in later for a in step(again, e, CFG).transitions]
    same += tick(again, epoch(60), CFG)
    assert same == got


@pytest.mark.parametrize("version", [0, 99, None, "1"])
def test_unknown_versions_are_refused(version: object) -> None:
    obj = orjson.loads(V1.read_bytes())
    obj["v"] = version
    with pytest.raises(StateFormatError, match="unsupported state version"):
        loads_state(orjson.dumps(obj))


def test_bytes_that_are_not_a_state_are_refused() -> None:
    with pytest.raises(StateFormatError):
        loads_state(b"\x00\xff not json")


def test_a_version_2_long_acting_dose_counts_for_its_drugs_longest_horizon() -> None:
    """Version 2 kept only a long-acting flag: the dose becomes 'any product of haloperidol',
    which counts for the longest haloperidol product horizon (never less than before)."""
    assert orjson.loads(V2.read_bytes())["v"] == 2
    state = loads_state(V2.read_bytes())
    (depot,) = state.meds["haloperidol"].doses
    assert depot[3] == "*haloperidol"
    assert state.meds["olanzapine"].doses[0][3] is None
    longest = max(
        p.horizon_days
        for p in CFG.drugs.catalogue.products.values()
        if p.ingredient == "haloperidol"
    )
    assert CFG.drugs.horizon_days(depot[3], CFG.depot_exposure_days) == longest >= 28
    out = dumps_state(state)
    assert orjson.loads(out)["v"] == VERSION and loads_state(out).meds == state.meds


def test_a_restored_state_picks_the_same_highest_temperature_as_the_live_one() -> None:
    """103.7 F at a core site is not exact in six decimals: a rounded maximum read back made a
    later equal reading win the hour, and the alert cited another reading than the live run
    (found in review of the offline path, which spills idle states to disk)."""
    cfg = ClinicalSettings()
    story = [
        med(0, "haloperidol", dose=10, dose_unit="mg", route="im"),
        vital(15.25, "temperature", 103.7, "[degF]", site="core"),
        None,  # the state saved and read back here, or not
        vital(15.75, "temperature", 103.7, "[degF]", site="core"),
        chart(15.8, "rigidity"),
        lab(15.9, "ck", 5000, "U/L"),
    ]

    def replay(round_trip: bool) -> tuple[bytes, list[dict[str, object]]]:
        state = new_state("p1")
        out: list[dict[str, object]] = []
        for ev in story:
            if ev is None:
                if round_trip:
                    state = loads_state(dumps_state(state))
                continue
            result = step(state, ev, cfg)
            state = result.state
            out += [a.model_dump(mode="json") for a in result.transitions]
        return dumps_state(state), out

    live, restored = replay(False), replay(True)
    assert live[1], "the story must alert for the evidence to be compared"
    assert restored == live
