"""One pure mapping per receiver: Alertmanager alerts, PagerDuty events, signed webhooks; and
what a page may say (location, condition, priority, score, a link; no patient identifier)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from monitor.forward import alertmanager as am
from monitor.forward import pagerduty, webhook
from monitor.forward.outcome import Answer, backoff_s, parse_retry_after, verdict
from monitor.forward.summary import link, rfc3339, summary
from tests.forward.kit import HMAC_SECRET, ROUTING_KEY, lifecycle
from tests.web.factory import T0, alert

DASH = "https://nms.example.org/"
NOW = T0.timestamp() + 3 * 3600.0
PATIENT = "MRN-778899"


def text_of(obj: object) -> str:
    return orjson.dumps(obj).decode()


# --- what a page says -------------------------------------------------------------------------


def test_summary_has_location_condition_priority_and_score_only() -> None:
    a = alert(PATIENT, "high", location="ICU-2 bed 14")
    assert summary(a) == "NMS suspected, HIGH priority: score 83/74, ICU-2 bed 14"
    assert summary(alert(PATIENT, "high", location=None)).endswith("location not given")
    assert link(DASH, a) == f"https://nms.example.org/alerts/{a.alert_id}"
    assert link(None, a) is None


def test_no_mapping_but_the_webhook_carries_the_patient_or_the_evidence() -> None:
    for a in lifecycle(PATIENT):
        for action in ("notify", "withdraw"):
            body, _ = am.transition_body(a, action, None, None, DASH, NOW, 60)
            event = pagerduty.event(a, action, ROUTING_KEY, DASH)
            for shown in (text_of(body), text_of(event)):
                assert PATIENT not in shown
                assert "haloperidol" not in shown and "38.9" not in shown


# --- Alertmanager -----------------------------------------------------------------------------


def test_alertmanager_labels_annotations_and_lease() -> None:
    a = alert(PATIENT, "high", location="ICU-2 bed 14", opened_at=T0)
    body, fires = am.transition_body(a, "notify", None, False, DASH, NOW, 60)
    assert len(body) == 1 and fires is not None
    (posted,) = body
    assert posted["labels"] == {
        "alertname": "NeurolepticMalignantSyndrome",
        "condition": "nms",
        "priority": "high",
        "location": "ICU-2 bed 14",
        "alert_id": a.alert_id,
    }
    assert posted["annotations"]["summary"] == summary(a)
    assert posted["annotations"]["dashboard"] == link(DASH, a)
    assert posted["generatorURL"] == link(DASH, a)
    assert posted["startsAt"] == rfc3339(T0.timestamp())
    assert posted["endsAt"] == rfc3339(NOW + 4 * 60)  # four resend intervals ahead


def test_alertmanager_resolve_ends_now_the_label_set_it_was_sent() -> None:
    story = lifecycle(PATIENT)
    _, fires = am.transition_body(story[3], "notify", None, False, DASH, NOW, 60)
    body, after = am.transition_body(story[5], "notify", fires, True, DASH, NOW + 10, 60)
    assert after is None
    assert fires is not None
    ended = {b["labels"]["priority"] for b in body}
    assert ended == {"high", "medium"}  # what it fired with, and the resolve's own label set
    assert all(b["endsAt"] == rfc3339(NOW + 10) for b in body)


def test_alertmanager_priority_change_resolves_the_old_label_set_in_the_same_request() -> None:
    story = lifecycle(PATIENT)
    _, medium = am.transition_body(story[1], "notify", None, False, DASH, NOW, 60)
    body, high = am.transition_body(story[2], "notify", medium, True, DASH, NOW, 60)
    assert [(b["labels"]["priority"], b["endsAt"]) for b in body] == [
        ("medium", rfc3339(NOW)),
        ("high", rfc3339(NOW + 240)),
    ]
    assert high is not None and high.labels["priority"] == "high"


def test_alertmanager_not_knowing_the_old_label_set_resolves_the_other_priorities() -> None:
    escalated = lifecycle(PATIENT)[2]
    body, _ = am.transition_body(escalated, "notify", None, None, DASH, NOW, 60)
    assert [b["labels"]["priority"] for b in body] == ["medium", "low", "high"]
    assert [b["endsAt"] == rfc3339(NOW) for b in body] == [True, True, False]
    # Known never to have held it: nothing to resolve.
    body, _ = am.transition_body(escalated, "notify", None, False, DASH, NOW, 60)
    assert [b["labels"]["priority"] for b in body] == ["high"]


def test_alertmanager_withdraw_ends_the_alert_there() -> None:
    story = lifecycle(PATIENT)
    _, high = am.transition_body(story[2], "notify", None, False, DASH, NOW, 60)
    body, after = am.transition_body(story[4], "withdraw", high, True, DASH, NOW, 60)
    assert after is None and [b["labels"]["priority"] for b in body] == ["high"]
    assert body[0]["endsAt"] == rfc3339(NOW)


def test_an_event_time_ahead_of_this_clock_never_makes_an_invalid_alert() -> None:
    ahead = T0 + dt.timedelta(minutes=30)
    a = alert(PATIENT, "high", "resolved", 2, at=ahead, opened_at=ahead, status="resolved")
    body, _ = am.transition_body(a, "notify", None, False, DASH, T0.timestamp(), 60)
    for b in body:
        assert b["startsAt"] <= b["endsAt"]


def test_resend_renews_the_lease() -> None:
    _, fires = am.transition_body(alert(PATIENT), "notify", None, False, DASH, NOW, 60)
    assert fires is not None
    (again,) = am.resend_body(fires, NOW + 60, 60)
    assert again["labels"] == fires.labels and again["endsAt"] == rfc3339(NOW + 300)


# --- PagerDuty --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "action", "expected"),
    [
        (1, "notify", "trigger"),
        (2, "notify", "trigger"),
        (3, "notify", "acknowledge"),
        (4, "withdraw", "resolve"),
        (5, "notify", "resolve"),
    ],
)
def test_pagerduty_actions(index: int, action: str, expected: str) -> None:
    a = lifecycle(PATIENT)[index]
    event = pagerduty.event(a, action, ROUTING_KEY, DASH)  # type: ignore[arg-type]
    assert event["event_action"] == expected
    assert event["routing_key"] == ROUTING_KEY and event["dedup_key"] == a.alert_id


def test_pagerduty_trigger_payload() -> None:
    a = alert(PATIENT, "high", location="ICU-2 bed 14")
    event = pagerduty.event(a, "notify", ROUTING_KEY, DASH)
    payload = event["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "nms-monitor"
    assert payload["summary"] == summary(a) and payload["group"] == "ICU-2 bed 14"
    assert payload["custom_details"]["score"] == 83
    assert event["links"] == [{"href": link(DASH, a), "text": "Open in the NMS dashboard"}]
    assert pagerduty.event(alert("p", "medium"), "notify", "k", None)["payload"]["severity"] == (
        "warning"
    )


def test_the_dedup_key_is_stable_over_an_alerts_life() -> None:
    keys = {pagerduty.event(a, "notify", ROUTING_KEY, None)["dedup_key"] for a in lifecycle()}
    assert len(keys) == 1


# --- webhook ----------------------------------------------------------------------------------


def test_webhook_signs_the_unchanged_transition() -> None:
    a = alert(PATIENT)
    raw = a.model_dump_json().encode()
    headers = webhook.headers(a, "notify", raw, HMAC_SECRET.encode(), 1_700_000_000.5)
    assert headers["X-NMS-Timestamp"] == "1700000000"
    assert headers["Idempotency-Key"] == a.transition_id
    sig = headers[webhook.SIGNATURE_HEADER]
    assert webhook.verify(HMAC_SECRET.encode(), 1_700_000_000, raw, sig)
    assert not webhook.verify(HMAC_SECRET.encode(), 1_700_000_000, raw + b" ", sig)
    assert not webhook.verify(b"other", 1_700_000_000, raw, sig)
    assert not webhook.verify(HMAC_SECRET.encode(), 1_700_000_001, raw, sig)


# --- what an answer means ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "delivered"),
        (202, "delivered"),
        (429, "retry"),
        (408, "retry"),
        (500, "retry"),
        (503, "retry"),
        (None, "retry"),
        (400, "refused"),
        (401, "refused"),
        (404, "refused"),
        (301, "refused"),
    ],
)
def test_verdicts(status: int | None, expected: str) -> None:
    assert verdict(Answer(status)) == expected


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    waits = [backoff_s(n, 0.5, 60, 0.0) for n in range(1, 12)]
    assert waits[:4] == [0.25, 0.5, 1.0, 2.0] and waits[-1] == 30.0
    assert backoff_s(3, 0.5, 60, 0.999) < 2.0 <= backoff_s(4, 0.5, 60, 0.0) * 2
    assert backoff_s(1000, 0.5, 60, 0.5) == 45.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [("30", 30.0), (" 2.5 ", 2.5), ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("-1", None),
     ("99999", 3600.0), (None, None)],
)  # fmt: skip
def test_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected
