"""The MLLP listener over real loopback TCP, with an in-memory sink standing in for the broker
(the real broker: tests/integration/test_interop_e2e.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import hl7
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.interop.codes import load_tables
from monitor.interop.hl7.convert import Hl7Context
from monitor.interop.hl7.handler import MessageHandler
from monitor.interop.hl7.mllp import frame
from monitor.interop.hl7.server import Limits, MllpServer
from monitor.interop.metrics import InteropMetrics
from tests.interop.fakes import FakeSink, GroupSink
from tests.interop.paths import HL7_FIXTURES, STORY

TIMEOUT = 10.0


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, payload: bytes) -> None:
        self.writer.write(frame(payload))
        await self.writer.drain()

    async def ack(self) -> hl7.Message:
        data = await asyncio.wait_for(self.reader.readuntil(b"\x1c\r"), TIMEOUT)
        assert data.startswith(b"\x0b")
        return hl7.parse(data[1:-2].decode())

    async def roundtrip(self, payload: bytes) -> hl7.Message:
        await self.send(payload)
        return await self.ack()

    async def closed(self) -> bool:
        """True when the server closed the connection (EOF) within the timeout."""
        data = await asyncio.wait_for(self.reader.read(), TIMEOUT)
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


Scenario = Callable[[MllpServer, FakeSink, Callable[[], Awaitable[Client]]], Awaitable[None]]


def run(
    scenario: Scenario, sink: FakeSink | None = None, **limits: float
) -> tuple[FakeSink, InteropMetrics]:
    """Start a listener on a free loopback port, run the scenario, stop everything."""
    sink = FakeSink() if sink is None else sink
    metrics = InteropMetrics(CollectorRegistry())

    async def main() -> None:
        handler = MessageHandler(
            Hl7Context(load_tables(), ZoneInfo("UTC")),
            sink,
            metrics,
            publish_timeout_s=0.5,
            max_message_bytes=int(limits.get("max_message_bytes", 64 * 1024)),
        )
        server = MllpServer(
            handler,
            Limits(
                int(limits.get("max_message_bytes", 64 * 1024)),
                limits.get("idle_timeout_s", 30.0),
                limits.get("frame_timeout_s", 30.0),
                int(limits.get("max_connections", 8)),
            ),
            metrics,
        )
        host, port = await server.start("127.0.0.1", 0)
        clients: list[Client] = []

        async def connect() -> Client:
            client = Client(*await asyncio.open_connection(host, port))
            clients.append(client)
            return client

        try:
            await asyncio.wait_for(scenario(server, sink, connect), 60)
        finally:
            for c in clients:
                await c.close()
            await server.stop()
            if isinstance(sink, GroupSink):
                await sink.stop()

    asyncio.run(main())
    return sink, metrics


def msa(ack: hl7.Message) -> tuple[str, str, str]:
    seg = ack.segment("MSA")
    return str(seg[1]), str(seg[2]), ack.unescape(str(seg[3])) if len(seg) > 3 else ""


def errors(ack: hl7.Message) -> list[str]:
    return [str(s) for s in ack if str(s[0]) == "ERR"]


def story(i: int) -> bytes:
    return STORY[i].read_bytes()


def test_story_messages_are_acknowledged_after_their_events_are_published() -> None:
    acks: list[hl7.Message] = []

    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        client = await connect()
        for i in range(len(STORY)):
            before = len(sink.events)
            acks.append(await client.roundtrip(story(i)))
            assert len(sink.events) > before  # published before the AA was written

    sink, metrics = run(scenario)
    assert [msa(a)[:2] for a in acks] == [("AA", f"STORY-000{i + 1}") for i in range(len(STORY))]
    first = acks[0].segment("MSH")
    assert str(first[9]) == "ACK^R01^ACK" and str(first[5]) == "MONITOR-GW^0800190000000001^EUI-64"
    # The charted vitals had no UTC offset: accepted, with a warning that says so.
    assert errors(acks[6]) and "read in UTC" in errors(acks[6])[0] and "|W|" in errors(acks[6])[0]
    kinds = [e.kind for e in sink.events]
    assert kinds.count("patient") == 1  # the location is published once, not per message
    assert kinds.count("medication") == 2 and kinds.count("lab") == 3
    assert {e.patient_id for e in sink.events} == {"STORY-1"}
    text = generate_latest(metrics.registry).decode()
    assert 'nms_interop_messages_total{adapter="hl7",outcome="accepted"} 9.0' in text
    assert 'nms_interop_skipped_total{adapter="hl7",reason="unknown_code"} 6.0' in text
    assert "STORY-1" not in text


def test_bad_content_is_refused_with_reasons_and_nothing_is_published() -> None:
    bad = story(8).replace(b"|2650|U/L^", b"|2650|furlongs^").replace(b"|12.4|", b"|lots|")

    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        ack = await (await connect()).roundtrip(bad)
        code, ident, text = msa(ack)
        assert (code, ident) == ("AE", "STORY-0009")
        assert (
            "'furlongs' / 'unit per liter' is not a known unit of ck" in text
            and "'lots' is not a number" in text
        )
        errs = errors(ack)
        assert len(errs) == 2
        assert errs[0].startswith("ERR||OBX^1^6|103^Table value not found^HL70357|E")
        assert errs[1].startswith("ERR||OBX^2^5|102^Data type error^HL70357|E")
        assert not sink.events

    run(scenario)


def test_broker_failure_is_refused_and_a_resend_is_published_once() -> None:
    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        client = await connect()
        sink.fail = True
        code, _, text = msa(await client.roundtrip(story(0)))
        assert code == "AR" and "did not acknowledge" in text and "send it again" in text
        assert not sink.events
        sink.fail = False
        assert msa(await client.roundtrip(story(0)))[0] == "AA"
        assert msa(await client.roundtrip(story(0)))[0] == "AA"  # a duplicate
        assert len(sink.events) == 7

    run(scenario)


def test_the_same_message_on_two_connections_at_once_is_published_once() -> None:
    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        sink.delay = 0.2
        a, b = await connect(), await connect()
        acks = await asyncio.gather(a.roundtrip(story(2)), b.roundtrip(story(2)))
        assert [msa(x)[0] for x in acks] == ["AA", "AA"]
        assert len(sink.events) == 7

    _, metrics = run(scenario)
    assert metrics.messages.labels("hl7", "duplicate")._value.get() == 1


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [("pharmacy/RDE-O11-01.hl7", "RDE^O11"), ("pharmacy/RDS-O13-01.hl7", "RDS^O13"),
     ("pharmacy/VXU.hl7", "VXU^V04"), ("device/valid-pcd01-response.hl7v2", "ACK^R01")],
)  # fmt: skip
def test_unsupported_message_types_are_rejected(fixture: str, kind: str) -> None:
    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        ack = await (await connect()).roundtrip((HL7_FIXTURES / fixture).read_bytes())
        code, _, text = msa(ack)
        assert code == "AR" and text.startswith(f"MSH-9: {kind} is not accepted")
        assert "|200^Unsupported message type^HL70357|E" in errors(ack)[0]
        assert not sink.events

    run(scenario)


def test_every_published_sample_gets_an_answer_on_one_connection() -> None:
    files = sorted(p for p in HL7_FIXTURES.rglob("*") if p.is_file())
    codes: dict[str, str] = {}

    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        client = await connect()
        for path in files:
            codes[path.name] = msa(await client.roundtrip(path.read_bytes()))[0]

    sink, _ = run(scenario)
    assert len(codes) == len(files) == 14
    # Three IPF samples share MSH-3/MSH-4/MSH-10 (AcmeInc, MSGID1234) with different content:
    # the first is accepted, the others refused (their event ids would collide in the engine).
    refused = {"valid-pcd01-request.hl7v2", "valid-thermometer-continua-wan.hl7v2"}
    unsupported = {"RDE-O11-01.hl7", "RDS-O13-01.hl7", "VXU.hl7", "valid-pcd01-response.hl7v2"}
    assert {n for n, c in codes.items() if c == "AE"} == refused
    assert {n for n, c in codes.items() if c == "AR"} == unsupported
    assert sum(c == "AA" for c in codes.values()) == 8
    assert len([e for e in sink.events if e.kind == "vital"]) == 7


def test_a_message_id_reused_for_different_content_is_refused() -> None:
    other = story(2).replace(b"|80|264864", b"|81|264864")

    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        client = await connect()
        assert msa(await client.roundtrip(story(2)))[0] == "AA"
        code, ident, text = msa(await client.roundtrip(other))
        assert (code, ident) == ("AE", "STORY-0003") and "already used for a different" in text
        assert len(sink.events) == 7

    run(scenario)


def test_garbage_and_oversized_and_cut_short_frames_are_refused_and_the_connection_goes_on() -> (
    None
):
    big = story(0).replace(b"Invented^Story", b"X" * 5000)

    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        client = await connect()
        client.writer.write(b"this is not MLLP\r\n")
        code, ident, text = msa(await client.ack())
        assert (code, ident) == ("AR", "") and "outside an MLLP frame" in text
        code, ident, text = msa(await client.roundtrip(big))
        assert (code, ident) == ("AR", "STORY-0001") and "exceeds the limit of 4096" in text
        client.writer.write(b"\x0bMSH|^~\\&|GW|W|||20260302||ORU^R01|CUT-1|P|2.5\rPID|")
        code, ident, text = msa(await client.roundtrip(story(2)))
        assert (code, ident) == ("AR", "CUT-1") and "cut short" in text
        assert msa(await client.ack())[:2] == ("AA", "STORY-0003")
        assert len(sink.events) == 7

    _, metrics = run(scenario, max_message_bytes=4096)
    for reason in ("garbage", "oversized", "truncated"):
        assert metrics.frame_errors.labels(reason)._value.get() == 1


def test_slow_and_silent_clients_are_closed_while_others_are_served() -> None:
    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        slow, silent, good = await connect(), await connect(), await connect()
        slow.writer.write(frame(story(0))[:40])  # and then nothing
        for i in (0, 2, 3):
            assert msa(await good.roundtrip(story(i)))[0] == "AA"
        assert await slow.closed()  # frame timeout (0.5 s)
        assert await silent.closed()  # idle timeout (1 s)

    _, metrics = run(scenario, frame_timeout_s=0.5, idle_timeout_s=1.0)
    assert metrics.frame_errors.labels("timeout")._value.get() >= 2


def test_pipelined_messages_are_acknowledged_in_order() -> None:
    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        client = await connect()
        for i in range(len(STORY)):
            await client.send(story(i))
        idents = [msa(await client.ack())[1] for _ in STORY]
        assert idents == [f"STORY-000{i + 1}" for i in range(len(STORY))]

    run(scenario)


def test_connections_beyond_the_limit_are_closed_at_once() -> None:
    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        first, second = await connect(), await connect()
        assert msa(await first.roundtrip(story(0)))[0] == "AA"
        assert await second.closed()

    _, metrics = run(scenario, max_connections=1)
    assert metrics.frame_errors.labels("too_many_connections")._value.get() == 1


# Group commit: the events of messages from every connection that arrive while a flush is in
# flight are flushed together (monitor/interop/groupcommit.py), as KafkaSink does.


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # and let whatever else was coming arrive


def _control_id(event_id: str) -> str:
    return event_id.split(":")[2]  # v2:<MSH-3>:<MSH-10>:<OBR>.<OBX>


async def _hold_first_group(sink: FakeSink, client: Client) -> GroupSink:
    """Send the story's first message from ``client`` and hold its group's flush in flight."""
    assert isinstance(sink, GroupSink)
    sink.gate = asyncio.Event()
    await client.send(story(0))
    await _until(lambda: len(sink.groups) == 1)
    return sink


async def _release(sink: GroupSink) -> None:
    """Let what was sent meanwhile arrive, then let the held flush return."""
    await asyncio.sleep(0.2)
    assert sink.gate is not None
    sink.gate.set()


def test_a_broker_failure_in_a_group_gives_no_aa_to_any_message_of_the_group() -> None:
    group_sink = GroupSink()
    group_sink.fail_flushes = {1}

    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        first, *others = [await connect() for _ in range(5)]
        held = await _hold_first_group(sink, first)
        for i, client in enumerate(others, start=1):
            await client.send(story(i))
        await _release(held)
        codes = [msa(await c.ack()) for c in (first, *others)]
        assert [c[0] for c in codes] == ["AA", "AR", "AR", "AR", "AR"]
        assert all("did not acknowledge" in c[2] or "failed" in c[2] for c in codes[1:])
        # The four were one group, and the flush that failed was theirs.
        assert len(sink.groups) == 2
        assert {_control_id(e.event_id) for e in sink.groups[1]} == {
            f"STORY-000{i + 1}" for i in range(1, 5)
        }
        assert {_control_id(e.event_id) for e in sink.events} == {"STORY-0001"}
        # Sent again, each is accepted and published.
        assert [msa(await c.roundtrip(story(i)))[0] for i, c in enumerate(others, 1)] == ["AA"] * 4
        assert {_control_id(e.event_id) for e in sink.events} == {
            f"STORY-000{i + 1}" for i in range(5)
        }

    run(scenario, group_sink)


def test_the_same_message_twice_in_one_group_is_published_once() -> None:
    group_sink = GroupSink()

    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        first, a, b, c = [await connect() for _ in range(4)]
        held = await _hold_first_group(sink, first)
        for client, i in ((a, 2), (b, 2), (c, 3)):
            await client.send(story(i))
        await _release(held)
        assert [msa(await x.ack())[:2] for x in (first, a, b, c)] == [
            ("AA", "STORY-0001"), ("AA", "STORY-0003"), ("AA", "STORY-0003"), ("AA", "STORY-0004")
        ]  # fmt: skip
        ids = [e.event_id for e in sink.events]
        assert len(ids) == len(set(ids))
        assert sum(_control_id(i) == "STORY-0003" for i in ids) == 7

    _, metrics = run(scenario, group_sink)
    assert metrics.messages.labels("hl7", "duplicate")._value.get() == 1


def test_one_patients_pipelined_messages_are_published_in_order_across_groups() -> None:
    group_sink = GroupSink()

    async def scenario(
        _: MllpServer, sink: FakeSink, connect: Callable[[], Awaitable[Client]]
    ) -> None:
        client = await connect()
        held = await _hold_first_group(sink, client)
        for i in range(1, len(STORY)):
            await client.send(story(i))
        await _release(held)
        acks = [msa(await client.ack())[:2] for _ in STORY]
        assert acks == [("AA", f"STORY-000{i + 1}") for i in range(len(STORY))]

    sink, _ = run(scenario, group_sink)
    assert isinstance(sink, GroupSink) and len(sink.groups) == 2  # the first, then the rest
    order = [_control_id(e.event_id) for e in sink.events]
    assert order == sorted(order)  # STORY-0001 ... STORY-0009: the order they were sent in
    assert {e.patient_id for e in sink.events} == {"STORY-1"}


def test_a_patient_moved_back_while_its_move_is_in_flight_is_published() -> None:
    """ICU-2, then WARD-5 (still being published), then ICU-2 again: the last update must not be
    taken for a repeat of what was last published, or the patient stays on WARD-5."""
    base = STORY[0].read_bytes()

    def moved(control: str, bed: str) -> bytes:
        return base.replace(b"STORY-0001", control.encode()).replace(b"ICU-2^14^1", bed.encode())

    async def story() -> tuple[list[str], list[str | None]]:
        sink = GroupSink()
        handler = MessageHandler(
            Hl7Context(load_tables(), ZoneInfo("UTC")),
            sink,
            InteropMetrics(CollectorRegistry()),
            publish_timeout_s=5,
            max_message_bytes=65536,
        )
        acks = [await handler.handle(moved("C-1", "ICU-2^14^1"))]
        sink.gate = asyncio.Event()
        second = asyncio.create_task(handler.handle(moved("C-2", "WARD-5^3^1")))
        await asyncio.sleep(0.05)
        third = asyncio.create_task(handler.handle(moved("C-3", "ICU-2^14^1")))
        await asyncio.sleep(0.05)
        sink.gate.set()
        acks += [await second, await third]
        await sink.stop()
        return [a.split(b"\r")[1].decode() for a in acks], [
            e.location for e in sink.events if e.kind == "patient"
        ]

    acks, locations = asyncio.run(story())
    assert [a.split("|")[1] for a in acks] == ["AA", "AA", "AA"]
    assert locations[-1] == "ICU-2 14 1 TESTHOSP" and len(locations) == 3
