"""The forwarder against real programs on the embedded broker: Debian's Alertmanager receives,
lists and resolves the alerts; a local receiver in PagerDuty's format sees trigger, acknowledge
and resolve under one dedup_key, and its refusal lands on the dead-letter topic; a receiver down
for a while, then back, gets every transition in order per alert; a forwarder killed mid-stream
and restarted leaves nothing out. One broker for the module; each test has its own topics."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.contracts.alerts import Alert
from monitor.stream.broker import EmbeddedBroker
from tests.forward.kit import lifecycle
from tests.integration.harness import TopicReader, produce, wait_for
from tests.integration.programs import Alertmanager, Forwarder, Receiver, needs_alertmanager
from tests.web.factory import alert

DASH = "https://nms.example.org"
ROUTING_KEY = "R0UTING0KEY0FOR0THE0TEST0SERVICE"


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    with EmbeddedBroker() as b:
        yield b.bootstrap


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def send(bootstrap: str, prefix: str, alerts: list[Alert]) -> None:
    produce(
        bootstrap,
        [(f"{prefix}.alerts", a.patient_id.encode(), a.model_dump_json().encode()) for a in alerts],
    )


def forwarder(bootstrap: str, tmp: Path, prefix: str, receivers: str, **env: str) -> Forwarder:
    (tmp / "receivers.toml").write_text(receivers)
    return Forwarder(
        bootstrap,
        tmp,
        f"forward-{uuid.uuid4().hex[:4]}",
        NMS_KAFKA_TOPIC_PREFIX=prefix,
        NMS_FORWARD_RECEIVERS_FILE=str(tmp / "receivers.toml"),
        NMS_FORWARD_FIRST_START="earliest",
        NMS_FORWARD_DASHBOARD_URL=DASH,
        NMS_FORWARD_GROUP=f"{prefix}-forward",
        **env,
    )


def started(f: Forwarder) -> Forwarder:
    f.start()
    wait_for(lambda: f.ready() or not f.alive, 60, "the forwarder ready")
    assert f.alive, f.log()
    return f


def check_order(received: list[bytes], expected: list[Alert]) -> int:
    """Every expected transition arrived; per alert in order once redeliveries are dropped; a
    redelivery is byte for byte the first delivery. Returns how many redeliveries there were."""
    first: dict[str, bytes] = {}
    per_alert: dict[str, list[int]] = defaultdict(list)
    again = 0
    for body in received:
        t = orjson.loads(body)
        if t["transition_id"] in first:
            assert first[t["transition_id"]] == body, "a redelivery differs from the original"
            again += 1
            continue
        first[t["transition_id"]] = body
        per_alert[t["alert_id"]].append(t["sequence"])
    want: dict[str, list[int]] = defaultdict(list)
    for a in expected:
        want[a.alert_id].append(a.sequence)
    assert dict(per_alert) == dict(want)
    return again


# --- Alertmanager -----------------------------------------------------------------------------


@needs_alertmanager
def test_alertmanager_lists_the_alerts_with_their_labels_then_resolves_them(
    bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    notified = Receiver().up()  # Alertmanager's own webhook: what it would page with
    manager = Alertmanager(
        tmp_path,
        f"""
route:
  receiver: local
  group_by: [alert_id]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: local
    webhook_configs:
      - url: {notified.url}/notify
        send_resolved: true
""",
    ).start()
    one, two = lifecycle("p-am-1"), lifecycle("p-am-2")
    fwd = forwarder(
        bootstrap,
        tmp_path,
        prefix,
        f"""
