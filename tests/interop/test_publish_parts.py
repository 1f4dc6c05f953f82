"""KafkaSink's group commit, answered per caller: a part that fails or stalls (one partition,
one topic, one broker) refuses only the callers with records in it; everyone else is
acknowledged, in this group and the next ones; nothing is acknowledged before its own records
are. A scripted cluster stands in for aiokafka's client and reads the record batches it is sent
(the real broker is in tests/integration/test_publish_groups.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
from collections.abc import AsyncIterator, Sequence
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError, UnknownTopicOrPartitionError
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.producer.sender import SendProduceReqHandler
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.structs import TopicPartition

from monitor.contracts.events import EVENT_ADAPTER, EVENT_KINDS, Event
from monitor.interop.codes import load_tables
from monitor.interop.groupcommit import GroupCommit, PublishError
from monitor.interop.hl7.convert import Hl7Context, convert_message
from monitor.interop.hl7.message import Message
from monitor.interop.publish import (
    BATCH_BYTES,
    AiokafkaCluster,
    KafkaSink,
    ProduceData,
    _Batches,
    _Partition,
    encode,
    partition_for,
)
from monitor.stream.settings import KafkaSettings
from tests import builders as b
from tests.interop.paths import HL7_FIXTURES, STORY

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
PARTITIONS = [0, 1, 2, 3]
NOT_ENOUGH_REPLICAS, NOT_LEADER = 19, 6


def vital(n: int, patient: str, kind: str = "vital") -> Event:
    raw: dict[str, Any] = {
        "event_id": f"e{n}",
        "patient_id": patient,
        "kind": kind,
        "time": START + dt.timedelta(seconds=n),
    }
    if kind == "vital":
        raw.update(code="heart_rate", value=80, unit="/min")
    else:
        raw.update(code="ck", value=900, unit="U/L")
    return EVENT_ADAPTER.validate_python(raw)


def patient_on(partition: int) -> str:
    """A patient id whose events go to ``partition`` (of four)."""
    n = 0
    while True:
        pid = f"P-{n}"
        if partition_for(pid.encode(), PARTITIONS) == partition:
            return pid
        n += 1


class Cluster:
    """Two brokers as KafkaSink sees them through aiokafka's client: broker 1 leads partitions
    0 and 1, broker 2 leads 2 and 3. A request is answered after ``delay_s``; a partition in
    ``failing`` answers ``error``, one in ``leaderless`` has no leader, a broker in ``stalled``
    never answers, one in ``broken`` loses the connection, and a topic in ``missing`` has no
    partitions. Every request is read back: (broker, [(topic, partition, event ids)])."""

    def __init__(
        self,
        *,
        failing: frozenset[int] = frozenset(),
        error: int = NOT_ENOUGH_REPLICAS,
        leaderless: frozenset[int] = frozenset(),
        stalled: frozenset[int] = frozenset(),
        broken: frozenset[int] = frozenset(),
        missing: frozenset[str] = frozenset(),
        delay_s: float = 0.01,
    ) -> None:
        self.failing, self.error, self.leaderless = failing, error, leaderless
        self.stalled, self.broken, self.missing = stalled, broken, missing
        self.delay_s = delay_s
        self.known: set[str] = set()  # topics whose metadata was fetched
        self.requests: list[tuple[int, list[tuple[str, int, list[str]]]]] = []
        self.stale_calls = 0

    def partitions(self, topic: str) -> set[int] | None:
        return set(PARTITIONS) if topic in self.known else None

    async def fetch_partitions(self, topic: str) -> set[int]:
        if topic in self.missing:
            raise UnknownTopicOrPartitionError()
        self.known.add(topic)
        return set(PARTITIONS)

    def leader(self, topic: str, partition: int) -> int | None:
        return None if partition in self.leaderless else 1 if partition < 2 else 2

    def stale(self) -> None:
        self.stale_calls += 1

    async def produce(self, node: int, data: ProduceData) -> list[tuple[str, int, int]]:
        read = [
            (topic, p, [orjson.loads(r.value)["event_id"] for r in DefaultRecordBatch(batch)])
            for topic, batches in data
            for p, batch in batches
        ]
        self.requests.append((node, read))
        if node in self.stalled:
            await asyncio.sleep(3600)
        await asyncio.sleep(self.delay_s)
        if node in self.broken:
            raise ConnectionError("connection to the broker lost")
        return [(t, p, self.error if p in self.failing else 0) for t, p, _ in read]

    def sent(self, partition: int) -> list[str]:
        """The event ids sent to ``partition``, in the order written."""
        return [e for _, read in self.requests for _, p, ids in read if p == partition for e in ids]


async def outcomes(
    cluster: Cluster, calls: Sequence[list[Event]], timeout_s: float = 1.0
) -> list[str]:
    async with started(cluster) as sink:
        results = await asyncio.gather(
            *(sink.publish(events, timeout_s) for events in calls), return_exceptions=True
        )
    return answers(results)


@contextlib.asynccontextmanager
async def started(cluster: Cluster) -> AsyncIterator[KafkaSink]:
    """A KafkaSink publishing through ``cluster``, its group commit running."""
    sink = KafkaSink(KafkaSettings(bootstrap="127.0.0.1:1"))
    sink.use(cluster)
    try:
        yield sink
    finally:
        await asyncio.wait_for(sink.stop(), 5.0)  # a stop that hangs fails the test


def answers(results: Sequence[object]) -> list[str]:
    return ["ok" if r is None else f"refused: {r}" for r in results]


def test_a_group_is_one_request_per_broker_with_one_batch_per_partition() -> None:
    cluster = Cluster()
    calls = [[vital(n, patient_on(n % 4)), vital(10 + n, patient_on(n % 4))] for n in range(8)]
    assert asyncio.run(outcomes(cluster, calls)) == ["ok"] * 8
    assert sorted(node for node, _ in cluster.requests) == [1, 2]
    for node, read in cluster.requests:
        assert sorted(p for _, p, _ in read) == ([0, 1] if node == 1 else [2, 3])
    for p in PARTITIONS:  # each caller's events in its order, callers in theirs
        expected = [e for n in range(p, 8, 4) for e in (f"e{n}", f"e{10 + n}")]
        assert cluster.sent(p) == expected


def test_a_failed_partition_refuses_only_the_callers_with_records_in_it() -> None:
    bad, good = patient_on(3), patient_on(2)  # both on broker 2
    calls = [[vital(1, good)], [vital(2, bad)], [vital(3, good), vital(4, bad)], [vital(5, good)]]
    got = asyncio.run(outcomes(Cluster(failing=frozenset({3})), calls))
    assert got[0] == "ok" and got[3] == "ok"
    assert "NotEnoughReplicas" in got[1] and "NotEnoughReplicas" in got[2]


def test_a_leader_that_moved_refuses_its_callers_and_refreshes_the_metadata() -> None:
    cluster = Cluster(failing=frozenset({1}), error=NOT_LEADER)
    got = asyncio.run(outcomes(cluster, [[vital(1, patient_on(1))], [vital(2, patient_on(0))]]))
    assert "NotLeaderForPartition" in got[0] and got[1] == "ok"
    assert cluster.stale_calls == 1


def test_a_partition_without_a_leader_refuses_its_callers_at_once() -> None:
    cluster = Cluster(leaderless=frozenset({2}))
    got = asyncio.run(outcomes(cluster, [[vital(1, patient_on(2))], [vital(2, patient_on(3))]]))
    assert "has no leader" in got[0] and got[1] == "ok"
    assert cluster.stale_calls == 1
    assert cluster.sent(2) == []


def test_a_lost_connection_refuses_the_callers_on_that_broker_only() -> None:
    cluster = Cluster(broken=frozenset({1}))
    got = asyncio.run(outcomes(cluster, [[vital(1, patient_on(0))], [vital(2, patient_on(3))]]))
    assert "ConnectionError" in got[0] and got[1] == "ok"


def test_a_stalled_broker_holds_up_only_its_own_callers_in_this_and_later_groups() -> None:
    stuck, fine = patient_on(2), patient_on(0)

    async def story() -> tuple[list[str], float]:
        async with started(Cluster(stalled=frozenset({2}))) as sink:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            first = [
                asyncio.ensure_future(sink.publish([vital(1, stuck)], 1.0)),
                asyncio.ensure_future(sink.publish([vital(2, fine)], 1.0)),
            ]
            await asyncio.sleep(0.05)
            later = [
                asyncio.ensure_future(sink.publish([vital(10 + n, fine)], 1.0)) for n in range(5)
            ]
            done_fine = await asyncio.gather(first[1], *later, return_exceptions=True)
            elapsed = loop.time() - t0
            # refused at its deadline (1 s), not held by the stalled broker
            stuck_result = await asyncio.wait_for(
                asyncio.gather(first[0], return_exceptions=True), 5.0
            )
        return answers([*stuck_result, *done_fine]), elapsed

    got, elapsed = asyncio.run(story())
    assert got[0].startswith("refused") and "within 1 s" in got[0]
    assert got[1:] == ["ok"] * 6
    assert elapsed < 0.6  # not held until the stalled part's deadline


def test_a_topic_without_partitions_refuses_only_its_callers() -> None:
    calls = [[vital(1, "P-1")], [vital(2, "P-2", kind="lab")], [vital(3, "P-3")]]
    got = asyncio.run(outcomes(Cluster(missing=frozenset({"nms.labs"})), calls))
    assert got[0] == "ok" and got[2] == "ok"
    assert "no partitions of nms.labs" in got[1]


def test_a_group_over_the_batch_size_sends_every_record_once_in_order() -> None:
    """A partition takes one batch per request: the rest follows in the next requests."""
    cluster = Cluster()
    pid = patient_on(1)
    got = asyncio.run(outcomes(cluster, [[vital(n, pid) for n in range(5000)]]))
    assert got == ["ok"]
    assert len(cluster.requests) > 1
    assert all(len(read) == 1 for _, read in cluster.requests)
    assert cluster.sent(1) == [f"e{n}" for n in range(5000)]


def test_a_brokers_requests_are_written_group_after_group() -> None:
    """The second group's records of a partition are written only after the first group's,
    also when the first group needs several requests."""
    pid = patient_on(1)

    async def story() -> Cluster:
        cluster = Cluster(delay_s=0.05)
        async with started(cluster) as sink:
            sink._groups.hold_s = 0.0  # the second group is sent while the first is in flight
            first = asyncio.ensure_future(sink.publish([vital(n, pid) for n in range(3000)], 5.0))
            await asyncio.sleep(0)
            second = asyncio.ensure_future(sink.publish([vital(5000, pid)], 5.0))
            await asyncio.gather(first, second)
        return cluster

    cluster = asyncio.run(story())
    assert cluster.sent(1) == [*(f"e{n}" for n in range(3000)), "e5000"]


def test_an_event_larger_than_a_batch_goes_in_a_batch_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker judges its size (message.max.bytes); it is never split nor lost."""
    monkeypatch.setattr("monitor.interop.publish.BATCH_BYTES", 64)
    cluster = Cluster()
    pid = patient_on(0)
    got = asyncio.run(outcomes(cluster, [[vital(n, pid) for n in range(3)]]))
    assert got == ["ok"]
    assert [ids for _, read in cluster.requests for _, _, ids in read] == [["e0"], ["e1"], ["e2"]]


