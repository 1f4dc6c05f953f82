"""The worker's batch step without Kafka: every bad message becomes a dead letter with a reason,
good messages around it are processed, and state is saved once per patient per batch."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import orjson
import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from monitor.engine import EventRejected, loads_state
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream import processor as processor_module
from monitor.stream.deadletter import Inbound
from monitor.stream.processor import BatchProcessor, TickResult
from monitor.stream.settings import KafkaSettings
from monitor.stream.statestore import partition_of
from monitor.stream.stored import unpack
from monitor.stream.topics import Topics
from tests.builders import at

NOW = 1_800_000_000.0  # wall clock for the tests (2027), after every event time used


_offsets = itertools.count(1000)


def msg(value: bytes | None, key: bytes | None = b"p1", offset: int | None = None) -> Inbound:
    """A consumed message; offsets increase like a partition's unless given."""
    return Inbound(value, key, "nms.vitals", 0, next(_offsets) if offset is None else offset)


def vital(eid: str, hours: float, value: float = 80, **extra: Any) -> bytes:
    data = {"event_id": eid, "patient_id": "p1", "kind": "vital", "time": at(hours),
            "code": "heart_rate", "value": value, "unit": "/min", **extra}  # fmt: skip
    return orjson.dumps(data)


def run(batch: list[Inbound], store: dict[str, bytes] | None = None) -> Any:
    proc = BatchProcessor(ClinicalSettings(), max_message_bytes=4096, max_future_skew_s=3600)
    store = store if store is not None else {}
    return proc.process(batch, store.get, NOW)


BAD = [
    (b"{not json", "invalid_json"),
    (orjson.dumps({"event_id": "x", "patient_id": "p1", "kind": "vital", "time": at(1),
                   "code": "heart_rate", "value": "fast", "unit": "/min"}), "invalid_field"),
    (orjson.dumps({"event_id": "x", "patient_id": "p1", "kind": "ventilator", "time": at(1)}),
     "unknown_kind"),
    (vital("x", 1).replace(b"Z", b""), "naive_timestamp"),
    (vital("x", 1, value=0), "implausible_value"),
    (b"{" + b" " * 5000 + b"}", "too_large"),
    (None, "empty_value"),
]  # fmt: skip


@pytest.mark.parametrize(("value", "reason"), BAD, ids=[r for _, r in BAD])
def test_bad_message_is_dead_lettered_with_reason_and_neighbours_processed(
    value: bytes | None, reason: str
) -> None:
    batch = [msg(vital("a", 1), offset=10), msg(value, offset=11), msg(vital("b", 2), offset=12)]
    out = run(batch)
    assert out.processed == 2
    assert [d.reason for d in out.dead] == [reason]
    env = orjson.loads(out.dead[0].value)
    assert env["reason"] == reason and env["detail"]
    assert (env["topic"], env["partition"], env["offset"]) == ("nms.vitals", 0, 11)
    assert base64.b64decode(env["value_base64"]) == (value or b"")[: 256 * 1024]
    assert out.rejected[reason] == 1


def test_wrong_or_missing_key_is_refused() -> None:
    out = run([msg(vital("a", 1), key=b"p2"), msg(vital("b", 1), key=None)])
    assert [d.reason for d in out.dead] == ["key_mismatch", "key_mismatch"]
    assert out.processed == 0


def test_future_event_time_is_refused() -> None:
    future = orjson.dumps({**orjson.loads(vital("f", 0)), "time": "2099-01-01T00:00:00Z"})
    out = run([msg(future)])
    assert [d.reason for d in out.dead] == ["future_time"]


def test_a_lab_version_issued_in_the_future_is_refused() -> None:
    """It would outrank every real later correction of its result."""
    lab = {"event_id": "l", "patient_id": "p1", "kind": "lab", "time": at(0), "code": "ck",
           "value": 900, "unit": "U/L", "result_id": "r1"}  # fmt: skip
    future = orjson.dumps({**lab, "issued": "2099-01-01T00:00:00Z"})
    now = orjson.dumps({**lab, "event_id": "m", "issued": at(1)})
    out = run([msg(future), msg(now)])
    assert [d.reason for d in out.dead] == ["future_time"] and out.processed == 1
    assert "issued is" in orjson.loads(out.dead[0].value)["detail"]


def test_engine_rejections_are_dead_lettered() -> None:
    store: dict[str, bytes] = {}
    first = run([msg(vital("a", 100))], store)
    store.update({k: v for k, v in first.states.items() if v is not None})
    out = run([msg(vital("old", 10))], store)
    assert [d.reason for d in out.dead] == ["too_late"]


def test_state_saved_once_per_patient_and_duplicates_counted() -> None:
    out = run([msg(vital("a", 1)), msg(vital("b", 1.5)), msg(vital("a", 1))])
    assert list(out.states) == ["p1"]
    assert out.processed == 3 and out.duplicates == 1
    state = loads_state(unpack(out.states["p1"] or b"")[1])
    assert state.vitals["heart_rate"]


