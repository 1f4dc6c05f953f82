"""Transition transitions as Prometheus Alertmanager alerts (``POST /api/v2/alerts``), pure.

Alertmanager identifies an alert by its labels: ``alertname``, ``condition``, ``priority``,
``location`` and ``alert_id`` here, so a priority change or a move is a new label set, and the
label set sent before must be resolved in the same request. It expects a client to re-send an
alert for as long as it fires ("usually on the order of 30 seconds to 3 minutes"); each firing
alert carries ``endsAt`` 4 resend intervals ahead, as Prometheus does (``ValidUntil`` is 4 times
its resend delay), so a forwarder that stops re-sending lets the alert lapse within minutes
instead of leaving it firing for ever. A resolve sets ``endsAt`` to now.

:class:`Entry` is what a receiver was last sent for an alert that fires there: the forwarder
keeps one per alert and receiver, to re-send it and to resolve its label set when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.forward.head import Transition
from monitor.forward.routing import PRIORITY_CHANGES, Action
from monitor.forward.settings import PRIORITIES
from monitor.forward.summary import condition_name, link, rfc3339, summary

ALERTNAME = "NeurolepticMalignantSyndrome"
PATH = "/api/v2/alerts"
UNKNOWN_LOCATION = "unknown"
LEASES = 4  # endsAt = now + LEASES * resend interval, as Prometheus


@dataclass(frozen=True, slots=True)
class Entry:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    generator_url: str | None


def labels(alert: Transition, priority: str | None = None) -> dict[str, str]:
    return {
        "alertname": ALERTNAME,
        "condition": alert.condition,
        "priority": priority or alert.priority,
        "location": alert.location or UNKNOWN_LOCATION,
        "alert_id": alert.alert_id,
    }


def describe(alert: Transition, dashboard_url: str | None) -> dict[str, str]:
    out = {
        "summary": summary(alert),
        "description": f"{condition_name(alert)} suspected ({alert.transition}); the criteria "
        "and evidence are on the dashboard.",
        "score": str(alert.score),
        "cutoff": str(alert.cutoff),
        "transition": alert.transition,
    }
    if alert.acknowledged_by:
        out["acknowledged"] = "yes"
    if alert.snoozed_until is not None:
        out["snoozed_until"] = rfc3339(alert.snoozed_until.timestamp())
    if (href := link(dashboard_url, alert)) is not None:
        out["dashboard"] = href
    return out


def entry(alert: Transition, dashboard_url: str | None, now: float) -> Entry:
    # Alertmanager refuses an alert that ends before it starts; an event time slightly ahead of
    # this clock (allowed by the worker) must not make a resolve invalid.
    starts = min(alert.opened_at.timestamp(), now)
    return Entry(labels(alert), describe(alert, dashboard_url), starts,
                 link(dashboard_url, alert))  # fmt: skip


def posted(e: Entry, ends_at: float) -> dict[str, Any]:
    """One alert of the request body."""
    out: dict[str, Any] = {
        "labels": e.labels,
        "annotations": e.annotations,
        "startsAt": rfc3339(e.starts_at),
        "endsAt": rfc3339(max(ends_at, e.starts_at)),
    }
    if e.generator_url:
        out["generatorURL"] = e.generator_url
    return out


def _other_priorities(alert: Transition, e: Entry) -> list[Entry]:
    """The label sets the alert may have had at the other priorities (when not known)."""
    return [
        Entry({**e.labels, "priority": p}, e.annotations, e.starts_at, e.generator_url)
        for p in PRIORITIES
        if p != alert.priority
    ]


def transition_body(
    alert: Transition,
    action: Action,
    previous: Entry | None,
    held: bool | None,
    dashboard_url: str | None,
    now: float,
    resend_s: float,
) -> tuple[list[dict[str, Any]], Entry | None]:
    """The request body for one transition, and what fires at this receiver afterwards.

    ``previous`` is what this receiver was last sent for the alert while it fired; ``held``
    whether it had the alert at all (None: not known, e.g. after a restart without that
    history). When it had the alert but what it was sent is not known, the label sets the
    alert may have had at the other priorities are resolved as well."""
    current = entry(alert, dashboard_url, now)
    unknown = previous is None and held is not False
    if action == "withdraw" or alert.status == "resolved":
        if previous is not None:  # a withdrawal: the current label set was never sent there
            same = previous.labels == current.labels or action == "withdraw"
            ended = [previous] if same else [previous, current]
        elif action == "withdraw":
            ended = _other_priorities(alert, current) if unknown else []
        else:
            ended = [current, *(_other_priorities(alert, current) if unknown else [])]
        return [posted(e, now) for e in ended], None
    body = [posted(current, now + LEASES * resend_s)]
    if previous is not None and previous.labels != current.labels:
        body.insert(0, posted(previous, now))
    elif unknown and alert.transition in PRIORITY_CHANGES:
        body[:0] = [posted(e, now) for e in _other_priorities(alert, current)]
    return body, current


def resend_body(e: Entry, now: float, resend_s: float) -> list[dict[str, Any]]:
    """A firing alert again, its lease renewed."""
    return [posted(e, now + LEASES * resend_s)]
