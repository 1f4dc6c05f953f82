"""The trend series an alert carries: 72 hourly values per vital sign and the CK results, from the
same summaries the criteria use (live hourly buckets, then the values archived as hours leave the
criteria's windows)."""

from __future__ import annotations

from monitor.engine import step
from monitor.engine.state import new_state
from monitor.knowledge.thresholds import ClinicalSettings
from tests.builders import chart, epoch, lab, med, patient, run, vital, vitals

CFG = ClinicalSettings()


def _story() -> list[object]:
    events: list[object] = [patient(0, sex="male"), med(0, "haloperidol", dose=5)]
    for h in range(60):
        events += vitals(h, hr=80 + h, rr=16, sbp=120, dbp=75, temp=37.0 if h < 50 else 38.6)
    events += [lab(30, "ck", 2000, "U/L"), lab(55, "ck", 400, "U/L", reference_high=100)]
    events += [chart(52, "rigidity"), chart(52, "mental_status")]
    return events


def test_every_transition_carries_72_hours_of_trends() -> None:
    alerts = run(_story())  # type: ignore[arg-type]
    last = alerts[-1]
    t = last.trends
    assert t is not None and t.hours == 72
    now_h = int(last.time.timestamp() // 3600)
    assert t.start.timestamp() == (now_h - 71) * 3600
    for series in (t.temperature, t.heart_rate, t.respiratory_rate, t.systolic_bp,
                   t.diastolic_bp):  # fmt: skip
        assert len(series) == 72
    # Story hour h (heart rate 80 + h) is at index h + offset of every series.
    offset = int(epoch(0) // 3600) - (now_h - 71)
    story_h = now_h - int(epoch(0) // 3600)  # the hour of the last transition
    assert story_h > 40
    assert t.heart_rate[offset + story_h] == 80 + story_h  # a live bucket
    assert t.heart_rate[offset + story_h - 30] == 80 + story_h - 30  # archived (left the windows)
    assert t.temperature[offset + story_h] == 38.6 and t.temperature[offset + 10] == 37.0
    assert all(v is None for v in t.heart_rate[:offset])  # before admission
    results = [(30, 2000.0, 308.0), (55, 400.0, 100.0)]  # uln: male default, the lab's own
    assert [(p.value, p.uln) for p in t.ck] == [
        (v, u) for h, v, u in results if epoch(h) <= last.time.timestamp()
    ]
    assert t.ck
    assert t.ck_uln_multiple == 4.0


def test_the_trend_horizon_is_a_setting() -> None:
    cfg = ClinicalSettings(trend_hours=24)
    last = run(_story(), cfg=cfg)[-1]  # type: ignore[arg-type]
    assert last.trends is not None and last.trends.hours == 24
    assert len(last.trends.heart_rate) == 24


def test_a_late_reading_does_not_replace_an_archived_hour() -> None:
    """A reading accepted within the allowed lateness for an hour that has already left the
    criteria's windows recreates its bucket, which is pruned at once: the archived mean of the
    hour stands (the trend is display only, and the hour's readings were already summarised)."""
    state = new_state("p1")
    for i, v in enumerate([100, 110, 120]):
        state = step(state, vital(10 + i / 6, "heart_rate", v), CFG).state
    for h in (35, 36):  # the clock moves on; hour 10 leaves the windows and is archived
        state = step(state, vital(h, "heart_rate", 80), CFG).state
    hour = int(epoch(10) // 3600)
    assert state.trend["heart_rate"][hour] == 110.0
    late = step(state, vital(10.9, "heart_rate", 200), CFG)  # 26 h late: accepted
    assert late.state.trend["heart_rate"][hour] == 110.0
