"""REJECTED: a refused event changes nothing.

Stories (tests/property/stories.py) are fed with acknowledgements, snoozes and resolves inserted
at random points, some valid and some not (an unknown alert, a snooze that ends before it
starts, an ack with no open alert), and with other refused events (an implausible value, an
event older than the allowed lateness). For every refused event the patient's serialised state
is byte for byte what it was and nothing is emitted; and the alert history is identical to that of
the same stream with the refused events left out.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.contracts.alerts import Alert
from monitor.contracts.events import EVENT_ADAPTER, Event
from monitor.engine import EventRejected, dumps_state, new_state, step
from monitor.engine.state import PatientState
from monitor.knowledge.thresholds import ClinicalSettings
from tests.property.stories import Story, build, stories

CFG = ClinicalSettings()
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Fed:
    alerts: list[Alert]
    refused: list[str]  # reasons, in order
    stream: list[Event]  # the accepted events, in order (injected ones included)


def _event(kind: str, t: float, n: int, **fields: object) -> Event:
    when = dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
    data = {"event_id": f"x{n}", "patient_id": "p1", "kind": kind, "time": when, **fields}
    return EVENT_ADAPTER.validate_python(data)


def _injected(state: PatientState, rng: random.Random, n: int) -> Event:
    """One extra event at the patient's clock (or a few minutes after it): an ack, valid or
    not, or another event the engine must refuse."""
    assert state.clock is not None
    t = state.clock + rng.choice([0.0, 30.0, 90.0, 240.0])
    alert_id = state.alert.alert_id if state.alert is not None else "nms-unknown"
    choice = rng.randrange(9)
    if choice == 0:
        return _event("ack", t, n, alert_id=alert_id, action="acknowledge", by="rn-1")
    if choice == 1:
        until = dt.datetime.fromtimestamp(t + rng.choice([600, 3600, 90000]), dt.UTC)
        return _event("ack", t, n, alert_id=alert_id, action="snooze", by="rn-1", until=until)
    if choice == 2:
        return _event("ack", t, n, alert_id=alert_id, action="snooze", by="rn-1")
    if choice == 3:
        return _event("ack", t, n, alert_id=alert_id, action="resolve", by="dr-1", reason="ok")
    if choice == 4:  # a snooze that ends at or before its own time
        until = dt.datetime.fromtimestamp(t - rng.choice([0, 60, 7200]), dt.UTC)
        return _event("ack", t, n, alert_id=alert_id, action="snooze", by="rn-1", until=until)
    if choice == 5:
        return _event("ack", t, n, alert_id="nms-0000", action="acknowledge", by="rn-1")
    if choice == 6:  # lead-off zero
        return _event("vital", t, n, code="heart_rate", value=0, unit="/min")
    if choice == 7:  # older than the allowed lateness
        old = t - (CFG.allowed_lateness_hours + 1) * 3600
        return _event("vital", old, n, code="temperature", value=39.0, unit="Cel")
    return _event("vital", t, n, code="temperature", value=46.0, unit="Cel")


def feed_with_injections(events: list[Event], seed: int, rate: float) -> Fed:
    """Feed ``events`` with injected events; check the invariant at every refusal."""
    rng = random.Random(seed)
    state = new_state("p1")
    out = Fed([], [], [])
    n = 0
    for e in events:
        batch = [e]
        if state.clock is not None and rng.random() < rate:
            n += 1
            batch.append(_injected(state, rng, n))
        for ev in batch:
            before = dumps_state(state)
            try:
                result = step(state, ev, CFG)
            except EventRejected as exc:
                assert dumps_state(state) == before, f"{exc} changed the state"
                out.refused.append(exc.rejection.reason)
                continue
            state = result.state
            out.alerts.extend(result.transitions)
            out.stream.append(ev)
    return out


def feed(events: list[Event]) -> list[Alert]:
    state = new_state("p1")
    alerts: list[Alert] = []
    for e in events:
        result = step(state, e, CFG)  # every event here was accepted before: none may be refused
        state = result.state
        alerts.extend(result.transitions)
    return alerts


@PROPS
@given(story=stories, seed=st.integers(0, 2**16), rate=st.sampled_from([0.05, 0.2, 0.5]))
@example(
    story=Story(
        drug="haloperidol",
        onset=14.0,
        features=frozenset({"mental_status", "rigidity", "fever", "autonomic", "ck"}),
        cadence=0.5,
        hours=48.0,
        seed=1,
    ),
    seed=4,
    rate=0.5,
)
def test_refused_events_change_nothing(story: Story, seed: int, rate: float) -> None:
    events = sorted(build(story), key=lambda e: e.time)
    fed = feed_with_injections(events, seed, rate)
    # The same stream without the refused events gives the same alert history, byte for byte.
    assert feed(fed.stream) == fed.alerts


def test_the_stories_exercise_acks_and_refusals() -> None:
    """The property above is not vacuous: over a fixed set of stories, acks are accepted and
    refused for every reason the injections produce."""
    reasons: set[str] = set()
    transitions: set[str] = set()
    rng = random.Random(7)
    for i in range(30):
        story = Story(
            drug=rng.choice(["haloperidol", "Clozapine", "metoclopramide"]),
            onset=rng.uniform(14, 30),
            features=frozenset(rng.sample(["mental_status", "rigidity", "fever", "ck"], 3)),
            cadence=rng.choice([0.5, 1.0, 2.0]),
            hours=60.0,
            seed=i,
        )
        fed = feed_with_injections(sorted(build(story), key=lambda e: e.time), i, 0.3)
        reasons.update(fed.refused)
        transitions.update(a.transition for a in fed.alerts)
    assert {"invalid_snooze", "unknown_alert", "implausible_value", "too_late"} <= reasons
    assert {"acknowledged", "snoozed", "resolved", "escalated"} <= transitions