[receivers.am]
kind = "alertmanager"
url = "{manager.url}"
[routes]
high = ["am"]
medium = ["am"]
""",
        NMS_FORWARD_ALERTMANAGER_RESEND_S="3",
    )
    try:
        started(fwd)
        send(bootstrap, prefix, one[:4] + two[:3])  # both high; one acknowledged

        def active() -> dict[str, dict[str, Any]]:
            return {
                a["labels"]["alert_id"]: a
                for a in manager.alerts()
                if a["status"]["state"] == "active"
            }

        wait_for(
            lambda: (
                set(active()) == {one[0].alert_id, two[0].alert_id}
                and all(a["labels"]["priority"] == "high" for a in active().values())
            ),
            30,
            "both alerts active at high in Alertmanager",
        )
        listed = active()[one[0].alert_id]
        assert listed["labels"] == {
            "alertname": "NeurolepticMalignantSyndrome",
            "condition": "nms",
            "priority": "high",
            "location": "ICU-2 bed 14",
            "alert_id": one[0].alert_id,
        }
        assert listed["annotations"]["summary"] == (
            "NMS suspected, HIGH priority: score 83/74, ICU-2 bed 14"
        )
        assert listed["annotations"]["acknowledged"] == "yes"
        assert listed["generatorURL"] == f"{DASH}/alerts/{one[0].alert_id}"
        assert "p-am-1" not in orjson.dumps(manager.alerts()).decode()
        # The medium label sets ended when the priority changed: only high ones remain.
        assert len(manager.alerts()) == 2
        wait_for(
            lambda: fwd.metric("nms_forward_resends_total", receiver="am") >= 2,
            30,
            "firing alerts re-sent",
        )

        send(bootstrap, prefix, [one[5], *two[3:]])  # resolved (one via a de-escalation)
        wait_for(lambda: not manager.alerts(), 30, "Alertmanager to list no alert")

        def resolved_notifications() -> set[str]:
            return {
                a["labels"]["alert_id"]
                for n in notified.json("/notify")
                for a in n["alerts"]
                if a["status"] == "resolved"
            }

        wait_for(
            lambda: resolved_notifications() >= {one[0].alert_id, two[0].alert_id},
            30,
            "Alertmanager to notify both resolved",
        )
        wait_for(
            lambda: fwd.metric("nms_forward_firing_alerts", receiver="am") == 0, 10, "none firing"
        )
    finally:
        fwd.stop()
        manager.stop()
        notified.down()


# --- PagerDuty format ---------------------------------------------------------------------------


def test_pagerduty_sees_trigger_acknowledge_resolve_under_one_key_and_a_refusal_is_kept(
    bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    pd = Receiver().up()
    pd.refuse.append(b"REFUSE-ME")
    (tmp_path / "pd-key").write_text(ROUTING_KEY + "\n")
    ok = [
        alert("p-pd-1", "high", "opened", 1, location="ICU-1 bed 2"),
        alert(
            "p-pd-1", "high", "acknowledged", 2, acknowledged_by="dr.kim", location="ICU-1 bed 2"
        ),
        alert("p-pd-1", "high", "resolved", 3, status="resolved", location="ICU-1 bed 2"),
    ]
    bad = alert("p-pd-2", "high", "opened", 1, location="REFUSE-ME")
    fwd = forwarder(
        bootstrap,
        tmp_path,
        prefix,
        f"""
[receivers.page]
kind = "pagerduty"
url = "{pd.url}/v2/enqueue"
routing_key_file = "{tmp_path / "pd-key"}"
[routes]
high = ["page"]
medium = []
""",
    )
    dead = TopicReader(bootstrap, f"{prefix}.deadletter")
    try:
        started(fwd)
        send(bootstrap, prefix, [bad, *ok])
        wait_for(lambda: len(pd.json("/v2/enqueue")) >= 3, 30, "three events")
        events = pd.json("/v2/enqueue")
        assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
        assert {e["dedup_key"] for e in events} == {ok[0].alert_id}
        assert {e["routing_key"] for e in events} == {ROUTING_KEY}
        trigger = events[0]
        assert trigger["payload"]["severity"] == "critical"
        assert trigger["payload"]["summary"] == (
            "NMS suspected, HIGH priority: score 83/74, ICU-1 bed 2"
        )
        assert trigger["links"][0]["href"] == f"{DASH}/alerts/{ok[0].alert_id}"
        assert all(b"p-pd-1" not in b for b in pd.bodies())

        wait_for(lambda: bool(dead.fresh_values()), 30, "the refusal on the dead-letter topic")
        (letter,) = dead.values()
        assert letter["reason"] == "delivery_refused" and letter["receiver"] == "page"
        assert letter["status"] == 400 and "invalid event" in letter["response"]
        assert orjson.loads(letter["value_text"])["alert_id"] == bad.alert_id
        assert ROUTING_KEY not in orjson.dumps(letter).decode()
        wait_for(
            lambda: (
                fwd.metric("nms_forward_deliveries_total", receiver="page", outcome="dead_lettered")
                == 1
            ),
            10,
            "the refusal counted",
        )
    finally:
        fwd.stop()
        dead.close()
        pd.down()
    assert ROUTING_KEY not in fwd.log()


# --- a receiver down for a while --------------------------------------------------------------


def test_a_receiver_down_for_a_while_then_back_gets_everything_in_order(
    bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    hook = Receiver()  # not listening yet: connection refused
    (tmp_path / "hmac").write_text("hmac-secret-for-the-test\n")
    expected = [a for i in range(20) for a in lifecycle(f"p-down-{i}")]
    fwd = forwarder(
        bootstrap,
        tmp_path,
        prefix,
        f"""
