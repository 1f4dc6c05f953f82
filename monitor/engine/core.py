"""The engine's public functions: ``step`` (one event) and ``tick`` (time passes).

``step(state, event, cfg) -> StepResult(state, transitions, duplicate)``: the caller hands over
the state and gets it back (updated in place for speed; do not keep the old reference). A
rejected event raises :class:`EventRejected` and leaves the state exactly as it was.

Event time only: the patient's clock is the latest event time seen. An event older than the
clock by more than ``allowed_lateness_hours`` is rejected (``too_late``); a later one is placed
in its time bucket and the criteria are re-evaluated at the clock. A repeated ``event_id`` changes
nothing. No I/O, no wall clock, no Faust, Kafka or asyncio in here.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from monitor.contracts.alerts import Alert
from monitor.contracts.events import (
    AckEvent,
    AssessmentEvent,
    Event,
    LabEvent,
    MedicationEvent,
    PatientEvent,
    VitalEvent,
)
from monitor.engine import ingest
from monitor.engine.hotpath import evaluate
from monitor.engine.lifecycle import advance, apply_ack, check_ack, resolve_on_discharge
from monitor.engine.state import PatientState
from monitor.engine.timeutil import iso
from monitor.errors import EventRejected, InvariantError
from monitor.knowledge.thresholds import HOUR, ClinicalSettings, HotPath, hot_path


class StepResult(NamedTuple):
    state: PatientState
    transitions: list[Alert]
    duplicate: bool
    # A medication record that matched nothing in the drug catalogue (its drug text): accepted,
    # and reported so that the catalogue's gaps are seen, never silently ignored.
    unrecognised: str | None = None


def _vital_key(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little")


def _remember_vital(state: PatientState, key: int, cfg: ClinicalSettings) -> None:
    limit = cfg.vital_dedupe_memory
    if limit <= 0:
        return
    state.vital_ring.append(key)
    state.vital_seen.add(key)
    while len(state.vital_ring) > limit:
        state.vital_seen.discard(state.vital_ring.popleft())


def _prune_seen(state: PatientState, cfg: ClinicalSettings) -> None:
    if state.clock is None:
        return
    horizon = state.clock - cfg.allowed_lateness_hours * HOUR
    stale = [eid for eid, t in state.seen.items() if t < horizon]
    for eid in stale:
        del state.seen[eid]


def _amends_known(state: PatientState, event: Event) -> bool:
    """A later version of a lab result the state still keeps: exempt from the lateness rule,
    since it only replaces or withdraws that result, and a lab's correction keeps the
    observation time of the result it corrects (docs/contracts.md#corrected-results)."""
    return isinstance(event, LabEvent) and event.result_id in state.lab_versions


def _too_late(t: float, clock: float, cfg: ClinicalSettings) -> EventRejected:
    return EventRejected(
        "too_late",
        f"event time {iso(t)} is more than {cfg.allowed_lateness_hours:g} h behind the "
        f"patient's clock {iso(clock)}",
    )


def step(state: PatientState, event: Event, cfg: ClinicalSettings) -> StepResult:
    """Apply one event; returns the alert transitions it causes."""
    if event.patient_id != state.patient_id:
        raise InvariantError(f"event for another patient given to state {state.patient_id!r}")
    t = event.time.timestamp()
    if isinstance(event, VitalEvent):
        return _step_vital(state, event, t, cfg)
    if event.event_id in state.seen:
        return StepResult(state, [], True)
    is_vital = False
    vkey = 0
    clock = state.clock
    hot = hot_path(cfg)
    if clock is not None and t < clock - hot.lateness_s and not _amends_known(state, event):
        raise _too_late(t, clock, cfg)
    transitions: list[Alert] = []
    urgent = not is_vital
    unrecognised = None
    # Ingest first: it may reject, and must do so before anything is changed.
    if isinstance(event, VitalEvent):
        urgent = ingest.ingest_vital(state, event, t, cfg, hot)
    elif isinstance(event, LabEvent):
        ingest.ingest_lab(state, event, t, cfg)
    elif isinstance(event, MedicationEvent):
        unrecognised = ingest.ingest_medication(state, event, t, cfg)
    elif isinstance(event, AssessmentEvent):
        ingest.ingest_assessment(state, event, t, cfg)
    elif isinstance(event, PatientEvent):
        ingest.ingest_patient(state, event, t)
    elif isinstance(event, AckEvent):
        # Refuse before the evaluation below changes anything (an escalation applied and then
        # refused would never be published, and later evaluations would see it as done).
        check_ack(state, event, t, cfg)
        # Bring the alert up to date first, so the ack applies to what the clinician saw; an
        # alert that resolved meanwhile needs no acknowledgement.
        transitions.extend(_evaluate_if_due(state, max(t, clock or t), cfg, hot, force=True))
        if state.alert is not None and state.alert.alert_id == event.alert_id:
            transitions.extend(apply_ack(state, event, t, cfg))
    # Accepted: record identity and time.
    if is_vital:
        _remember_vital(state, vkey, cfg)
    else:
        state.seen[event.event_id] = t
    if clock is None or t > clock:
        state.clock = t
        if clock is not None and int(t // HOUR) != int(clock // HOUR):
            _prune_seen(state, cfg)
    if state.first_seen is None or t < state.first_seen:
        state.first_seen = t
    state.dirty = True
    assert state.clock is not None
    if isinstance(event, PatientEvent) and event.action == "discharge":
        transitions.extend(resolve_on_discharge(state, t, cfg))
        state.dirty = False
        state.last_eval = state.clock
        return StepResult(state, transitions, False)
    if not isinstance(event, AckEvent):
        transitions.extend(_evaluate_if_due(state, state.clock, cfg, hot, force=urgent))
    return StepResult(state, transitions, False, unrecognised)


def _step_vital(
    state: PatientState, event: VitalEvent, t: float, cfg: ClinicalSettings
) -> StepResult:
    """:func:`step` for a vital sign (most events): the same steps in the same order, with the
    evaluation interval tested before calling :func:`_evaluate_if_due` (which tests it again)."""
    vkey = _vital_key(event.event_id)
    if vkey in state.vital_seen:
        return StepResult(state, [], True)
    clock = state.clock
    hot = hot_path(cfg)
    if clock is not None and t < clock - hot.lateness_s:
        raise _too_late(t, clock, cfg)
    urgent = ingest.ingest_vital(state, event, t, cfg, hot)
    _remember_vital(state, vkey, cfg)
    if clock is None or t > clock:
        state.clock = t
        if clock is not None and int(t // HOUR) != int(clock // HOUR):
            _prune_seen(state, cfg)
        clock = t
    if state.first_seen is None or t < state.first_seen:
        state.first_seen = t
    state.dirty = True
    if not urgent:
        last = state.last_eval
        interval = hot.eval_interval_s
        if last is not None and interval > 0:
            now = last if clock < last else clock
            if int(now // interval) == int(last // interval):
                return StepResult(state, [], False)
    return StepResult(state, _evaluate_if_due(state, clock, cfg, hot, force=urgent), False)


def _evaluate_if_due(
    state: PatientState, now: float, cfg: ClinicalSettings, hot: HotPath, force: bool
) -> list[Alert]:
    last = state.last_eval
    if last is not None and now < last:
        now = last
    if not force:
        interval = hot.eval_interval_s
        if last is not None and interval > 0 and int(now // interval) == int(last // interval):
            return []
    if not state.dirty and last is not None and now == last:
        return []
    if state.discharged_at is not None and state.alert is None:
        state.last_eval = now
        state.dirty = False
        return []
    state.last_eval = now
    state.dirty = False
    return advance(state, evaluate(state, now, cfg), cfg)


def tick(state: PatientState, now: float, cfg: ClinicalSettings) -> list[Alert]:
    """Let event time pass to ``now`` (epoch seconds): exposure windows end, snoozes expire,
    alerts resolve, without a new event. ``now`` earlier than the last evaluation is a no-op
    unless a pending vital-sign change awaits evaluation."""
    if state.clock is None:
        return []
    if state.last_eval is not None and now <= state.last_eval and not state.dirty:
        return []
    state.dirty = True
    return _evaluate_if_due(state, max(now, state.clock), cfg, hot_path(cfg), force=True)


def is_evictable(state: PatientState, now: float, cfg: ClinicalSettings) -> bool:
    """True when the state may be dropped: discharged beyond the allowed lateness, or inactive."""
    if state.clock is None:
        return True
    if state.alert is not None:
        return False
    if (
        state.discharged_at is not None
        and now - state.discharged_at > cfg.allowed_lateness_hours * HOUR
    ):
        return True
    return now - state.clock > cfg.inactivity_eviction_days * 24 * HOUR
