"""One batch of consumed messages through the engine, without Faust or Kafka.

The worker hands a batch of :class:`Inbound` messages and a way to load patient states; it gets
back the alert transitions to publish, the dead letters, and the states to save (once per patient
per batch, not once per message). Every failure mode of one message becomes a dead letter with a
reason; none stops the batch. A stored state that cannot be read (corrupt bytes, an unknown
format version) is dead-lettered too (``state_unreadable``, with the changelog's topic and
partition), and that patient starts afresh: it must never stop a worker, and the fresh state
written over it means a restart does not recover the same bytes again.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.contracts.alerts import Alert
from monitor.contracts.decode import DecodeError, Rejection, decode_event
from monitor.contracts.events import Event, LabEvent
from monitor.engine import EventRejected, PatientState, dumps_state, loads_state, new_state, step
from monitor.engine import tick as engine_tick
from monitor.engine.core import is_evictable
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream.deadletter import Inbound, envelope, state_envelope
from monitor.stream.statestore import partition_of
from monitor.stream.stored import UnreadableState, load, pack, tp_key, unpack

log = logging.getLogger(__name__)

StateLoader = Callable[[str], bytes | None]


@dataclass(slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    reason: str


@dataclass(slots=True)
class BatchResult:
    alerts: list[Alert] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)  # input messages refused
    unreadable: list[DeadLetter] = field(default_factory=list)  # stored states that failed to load
    # patient id -> serialised state, or None to delete (evicted)
    states: dict[str, bytes | None] = field(default_factory=dict)
    processed: int = 0
    duplicates: int = 0
    redelivered: int = 0  # skipped by offset: Kafka redelivery after a crash or rebalance
    max_event_time: float = 0.0
    rejected: Counter[str] = field(default_factory=Counter)
    # Medication names (or codes) the drug catalogue does not know, with how often they came.
    unrecognised: Counter[str] = field(default_factory=Counter)
    # For each of ``alerts``, the index in the batch of the message that caused it.
    alert_sources: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)  # events applied, by kind


@dataclass(slots=True)
class _Working:
    state: PatientState
    saved: bytes | None  # the stored value as loaded at the start of the batch
    offsets: dict[str, int]  # topic/partition -> last offset applied (see monitor.stream.stored)
    # The engine state to roll back to (None: the stored one) and the events applied since, so
    # that every rollback replays only what came after the previous one.
    checkpoint: bytes | None = None
    applied: list[Event] = field(default_factory=list)
    fresh: bool = False  # the stored value was unreadable: rolling back starts from nothing


# Parsed states of recently active patients, keyed by patient id, each with the exact stored
# bytes it was parsed from: it is used only while the table still holds those bytes, so a
# rebalance, a restore or another writer can never make it serve a stale state.
LiveStates = OrderedDict[str, tuple[bytes, PatientState, dict[str, int]]]


class BatchProcessor:
    """Pure-ish shell step: decode, load, engine, collect. ``wall_now`` is passed in."""

    def __init__(
        self,
        cfg: ClinicalSettings,
        max_message_bytes: int,
        max_future_skew_s: float,
        live_states: int = 5000,
        changelog_topic: str = "patient-state-changelog",
        partitions: int = 1,
    ) -> None:
        self.cfg = cfg
        self.max_message_bytes = max_message_bytes
        self.max_future_skew_s = max_future_skew_s
        self.live_limit = live_states
        self.live: LiveStates = OrderedDict()
        # Where stored states live, for the dead letter of one that cannot be read.
        self.changelog_topic = changelog_topic
        self.partitions = partitions

    def unreadable(self, key: bytes, value: bytes, why: str, wall_now: float) -> DeadLetter:
        """The dead letter of a stored value that cannot be used; logged without the key (the
        patient id), which the dead letter carries."""
        partition = partition_of(key, self.partitions)
        log.warning(
            "unreadable patient state in %s[%d] dead-lettered; that patient starts afresh",
            self.changelog_topic, partition,
        )  # fmt: skip
        value = state_envelope(key, value, self.changelog_topic, partition, why, wall_now)
        return DeadLetter(key, value, "state_unreadable")

    def _open(self, pid: str, saved: bytes | None, out: BatchResult, wall_now: float) -> _Working:
        if saved is None:
            return _Working(new_state(pid), None, {})
        # Taken out while the batch mutates it; put back with its new bytes when the batch ends,
        # so a batch that fails part-way can never leave a mutated state behind old bytes.
        cached = self.live.pop(pid, None)
        if cached is not None and (cached[0] is saved or cached[0] == saved):
            return _Working(cached[1], saved, dict(cached[2]))
        try:
            offsets, state = load(pid, saved)
        except UnreadableState as exc:
            out.unreadable.append(self.unreadable(pid.encode(), saved, str(exc), wall_now))
            # The fresh state differs from ``saved``, so it is written over the bad bytes.
            return _Working(new_state(pid), saved, {}, fresh=True)
        return _Working(state, saved, offsets)

    def _reject(self, out: BatchResult, msg: Inbound, rej: Rejection, wall_now: float) -> None:
        out.rejected[rej.reason] += 1
        out.dead.append(
            DeadLetter(msg.key, envelope(msg, rej.reason, rej.detail, wall_now), rej.reason)
        )

    def _decode(self, msg: Inbound) -> Event:
        if msg.value is None:
            raise DecodeError(Rejection("empty_value", "message has no value (tombstone)"))
        if len(msg.value) > self.max_message_bytes:
            raise DecodeError(
                Rejection("too_large", f"{len(msg.value)} bytes > {self.max_message_bytes}")
            )
        event = decode_event(msg.value)
        key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
        if key != event.patient_id:
            # A wrong key puts the patient on another partition than its state: refuse it.
            raise DecodeError(
                Rejection("key_mismatch", "message key must be the event's patient_id (UTF-8)")
            )
        return event

    def process(self, batch: list[Inbound], load: StateLoader, wall_now: float) -> BatchResult:
        out = BatchResult()
        working: dict[str, _Working] = {}
        for index, msg in enumerate(batch):
            try:
                event = self._decode(msg)
            except DecodeError as exc:
                self._reject(out, msg, exc.rejection, wall_now)
                continue
            t = event.time.timestamp()
            # A lab version issued in the future would outrank every real correction of it.
            issued = event.issued.timestamp() if isinstance(event, LabEvent) and event.issued else t
            ahead = max(t, issued) - wall_now
            if self.max_future_skew_s and ahead > self.max_future_skew_s:
                which = "event time" if t >= issued else "issued"
                self._reject(
                    out,
                    msg,
                    Rejection("future_time", f"{which} is {ahead:.0f} s ahead of now"),
                    wall_now,
                )
                continue
            pid = event.patient_id
            w = working.get(pid)
            if w is None:
                w = working[pid] = self._open(pid, load(pid), out, wall_now)
            tp = tp_key(msg.topic, msg.partition)
            if msg.offset <= w.offsets.get(tp, -1):
                out.redelivered += 1  # already in the state restored from the changelog
                continue
            w.offsets[tp] = msg.offset
            try:
                result = step(w.state, event, self.cfg)
            except EventRejected as exc:
                self._reject(out, msg, exc.rejection, wall_now)
                # The engine refuses before it changes anything (the REJECTED property test);
                # rebuilding anyway means a refusal can never leave a half-applied event behind.
                w.state = self._rebuild(w)
                continue
            except Exception as exc:  # one bad message must not stop the stream
                summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                where = traceback.extract_tb(exc.__traceback__)[-1]
                detail = f"{summary} at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}"
                log.error(
                    "engine error on %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, detail
                )
                self._reject(out, msg, Rejection("engine_error", detail), wall_now)
                w.state = self._rebuild(w)
                continue
            w.state = result.state
            w.applied.append(event)
            out.processed += 1
            out.kinds[event.kind] += 1
            out.max_event_time = max(out.max_event_time, t)
            if result.duplicate:
                out.duplicates += 1
            if result.unrecognised is not None:
                out.unrecognised[" ".join(result.unrecognised.split())] += 1
            out.alerts.extend(result.transitions)
            out.alert_sources.extend([index] * len(result.transitions))
        for pid, w in working.items():
            data = pack(w.offsets, dumps_state(w.state))
            if data != w.saved:
                out.states[pid] = data
            self._remember(pid, data, w)
        return out

    def _remember(self, pid: str, data: bytes, w: _Working) -> None:
        if self.live_limit <= 0:
            return
        self.live[pid] = (data, w.state, w.offsets)
        self.live.move_to_end(pid)
        while len(self.live) > self.live_limit:
            self.live.popitem(last=False)

    def _rebuild(self, w: _Working) -> PatientState:
        """The state as it was before the failing event: the last checkpoint (at first the stored
        state) with this batch's events since re-applied (deterministic, so their transitions are
        the ones already collected). The result becomes the next checkpoint."""
        if w.checkpoint is not None:
            state = loads_state(w.checkpoint)
        elif w.saved and not w.fresh:
            state = loads_state(unpack(w.saved)[1])
        else:
            state = new_state(w.state.patient_id)
        for event in w.applied:
            state = step(state, event, self.cfg).state
        w.checkpoint = dumps_state(state)
        w.applied.clear()
        return state

    def tick(self, pid: str, saved: bytes, now: float, wall_now: float | None = None) -> TickResult:
        """Time passes for one patient: transitions, the new value if changed, eviction.

        Without an open alert and with every event evaluated, the passing of time can only
        remove evidence, never raise an alert: such a patient needs only the eviction check,
        which the live-state cache answers without parsing the state. A stored value that
        cannot be read is dead-lettered and deleted: the patient's next event starts afresh.
        """
        cached = self.live.get(pid)
        if cached is not None and (cached[0] is saved or cached[0] == saved):
            offsets, state = dict(cached[2]), cached[1]
        else:
            try:
                offsets, state = load(pid, saved)
            except UnreadableState as exc:
                wall = now if wall_now is None else wall_now
                letter = self.unreadable(pid.encode(), saved, str(exc), wall)
                return TickResult([], None, True, True, letter)
        if state.alert is None and not state.dirty:
            return TickResult([], None, is_evictable(state, now, self.cfg), False)
        self.live.pop(pid, None)  # mutated below: back in the cache only with its new bytes
        evaluated_until = state.last_eval
        alerts = engine_tick(state, now, self.cfg)
        priority = state.alert.priority if state.alert is not None else None
        if is_evictable(state, now, self.cfg):
            return TickResult(alerts, None, True, True)
        data = pack(offsets, dumps_state(state))
        if self.live_limit > 0:
            self.live[pid] = (data, state, offsets)
        if data == saved:
            return TickResult(alerts, None, False, False, priority=priority)
        durable = bool(alerts) or not _only_clock_moved(state, offsets, saved, evaluated_until)
        return TickResult(alerts, data, False, durable, priority=priority)


@dataclass(frozen=True, slots=True)
class TickResult:
    alerts: list[Alert]
    data: bytes | None  # the new stored value; None when unchanged or evicted
    evict: bool
    # False when only the evaluation clock moved. A patient with an open alert is re-evaluated
    # at every tick, which changes nothing but that clock most of the time; the worker keeps
    # such a value without writing it to the changelog. Lost in a crash, it is as if that
    # tick came later: the next owner's tick evaluates again and finds the same.
    durable: bool
    unreadable: DeadLetter | None = None  # the stored value could not be read (then evict)
    priority: str | None = None  # the priority of the patient's open alert after the tick


def _only_clock_moved(
    state: PatientState, offsets: dict[str, int], saved: bytes, evaluated_until: float | None
) -> bool:
    """True when ``state`` differs from ``saved`` in nothing but its last evaluation time."""
    moved = state.last_eval
    state.last_eval = evaluated_until
    try:
        return pack(offsets, dumps_state(state)) == saved
    finally:
        state.last_eval = moved