def test_redelivery_is_skipped_by_offset_and_changes_nothing() -> None:
    store: dict[str, bytes] = {}
    batch = [msg(vital(f"v{i}", 1 + i / 60), offset=i) for i in range(300)]  # > the vital id ring
    first = run(batch, store)
    store.update({k: v for k, v in first.states.items() if v is not None})
    again = run(batch, store)  # Kafka redelivers the whole uncommitted batch after a crash
    assert again.redelivered == 300 and again.processed == 0 and again.states == {}
    offsets, _ = unpack(store["p1"])
    assert offsets == {"nms.vitals/0": 299}


def test_source_duplicate_with_a_new_offset_is_an_engine_duplicate() -> None:
    out = run([msg(vital("a", 1), offset=1), msg(vital("a", 1), offset=2)])
    assert out.duplicates == 1 and out.redelivered == 0


def test_engine_exception_is_contained_and_state_rolled_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_step = processor_module.step

    def exploding(state: Any, event: Any, cfg: Any) -> Any:
        if event.event_id == "boom":
            state.vitals.clear()  # half-applied damage that must not survive
            raise ZeroDivisionError("synthetic")
        return real_step(state, event, cfg)

    monkeypatch.setattr(processor_module, "step", exploding)
    out = run([msg(vital("a", 1)), msg(vital("boom", 2)), msg(vital("c", 3))])
    assert [d.reason for d in out.dead] == ["engine_error"]
    assert "ZeroDivisionError" in orjson.loads(out.dead[0].value)["detail"]
    state = loads_state(unpack(out.states["p1"] or b"")[1])
    assert sum(b[0] for b in state.vitals["heart_rate"].values()) == 2  # a and c, not boom


