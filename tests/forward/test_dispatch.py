"""From a transition to requests: the receivers' endpoints and bodies, what each partition
remembers, the same memory rebuilt from history, and Alertmanager re-sends when due."""

from __future__ import annotations

import orjson
import pytest
from pydantic import SecretStr, ValidationError

from monitor.forward import webhook
from monitor.forward.dispatch import Dispatcher, PartitionState
from monitor.forward.head import Head
from monitor.forward.settings import ReceiverSet
from tests.forward.kit import HMAC_SECRET, ROUTING_KEY, lifecycle, receiver, receivers, record
from tests.forward.kit import settings as forward_settings

TP = ("nms.alerts", 0)
NOW = 1_800_000_000.0


def test_requests_of_each_kind() -> None:
    d = Dispatcher(receivers(), forward_settings())
    state = PartitionState(TP)
    story = lifecycle()
    d.jobs(state, story[0], record(story[0]), NOW)
    d.jobs(state, story[1], record(story[1], 1), NOW)  # medium: am and hook hold it
    jobs = d.jobs(state, story[2], record(story[2], 2), NOW) or []
    requests = {j.receiver: j.make(NOW) for j in jobs}
    assert set(requests) == {"page", "am", "hook"}
    pd = orjson.loads(requests["page"].body)
    assert pd["routing_key"] == ROUTING_KEY and pd["event_action"] == "trigger"
    assert requests["am"].url == "http://127.0.0.1:9/api/v2/alerts"
    hook = requests["hook"]
    assert hook.body == record(story[2]).value  # the transition JSON unchanged
    assert hook.headers["X-NMS-Delivery"] == "withdraw"
    assert webhook.verify(HMAC_SECRET.encode(), int(NOW), hook.body,
                          hook.headers[webhook.SIGNATURE_HEADER])  # fmt: skip


def test_a_bearer_token_is_sent_when_configured() -> None:
    am = receiver("am", "alertmanager").model_copy(update={"token": SecretStr("t0ken")})
    base = receivers()
    rs = ReceiverSet(receivers={**base.receivers, "am": am}, routes=base.routes)
    d = Dispatcher(rs, forward_settings())
    (job, *_) = d.jobs(PartitionState(TP), lifecycle()[1], record(lifecycle()[1]), NOW) or []
    assert job.receiver == "am" and job.make(NOW).headers["Authorization"] == "Bearer t0ken"


def test_the_alertmanager_body_is_built_at_each_attempt() -> None:
    d = Dispatcher(receivers(), forward_settings())
    story = lifecycle()
    (job, *_) = d.jobs(PartitionState(TP), story[1], record(story[1]), NOW) or []
    early, late = orjson.loads(job.make(NOW).body), orjson.loads(job.make(NOW + 3600).body)
    assert early[-1]["endsAt"] < late[-1]["endsAt"]  # a retry an hour later is not expired


def test_history_rebuilds_the_same_memory_as_live_delivery() -> None:
    d = Dispatcher(receivers(), forward_settings())
    story = lifecycle("p-1")[:4] + lifecycle("p-2")[:3]
    live, restored = PartitionState(TP), PartitionState(TP)
    for i, a in enumerate(story):
        for job in d.jobs(live, a, record(a, i), NOW) or []:
            if job.on_delivered is not None:
                job.on_delivered(NOW)
        d.jobs(restored, a, record(a, i), NOW, restoring=True)
    for a in story:
        assert live.holders.get(a.alert_id) == restored.holders.get(a.alert_id)
    assert {k: v.entry for k, v in live.firing["am"].items()} == {
        k: v.entry for k, v in restored.firing["am"].items()
    }
    # Restored alerts are due for a re-send at once; delivered ones a resend interval later.
    assert {alert_id for _, alert_id, _ in d.due(restored, NOW)} == set(restored.firing["am"])
    assert d.due(live, NOW + 30) == []
    assert len(d.due(live, NOW + 60)) == 2


def test_a_resend_is_not_due_again_until_accepted() -> None:
    d = Dispatcher(receivers(), forward_settings())
    state = PartitionState(TP)
    a = lifecycle()[2]
    for job in d.jobs(state, a, record(a), NOW) or []:
        if job.on_delivered is not None:
            job.on_delivered(NOW)
    ((name, alert_id, firing),) = d.due(state, NOW + 61)
    job = d.resend(state, name, alert_id, firing)
    assert job.record is None and d.due(state, NOW + 200) == []
    body = orjson.loads(job.make(NOW + 61).body)
    assert len(body) == 1 and body[0]["labels"]["priority"] == "high"
    assert job.on_delivered is not None
    job.on_delivered(NOW + 62)
    assert d.due(state, NOW + 122) != []


def test_a_resolved_alert_stops_firing_at_alertmanager() -> None:
    d = Dispatcher(receivers(), forward_settings())
    state = PartitionState(TP)
    for i, a in enumerate(lifecycle()):
        d.jobs(state, a, record(a, i), NOW)
    assert state.firing["am"] == {}


def test_the_forwarder_reads_the_fields_it_maps_with_the_contracts_types() -> None:
    a = lifecycle()[2]
    head = Head.model_validate_json(record(a).value)
    d = Dispatcher(receivers(), forward_settings())
    from_head = d.jobs(PartitionState(TP), head, record(a), NOW) or []
    from_alert = d.jobs(PartitionState(TP), a, record(a), NOW) or []
    assert [j.make(NOW) for j in from_head] == [j.make(NOW) for j in from_alert]
    broken = orjson.loads(record(a).value)
    broken["priority"] = "urgent"  # not a priority of the contract
    with pytest.raises(ValidationError):
        Head.model_validate(broken)
    del broken["priority"]
    with pytest.raises(ValidationError):
        Head.model_validate(broken)