[receivers.hook]
kind = "webhook"
url = "{hook.url}/hook"
secret_file = "{tmp_path / "hmac"}"
[routes]
high = ["hook"]
medium = ["hook"]
low = ["hook"]
""",
    )
    try:
        started(fwd)
        send(bootstrap, prefix, expected[:60])
        wait_for(
            lambda: fwd.metric("nms_forward_retry_backlog", receiver="hook") > 0,
            30,
            "deliveries waiting for the receiver",
        )
        assert fwd.metric("nms_forward_receiver_failing", receiver="hook") == 1
        send(bootstrap, prefix, expected[60:])  # more while it is down
        wait_for(
            lambda: (
                fwd.metric("nms_forward_attempt_failures_total", receiver="hook", reason="network")
                >= 3
            ),
            30,
            "several failed attempts",
        )
        assert fwd.metric("nms_forward_deliveries_total", receiver="hook", outcome="delivered") == 0
        hook.up()
        wait_for(
            lambda: len({orjson.loads(b)["transition_id"] for b in hook.bodies()}) == len(expected),
            60,
            "every transition delivered",
        )
        check_order(hook.bodies(), expected)
        wait_for(
            lambda: fwd.metric("nms_forward_retry_backlog", receiver="hook") == 0, 10, "no backlog"
        )
        assert fwd.metric("nms_forward_receiver_failing", receiver="hook") == 0
    finally:
        fwd.stop()
        hook.down()
    log = fwd.log()
    assert "receiver hook failing" in log and "receiver hook accepts again" in log
    assert "hmac-secret" not in log


# --- a forwarder killed mid-stream --------------------------------------------------------------


def test_a_forwarder_killed_mid_stream_and_restarted_leaves_nothing_out(
    bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    hook = Receiver(delay_s=0.03).up()  # slow, so that the kill falls mid-stream
    (tmp_path / "hmac").write_text("hmac-secret-for-the-test\n")
    expected = [a for i in range(60) for a in lifecycle(f"p-kill-{i}")]
    receivers = f"""
[receivers.hook]
kind = "webhook"
url = "{hook.url}/hook"
secret_file = "{tmp_path / "hmac"}"
[routes]
high = ["hook"]
medium = ["hook"]
low = ["hook"]
"""
    first = forwarder(bootstrap, tmp_path, prefix, receivers, NMS_FORWARD_MAX_IN_FLIGHT="4")
    second = forwarder(bootstrap, tmp_path, prefix, receivers, NMS_FORWARD_MAX_IN_FLIGHT="4")
    try:
        started(first)
        send(bootstrap, prefix, expected)
        wait_for(lambda: len(hook.bodies()) >= len(expected) // 3, 60, "a third delivered")
        first.kill()
        before = len(hook.bodies())
        assert before < len(expected), "the kill came too late to test anything"
        started(second)
        wait_for(
            lambda: len({orjson.loads(b)["transition_id"] for b in hook.bodies()}) == len(expected),
            90,
            "every transition after the restart",
        )
        again = check_order(hook.bodies(), expected)
        # Redelivered: at most what was delivered but not yet committed when it died.
        assert again < before
    finally:
        first.stop()
        second.stop()
        hook.down()
