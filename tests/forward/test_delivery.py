"""The delivery loop with an in-memory transport: order per alert, retries with backoff while a
receiver fails (one probe at a time), refusals dead-lettered, and a transition settled only when
every receiver it routes to has it."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict

import pytest
from prometheus_client import CollectorRegistry

from monitor.forward.delivery import Deliverer, Job, Record, Request
from monitor.forward.gate import Gate
from monitor.forward.metrics import ForwardMetrics
from monitor.forward.outcome import Answer

RECEIVERS = ["page", "hook"]


class Transport:
    """Answers from a script: ``down`` receivers fail (503, or no answer); others accept after
    a random short delay. Records every attempt and the concurrency per receiver."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.down: dict[str, Answer] = {}
        self.refuse: set[bytes] = set()
        self.attempts: list[tuple[str, bytes, bool]] = []  # (receiver, body, accepted)
        self.in_flight: dict[str, int] = defaultdict(int)
        self.most_in_flight_while_down: dict[str, int] = defaultdict(int)
        self.most_in_flight = 0

    async def post(self, request: Request) -> Answer:
        receiver = request.url.rsplit("/", 1)[1]
        self.in_flight[receiver] += 1
        self.most_in_flight = max(self.most_in_flight, sum(self.in_flight.values()))
        if receiver in self.down:
            self.most_in_flight_while_down[receiver] = max(
                self.most_in_flight_while_down[receiver], self.in_flight[receiver]
            )
        try:
            await asyncio.sleep(self.rng.random() * 0.003)
            if receiver in self.down:
                self.attempts.append((receiver, request.body, False))
                return self.down[receiver]
            if request.body in self.refuse:
                self.attempts.append((receiver, request.body, False))
                return Answer(400, b'{"status":"invalid event"}')
            self.attempts.append((receiver, request.body, True))
            return Answer(202)
        finally:
            self.in_flight[receiver] -= 1

    def accepted(self, receiver: str) -> list[bytes]:
        return [b for r, b, ok in self.attempts if r == receiver and ok]


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[Job, Answer]] = []

    async def refused(self, job: Job, answer: Answer) -> None:
        self.letters.append((job, answer))


class Rig:
    def __init__(self, max_in_flight: int = 16, initial_s: float = 0.005) -> None:
        self.transport = Transport()
        self.metrics = ForwardMetrics(CollectorRegistry(), RECEIVERS)
        self.gates = {r: Gate(r, initial_s, 0.04) for r in RECEIVERS}
        self.dead = DeadLetters()
        self.settled: list[Record] = []
        self.deliverer = Deliverer(
            self.transport, self.gates, self.metrics, self.dead, self.settled.append,
            max_in_flight,
        )  # fmt: skip

    def submit(self, alert_id: str, seq: int, receivers: list[str], offset: int) -> Record:
        record = Record("nms.alerts", 0, offset, b"k", b"v", 0.0, remaining=len(receivers))
        for r in receivers:
            request = Request(f"http://127.0.0.1:9/{r}", f"{alert_id}:{seq}".encode(), {}, 1.0)
            job = Job(r, alert_id, lambda t, q=request: q, record, tp=("nms.alerts", 0))
            self.deliverer.submit(job)
        return record

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    async def drain(self, timeout: float = 10.0) -> None:
        async def wait() -> None:
            while self.deliverer.tasks:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(wait(), timeout)


