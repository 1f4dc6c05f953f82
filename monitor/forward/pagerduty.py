"""Transition transitions as PagerDuty Events API v2 alert events, pure.

``dedup_key`` is the ``alert_id``, so every transition of one alert acts on one PagerDuty alert.
Opening, escalation, de-escalation and updates are ``trigger`` events (PagerDuty adds a trigger
for an open ``dedup_key`` to that alert's log; it does not notify again while the alert is
acknowledged); acknowledgement and snooze are ``acknowledge``; resolution, and withdrawal from a
route the alert's priority no longer uses, are ``resolve``. PagerDuty drops an acknowledge or
resolve for a ``dedup_key`` it has no open alert for, and only accepts them through the routing
key of the trigger, so a withdrawal goes to the same receiver as the trigger it ends.

Severity from priority: ``high`` critical, ``medium`` warning, ``low`` info (a service set to
"dynamic notifications" pages at high urgency for critical and error only).
"""

from __future__ import annotations

from typing import Any

from monitor.forward.head import Transition
from monitor.forward.routing import Action
from monitor.forward.summary import condition_name, link, summary

SEVERITY = {"high": "critical", "medium": "warning", "low": "info"}
EVENT_ACTION = {
    "opened": "trigger",
    "escalated": "trigger",
    "deescalated": "trigger",
    "updated": "trigger",
    "acknowledged": "acknowledge",
    "snoozed": "acknowledge",
    "resolved": "resolve",
}
SOURCE = "nms-monitor"
MAX_SUMMARY = 1024  # characters, the Events API's limit


def event(
    alert: Transition, action: Action, routing_key: str, dashboard_url: str | None
) -> dict[str, Any]:
    event_action = "resolve" if action == "withdraw" else EVENT_ACTION[alert.transition]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": event_action,
        "dedup_key": alert.alert_id,
    }
    if event_action != "trigger":
        return body
    details: dict[str, Any] = {
        "condition": condition_name(alert),
        "priority": alert.priority,
        "score": alert.score,
        "cutoff": alert.cutoff,
        "location": alert.location,
        "transition": alert.transition,
    }
    body["payload"] = {
        "summary": summary(alert)[:MAX_SUMMARY],
        "source": SOURCE,
        "severity": SEVERITY[alert.priority],
        "timestamp": alert.time.isoformat(),
        "component": alert.condition,
        "class": "clinical alert",
        "custom_details": details,
    }
    if alert.location:
        body["payload"]["group"] = alert.location
    body["client"] = "nms-monitor"
    href = link(dashboard_url, alert)
    if href is not None:
        body["links"] = [{"href": href, "text": "Open in the NMS dashboard"}]
        body["client_url"] = dashboard_url
    return body
