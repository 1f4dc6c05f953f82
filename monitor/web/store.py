"""The dashboard's copy of ``nms.alerts``: the latest transition per alert and every patient's
history, built only from the stream (no I/O here; the feed hands records in, the pages read).

Transitions of one alert share its patient's key, so they arrive in order; one whose sequence is
not above the alert's latest is a redelivery (the worker reproduces the same ``transition_id``
after a crash) or older, and is ignored. Open alerts keep their latest transition parsed for the
ward view; history is kept as compressed JSON, parsed only when a patient page asks for it.
Closed alerts beyond ``max_closed`` are forgotten, oldest closed first, so memory stays bounded.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from monitor.contracts.alerts import Alert
from monitor.web.viewmodel import PRIORITY_CHANGES, AlertSummary


@dataclass(slots=True)
class _Entry:
    patient_id: str
    sequence: int
    priority_since: dt.datetime
    latest: Alert | None  # open alerts only
    history: list[bytes] = field(default_factory=list)  # zlib-compressed JSON, in order


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    alert_id: str
    patient_id: str


def compress(raw: bytes) -> bytes:
    return zlib.compress(raw, 6)


class AlertStore:
    """Not thread-safe: the server applies every batch on its event loop thread."""

    def __init__(self, max_closed: int = 50_000, change_log: int = 4096) -> None:
        self.max_closed = max_closed
        self.version = 0
        self._alerts: dict[str, _Entry] = {}
        self._patients: dict[str, list[str]] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._log: deque[Change] = deque(maxlen=change_log)
        self._stream_time: dt.datetime | None = None
        self._stream_seen_wall: float = 0.0
        self.ignored = 0

    def apply(self, batch: list[tuple[Alert, bytes]], wall_s: float) -> list[Change]:
        """Apply parsed transitions (with their compressed JSON); returns what changed.
        ``wall_s`` is when they were read, for the stream clock."""
        changes: list[Change] = []
        for alert, packed in batch:
            entry = self._alerts.get(alert.alert_id)
            if entry is not None and alert.sequence <= entry.sequence:
                self.ignored += 1
                continue
            if entry is None:
                entry = _Entry(alert.patient_id, 0, alert.opened_at, None)
                self._alerts[alert.alert_id] = entry
                self._patients.setdefault(alert.patient_id, []).append(alert.alert_id)
            entry.sequence = alert.sequence
            entry.history.append(packed)
            if alert.transition in PRIORITY_CHANGES:
                entry.priority_since = alert.time
            if alert.status == "firing":
                entry.latest = alert
            else:
                entry.latest = None
                self._closed[alert.alert_id] = None
            if self._stream_time is None or alert.time > self._stream_time:
                self._stream_time = alert.time
                self._stream_seen_wall = wall_s
            self.version += 1
            change = Change(self.version, alert.alert_id, alert.patient_id)
            self._log.append(change)
            changes.append(change)
        self._evict()
        return changes

    def _evict(self) -> None:
        while len(self._closed) > self.max_closed:
            alert_id, _ = self._closed.popitem(last=False)
            entry = self._alerts.pop(alert_id)
            ids = self._patients[entry.patient_id]
            ids.remove(alert_id)
            if not ids:
                del self._patients[entry.patient_id]

    def open_alerts(self) -> list[AlertSummary]:
        return [
            AlertSummary(e.latest, e.priority_since)
            for e in self._alerts.values()
            if e.latest is not None
        ]

    def summary(self, alert_id: str) -> AlertSummary | None:
        """The open alert ``alert_id``, or None when it is unknown or closed."""
        e = self._alerts.get(alert_id)
        if e is None or e.latest is None:
            return None
        return AlertSummary(e.latest, e.priority_since)

    def known(self, alert_id: str) -> bool:
        return alert_id in self._alerts

    def patient_of(self, alert_id: str) -> str | None:
        e = self._alerts.get(alert_id)
        return e.patient_id if e is not None else None

    def has_patient(self, patient_id: str) -> bool:
        return patient_id in self._patients

    def history(self, patient_id: str) -> list[list[Alert]]:
        """Every kept transition of every alert of the patient, oldest first per alert."""
        return [
            [Alert.model_validate_json(zlib.decompress(p)) for p in self._alerts[a].history]
            for a in self._patients.get(patient_id, [])
        ]

    def changes_since(self, version: int) -> list[Change] | None:
        """Changes after ``version``, or None when the log no longer reaches back that far."""
        if version == self.version:
            return []
        if version > self.version or not self._log or self._log[0].version > version + 1:
            return None
        return [c for c in self._log if c.version > version]

    def stream_now(self, wall_s: float) -> dt.datetime | None:
        """The newest event time seen, advanced by the wall time since it was seen."""
        if self._stream_time is None:
            return None
        return self._stream_time + dt.timedelta(seconds=max(0.0, wall_s - self._stream_seen_wall))

    @property
    def counts(self) -> tuple[int, int]:
        """(alerts kept, transitions kept)."""
        return len(self._alerts), sum(len(e.history) for e in self._alerts.values())
