"""``send``: validate NDJSON events and publish them, in an order that loses none of them.

A historical file sent at full speed to one topic per kind lets those topics race apart in
event time. The worker reads each topic at its own pace, so a patient's clock can be carried days
ahead by one topic (the few medication and assessment records) while the vital signs of the
same days still wait on another; each of those is then more than the allowed lateness (48 h)
behind the clock and refused as ``too_late``. Tried with a 4-day case file, 22 of its 57 events
were lost that way.

So by default everything goes to ``<prefix>.events``, keyed by patient, in the order ``replay``
uses (event time, then kind, then event id). A patient's events then reach its one partition in
event-time order: none is ever behind that patient's clock, and the worker computes what
``replay`` computes. ``by_kind`` (``--by-kind``) sends each kind to its own topic as a live
integration would; with ``speedup`` the pacing keeps those topics together in event time.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.cli.inputs import close_inputs, ndjson_lines, open_inputs, report
from monitor.cli.replay import KIND_ORDER
from monitor.contracts.decode import DecodeError, decode_event
from monitor.contracts.events import Event
from monitor.settings import Settings
from monitor.stream.topics import Topics


@dataclass(frozen=True, slots=True)
class Outgoing:
    time: float  # event time (seconds since the epoch)
    topic: str
    key: bytes  # the patient id, UTF-8
    value: bytes  # the line as read


def plan(
    events: Iterable[tuple[Event, bytes]],
    topics: Topics,
    by_kind: bool = False,
    arrival_order: bool = False,
) -> list[Outgoing]:
    """Where and in which order ``send`` publishes decoded events (see the module docstring).

    ``arrival_order`` keeps the file's order (a simulated cohort's file is in arrival order);
    otherwise events go in ``replay``'s order. The sort is stable: equal keys keep file order.
    """
    keyed = [
        (
            (e.time.timestamp(), KIND_ORDER[e.kind], e.event_id),
            Outgoing(
                e.time.timestamp(),
                topics.for_kind(e.kind) if by_kind else topics.name("events"),
                e.patient_id.encode(),
                line,
            ),
        )
        for e, line in events
    ]
    if not arrival_order:
        keyed.sort(key=lambda k: k[0])
    return [out for _, out in keyed]


def send_files(
    settings: Settings,
    paths: list[str],
    speedup: float | None = None,
    by_kind: bool = False,
    stop: threading.Event | None = None,
    arrival_order: bool = False,
) -> int:
    """Validate every line, then publish the valid ones (key = patient_id) as :func:`plan`
    orders them. With ``speedup`` the sending is paced at that many times real time by the
    latest event time sent, as a live feed would deliver them (in arrival order, late lab
    results then arrive late, as they would from a laboratory system)."""
    from monitor.cli.stream_cmds import has_brokers  # noqa: PLC0415
    from monitor.stream.kafka_io import producer  # noqa: PLC0415

    if not has_brokers(settings, "send"):
        return 2
    opened = open_inputs(paths)
    if isinstance(opened, str):
        print(f"nms-monitor send: {opened}", file=sys.stderr)
        return 2
    decoded: list[tuple[Event, bytes]] = []
    bad = 0
    try:
        for name, fh in opened:
            for lineno, line in ndjson_lines(fh):
                try:
                    decoded.append((decode_event(line), line))
                except DecodeError as exc:
                    bad += 1
                    report(sys.stderr, name, lineno, exc.rejection)
    finally:
        close_inputs(opened)
    outgoing = plan(decoded, Topics(settings.kafka.topic_prefix), by_kind, arrival_order)
    del decoded
    sent = _publish(settings, outgoing, speedup, stop, producer(settings.kafka))
    print(f"send: {sent} events sent, {bad} lines rejected", file=sys.stderr)
    return 0


def _publish(
    settings: Settings,
    outgoing: list[Outgoing],
    speedup: float | None,
    stop: threading.Event | None,
    prod: Any,
) -> int:
    sent = 0
    try:
        futures: list[Any] = []
        start_wall = time.monotonic()
        first = outgoing[0].time if outgoing else 0.0
        clock = first
        for o in outgoing:
            if stop is not None and stop.is_set():
                break
            clock = max(clock, o.time)
            if speedup:
                delay = start_wall + (clock - first) / speedup - time.monotonic()
                if delay > 0:
                    prod.flush()
                    time.sleep(delay)
            futures.append(prod.send(o.topic, key=o.key, value=o.value))
            sent += 1
            if len(futures) >= 10_000:  # bounded memory for cohorts of millions of events
                _settle(prod, futures)
        _settle(prod, futures)
    finally:
        prod.close()
    return sent


def _settle(prod: Any, futures: list[Any]) -> None:
    """Flush and raise the first delivery error, if any."""
    prod.flush()
    for f in futures:
        f.get(timeout=30)
    futures.clear()