def test_a_refusal_is_rolled_back_like_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: even if the engine changed the state before refusing (it must not;
    tests/property/test_rejections.py), the worker keeps the state from before the message."""
    real_step = processor_module.step

    def refusing(state: Any, event: Any, cfg: Any) -> Any:
        if event.event_id.startswith("bad"):
            state.vitals.clear()  # damage that must not survive the refusal
            raise EventRejected("implausible_value", "synthetic")
        return real_step(state, event, cfg)

    monkeypatch.setattr(processor_module, "step", refusing)
    batch = [msg(vital("a", 1)), msg(vital("bad1", 2)), msg(vital("c", 3)), msg(vital("bad2", 4))]
    out = run([*batch, msg(vital("e", 5))])
    assert [d.reason for d in out.dead] == ["implausible_value", "implausible_value"]
    state = loads_state(unpack(out.states["p1"] or b"")[1])
    assert sum(b[0] for b in state.vitals["heart_rate"].values()) == 3  # a, c and e


def test_an_invalid_snooze_does_not_swallow_a_pending_escalation() -> None:
    """The worker path of the REJECTED defect: the escalation that was pending when an invalid
    snooze arrived is published after the refusal, and the state is as if the snooze never came."""

    def ev(eid: str, hours: float, kind: str, **fields: Any) -> Inbound:
        data = {"event_id": eid, "patient_id": "p1", "kind": kind, "time": at(hours), **fields}
        return msg(orjson.dumps(data))

    def vitals(eid: str, hours: float, **values: float) -> list[Inbound]:
        units = {"heart_rate": "/min", "respiratory_rate": "/min", "systolic_bp": "mm[Hg]"}
        return [
            ev(f"{eid}-{code}", hours, "vital", code=code, value=value, unit=units[code])
            for code, value in values.items()
        ]

    setup = [
        *(m for h in range(12) for m in vitals(f"b{h}", h, heart_rate=80, respiratory_rate=16,
                                              systolic_bp=120)),
        ev("m", 0, "medication", drug="haloperidol", action="administered", dose=5),
        *(ev(f"c-{c}", 12, "assessment", code=c, present=True)
          for c in ("mental_status", "rigidity", "diaphoresis")),
        ev("ck", 12, "lab", code="ck", value=4000, unit="U/L"),
        *vitals("v20", 20, heart_rate=120),
        *vitals("v21", 20 + 1 / 60, respiratory_rate=30, systolic_bp=170),
    ]  # fmt: skip
    store: dict[str, bytes] = {}
    first = run(setup, store)
    store.update({k: v for k, v in first.states.items() if v is not None})
    alert_id = first.alerts[0].alert_id
    bad = ev("snooze", 20 + 2 / 60, "ack", alert_id=alert_id, action="snooze", by="rn",
             until=at(19))  # fmt: skip
    later = vitals("v30", 20.5, heart_rate=121)
    out = run([bad, *later], store)
    assert [d.reason for d in out.dead] == ["invalid_snooze"]
    assert [(a.transition, a.priority) for a in out.alerts] == [("escalated", "high")]
    without = run(later, dict(store))
    assert without.alerts == out.alerts
    assert unpack(without.states["p1"] or b"")[1] == unpack(out.states["p1"] or b"")[1]


def test_partitioner_agrees_with_kafka_python() -> None:
    for pid in (b"p1", b"demo-nms-1", b"patient-000123", "ü".encode()):
        expected = (kafka_python_murmur2(pid) & 0x7FFFFFFF) % 4
        assert partition_of(pid, 4) == expected


def test_topics_and_settings() -> None:
    t = Topics("ward7")
    assert t.alerts == "ward7.alerts" and t.deadletter == "ward7.deadletter"
    assert "ward7.events" in t.inputs and t.for_kind("lab") == "ward7.labs"
    assert len(t.all) == 9
    with pytest.raises(ValueError, match="SASL"):
        KafkaSettings(security_protocol="SASL_SSL")
    k = KafkaSettings(bootstrap="a:9092, b:9093")
    assert k.bootstrap_list() == ["a:9092", "b:9093"]
    secret = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u", sasl_password="hunter2",  # type: ignore[arg-type]
    )  # fmt: skip
    assert "hunter2" not in repr(secret)


def _stored(events: list[bytes]) -> tuple[BatchProcessor, bytes]:
    proc = BatchProcessor(ClinicalSettings(), max_message_bytes=4096, max_future_skew_s=3600)
    out = proc.process([msg(e) for e in events], {}.get, NOW)
    return proc, out.states["p1"] or b""


def event_bytes(kind: str, eid: str, hours: float, **fields: Any) -> bytes:
    return orjson.dumps({"event_id": eid, "patient_id": "p1", "kind": kind, "time": at(hours),
                         **fields})  # fmt: skip


def test_tick_leaves_a_quiet_patient_alone_and_evicts_when_inactive() -> None:
    proc, saved = _stored([vital("a", 1)])
    assert proc.tick("p1", saved, NOW) == TickResult([], None, True, False)  # years later
    from tests.builders import epoch  # noqa: PLC0415

    assert proc.tick("p1", saved, epoch(2)) == TickResult([], None, False, False)


def test_tick_publishes_time_driven_transitions() -> None:
    from tests.builders import epoch  # noqa: PLC0415

    proc, saved = _stored(
        [
            event_bytes("medication", "m", 0, drug="haloperidol", action="administered"),
            event_bytes("assessment", "r", 1, code="rigidity", present=True),
            event_bytes("assessment", "s", 1, code="mental_status", present=True),
        ]
    )
    # Exposure lapses at 72 h, the signs at 25 h. The first tick sees the criteria clear
    # (hour 100) and starts the 24 h clearing period; a tick after it resolves the alert.
    first = proc.tick("p1", saved, epoch(100))
    # Starting the clearing period changes the state: that must reach the changelog.
    assert first.alerts == [] and first.data is not None and first.durable and not first.evict
    resolved = proc.tick("p1", first.data, epoch(124.5))
    assert [a.transition for a in resolved.alerts] == ["resolved"]
    assert resolved.data is not None and resolved.durable and not resolved.evict
    assert resolved.alerts[0].time.timestamp() == epoch(124)  # stamped when it fell due
    quiet = TickResult([], None, False, False)
    assert proc.tick("p1", resolved.data, epoch(125)) == quiet  # nothing more to do


def test_a_tick_that_only_moves_the_evaluation_clock_is_not_durable() -> None:
    from tests.builders import epoch  # noqa: PLC0415

    proc, saved = _stored(
        [
            event_bytes("medication", "m", 0, drug="haloperidol", action="administered"),
            event_bytes("assessment", "r", 1, code="rigidity", present=True),
            event_bytes("assessment", "s", 1, code="mental_status", present=True),
        ]
    )
    assert loads_state(unpack(saved)[1]).alert is not None
    quiet = proc.tick("p1", saved, epoch(3))  # an hour on, nothing new: only the clock moves
    assert quiet.alerts == [] and quiet.data is not None and not quiet.durable
    assert loads_state(unpack(quiet.data)[1]).last_eval == epoch(3)
    assert proc.tick("p1", quiet.data, epoch(100)).durable  # clearing starts: a real change
    # The same holds when the state comes from the changelog rather than the live cache.
    fresh = BatchProcessor(ClinicalSettings(), max_message_bytes=4096, max_future_skew_s=3600)
    again = fresh.tick("p1", saved, epoch(3))
    assert again == quiet


def test_a_batch_that_fails_midway_leaves_no_mutated_cached_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc = BatchProcessor(ClinicalSettings(), max_message_bytes=4096, max_future_skew_s=3600)
    store: dict[str, bytes] = {}
    first = proc.process([msg(vital("a", 1))], store.get, NOW)
    store.update({k: v for k, v in first.states.items() if v is not None})

    def failing_dump(state: Any) -> bytes:
        raise RuntimeError("disk full")  # after the engine applied the event in memory

    monkeypatch.setattr(processor_module, "dumps_state", failing_dump)
    with pytest.raises(RuntimeError):
        proc.process([msg(vital("b", 2))], store.get, NOW)
    monkeypatch.undo()
    # The same message again (Kafka redelivers it): it must be applied, not seen as a duplicate.
    again = proc.process([msg(vital("b", 2))], store.get, NOW)
    assert again.duplicates == 0 and again.processed == 1
