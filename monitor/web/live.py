"""Server-sent events: every open page gets what changed, within the event loop's next turn.

On connect a page says what it has (``since``: the store version it was rendered from, or the
browser's ``Last-Event-ID`` after a reconnect). If the store's change log still reaches back
that far, the page gets only the cards that changed; otherwise (the dashboard restarted, or the
page was away too long) a full snapshot. Then one message per changed alert: ``card`` (the
rendered card, its section and sort key) or ``remove`` (resolved). A patient page gets its whole
history again whenever that patient changes. ``ping`` every few seconds carries the clock, so
the page can tell a silent connection from a live one. A page that cannot keep up (its queue is
full) is disconnected; its browser reconnects and catches up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import orjson

from monitor.web.store import AlertStore, Change

Message = str


def sse(event: str, data: object, event_id: str | None = None) -> Message:
    body = orjson.dumps(data).decode()
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {body}\n\n"


@dataclass(eq=False)
class Subscriber:
    patient: str | None
    queue: asyncio.Queue[Message | None]
    dropped: bool = False


@dataclass
class Renderers:
    """How the hub turns state into page fragments (provided by the app's templates)."""

    card: Callable[[str], dict[str, object] | None]  # alert id -> card message, None if closed
    ward: Callable[[], dict[str, object]]  # the whole ward
    patient: Callable[[str], dict[str, object]]  # a patient's whole page body


@dataclass
class Hub:
    store: AlertStore
    render: Renderers
    epoch: str
    queue_size: int = 1000
    subscribers: set[Subscriber] = field(default_factory=set)
    status: str = "connecting"

    def event_id(self) -> str:
        return f"{self.epoch}-{self.store.version}"

    def parse_since(self, since: str | None) -> int | None:
        if not since:
            return None
        epoch, _, version = since.partition("-")
        if epoch != self.epoch or not version.isdigit():
            return None
        return int(version)

    def subscribe(self, patient: str | None, since: str | None) -> tuple[Subscriber, list[Message]]:
        """Register a page and return what it needs first (synchronously: no change can slip
        between the two)."""
        sub = Subscriber(patient, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        first = [f"retry: 1000\n\n{sse('feed', {'status': self.status})}"]
        if patient is not None:
            first.append(sse("patient", self.render.patient(patient), self.event_id()))
            return sub, first
        version = self.parse_since(since)
        changes = self.store.changes_since(version) if version is not None else None
        if changes is None:
            first.append(sse("snapshot", self.render.ward(), self.event_id()))
        else:
            first.extend(self._ward_messages(changes))
        return sub, first

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def _ward_messages(self, changes: Iterable[Change]) -> list[Message]:
        latest: dict[str, int] = {}
        for c in changes:
            latest[c.alert_id] = c.version
        out = []
        for alert_id, version in latest.items():
            msg = self.render.card(alert_id)
            eid = f"{self.epoch}-{version}"
            if msg is None:
                out.append(sse("remove", {"id": alert_id}, eid))
            else:
                out.append(sse("card", msg, eid))
        return out

    def publish(self, changes: list[Change]) -> None:
        if not changes or not self.subscribers:
            return
        ward: list[Message] | None = None
        patients: dict[str, Message] = {}
        touched = {c.patient_id for c in changes}
        for sub in list(self.subscribers):
            if sub.patient is None:
                if ward is None:
                    ward = self._ward_messages(changes)
                msgs = ward
            elif sub.patient in touched:
                if sub.patient not in patients:
                    body = self.render.patient(sub.patient)
                    patients[sub.patient] = sse("patient", body, self.event_id())
                msgs = [patients[sub.patient]]
            else:
                continue
            self._put(sub, msgs)

    def set_status(self, status: str) -> None:
        if status == self.status:
            return
        self.status = status
        msg = sse("feed", {"status": status})
        for sub in list(self.subscribers):
            self._put(sub, [msg])

    def _put(self, sub: Subscriber, msgs: list[Message]) -> None:
        if sub.dropped:
            return
        try:
            for m in msgs:
                sub.queue.put_nowait(m)
        except asyncio.QueueFull:
            self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        sub.dropped = True
        self.subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        for sub in list(self.subscribers):
            self._drop(sub)


async def stream(
    hub: Hub, sub: Subscriber, first: list[Message], ping_s: float, now_ms: Callable[[], int]
) -> AsyncIterator[str]:
    try:
        for m in first:
            yield m
        while True:
            try:
                msg = await asyncio.wait_for(sub.queue.get(), timeout=ping_s)
            except TimeoutError:
                yield sse("ping", {"now": now_ms()})
                continue
            if msg is None:
                return
            yield msg
    finally:
        hub.unsubscribe(sub)