def by_alert(bodies: list[bytes]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for b in bodies:
        alert_id, seq = b.decode().split(":")
        out[alert_id].append(int(seq))
    return out


def test_each_alert_in_order_alerts_in_parallel() -> None:
    async def body() -> Rig:
        rig = Rig()
        offset = 0
        for seq in range(1, 9):
            for a in ("a1", "a2", "a3", "a4"):
                rig.submit(a, seq, RECEIVERS, offset)
                offset += 1
        await rig.drain()
        return rig

    rig = asyncio.run(body())
    for r in RECEIVERS:
        assert by_alert(rig.transport.accepted(r)) == {
            a: list(range(1, 9)) for a in ("a1", "a2", "a3", "a4")
        }
    assert rig.transport.most_in_flight > 1  # lanes ran side by side
    assert len(rig.settled) == 32
    assert rig.sample("nms_forward_deliveries_total", receiver="hook", outcome="delivered") == 32
    assert rig.sample("nms_forward_queued_deliveries", receiver="hook") == 0


@pytest.mark.parametrize("failure", [Answer(503), Answer(429), Answer(None, error="network")])
def test_a_failing_receiver_is_retried_until_it_accepts_one_probe_at_a_time(
    failure: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> tuple[Rig, list[float], list[int]]:
        rig = Rig()
        rig.transport.down["page"] = failure
        records = [rig.submit(f"a{i % 5}", i // 5 + 1, RECEIVERS, i) for i in range(20)]
        await asyncio.sleep(0.15)
        during = [
            rig.sample("nms_forward_retry_backlog", receiver="page"),
            rig.sample("nms_forward_receiver_failing", receiver="page"),
        ]
        unsettled = [r.offset for r in records if r.remaining]
        del rig.transport.down["page"]
        await rig.drain()
        return rig, during, unsettled

    with caplog.at_level(logging.WARNING):
        rig, during, unsettled = asyncio.run(body())
    assert unsettled == list(range(20))  # nothing settled while page refused everything
    assert during[0] >= 1 and during[1] == 1
    assert by_alert(rig.transport.accepted("page")) == {f"a{i}": [1, 2, 3, 4] for i in range(5)}
    assert rig.transport.most_in_flight_while_down["page"] <= 5  # at most those already sent
    assert len(rig.settled) == 20
    assert rig.sample("nms_forward_retry_backlog", receiver="page") == 0
    assert rig.sample("nms_forward_receiver_failing", receiver="page") == 0
    reason = {503: "http_5xx", 429: "http_429", None: "network"}[failure.status]
    assert rig.sample("nms_forward_attempt_failures_total", receiver="page", reason=reason) >= 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("receiver page failing" in m for m in messages)
    assert any("receiver page accepts again" in m for m in messages)
    assert not any("127.0.0.1" in m or "://" in m for m in messages)  # no URL in a log


def test_after_the_first_failure_only_one_probe_is_in_flight() -> None:
    async def body() -> Rig:
        rig = Rig(max_in_flight=64, initial_s=0.002)
        rig.transport.down["page"] = Answer(503)
        for i in range(40):
            rig.submit(f"a{i}", 1, ["page"], i)
        await asyncio.sleep(0.05)  # the first wave has failed; probes from now on
        rig.transport.most_in_flight_while_down["page"] = 0
        await asyncio.sleep(0.2)
        assert rig.transport.most_in_flight_while_down["page"] <= 1
        del rig.transport.down["page"]
        await rig.drain()
        return rig

    rig = asyncio.run(body())
    assert len(rig.settled) == 40


def test_retry_after_is_honoured() -> None:
    async def body() -> float:
        rig = Rig()
        rig.transport.down["page"] = Answer(429, retry_after_s=0.3)
        loop = asyncio.get_running_loop()
        start = loop.time()
        rig.submit("a", 1, ["page"], 0)
        await asyncio.sleep(0.05)
        del rig.transport.down["page"]
        await rig.drain()
        return loop.time() - start

    assert asyncio.run(body()) >= 0.3


def test_a_refusal_is_dead_lettered_and_settles_without_blocking_the_alert() -> None:
    async def body() -> Rig:
        rig = Rig()
        rig.transport.refuse.add(b"a:2")
        for seq in (1, 2, 3):
            rig.submit("a", seq, ["hook"], seq)
        await rig.drain()
        return rig

    rig = asyncio.run(body())
    assert rig.transport.accepted("hook") == [b"a:1", b"a:3"]
    ((job, answer),) = rig.dead.letters
    assert job.record is not None and job.record.offset == 2 and answer.status == 400
    assert [r.offset for r in rig.settled] == [1, 2, 3]
    assert rig.sample("nms_forward_deliveries_total", receiver="hook", outcome="dead_lettered") == 1


def test_a_transition_settles_only_when_every_receiver_has_it() -> None:
    async def body() -> tuple[bool, Rig]:
        rig = Rig()
        rig.transport.down["page"] = Answer(503)
        record = rig.submit("a", 1, RECEIVERS, 0)
        await asyncio.sleep(0.1)
        hook_only = rig.transport.accepted("hook") == [b"a:1"] and record.remaining == 1
        del rig.transport.down["page"]
        await rig.drain()
        return hook_only and not rig.settled[:0], rig

    hook_only, rig = asyncio.run(body())
    assert hook_only and len(rig.settled) == 1


def test_cancelled_lanes_leave_their_jobs_to_the_next_owner() -> None:
    async def body() -> tuple[int, Rig]:
        rig = Rig()
        rig.transport.down["page"] = Answer(503)
        for i in range(6):
            rig.submit("a", i + 1, ["page"], i)
        await asyncio.sleep(0.05)
        dropped = rig.deliverer.cancel(lambda job: False)
        await asyncio.sleep(0.02)
        return dropped, rig

    dropped, rig = asyncio.run(body())
    assert dropped == 6 and not rig.deliverer.tasks and not rig.settled
    assert rig.sample("nms_forward_queued_deliveries", receiver="page") == 0
    assert rig.sample("nms_forward_retry_backlog", receiver="page") == 0
