"""One HL7 message in, one ACK out: parse, convert, publish, acknowledge (no sockets here).

- ``AA`` only after the broker acknowledged every event of the message (with ERR warnings,
  severity W, when a time zone was assumed);
- ``AE`` when the content cannot be used (each problem in MSA-3 and an ERR): nothing is published;
- ``AR`` when the message cannot be read, is not ORU^R01 or RAS^O17, is too large, or the broker
  did not acknowledge in time (the sender should send it again).

A message id (MSH-3, MSH-4, MSH-10) already accepted is acknowledged again without publishing
(a resend: the same segments after MSH), or refused with AE when it carried different content;
a resend that arrives while the first copy is still being published waits for its outcome.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

from monitor.contracts.events import Event, PatientEvent
from monitor.interop.hl7.ack import AckCode, AckError, build_ack
from monitor.interop.hl7.convert import SUPPORTED, Hl7Context, convert_message
from monitor.interop.hl7.message import Hl7Error, Message, decode_text
from monitor.interop.metrics import InteropMetrics
from monitor.interop.publish import PublishError, Sink

log = logging.getLogger(__name__)
ADAPTER = "hl7"
Key = tuple[str, str, str]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Lru(OrderedDict[object, object]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def remember(self, key: object, value: object = None) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class MessageHandler:
    def __init__(
        self,
        ctx: Hl7Context,
        sink: Sink,
        metrics: InteropMetrics,
        *,
        publish_timeout_s: float,
        max_message_bytes: int,
        dedupe_size: int = 100_000,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.ctx, self.sink, self.metrics, self.clock = ctx, sink, metrics, clock
        self.publish_timeout_s = publish_timeout_s
        self.max_message_bytes = max_message_bytes
        self._accepted = _Lru(dedupe_size)
        self._inflight: dict[Key, asyncio.Future[None]] = {}
        self._patients = _Lru(100_000)  # patient -> (location, sex) last published
        self._moving: dict[str, int] = {}  # patient -> its updates being published
        self._ids = itertools.count(1)
        self._accepted_count = metrics.messages.labels(ADAPTER, "accepted")
        self._event_counts: dict[str, Any] = {}  # kind -> its counter, looked up once

    def _ack(self, msg: Message | None, code: AckCode, errors: list[AckError]) -> bytes:
        now = self.clock()
        ident = f"NMS{now:%Y%m%d%H%M%S}{next(self._ids)}"
        return build_ack(msg, code, now=now, control_id=ident, errors=errors)

    def _refuse(self, outcome: str, msg: Message | None, code: AckCode, error: AckError) -> bytes:
        self.metrics.messages.labels(ADAPTER, outcome).inc()
        log.info("%s message refused (%s): %s", ADAPTER, code, error.reason)
        return self._ack(msg, code, [error])

    def refuse_unframed(self, reason: str, text: str, head: bytes = b"") -> bytes:
        """The refusal of a frame that cannot be handled whole (too large, cut short, garbage):
        AR naming the message when its MSH can still be read from ``head``."""
        msg = None
        if head:
            first = decode_text(head).split("\r", 1)[0]
            try:
                msg = Message(first)
            except Hl7Error:
                msg = None
        return self._refuse("rejected", msg, "AR", AckError("", reason, text))

    async def handle(self, payload: bytes) -> bytes:
        if len(payload) > self.max_message_bytes:
            return self.refuse_unframed(
                "too_large",
                f"message of {len(payload)} bytes exceeds the limit of {self.max_message_bytes}",
                payload[:4096],
            )
        try:
            msg = Message.from_bytes(payload)
        except Hl7Error as exc:
            return self._refuse("rejected", None, "AR", AckError("", exc.reason, str(exc)))
        kind = msg.message_type
        if kind not in SUPPORTED:
            text = f"{'^'.join(kind)} is not accepted (ORU^R01 and RAS^O17 are)"
            return self._refuse(
                "rejected", msg, "AR", AckError("MSH-9", "unsupported_message", text)
            )
        if not msg.control_id.strip():
            error = AckError("MSH-10", "missing_field", "no message control id")
            return self._refuse("rejected", msg, "AR", error)
        key: Key = (msg.msh.raw(3), msg.msh.raw(4), msg.control_id)
        digest = hashlib.sha256(msg.body.encode()).digest()[:16]
        while True:
            seen = self._accepted.get(key)
            if seen is not None:
                return self._again(msg, seen == digest)
            first = self._inflight.get(key)
            if first is None:
                break
            await asyncio.shield(first)  # a resend of a message still being published
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = done
        try:
            return await self._process(msg, key, digest)
        finally:
            done.set_result(None)
            del self._inflight[key]

    def _again(self, msg: Message, same: bool) -> bytes:
        """A message id already accepted: a resend is acknowledged without publishing it again;
        another message under the same id is refused (its events would share their ids)."""
        if same:
            self.metrics.messages.labels(ADAPTER, "duplicate").inc()
            return self._ack(msg, "AA", [])
        text = (
            f"message control id {msg.control_id} was already used for a different message; "
            "MSH-10 must be unique per sender"
        )
        self.metrics.messages.labels(ADAPTER, "refused").inc()
        return self._ack(msg, "AE", [AckError("MSH-10", "duplicate_id", text)])

    async def _process(self, msg: Message, key: Key, digest: bytes) -> bytes:
        result = convert_message(msg, self.ctx)
        self.metrics.count_skipped(ADAPTER, result.skipped)
        if result.problems:
            errors = [AckError(p.where, p.reason, p.message) for p in result.problems]
            self.metrics.messages.labels(ADAPTER, "refused").inc()
            log.info("%s message refused (AE): %d problems", ADAPTER, len(errors))
            return self._ack(msg, "AE", errors)
        events = [e for e in result.events if not self._known_patient_state(e)]
        moving = {e.patient_id for e in events if isinstance(e, PatientEvent)}
        for pid in moving:
            self._moving[pid] = self._moving.get(pid, 0) + 1
        try:
            await self.sink.publish(events, self.publish_timeout_s)
        except PublishError as exc:
            log.warning("%s message not acknowledged by the broker: %s", ADAPTER, exc)
            self.metrics.messages.labels(ADAPTER, "failed").inc()
            error = AckError("", "unavailable", f"{exc}; nothing is promised: send it again")
            return self._ack(msg, "AR", [error])
        finally:
            for pid in moving:
                left = self._moving[pid] - 1
                if left:
                    self._moving[pid] = left
                else:
                    del self._moving[pid]
        self._accepted.remember(key, digest)
        for kind, n in Counter(ev.kind for ev in events).items():
            counter = self._event_counts.get(kind)
            if counter is None:
                counter = self._event_counts[kind] = self.metrics.events.labels(ADAPTER, kind)
            counter.inc(n)
        for ev in events:
            if isinstance(ev, PatientEvent):
                self._patients.remember(ev.patient_id, (ev.location, ev.sex))
        self._accepted_count.inc()
        if result.notes:
            self.metrics.assumed_zone.labels(ADAPTER).inc()
        warnings = [AckError("", "accepted", note, "W") for note in result.notes]
        return self._ack(msg, "AA", warnings)

    def _known_patient_state(self, ev: Event) -> bool:
        """A patient update repeating the location and sex this listener last published, while
        no other update of that patient is in flight (it may change what was last published)."""
        return (
            isinstance(ev, PatientEvent)
            and ev.patient_id not in self._moving
            and self._patients.get(ev.patient_id) == (ev.location, ev.sex)
        )
