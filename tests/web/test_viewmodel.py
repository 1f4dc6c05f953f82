"""The dashboard's view model without a browser: sorting, grouping, what each transition shows."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from monitor.contracts.alerts import Alert
from monitor.web import texts
from monitor.web import viewmodel as vm
from monitor.web.store import AlertStore, compress
from tests.web.factory import T0, alert, story

UTC = ZoneInfo("UTC")
H = dt.timedelta(hours=1)
NOW = T0 + 10 * H


def summaries(*alerts: Alert) -> list[vm.AlertSummary]:
    store = AlertStore()
    store.apply([(a, compress(a.model_dump_json().encode())) for a in alerts], 0.0)
    return store.open_alerts()


def ids(view: vm.WardView, group: str) -> list[str]:
    (section,) = [s for s in view.sections if s.group == group]
    return [c.patient_id for c in section.cards]


def test_ward_orders_by_priority_then_most_recent_priority_change() -> None:
    view = vm.ward(
        summaries(
            alert("low-old", "low", at=T0),
            alert("high-old", "high", at=T0),
            alert("high-new", "high", at=T0 + 2 * H),
            alert("medium", "medium", at=T0 + H),
            # Escalated long ago, updated recently: the escalation time counts, not the update.
            alert("high-updated", "high", "updated", 2, at=T0 + 3 * H, opened_at=T0 - 5 * H),
        ),
        NOW,
        UTC,
    )
    assert [s.group for s in view.sections] == ["high", "medium", "low", "snoozed"]
    assert ids(view, "high") == ["high-new", "high-old", "high-updated"]
    assert ids(view, "medium") == ["medium"]
    assert ids(view, "low") == ["low-old"]
    assert view.total == 5
    keys = [c.sort_key for s in view.sections for c in s.cards if s.group == "high"]
    assert keys == sorted(keys), "the page inserts live cards by comparing these strings"


def test_snoozed_alerts_are_grouped_apart_and_resolved_ones_leave_the_ward() -> None:
    snoozed = alert("sn", "high", "snoozed", 2, snoozed_until=(NOW + H).isoformat())
    resolved = alert("gone", "high", "resolved", 3, status="resolved", reason="resolved by x")
    view = vm.ward(summaries(snoozed, resolved, alert("open", "medium")), NOW, UTC)
    assert ids(view, "snoozed") == ["sn"]
    assert ids(view, "high") == []
    assert view.total == 2
    (card,) = [c for s in view.sections for c in s.cards if c.patient_id == "sn"]
    assert card.state == "snoozed"
    assert card.state_text == "Snoozed until 04 Mar 17:00"


@pytest.mark.parametrize(
    ("transition", "extra", "state", "text"),
    [
        ("opened", {}, "unacknowledged", "Not acknowledged"),
        ("acknowledged", {"acknowledged_by": "rn.lee"}, "acknowledged", "Acknowledged by rn.lee"),
        # An escalation clears the acknowledgement (the engine sends acknowledged_by null).
        ("escalated", {}, "unacknowledged", "Not acknowledged"),
        ("updated", {"reason": "snooze ended"}, "unacknowledged", "Not acknowledged"),
    ],
)
def test_state_shown_for_each_transition(
    transition: str, extra: dict[str, str], state: str, text: str
) -> None:
    c = vm.card(alert(transition=transition, sequence=2, **extra), T0, NOW, UTC)
    assert (c.state, c.state_text, c.transition) == (state, text, transition)
    assert c.open


def test_card_shows_score_criteria_exposure_and_times() -> None:
    a = alert(
        "p-7",
        "high",
        at=T0,
        opened_at=T0 - 4 * H,
        differential=[{"condition": "serotonin_syndrome", "reason": "sertraline within 24 h"}],
    )
    c = vm.card(a, T0 - H, NOW, ZoneInfo("Europe/Zurich"))
    assert (c.score, c.cutoff, c.max_computable) == (83, 74, 93)
    assert (c.priority_word, c.mark) == ("HIGH", "!!!")
    assert [k.name for k in c.met] == [
        "exposure", "hyperthermia", "rigidity", "mental_status", "ck_elevation", "hypermetabolism",
    ]  # fmt: skip
    assert "Negative work-up for other causes" in c.not_met
    (hr,) = next(k for k in c.met if k.name == "hypermetabolism").evidence
    assert (hr.what, hr.value, hr.threshold, hr.baseline) == (
        "heart rate", "121 /min", "threshold 100 /min", "baseline 80 /min",
    )  # fmt: skip
    (temp,) = next(k for k in c.met if k.name == "hyperthermia").evidence
    assert temp.value == "38.9 °C"
    assert temp.when.text == "04 Mar 07:00"  # shown in the configured zone (UTC+1)
    (drug,) = c.drugs
    assert (drug.drug, drug.route, drug.depot) == ("haloperidol", "im", "")
    assert drug.last_dose.ago == "15 h ago"
    assert c.opened.ago == "14 h ago"
    assert c.priority_since.ago == "11 h ago"
    assert c.newest_evidence is not None and c.newest_evidence.ago == "10 h ago"
    assert c.differential == (("serotonin syndrome", "sertraline within 24 h"),)
    assert [s.name for s in c.sparks] == [
        "Temperature", "Heart rate", "Systolic BP", "Diastolic BP", "Respiratory rate", "CK",
    ]  # fmt: skip


def test_long_acting_product_is_shown_as_the_depot() -> None:
    a = alert()
    drugs = [
        a.exposure.drugs[0].model_copy(
            update={"long_acting": True, "product": "haloperidol decanoate", "route": "im"}
        )
    ]
    a = a.model_copy(update={"exposure": a.exposure.model_copy(update={"drugs": drugs})})
    assert vm.card(a, T0, NOW, UTC).drugs[0].depot == "haloperidol decanoate"


def test_priority_since_is_the_latest_priority_change() -> None:
    s = story("p-3")
    assert vm.priority_since(s[:3]) == s[1].time  # escalated to medium, then only updated
    assert vm.priority_since(s) == s[3].time  # escalated to high, then acknowledged


def test_patient_view_lists_every_transition_newest_first_with_the_latest_trends() -> None:
    first = [
        *story("p-4"),
        alert("p-4", "high", "resolved", 6, at=T0 + 7 * H, opened_at=T0, status="resolved"),
    ]
    second = [alert("p-4", "low", at=T0 + 30 * H, alert_id="nms-second")]
    view = vm.patient("p-4", [first, second], T0 + 31 * H, UTC)
    assert [e.alert_id for e in view.episodes] == ["nms-second", first[0].alert_id]
    assert [e.open for e in view.episodes] == [True, False]
    assert [t.sequence for t in view.episodes[1].transitions] == [6, 5, 4, 3, 2, 1]
    assert [t.card.transition for t in view.episodes[1].transitions][:2] == [
        "resolved",
        "acknowledged",
    ]
    assert view.episodes[1].transitions[1].card.state_text == "Acknowledged by dr.kim"
    assert len(view.sparks) == 6 and all(len(s.dots) >= 2 for s in view.sparks[:5])
    assert view.trends_from is not None and view.trends_to is not None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "just now"), (59, "just now"), (60, "1 min"), (3600, "1 h"), (3660 + 1800, "1 h 31 min"),
     (47 * 3600, "47 h"), (49 * 3600, "2 d 1 h"), (72 * 3600, "3 d"), (-600, "10 min")],
)  # fmt: skip
def test_duration(seconds: float, text: str) -> None:
    assert texts.duration(seconds) == text


def test_future_times_read_in() -> None:
    assert texts.when(NOW + H, NOW, UTC).ago == "in 1 h"
