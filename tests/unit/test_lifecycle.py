"""The alert lifecycle: one episode, material changes only, ack/snooze/resolve, time-driven ends."""

from __future__ import annotations

import pytest

from monitor.contracts.alerts import Alert
from monitor.contracts.events import Event
from monitor.engine import EventRejected, dumps_state, is_evictable, new_state, step, tick
from monitor.engine.state import PatientState
from monitor.knowledge.thresholds import ClinicalSettings
from tests.builders import ack, baseline, chart, epoch, lab, med, patient, vitals

CFG = ClinicalSettings()


def feed(
    events: list[Event], state: PatientState | None = None
) -> tuple[PatientState, list[Alert]]:
    state = state or new_state("p1")
    out: list[Alert] = []
    for e in sorted(events, key=lambda e: e.time):
        result = step(state, e, CFG)
        state = result.state
        out.extend(result.transitions)
    return state, out


def medium_case() -> list[Event]:
    """Exposure + mental status + rigidity = 50 points (medium) from hour 12."""
    return [med(0, "haloperidol", dose=5), chart(12, "mental_status"), chart(12, "rigidity")]


def test_opened_once_and_not_republished_on_every_vital() -> None:
    evs = medium_case() + [v for h in range(12, 20) for v in vitals(h + 0.5, hr=80, rr=16)]
    _, alerts = feed(evs)
    assert [(a.transition, a.priority) for a in alerts] == [
        ("opened", "low"),
        ("escalated", "medium"),
    ]
    assert alerts[0].time == alerts[1].time  # same charting time


def test_transition_ids_are_deterministic_and_sequenced() -> None:
    _, a1 = feed(medium_case())
    _, a2 = feed(medium_case())
    # Event ids differ between the runs; identical clinical content gives identical ids.
    assert [a.transition_id for a in a1] == [a.transition_id for a in a2]
    assert [a.sequence for a in a1] == [1, 2]
    assert len({a.transition_id for a in a1}) == 2


def test_acknowledge_then_escalation_clears_the_ack() -> None:
    state, alerts = feed(medium_case())
    aid = alerts[0].alert_id
    state, out = feed([ack(13, aid, reason="seen, reviewing")], state)
    assert [a.transition for a in out] == ["acknowledged"]
    assert out[0].acknowledged_by == "dr-on-call" and "seen, reviewing" in (out[0].reason or "")
    # Fever on two occasions + CK -> 20+13+17+18+10 = 78: high; the ack no longer applies.
    more = [*vitals(14, temp=38.7), *vitals(15, temp=38.9), lab(15, "ck", 4000, "U/L")]
    state, out = feed(more, state)
    esc = [a for a in out if a.transition == "escalated"]
    assert esc and esc[-1].priority == "high" and esc[-1].acknowledged_by is None


def test_ack_for_unknown_alert_is_rejected_and_changes_nothing() -> None:
    state, _ = feed(medium_case())
    before = state.alert
    with pytest.raises(EventRejected) as exc:
        step(state, ack(13, "nms-doesnotexist"), CFG)
    assert exc.value.rejection.reason == "unknown_alert"
    assert state.alert == before


def test_snooze_suppresses_updates_and_ends_by_itself() -> None:
    state, alerts = feed(medium_case())
    aid = alerts[0].alert_id
    until = "2026-02-02T16:00:00Z"
    state, out = feed([ack(13, aid, "snooze", until=until)], state)
    assert out[0].transition == "snoozed" and out[0].snoozed_until is not None
    # A material change during the snooze (diaphoresis + incontinence -> lability) is held back.
    state, out = feed([chart(14, "diaphoresis"), chart(14, "incontinence")], state)
    assert out == []
    # Snooze end: an 'updated' transition stamped at the snooze end, via tick (no new event).
    out = tick(state, epoch(17), CFG)
    assert [(a.transition, a.reason) for a in out] == [("updated", "snooze ended")]
    assert out[0].time.isoformat().startswith("2026-02-02T16:00")
    assert out[0].score == 60 and out[0].snoozed_until is None


def test_snooze_default_and_maximum() -> None:
    state, alerts = feed(medium_case())
    aid = alerts[0].alert_id
    _, out = feed([ack(13, aid, "snooze")], state)
    assert out[0].snoozed_until is not None
    assert out[0].snoozed_until.timestamp() == epoch(14)  # default 60 min
    state2, alerts2 = feed(medium_case())
    _, out = feed([ack(13, alerts2[0].alert_id, "snooze", until="2026-02-05T00:00:00Z")], state2)
    assert out[0].snoozed_until is not None
    assert out[0].snoozed_until.timestamp() == epoch(13 + 24)
    assert "maximum" in (out[0].reason or "")


def test_snooze_into_the_past_is_rejected() -> None:
    state, alerts = feed(medium_case())
    with pytest.raises(EventRejected) as exc:
        step(state, ack(13, alerts[0].alert_id, "snooze", until="2026-02-02T12:30:00Z"), CFG)
    assert exc.value.rejection.reason == "invalid_snooze"


