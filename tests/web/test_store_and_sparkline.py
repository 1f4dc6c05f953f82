"""The dashboard's store (latest per alert, dedup, history, eviction, change log) and the SVG
sparkline geometry."""

from __future__ import annotations

import datetime as dt

from monitor.contracts.alerts import Alert
from monitor.web import sparkline
from monitor.web.store import AlertStore, compress
from tests.web.factory import T0, alert, story

H = dt.timedelta(hours=1)


def packed(*alerts: Alert) -> list[tuple[Alert, bytes]]:
    return [(a, compress(a.model_dump_json().encode())) for a in alerts]


def test_latest_transition_per_alert_and_redeliveries_ignored() -> None:
    s = story("p-1")
    store = AlertStore()
    changes = store.apply(packed(*s[:3]), 0.0)
    assert [c.version for c in changes] == [1, 2, 3]
    # A redelivery after a worker crash repeats transitions already seen: nothing changes.
    assert store.apply(packed(s[1], s[2]), 0.0) == []
    assert store.ignored == 2
    store.apply(packed(*s[3:]), 0.0)
    (only,) = store.open_alerts()
    assert only.latest.transition == "acknowledged"
    assert only.priority_since == s[3].time
    assert [a.sequence for a in store.history("p-1")[0]] == [1, 2, 3, 4, 5]


def test_resolved_alert_leaves_the_open_list_but_keeps_its_history() -> None:
    a = alert("p-2")
    gone = alert("p-2", "high", "resolved", 2, at=T0 + H, opened_at=T0, status="resolved")
    store = AlertStore()
    store.apply(packed(a, gone), 0.0)
    assert store.open_alerts() == []
    assert store.summary(a.alert_id) is None
    assert store.patient_of(a.alert_id) == "p-2"
    assert [x.transition for x in store.history("p-2")[0]] == ["opened", "resolved"]


def test_closed_alerts_beyond_the_limit_are_forgotten_oldest_first() -> None:
    store = AlertStore(max_closed=2)
    for i in range(4):
        pid = f"p-{i}"
        store.apply(packed(alert(pid), alert(pid, "high", "resolved", 2, status="resolved")), 0.0)
    store.apply(packed(alert("p-open")), 0.0)
    assert not store.has_patient("p-0") and not store.has_patient("p-1")
    assert store.has_patient("p-2") and store.has_patient("p-3") and store.has_patient("p-open")
    assert store.counts == (3, 5)


def test_change_log_answers_catch_up_or_asks_for_a_snapshot() -> None:
    store = AlertStore(change_log=3)
    store.apply(packed(*(alert(f"p-{i}") for i in range(5))), 0.0)
    assert store.version == 5
    assert store.changes_since(5) == []
    assert [c.patient_id for c in store.changes_since(3) or []] == ["p-3", "p-4"]
    assert store.changes_since(2) is not None
    assert store.changes_since(1) is None  # the log no longer reaches back: snapshot
    assert store.changes_since(9) is None  # from another life of the dashboard


def test_stream_clock_advances_from_the_newest_event_time() -> None:
    store = AlertStore()
    assert store.stream_now(100.0) is None
    store.apply(packed(alert("p", at=T0 + H), alert("q", at=T0)), 100.0)
    assert store.stream_now(130.0) == T0 + H + dt.timedelta(seconds=30)


def test_hourly_sparkline_joins_short_gaps_breaks_long_ones_and_marks_lone_values() -> None:
    values: list[float | None] = [None] * 72
    values[0], values[2], values[4] = 10.0, 20.0, 10.0  # two-hourly: one line
    values[20] = 15.0  # alone after a 16 h gap: a dot
    values[60], values[61] = 12.0, 18.0
    s = sparkline.hourly(values, 100, 20, "Heart rate", "/min")
    assert len(s.lines) == 2
    first = [tuple(map(float, p.split(","))) for p in s.lines[0].split()]
    assert [x for x, _ in first] == sorted(x for x, _ in first)
    assert first[1][1] < first[0][1], "a higher value is drawn higher (smaller y)"
    assert all(3.0 <= y <= 17.0 for _, y in first)
    assert {(d.x, d.title) for d in s.dots} == {(s.dots[0].x, ""), (s.dots[1].x, "")}
    assert len(s.dots) == 2  # the lone value and the latest
    assert s.last == "18 /min" and (s.low, s.high) == ("10", "20")
    assert "latest 18 /min" in s.label
    detailed = sparkline.hourly(values, 100, 20, "Heart rate", "/min", detail=True)
    assert len(detailed.dots) == 6 and detailed.dots[0].title == "hour 0: 10 /min"


def test_empty_series_is_said_not_drawn() -> None:
    s = sparkline.hourly([None] * 72, 100, 20, "Temperature", "°C", 1)
    assert s.empty and s.last == "none" and s.label == "Temperature: none"


def test_ck_chart_log_scale_with_the_uln_line_and_alarm_points() -> None:
    t0 = T0.timestamp()
    points = [(t0 + 3600, 300.0, 308.0, "a"), (t0 + 7200, 3000.0, 308.0, "b")]
    s = sparkline.ck_chart(points, (t0, t0 + 72 * 3600), 4.0, 100, 40)
    assert s.threshold_label == "4 x ULN = 1232 U/L"
    assert s.threshold_y is not None
    low, high = s.dots
    assert not low.alarm and high.alarm
    assert high.y < s.threshold_y < low.y
    # log scale: the line (1232) sits nearer 3000 than the linear midpoint would put it
    assert (s.threshold_y - high.y) < (low.y - s.threshold_y)
    outside = sparkline.ck_chart([(t0 - 10, 500.0, 308.0, "x")], (t0, t0 + 1), 4.0, 100, 40)
    assert outside.empty
