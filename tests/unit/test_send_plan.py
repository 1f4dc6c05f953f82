"""What ``send`` publishes in which order: by default one topic, each patient's events in
event-time order (so none can arrive behind its patient's clock), exactly replay's order."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli.main import build_parser
from monitor.cli.replay import KIND_ORDER
from monitor.cli.send import plan
from monitor.contracts.decode import decode_event
from monitor.contracts.events import Event
from monitor.stream.topics import Topics
from tests.builders import at

TOPICS = Topics("nms")
KINDS: dict[str, dict[str, Any]] = {
    "vital": {"code": "heart_rate", "value": 90, "unit": "/min"},
    "lab": {"code": "ck", "value": 400, "unit": "U/L"},
    "medication": {"drug": "haloperidol", "action": "administered"},
    "assessment": {"code": "rigidity", "present": True},
    "patient": {"action": "admit"},
}


def line(pid: str, kind: str, eid: str, hours: float) -> tuple[Event, bytes]:
    raw = orjson.dumps({"event_id": eid, "patient_id": pid, "kind": kind, "time": at(hours),
                        **KINDS[kind]})  # fmt: skip
    return decode_event(raw), raw


files = st.lists(
    st.tuples(
        st.sampled_from(["p0", "p1", "p2"]),
        st.sampled_from(sorted(KINDS)),
        st.integers(0, 96 * 4).map(lambda q: q / 4),  # 4 days in quarter hours
    ),
    min_size=1,
    max_size=60,
).map(lambda rows: [line(p, k, f"e{i}", h) for i, (p, k, h) in enumerate(rows)])


@settings(max_examples=200, deadline=None)
@given(files)
def test_by_default_every_patient_meets_its_events_in_event_time_on_one_topic(
    events: list[tuple[Event, bytes]],
) -> None:
    out = plan(events, TOPICS)
    assert {o.topic for o in out} == {"nms.events"}
    assert sorted(o.value for o in out) == sorted(raw for _, raw in events)  # nothing lost
    for pid in {e.patient_id for e, _ in events}:
        times = [o.time for o in out if o.key == pid.encode()]
        assert times == sorted(times)  # never behind the patient's clock: never too_late
    want = sorted(events, key=lambda x: (x[0].time, KIND_ORDER[x[0].kind], x[0].event_id))
    assert [o.value for o in out] == [raw for _, raw in want]  # replay's order


@settings(max_examples=100, deadline=None)
@given(files)
def test_by_kind_each_topic_is_in_event_time_and_arrival_order_keeps_the_file(
    events: list[tuple[Event, bytes]],
) -> None:
    by_kind = plan(events, TOPICS, by_kind=True)
    for o in by_kind:
        assert o.topic == TOPICS.for_kind(orjson.loads(o.value)["kind"])
    assert [o.time for o in by_kind] == sorted(o.time for o in by_kind)
    arrival = plan(events, TOPICS, by_kind=True, arrival_order=True)
    assert [o.value for o in arrival] == [raw for _, raw in events]


def test_the_send_options() -> None:
    parser = build_parser()
    assert not parser.parse_args(["send", "f"]).by_kind
    assert parser.parse_args(["send", "--by-kind", "--speedup", "60", "f"]).by_kind
    assert parser.parse_args(["send", "--single-topic", "f"]).single_topic  # the default anyway
    with pytest.raises(SystemExit):
        parser.parse_args(["send", "--by-kind", "--single-topic", "f"])