def test_refused_snooze_leaves_a_pending_escalation_to_be_published() -> None:
    """Regression: an invalid snooze arriving while a vital-sign change awaits evaluation (the
    5-minute interval) used to evaluate first, escalate to high, and then be refused: the
    escalation was never published and later evaluations saw the alert as already high."""
    events = [
        *baseline(0, 12),
        med(0, "haloperidol", dose=5),
        chart(12, "mental_status"),
        chart(12, "rigidity"),
        chart(12, "diaphoresis"),
        lab(12, "ck", 4000, "U/L"),
    ]
    state, alerts = feed([*events, *vitals(20, hr=120)])
    # 20:00 heart rate: evaluated (first vital of the interval), publishing the held CK update.
    assert (alerts[-1].transition, alerts[-1].priority, alerts[-1].score) == (
        "updated",
        "medium",
        60,
    )
    # 20:01 RR and SBP: pending (lability a + c and hypermetabolism would make 75 = high).
    state, out = feed(vitals(20 + 1 / 60, rr=30, sbp=170), state)
    assert out == []
    before = dumps_state(state)
    bad = ack(20 + 2 / 60, alerts[0].alert_id, "snooze", until="2026-02-02T19:00:00Z")
    with pytest.raises(EventRejected) as exc:
        step(state, bad, CFG)
    assert exc.value.rejection.reason == "invalid_snooze"
    assert dumps_state(state) == before
    out = tick(state, epoch(20 + 4 / 60), CFG)
    assert [(a.transition, a.priority, a.score) for a in out] == [("escalated", "high", 75)]


def test_escalation_breaks_a_snooze() -> None:
    state, alerts = feed(medium_case())
    state, _ = feed([ack(13, alerts[0].alert_id, "snooze", until="2026-02-02T20:00:00Z")], state)
    _, out = feed(
        [*vitals(14, temp=38.7), *vitals(15, temp=38.9), lab(15, "ck", 4000, "U/L")], state
    )
    assert any(a.transition == "escalated" and a.priority == "high" for a in out)
    assert out[-1].snoozed_until is None


def test_clinician_resolve_suppresses_reopen_at_same_priority() -> None:
    state, alerts = feed(medium_case())
    state, out = feed([ack(13, alerts[0].alert_id, "resolve", reason="catatonia, not NMS")], state)
    assert out[0].transition == "resolved" and out[0].status == "resolved"
    # Same picture charted again: no new alert.
    state, out = feed([chart(14, "rigidity"), chart(14, "mental_status")], state)
    assert out == []
    # Worse than when resolved (high): a new episode with a new id.
    state, out = feed(
        [*vitals(15, temp=38.7), *vitals(16, temp=38.9), lab(16, "ck", 4000, "U/L")], state
    )
    opened = [a for a in out if a.transition == "opened"]
    assert opened and opened[0].priority == "high" and opened[0].alert_id != alerts[0].alert_id


def test_resolves_after_criteria_clear_for_configured_time() -> None:
    state, _ = feed(medium_case())
    # Exposure ends 72 h after the dose (hour 72); signs expire 24 h after charting (hour 36).
    state, out = feed([chart(20, "rigidity", False), chart(20, "mental_status", False)], state)
    assert out == []  # clearing starts; nothing published yet
    out = tick(state, epoch(43), CFG)
    assert out == []  # 23 h clear
    out = tick(state, epoch(45), CFG)
    assert [(a.transition, a.status) for a in out] == [("resolved", "resolved")]
    assert out[0].time.timestamp() == epoch(44)  # stamped when it fell due
    assert state.alert is None


def test_deescalation_waits_for_hold_time() -> None:
    state, _ = feed(medium_case())
    # Rigidity charted absent at 14: 33 points -> low, but only after 6 h of it.
    state, out = feed([chart(14, "rigidity", False)], state)
    assert out == []
    out = tick(state, epoch(19.9), CFG)
    assert out == []
    out = tick(state, epoch(20.1), CFG)
    assert [(a.transition, a.priority) for a in out] == [("deescalated", "low")]
    assert out[0].time.timestamp() == epoch(20)


def test_updated_at_most_once_per_interval() -> None:
    state, _ = feed(medium_case() + baseline(0, 12))
    # 14:00 diaphoresis (1 sign), 14:10 incontinence (lability: +10) -> updated
    state, out = feed([chart(14, "diaphoresis"), chart(14 + 1 / 6, "incontinence")], state)
    assert [a.transition for a in out] == ["updated"]
    # 14:20 incontinence absent (score back), 14:30 present again: within the hour, held back.
    state, out = feed([chart(14 + 2 / 6, "incontinence", False)], state)
    assert out == []


def test_discharge_resolves_and_state_can_be_evicted() -> None:
    state, _ = feed([patient(0, location="ICU-1"), *medium_case()])
    state, out = feed([patient(30, "discharge")], state)
    assert [(a.transition, a.reason) for a in out] == [("resolved", "patient discharged")]
    assert not is_evictable(state, epoch(30 + 47), CFG)
    assert is_evictable(state, epoch(30 + 49), CFG)


def test_inactive_state_is_evictable_but_not_with_an_open_alert() -> None:
    state, _ = feed(vitals(0, hr=80))
    assert not is_evictable(state, epoch(24 * 13), CFG)
    assert is_evictable(state, epoch(24 * 15), CFG)
    state, _ = feed(medium_case())
    assert not is_evictable(state, epoch(24 * 30), CFG)
