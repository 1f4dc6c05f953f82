"""The adapters end to end on the embedded broker with a real worker: an NMS story sent as HL7 v2
over a real MLLP connection ends as alerts on nms.alerts; with the broker gone, no AA.

One broker and one worker serve the tests of this module that need them (each test uses its own
patient), so the suite stays fast on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.contracts.events import EVENT_ADAPTER
from monitor.interop.codes import load_tables
from monitor.interop.hl7.convert import Hl7Context, convert_message
from monitor.interop.hl7.message import Message
from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from tests.integration.harness import TopicReader, WorkerProcess, replay_alerts, wait_for
from tests.integration.listeners import ListenerProcess, MllpClient, ack_code
from tests.interop.paths import STORY


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedBroker, Path]]:
    """One embedded broker with the topics and one worker, for the whole module."""
    tmp = tmp_path_factory.mktemp("interop")
    with EmbeddedBroker() as broker:
        ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
        worker = WorkerProcess(broker.bootstrap, tmp, "w1").start()
        try:
            yield broker, tmp
        finally:
            worker.stop()


def story_events(tmp: Path) -> Path:
    """The story's events as the listener converts them, for ``replay``."""
    ctx = Hl7Context(load_tables(), ZoneInfo("UTC"))
    path = tmp / "story.ndjson"
    with path.open("wb") as fh:
        for msg in STORY:
            for ev in convert_message(Message.from_bytes(msg.read_bytes()), ctx).events:
                fh.write(EVENT_ADAPTER.dump_json(ev, exclude_none=True) + b"\n")
    return path


def test_nms_story_over_mllp_is_acknowledged_and_alerts(stack: tuple[EmbeddedBroker, Path]) -> None:
    broker, tmp = stack
    expected = replay_alerts(story_events(tmp))
    assert [(a["transition"], a["priority"]) for a in expected][:2] == [
        ("opened", "low"),
        ("escalated", "medium"),
    ]  # what the story is: exposure, fever, lability, hypermetabolism, then CK
    listener = ListenerProcess("hl7-listen", broker.bootstrap, tmp).start()
    alerts = TopicReader(broker.bootstrap, "nms.alerts")
    try:
        client = MllpClient(listener.port)
        try:
            # As an interface engine sends: CR between segments, one message at a time.
            codes = [ack_code(client.send(m.read_bytes().replace(b"\r\n", b"\r"))) for m in STORY]
        finally:
            client.close()
        assert codes == ["AA"] * len(STORY), listener.log()[-3000:]

        def story_alerts() -> list[dict[str, Any]]:
            return [a for a in alerts.fresh_values() if a["patient_id"] == "STORY-1"]

        # The worker reads each kind from its own topic, so its batches interleave the kinds
        # differently from replay's event-time order, and vital signs re-evaluate at most every
        # 5 minutes of event time: the transitions may differ in timing, not in what is reached.
        wait_for(
            lambda: any(a["priority"] == "medium" for a in story_alerts()), 90, "a medium alert"
        )
        got = story_alerts()
        assert {a["priority"] for a in got} == {a["priority"] for a in expected}
        medium = next(a for a in got if a["priority"] == "medium")
        met = {c["name"] for c in medium["criteria"] if c["met"]}
        assert {"exposure", "hyperthermia"} <= met
        assert medium["location"] == "ICU-2 14 1 TESTHOSP"
        [drug] = medium["exposure"]["drugs"]
        assert (drug["drug"], drug["route"]) == ("haloperidol", "im")
        assert "STORY-1" not in "\n".join(
            line for line in listener.log().splitlines() if "[INFO]" in line
        )
    finally:
        alerts.close()
        assert listener.stop() == 0


def test_with_the_broker_down_no_message_is_accepted(tmp_path: Path) -> None:
    broker = EmbeddedBroker().start()
    listener = None
    try:
        ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
        listener = ListenerProcess(
            "hl7-listen", broker.bootstrap, tmp_path, NMS_HL7_PUBLISH_TIMEOUT_S="3"
        ).start()
        client = MllpClient(listener.port)
        try:
            assert ack_code(client.send(STORY[0].read_bytes())) == "AA"
            broker.stop()
            answers = [client.send(m.read_bytes()) for m in STORY[1:3]]
        finally:
            client.close()
        assert [ack_code(a) for a in answers] == ["AR", "AR"], listener.log()[-3000:]
        assert all(b"did not acknowledge" in a or b"failed" in a for a in answers if a)
    finally:
        if listener is not None:
            listener.stop()
        broker.stop()
