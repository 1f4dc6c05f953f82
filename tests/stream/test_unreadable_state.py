"""A stored patient state that cannot be read never stops the worker: on every path that loads
one (a batch, the tick), the bytes are dead-lettered as ``state_unreadable`` with the changelog's
topic and partition, counted, logged without the patient id, and the patient starts afresh."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine import dumps_state, new_state
from monitor.engine.serde import VERSION
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream import processor as processor_module
from monitor.stream.batches import BatchHandler, Received
from monitor.stream.clock import StreamClock
from monitor.stream.gaps import OffsetGaps
from monitor.stream.processor import BatchProcessor
from monitor.stream.publish import Publisher
from monitor.stream.statestore import StateStore, partition_of
from monitor.stream.stored import UnreadableState, load, pack
from monitor.stream.ticker import Ticker
from tests.builders import epoch
from tests.stream.fakes import FakeAssignment, FakeTable, FakeTime, FakeTopic
from tests.stream.shellkit import NOW, alerting, heart_rate, metrics, sample

PARTS = 4
CHANGELOG = "nms-monitor-patient-state-changelog"
V1 = Path(__file__).resolve().parents[1] / "data" / "state_v1.json"  # a format-1 state of "p1"
GOOD = pack({"nms.events/0": 3}, dumps_state(new_state("p1")))

UNREADABLE = {
    "not_json": b"\x00\x01garbage",
    "no_state": b'{"nms.events/0": 3}\n',
    "no_newline": b'{"nms.events/0": 3}',
    "offsets_not_ints": b'{"nms.events/0": "three"}\n' + dumps_state(new_state("p1")),
    "state_not_json": b"{}\n{not json",
    "unknown_version": b"{}\n"
    + dumps_state(new_state("p1")).replace(f'"v":{VERSION}'.encode(), b'"v":99'),
    "known_version_broken": b'{}\n{"v": %d, "p": "p1"}' % VERSION,
    "another_patient": pack({}, dumps_state(new_state("p2"))),
}  # fmt: skip


def proc() -> BatchProcessor:
    return BatchProcessor(
        ClinicalSettings(), 4096, 3600, changelog_topic=CHANGELOG, partitions=PARTS
    )


def test_a_good_value_and_a_version_1_state_load() -> None:
    offsets, state = load("p1", GOOD)
    assert offsets == {"nms.events/0": 3} and state.patient_id == "p1"
    _, migrated = load("p1", pack({}, V1.read_bytes()))  # the tested v1 -> v2 migration
    assert migrated.patient_id == "p1" and migrated.alert is not None


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_every_kind_of_bad_value_is_unreadable_and_never_names_the_patient(name: str) -> None:
    with pytest.raises(UnreadableState) as info:
        load("p1", UNREADABLE[name])
    assert "p1" not in str(info.value) and "p2" not in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.builds(lambda b: GOOD[: len(b)], st.binary(max_size=400)))
def test_loading_any_bytes_gives_a_state_of_the_patient_or_unreadable_nothing_else(
    value: bytes,
) -> None:
    try:
        _, state = load("p1", value)
    except UnreadableState:
        return
    assert state.patient_id == "p1"


def check_letter(raw: bytes, key: bytes, value: bytes) -> dict[str, Any]:
    env: dict[str, Any] = orjson.loads(raw)
    assert env["reason"] == "state_unreadable" and env["detail"]
    assert (env["topic"], env["partition"], env["offset"]) == (
        CHANGELOG, partition_of(key, PARTS), None,
    )  # fmt: skip
    assert base64.b64decode(env["key_base64"]) == key
    assert base64.b64decode(env["value_base64"]) == value
    return env


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_a_batch_dead_letters_the_bytes_and_starts_the_patient_afresh(name: str) -> None:
    bad, batch = UNREADABLE[name], alerting()
    out = proc().process(batch, {"p1": bad}.get, NOW)
    assert [d.reason for d in out.unreadable] == ["state_unreadable"] and out.dead == []
    check_letter(out.unreadable[0].value, b"p1", bad)
    assert out.processed == 3
    assert out.alerts == proc().process(batch, {}.get, NOW).alerts  # as if it had no state
    written = out.states["p1"]
    assert written is not None and written != bad  # the bad bytes are replaced
    assert load("p1", written)[1].alert is not None


def test_a_rollback_after_a_fresh_start_does_not_reload_the_bad_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_step = processor_module.step

    def exploding(state: Any, event: Any, cfg: Any) -> Any:
        if event.event_id == "boom":
            raise ZeroDivisionError("synthetic")
        return real_step(state, event, cfg)

    monkeypatch.setattr(processor_module, "step", exploding)
    batch = [heart_rate("p1", "a", 1), heart_rate("p1", "boom", 2), heart_rate("p1", "c", 3)]
    out = proc().process(batch, {"p1": UNREADABLE["not_json"]}.get, NOW)
    assert [d.reason for d in out.dead] == ["engine_error"] and len(out.unreadable) == 1
    state = load("p1", out.states["p1"] or b"")[1]
    assert sum(b[0] for b in state.vitals["heart_rate"].values()) == 2


def test_the_tick_dead_letters_and_deletes_an_unreadable_value() -> None:
    result = proc().tick("p1", UNREADABLE["unknown_version"], epoch(5), NOW)
    assert result.evict and result.durable and result.data is None and result.alerts == []
    assert result.unreadable is not None
    env = check_letter(result.unreadable.value, b"p1", UNREADABLE["unknown_version"])
    assert env["rejected_at"] == NOW


def rows_with_bad_ones() -> dict[bytes, bytes]:
    good = proc().process(alerting("ok"), {}.get, NOW).states["ok"]
    assert good is not None
    return {b"ok": good, b"p1": UNREADABLE["not_json"], b"\xfe\xff": b"not a patient's key"}


def test_the_ticker_keeps_ticking_past_unreadable_values_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = FakeTable(rows=rows_with_bad_ones())
    store = StateStore(table, PARTS)
    dead, alerts = FakeTopic(), FakeTopic()
    clock = StreamClock()
    clock.saw(epoch(100), NOW)  # the good patient's alert starts clearing
    m = metrics()
    ticker = Ticker(
        store, proc(), Publisher(alerts, dead), asyncio.Lock(), FakeAssignment(), clock, m,
        FakeTime(wall=NOW).clocks(),
    )  # fmt: skip
    with caplog.at_level(logging.INFO):
        asyncio.run(ticker.tick())
    assert sorted(s.key or b"" for s in dead.sent) == [b"p1", b"\xfe\xff"]
    for s in dead.sent:
        assert s.headers == {"reason": b"state_unreadable"}
        check_letter(s.value, s.key or b"", table[s.key or b""])
    assert store.get(b"p1") is None and store.get(b"\xfe\xff") is None  # deleted at the flush
    assert {b"p1", b"\xfe\xff", b"ok"} <= store.dirty  # and the good patient moved on
    assert sample(m, "nms_state_load_failures_total", during="tick") == 2
    assert sample(m, "nms_ticks_total") == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(CHANGELOG in w for w in warnings)
    assert not any("p1" in r.getMessage() for r in caplog.records)


def test_the_batch_handler_sends_the_letter_counts_it_and_saves_a_fresh_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = FakeTable(rows={b"p1": UNREADABLE["another_patient"]})
    store = StateStore(table, PARTS)
    dead, alerts = FakeTopic(), FakeTopic()
    m = metrics()
    handler = BatchHandler(
        store, proc(), Publisher(alerts, dead), asyncio.Lock(), OffsetGaps(), StreamClock(), m,
        FakeTime(wall=NOW).clocks(), lambda: 1,
    )  # fmt: skip
    with caplog.at_level(logging.INFO):
        asyncio.run(handler.handle([Received(x, NOW, 1) for x in alerting()]))
    assert [s.headers["reason"] for s in dead.sent] == [b"state_unreadable"]
    assert sample(m, "nms_state_load_failures_total", during="batch") == 1
    assert sample(m, "nms_events_total", outcome="rejected") == 0  # not an input message
    assert sample(m, "nms_events_total", outcome="applied") == 3
    assert load("p1", store.get(b"p1") or b"")[1].alert is not None
    assert not any("p1" in r.getMessage() for r in caplog.records)
