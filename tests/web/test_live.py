"""The live hub: what a page gets on connect (catch-up or snapshot) and after each change."""

from __future__ import annotations

import asyncio

import orjson

from monitor.contracts.alerts import Alert
from monitor.web.live import Hub, Renderers, Subscriber
from monitor.web.store import AlertStore, compress
from tests.web.factory import alert


def hub(queue_size: int = 100) -> Hub:
    store = AlertStore(change_log=4)

    def card(alert_id: str) -> dict[str, object] | None:
        s = store.summary(alert_id)
        return None if s is None else {"id": alert_id, "seq": s.latest.sequence}

    renderers = Renderers(card, lambda: {"html": "ward"}, lambda p: {"html": f"patient {p}"})
    return Hub(store, renderers, "e1", queue_size)


def apply(h: Hub, *alerts: Alert) -> None:
    h.publish(h.store.apply([(a, compress(a.model_dump_json().encode())) for a in alerts], 0.0))


def events(msgs: list[str]) -> list[tuple[str, object]]:
    out = []
    for m in msgs:
        fields = dict(line.split(": ", 1) for line in m.strip().splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], orjson.loads(fields["data"])))
    return out


def drain(sub: Subscriber) -> list[str | None]:
    out: list[str | None] = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


def test_connect_catches_up_from_its_version_or_gets_a_snapshot() -> None:
    async def scenario() -> None:
        h = hub()
        apply(h, alert("a"), alert("b"))
        _, first = h.subscribe(None, "e1-2")
        assert [e for e, _ in events(first)] == ["feed"]  # up to date: nothing to send
        _, first = h.subscribe(None, "e1-1")
        assert events(first)[1:] == [("card", {"id": alert("b").alert_id, "seq": 1})]
        for since in (None, "e0-2", "e1-x", "e1-9"):
            _, first = h.subscribe(None, since)
            assert [e for e, _ in events(first)] == ["feed", "snapshot"], since
        apply(h, *(alert(f"p{i}") for i in range(6)))
        _, first = h.subscribe(None, "e1-2")  # the change log (4) no longer reaches back
        assert [e for e, _ in events(first)] == ["feed", "snapshot"]

    asyncio.run(scenario())


def test_changes_reach_ward_pages_and_only_that_patients_page() -> None:
    async def scenario() -> None:
        h = hub()
        ward, _ = h.subscribe(None, None)
        mine, _ = h.subscribe("a", None)
        other, _ = h.subscribe("z", None)
        apply(h, alert("a"))
        apply(h, alert("a", "high", "resolved", 2, status="resolved"))
        got = events([m for m in drain(ward) if m])
        aid = alert("a").alert_id
        assert got == [("card", {"id": aid, "seq": 1}), ("remove", {"id": aid})]
        assert [e for e, _ in events([m for m in drain(mine) if m])] == ["patient", "patient"]
        assert drain(other) == []
        h.set_status("live")
        assert events([m for m in drain(ward) if m]) == [("feed", {"status": "live"})]

    asyncio.run(scenario())


def test_a_page_that_cannot_keep_up_is_disconnected_and_close_ends_every_stream() -> None:
    async def scenario() -> None:
        h = hub(queue_size=10)
        slow, _ = h.subscribe(None, None)
        ok, _ = h.subscribe(None, None)
        for i in range(12):
            apply(h, alert(f"p{i}"))
            drain(ok)
        assert drain(slow) == [None] and slow not in h.subscribers
        h.close()
        assert drain(ok) == [None] and not h.subscribers

    asyncio.run(scenario())