def test_a_cancellation_from_inside_a_flush_fails_that_group_only() -> None:
    """The flushing task survives; later callers are published."""
    calls = 0

    async def flush(items: list[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            cancelled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            cancelled.cancel()
            await cancelled

    async def story() -> list[str]:
        commit = GroupCommit[int](flush)
        commit.start()
        out = []
        for n in range(3):
            try:
                await commit.submit([n], 0.5)
                out.append("ok")
            except PublishError as exc:
                out.append(f"refused: {exc}")
        await commit.stop()
        return out

    got = asyncio.run(story())
    assert got[0].startswith("refused") and got[1:] == ["ok", "ok"]


def test_a_dead_publisher_refuses_at_once() -> None:
    async def story() -> None:
        async def flush(items: list[int]) -> None:
            return None

        commit = GroupCommit[int](flush)
        commit.start()
        assert commit._task is not None
        commit._task.cancel()
        await asyncio.sleep(0)
        with pytest.raises(PublishError, match="not running"):
            await asyncio.wait_for(commit.submit([1], 5.0), 0.5)

    asyncio.run(story())


class Unanswered(Cluster):
    """Answers without partition 1."""

    async def produce(self, node: int, data: ProduceData) -> list[tuple[str, int, int]]:
        return [a for a in await super().produce(node, data) if a[1] != 1]


def test_a_partition_missing_from_the_answer_is_refused() -> None:
    got = asyncio.run(
        outcomes(Unanswered(), [[vital(1, patient_on(1))], [vital(2, patient_on(0))]])
    )
    assert "no answer" in got[0] and got[1] == "ok"


class Dropped(Cluster):
    """Broker 1 loses the connection (aiokafka's error, which names stale metadata) after
    reading its first request."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.dropped = False

    async def produce(self, node: int, data: ProduceData) -> list[tuple[str, int, int]]:
        if node == 1 and not self.dropped:
            await super().produce(node, data)
            self.dropped = True
            raise KafkaConnectionError("lost")
        return await super().produce(node, data)


def test_a_lost_connection_refuses_every_partition_of_the_request_and_refreshes() -> None:
    cluster = Dropped()
    calls = [[vital(1, patient_on(0))], [vital(2, patient_on(1))]]
    got = asyncio.run(outcomes(cluster, calls, 5.0))
    assert all("KafkaConnectionError" in g for g in got), got  # at once, not at the deadline
    assert cluster.stale_calls == 1


def test_a_failed_group_of_several_requests_does_not_hold_up_the_brokers_later_groups() -> None:
    pid = patient_on(1)

    async def story() -> list[object]:
        async with started(Dropped(delay_s=0.05)) as sink:
            sink._groups.hold_s = 0.0
            first = asyncio.ensure_future(sink.publish([vital(n, pid) for n in range(3000)], 5.0))
            await asyncio.sleep(0)
            second = asyncio.ensure_future(sink.publish([vital(5000, pid)], 1.0))
            return await asyncio.gather(first, second, return_exceptions=True)

    first, second = asyncio.run(story())
    assert "KafkaConnectionError" in str(first) and second is None


def test_stop_refuses_the_callers_in_flight_at_once() -> None:
    async def story() -> list[BaseException | None]:
        async with started(Cluster(stalled=frozenset({1, 2}))) as sink:
            sink._groups.hold_s = 0.0  # the callers wait on their parts only
            calls = [
                asyncio.ensure_future(sink.publish([vital(n, patient_on(n % 4))], 30.0))
                for n in range(4)
            ]
            await asyncio.sleep(0.05)
            await asyncio.wait_for(sink.stop(), 1.0)
            done, _ = await asyncio.wait(calls, timeout=0.5)
            assert len(done) == 4
            return [c.exception() for c in calls]

    assert all("cancelled" in str(e) for e in asyncio.run(story()))


def test_nothing_is_left_behind_per_broker() -> None:
    async def story() -> None:
        async with started(Cluster()) as sink:
            for n in range(5):
                await asyncio.gather(
                    *(sink.publish([vital(10 * n + k, patient_on(k % 4))], 1.0) for k in range(8))
                )
            await asyncio.sleep(0.05)
            assert sink._written == {} and sink._sending == set()

    asyncio.run(story())


def test_the_request_is_the_one_aiokafkas_sender_builds_with_acks_all() -> None:
    """Byte for byte, for the produce request versions a broker may negotiate, and the record
    batch has the header fields aiokafka's own batches have."""
    sent: list[Any] = []

    class Client:
        async def send(self, node: int, request: Any) -> Any:
            sent.append(request)
            return mock.Mock(topics=[("t", [(0, 0, 0, -1, 0)])])

    cluster = AiokafkaCluster.__new__(AiokafkaCluster)
    cluster.client, cluster.timeout_ms = Client(), 30_000
    loop = asyncio.new_event_loop()
    try:
        part = _Partition("t", 0, [(0, b"k", b"v")], loop.create_future())
        ours = _Batches(part).next_batch()
        assert loop.run_until_complete(cluster.produce(1, [("t", [(0, ours)])])) == [("t", 0, 0)]
    finally:
        loop.close()
    builder = BatchBuilder(BATCH_BYTES, 0, is_transactional=0)
    builder.append(timestamp=None, key=b"k", value=b"v")
    mine, aiokafkas = DefaultRecordBatch(ours), DefaultRecordBatch(bytes(builder._build()))
    for attr in ("magic", "producer_id", "producer_epoch", "base_sequence", "is_transactional"):
        assert getattr(mine, attr) == getattr(aiokafkas, attr), attr
    sender = mock.Mock(_acks=-1, _request_timeout_ms=30_000, _txn_manager=None)
    batch = mock.Mock(get_data_buffer=mock.Mock(return_value=ours))
    theirs = SendProduceReqHandler(sender, {TopicPartition("t", 0): batch}).create_request()
    for version in range(8):
        wanted = {0: (0, version)}
        assert sent[0].prepare(wanted).encode() == theirs.prepare(wanted).encode(), version


def test_a_refused_caller_leaves_no_reference_cycle() -> None:
    """A refusal's traceback holds the frame of ``submit``; that frame must not reach the
    caller's future (which holds the refusal): a cycle per refused message kept its payload
    until a garbage collection, for as long as a broker outage lasted."""

    async def main() -> int:
        async def flush(items: list[bytes]) -> None:
            raise ConnectionError("broker connection lost")

        commit = GroupCommit[bytes](flush)
        commit.start()

        async def refused() -> None:
            with contextlib.suppress(PublishError):
                await commit.submit([b"x" * 1000], 5.0)

        await refused()
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                await refused()
            return gc.collect()
        finally:
            gc.enable()
            await commit.stop()

    assert asyncio.run(main()) == 0


def _every_kind() -> list[Event]:
    """Events of every kind, with optional fields present and absent; and the published HL7
    samples and the repository's NMS story as the listener converts them."""
    events: list[Event] = [
        b.vital(1, "temperature", 38.4, site="core"),
        b.vital(1.5, "heart_rate", 118),
        b.lab(2, "ck", 2650, "U/L", reference_high=190),
        b.lab(
            3,
            "ck",
            265,
            "U/L",
            result_id="v2:LAB:1:2157-6^LN:",
            status="corrected",
            issued="2026-02-02T04:00:00+01:00",
        ),
        b.event("lab", 4, code="ck", unit="U/L", result_id="r1", status="entered-in-error"),
        b.med(5, "haloperidol", dose=5.0, dose_unit="mg", route="im"),
        b.event(
            "medication", 6, action="administered", codes=[{"system": "atc", "code": "N05AD01"}]
        ),
        b.chart(7, "rigidity"),
        b.gcs(8, 11),
        b.patient(9, location="ICU 4", sex="female"),
        b.ack(10, "a1", action="snooze", until=b.at(12), reason="reviewed"),
    ]
    for path in [*sorted(p for p in HL7_FIXTURES.rglob("*") if p.is_file()), *STORY]:
        msg = Message.from_bytes(path.read_bytes())
        events.extend(convert_message(msg, Hl7Context(load_tables(), ZoneInfo("UTC"))).events)
    return events


def test_the_wire_bytes_are_the_contracts() -> None:
    """``encode`` (each model's own serializer) writes what the contract's adapter writes."""
    events = _every_kind()
    assert {e.kind for e in events} == set(EVENT_KINDS)
    for event in events:
        assert encode(event) == EVENT_ADAPTER.dump_json(event, exclude_none=True)
