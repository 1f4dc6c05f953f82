"""From a transition to the jobs of its receivers, with what each partition remembers.

:class:`PartitionState` is what the forwarder knows of the alerts of one partition of the
alerts topic: who holds each alert (:class:`monitor.forward.routing.Holders`) and what fires at
each Alertmanager receiver (to re-send it, and to resolve a label set that changed). It is built
again from the partition's history when the partition is assigned, by passing the history
through :meth:`Dispatcher.jobs` with ``restoring=True``: the same code, the jobs thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from monitor.forward import alertmanager as am
from monitor.forward import pagerduty, webhook
from monitor.forward.delivery import Job, Record, Request
from monitor.forward.head import Transition
from monitor.forward.routing import Holders, Step
from monitor.forward.settings import ForwardSettings, Receiver, ReceiverSet

JSON = {"Content-Type": "application/json"}


@dataclass(eq=False, slots=True)
class Firing:
    """What an Alertmanager receiver fires for an alert; ``sent_at`` the wall time it last
    accepted it (None while a delivery is pending; 0 when restored: due at once)."""

    entry: am.Entry
    sent_at: float | None = None


@dataclass
class PartitionState:
    tp: tuple[str, int]
    holders: Holders = field(default_factory=Holders)
    firing: dict[str, dict[str, Firing]] = field(default_factory=dict)  # receiver -> alert_id


def _headers(receiver: Receiver, extra: dict[str, str]) -> dict[str, str]:
    if receiver.token is None:
        return extra
    return {**extra, "Authorization": f"Bearer {receiver.token.get_secret_value()}"}


class Dispatcher:
    def __init__(self, receivers: ReceiverSet, forward: ForwardSettings) -> None:
        self.receivers = receivers.receivers
        self.routes = receivers.routes
        self.dashboard_url = forward.dashboard_url
        self.resend_s = forward.alertmanager_resend_s

    def jobs(
        self,
        state: PartitionState,
        alert: Transition,
        record: Record,
        now: float,
        restoring: bool = False,
    ) -> list[Job] | None:
        """The jobs of one transition (None: a redelivered or older transition)."""
        steps = state.holders.route(alert, self.routes)
        if steps is None:
            return None
        return [self._job(state, step, alert, record, now, restoring) for step in steps]

    def _job(
        self,
        state: PartitionState,
        step: Step,
        alert: Transition,
        record: Record,
        now: float,
        restoring: bool,
    ) -> Job:
        r = self.receivers[step.receiver]
        url = r.url.get_secret_value()
        action = step.action
        if r.kind == "pagerduty":
            assert r.routing_key is not None  # checked when the file was read
            body = orjson.dumps(
                pagerduty.event(alert, action, r.routing_key.get_secret_value(), self.dashboard_url)
            )
            request = Request(url, body, _headers(r, JSON), r.timeout_s)
            return Job(r.name, alert.alert_id, lambda t: request, record, tp=state.tp)
        if r.kind == "webhook":
            assert r.secret is not None
            secret = r.secret.get_secret_value().encode()
            raw = record.value

            def signed(t: float) -> Request:
                extra = webhook.headers(alert, action, raw, secret, t)
                return Request(url, raw, _headers(r, extra), r.timeout_s)

            return Job(r.name, alert.alert_id, signed, record, tp=state.tp)
        fires = state.firing.setdefault(r.name, {})
        known = fires.pop(alert.alert_id, None)
        previous = None if known is None else known.entry
        held = step.held
        _, after = am.transition_body(alert, action, previous, held, self.dashboard_url, now,
                                      self.resend_s)  # fmt: skip
        firing = None
        if after is not None:
            firing = fires[alert.alert_id] = Firing(after, 0.0 if restoring else None)
        endpoint = url.rstrip("/") + am.PATH

        def posted(t: float) -> Request:
            body, _ = am.transition_body(alert, action, previous, held, self.dashboard_url, t,
                                         self.resend_s)  # fmt: skip
            return Request(endpoint, orjson.dumps(body), _headers(r, JSON), r.timeout_s)

        def delivered(t: float) -> None:
            if firing is not None:
                firing.sent_at = t

        return Job(r.name, alert.alert_id, posted, record, delivered, tp=state.tp)

    def resend(self, state: PartitionState, receiver: str, alert_id: str, firing: Firing) -> Job:
        """A firing alert again for an Alertmanager receiver (its lease renewed)."""
        r = self.receivers[receiver]
        endpoint = r.url.get_secret_value().rstrip("/") + am.PATH
        entry = firing.entry

        def posted(t: float) -> Request:
            body = orjson.dumps(am.resend_body(entry, t, self.resend_s))
            return Request(endpoint, body, _headers(r, JSON), r.timeout_s)

        def delivered(t: float) -> None:
            firing.sent_at = t

        firing.sent_at = None  # pending: not due again until accepted
        return Job(receiver, alert_id, posted, None, delivered, tp=state.tp)

    def due(self, state: PartitionState, now: float) -> list[tuple[str, str, Firing]]:
        """Firing alerts whose last acceptance is a resend interval old."""
        out = []
        for receiver, fires in state.firing.items():
            for alert_id, f in fires.items():
                if f.sent_at is not None and now - f.sent_at >= self.resend_s:
                    out.append((receiver, alert_id, f))
        return out
