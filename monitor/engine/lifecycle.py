"""The alert lifecycle: one episode per patient, transitions only on material change.

Alarm-fatigue rules (docs/clinical-model.md#the-alert-lifecycle; Sendelbach & Funk 2013, Drew 2014):
- ``opened`` when a priority is first reached (exposure required), ``escalated`` at once when it
  rises (this also clears an acknowledgement and breaks a snooze: severity rose);
- ``deescalated`` only after the lower priority has lasted ``deescalate_after_hours``;
- ``updated`` when the criteria met, the differential or the drugs change, at most once per
  ``update_min_interval_minutes``, and not while snoozed, clearing or waiting to de-escalate;
- ``resolved`` when the score has stayed below 'low' (or exposure ended) for
  ``resolve_after_hours``, on discharge, or by a clinician (which suppresses re-opening at the
  same or lower priority until the criteria have cleared);
- ``acknowledged`` / ``snoozed`` from ack events; a snooze ends by itself at ``until`` with an
  ``updated`` transition.
Time-driven transitions are stamped with the event time at which they fell due.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.contracts.alerts import PRIORITY_RANK, Alert
from monitor.contracts.events import AckEvent
from monitor.engine.alert_build import build_alert, make_alert_id
from monitor.engine.score import Evaluation, explain
from monitor.engine.state import AlertState, PatientState
from monitor.engine.timeutil import iso
from monitor.errors import EventRejected
from monitor.knowledge.thresholds import HOUR, ClinicalSettings


@dataclass(frozen=True, slots=True)
class _Pending:
    transition: str
    time: float
    status: str = "firing"
    reason: str | None = None


def _publish(
    state: PatientState,
    alert: AlertState,
    p: _Pending,
    ev: Evaluation | None,
    cfg: ClinicalSettings,
) -> Alert:
    # Explain what the evaluation that decided saw: the state may already hold events newer than
    # a transition that fell due earlier (de-escalation, resolution), and the latest charting
    # is kept per sign, so explaining at the due time would depend on arrival order.
    ex = explain(state, ev.now if ev is not None else p.time, cfg)
    out = build_alert(state, alert, p.transition, p.time, ex, cfg, p.status, p.reason)
    if ev is not None:
        alert.met_mask, alert.differential, alert.drugs = ev.met_mask, ev.differential, ev.drugs
    alert.last_published_t = p.time
    alert.seq += 1
    return out


def advance(state: PatientState, ev: Evaluation, cfg: ClinicalSettings) -> list[Alert]:
    """Move the lifecycle to evaluation ``ev``; returns the transitions to publish."""
    now = ev.now
    out: list[Alert] = []
    alert = state.alert
    if alert is None:
        if ev.priority is None:
            state.suppress_rank = 0
            return out
        if PRIORITY_RANK[ev.priority] <= state.suppress_rank:
            return out
        state.episodes += 1
        first = state.first_seen if state.first_seen is not None else now
        alert = AlertState(
            alert_id=make_alert_id(state.patient_id, first, state.episodes),
            opened_at=now,
            priority=ev.priority,
        )
        state.alert = alert
        state.suppress_rank = 0
        out.append(_publish(state, alert, _Pending("opened", now), ev, cfg))
        return out

    if alert.snoozed_until is not None and now >= alert.snoozed_until:
        due = alert.snoozed_until
        alert.snoozed_until = None
        out.append(_publish(state, alert, _Pending("updated", due, reason="snooze ended"), ev, cfg))

    if ev.priority is None:
        if alert.clear_since is None:
            alert.clear_since = now
        due = alert.clear_since + cfg.resolve_after_hours * HOUR
        if now >= due:
            reason = f"criteria below 'low' since {iso(alert.clear_since)}"
            out.append(
                _publish(state, alert, _Pending("resolved", due, "resolved", reason), ev, cfg)
            )
            state.alert = None
        return out
    alert.clear_since = None

    rank, current = PRIORITY_RANK[ev.priority], PRIORITY_RANK[alert.priority]
    if rank > current:
        alert.priority = ev.priority
        alert.acknowledged_by = None
        alert.snoozed_until = None
        alert.lower_since = None
        out.append(_publish(state, alert, _Pending("escalated", now), ev, cfg))
        return out
    snoozed = alert.snoozed_until is not None
    if rank < current:
        # Held: the change is published with the de-escalation, not as an 'updated' before it.
        if alert.lower_since is None:
            alert.lower_since = now
        due = alert.lower_since + cfg.deescalate_after_hours * HOUR
        if now >= due and not snoozed:
            alert.priority = ev.priority
            alert.lower_since = None
            when = max(due, alert.last_published_t)
            out.append(_publish(state, alert, _Pending("deescalated", when), ev, cfg))
        return out
    alert.lower_since = None
    changed = (ev.met_mask, ev.differential, ev.drugs) != (
        alert.met_mask,
        alert.differential,
        alert.drugs,
    )
    spaced = now - alert.last_published_t >= cfg.update_min_interval_minutes * 60.0
    if changed and spaced and not snoozed:
        out.append(_publish(state, alert, _Pending("updated", now), ev, cfg))
    return out


def snooze_end(ack: AckEvent, t: float, cfg: ClinicalSettings) -> tuple[float, str]:
    """When a snooze given at ``t`` ends, and a note when it was shortened to the maximum.

    Raises ``invalid_snooze`` for an end at or before ``t``: checked before anything is changed.
    """
    until = ack.until.timestamp() if ack.until is not None else t + cfg.snooze_default_minutes * 60
    if until <= t:
        raise EventRejected("invalid_snooze", f"snooze end {iso(until)} is not after {iso(t)}")
    if until - t > cfg.snooze_max_hours * HOUR:
        return t + cfg.snooze_max_hours * HOUR, (
            f" (shortened to the {cfg.snooze_max_hours:g} h maximum)"
        )
    return until, ""


def check_ack(state: PatientState, ack: AckEvent, t: float, cfg: ClinicalSettings) -> None:
    """Every reason to refuse ``ack``, checked before the state is touched: a refused event must
    leave the state exactly as it was and publish nothing, including an escalation that the
    evaluation run for the ack would otherwise have applied (and lost with the refusal)."""
    alert = state.alert
    if alert is None or alert.alert_id != ack.alert_id:
        raise EventRejected("unknown_alert", f"no open alert {ack.alert_id} for this patient")
    if ack.action == "snooze":
        snooze_end(ack, t, cfg)


def apply_ack(state: PatientState, ack: AckEvent, t: float, cfg: ClinicalSettings) -> list[Alert]:
    """Acknowledge, snooze or resolve the open alert named by ``ack.alert_id``."""
    check_ack(state, ack, t, cfg)
    alert = state.alert
    assert alert is not None  # check_ack refused otherwise
    when = max(t, alert.last_published_t)
    if ack.action == "acknowledge":
        alert.acknowledged_by = ack.by
        reason = f"acknowledged by {ack.by}" + (f": {ack.reason}" if ack.reason else "")
        return [_publish(state, alert, _Pending("acknowledged", when, reason=reason), None, cfg)]
    if ack.action == "snooze":
        until, note = snooze_end(ack, t, cfg)
        alert.snoozed_until = until
        reason = f"snoozed by {ack.by} until {iso(until)}{note}" + (
            f": {ack.reason}" if ack.reason else ""
        )
        return [_publish(state, alert, _Pending("snoozed", when, reason=reason), None, cfg)]
    reason = f"resolved by {ack.by}" + (f": {ack.reason}" if ack.reason else "")
    out = [_publish(state, alert, _Pending("resolved", when, "resolved", reason), None, cfg)]
    state.suppress_rank = PRIORITY_RANK[alert.priority]
    state.alert = None
    return out


def resolve_on_discharge(state: PatientState, t: float, cfg: ClinicalSettings) -> list[Alert]:
    """Discharge closes the open alert (the patient left the monitored setting)."""
    alert = state.alert
    if alert is None:
        return []
    when = max(t, alert.last_published_t)
    out = [
        _publish(
            state, alert, _Pending("resolved", when, "resolved", "patient discharged"), None, cfg
        )
    ]
    state.alert = None
    return out
