"""What a page says: the least patient information that lets a clinician act.

Location, condition, priority and score, and a link to the dashboard, which asks who is looking
before it shows anything else. No patient identifier, name or clinical detail leaves in a page:
the link names the alert (``/alerts/<alert_id>``: a hash, not an identifier), and the dashboard
redirects it to the patient's view.
"""

from __future__ import annotations

import datetime as dt

from monitor.forward.head import Transition

CONDITION_NAMES = {"nms": "Neuroleptic malignant syndrome"}
NO_LOCATION = "location not given"


def condition_name(alert: Transition) -> str:
    return CONDITION_NAMES.get(alert.condition, alert.condition)


def summary(alert: Transition) -> str:
    """One line, e.g. ``NMS suspected, HIGH priority: score 80/74, ICU-2 bed 14``."""
    where = alert.location or NO_LOCATION
    state = "resolved" if alert.status == "resolved" else f"{alert.priority.upper()} priority"
    return (
        f"{alert.condition.upper()} suspected, {state}: score {alert.score}/{alert.cutoff}, {where}"
    )


def link(dashboard_url: str | None, alert: Transition) -> str | None:
    """The dashboard's page for this alert (it redirects to the patient view), if configured."""
    if not dashboard_url:
        return None
    return f"{dashboard_url.rstrip('/')}/alerts/{alert.alert_id}"


def rfc3339(epoch_s: float) -> str:
    """UTC, millisecond precision, with ``Z`` (what Alertmanager and PagerDuty parse)."""
    text = dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
