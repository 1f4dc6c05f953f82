"""Patient state to compact bytes and back (written to a Kafka changelog on every update).

Format: orjson of short-keyed lists, with a schema version ``v``. Vital-sign dedupe hashes are
packed as little-endian uint64 in base64. Older versions are migrated step by step on load (each
step a function from one version's object to the next, tested with bytes written by that version);
unknown versions are refused, never guessed.

Versions:
1. the first format.
2. adds ``la``: the two latest single readings of temperature and blood pressure (consecutive
   charted readings); a v1 state starts with none, so the consecutive-readings rule applies again
   from the next two readings.
3. a dose's fourth field is its long-acting product (a catalogue id, or null) instead of a
   long-acting flag; a v2 long-acting dose becomes "any product of its drug" (``*name``), which
   counts for the longest horizon of that drug's products.
4. adds ``tr``: hourly values of vital signs kept for the alert's trend series (display only); a
   v3 state starts with none.
5. adds ``lv``: the counted version of each identified lab result (corrections and withdrawals);
   a v4 state knows none, so a correction of a result stored before it is added, not replaced.
"""

from __future__ import annotations

import base64
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from monitor.engine.state import AlertState, MedRecord, PatientState, TempBucket
from monitor.errors import StateFormatError
from monitor.knowledge.thresholds import HOUR

__all__ = ["VERSION", "StateFormatError", "dumps_state", "loads_state", "to_obj"]

VERSION = 5


def _num(x: float) -> float | int:
    # Exact, never rounded: ingest compares these values (the highest temperature of an hour,
    # ties broken by time), so a rounded value read back could pick another reading than the
    # live state did. orjson writes the shortest repr that reads back to the same float.
    i = int(x)
    return i if i == x else x


def _t(x: float | None) -> float | int | None:
    return None if x is None else _num(x)


def _off(t: float | None, hour: int) -> float | int | None:
    return None if t is None else _t(t - hour * HOUR)


def _abs(offset: float, hour: int) -> float:
    return hour * HOUR + offset


def _abs_opt(offset: float | None, hour: int) -> float | None:
    return None if offset is None else hour * HOUR + offset


def _hours_out(by_hour: dict[int, list[float]]) -> list[object]:
    """[first hour, [hour - first, count, sum], ...]: small numbers instead of epoch hours."""
    if not by_hour:
        return []
    first = min(by_hour)
    return [first, *([h - first, int(b[0]), _num(b[1])] for h, b in sorted(by_hour.items()))]


def _hours_in(data: list[Any]) -> dict[int, list[float]]:
    if not data:
        return {}
    first = data[0]
    return {first + dh: [float(n), float(sm)] for dh, n, sm in data[1:]}


def _trend_out(by_hour: dict[int, float]) -> list[object]:
    """[first hour, value or null for each hour from it]: the hours are nearly contiguous."""
    first, last = min(by_hour), max(by_hour)
    return [first, *(None if (v := by_hour.get(h)) is None else _num(v)
                     for h in range(first, last + 1))]  # fmt: skip


def _trend_in(data: list[Any]) -> dict[int, float]:
    first = data[0]
    return {first + i: float(v) for i, v in enumerate(data[1:]) if v is not None}


def to_obj(s: PatientState) -> dict[str, Any]:
    ring = array("Q", s.vital_ring)
    alert = s.alert
    return {
        "v": VERSION,
        "p": s.patient_id,
        "c": _t(s.clock),
        "f": _t(s.first_seen),
        "e": _t(s.last_eval),
        "sx": s.sex,
        "lo": s.location,
        "lt": _t(s.location_t) if s.location is not None else None,
        "h": sorted(s.history),
        "d": _t(s.discharged_at),
        "s": {k: _t(v) for k, v in s.seen.items()},
        "r": base64.b64encode(ring.tobytes()).decode() if ring else "",
        "vb": {c: _hours_out(m) for c, m in s.vitals.items()},
        "bb": {c: _hours_out(m) for c, m in s.baseline.items()},
        # Temperature times are stored as seconds into their hour bucket.
        "tb": [
            [
                h,
                _num(b.max_oral),
                _off(b.max_t, h),
                b.max_eid,
                _num(b.max_raw),
                b.max_unit,
                b.max_site,
                b.n_elevated,
                _off(b.first_elevated, h),
                _off(b.last_elevated, h),
                b.core_max,
            ]
            for h, b in sorted(s.temps.items())
        ],
        "lb": {
            c: [[_t(r[0]), r[1], r[2], r[3], r[4], r[5]] for r in rs] for c, rs in s.labs.items()
        },
        "lv": {rid: [_t(v[0]), _t(v[1]), *v[2:]] for rid, v in s.lab_versions.items()},
        "m": {
            n: [
                r.drug_class,
                [[_t(d[0]), d[1], d[2], d[3], d[4]] for d in r.doses],
                _t(r.discontinued_at),
                r.discontinued_eid,
            ]
            for n, r in s.meds.items()
        },
        "ch": {c: [_t(r[0]), r[1], r[2]] for c, r in s.charted.items()},
        "fp": {c: _t(t) for c, t in s.first_present.items()},
        "la": {c: [[_t(r[0]), _num(r[1]), r[2]] for r in rs] for c, rs in s.latest.items()},
        "tr": {c: _trend_out(m) for c, m in s.trend.items() if m},
        "g": [[_t(g[0]), g[1], g[2]] for g in s.gcs],
        "ep": s.episodes,
        "sr": s.suppress_rank,
        "dt": s.dirty,
        "a": None
        if alert is None
        else [
            alert.alert_id,
            _t(alert.opened_at),
            alert.priority,
            alert.seq,
            alert.met_mask,
            list(alert.differential),
            list(alert.drugs),
            _t(alert.last_published_t),
            alert.acknowledged_by,
            _t(alert.snoozed_until),
            _t(alert.lower_since),
            _t(alert.clear_since),
        ],
    }


def _v1_to_v2(o: dict[str, Any]) -> dict[str, Any]:
    return {**o, "v": 2, "la": {}}


def _v2_to_v3(o: dict[str, Any]) -> dict[str, Any]:
    meds = {
        name: [r[0], [[*d[:3], f"*{name}" if d[3] else None, d[4]] for d in r[1]], *r[2:]]
        for name, r in o["m"].items()
    }
    return {**o, "v": 3, "m": meds}


def _v3_to_v4(o: dict[str, Any]) -> dict[str, Any]:
    return {**o, "v": 4, "tr": {}}


def _v4_to_v5(o: dict[str, Any]) -> dict[str, Any]:
    return {**o, "v": 5, "lv": {}}


# version -> the step that turns an object of that version into the next one
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
}
_LOADABLE = frozenset({*_MIGRATIONS, VERSION})


def dumps_state(state: PatientState) -> bytes:
    """Serialise a state to compact bytes."""
    return orjson.dumps(to_obj(state))


def loads_state(data: bytes) -> PatientState:
    """Rebuild a state from :func:`dumps_state` bytes; :class:`StateFormatError` if unusable."""
    try:
        o = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StateFormatError(f"state is not JSON: {exc}") from None
    if not isinstance(o, dict) or o.get("v") not in _LOADABLE:
        raise StateFormatError(
            f"unsupported state version {o.get('v') if isinstance(o, dict) else None!r}"
        )
    while o["v"] != VERSION:
        o = _MIGRATIONS[o["v"]](o)
    ring = array("Q")
    if o["r"]:
        ring.frombytes(base64.b64decode(o["r"]))
    a = o["a"]
    return PatientState(
        patient_id=o["p"],
        clock=o["c"],
        first_seen=o["f"],
        last_eval=o["e"],
        sex=o["sx"],
        location=o["lo"],
        location_t=o["lt"] if o["lt"] is not None else float("-inf"),
        history=set(o["h"]),
        discharged_at=o["d"],
        seen=dict(o["s"]),
        vital_ring=deque(ring),
        vital_seen=set(ring),
        vitals={c: _hours_in(bs) for c, bs in o["vb"].items()},
        baseline={c: _hours_in(bs) for c, bs in o["bb"].items()},
        temps={
            b[0]: TempBucket(
                float(b[1]),
                _abs(b[2], b[0]),
                b[3],
                float(b[4]),
                b[5],
                b[6],
                b[7],
                _abs_opt(b[8], b[0]),
                _abs_opt(b[9], b[0]),
                b[10],
            )
            for b in o["tb"]
        },
        labs={c: [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rs] for c, rs in o["lb"].items()},
        lab_versions={rid: (v[0], v[1], v[2], v[3], v[4], v[5]) for rid, v in o["lv"].items()},
        meds={
            n: MedRecord(r[0], [(d[0], d[1], d[2], d[3], d[4]) for d in r[1]], r[2], r[3])
            for n, r in o["m"].items()
        },
        charted={c: (r[0], r[1], r[2]) for c, r in o["ch"].items()},
        first_present=dict(o["fp"]),
        latest={c: [(r[0], float(r[1]), r[2]) for r in rs] for c, rs in o["la"].items()},
        trend={c: _trend_in(v) for c, v in o["tr"].items()},
        gcs=[(g[0], g[1], g[2]) for g in o["g"]],
        episodes=o["ep"],
        suppress_rank=o["sr"],
        dirty=o["dt"],
        alert=None
        if a is None
        else AlertState(
            alert_id=a[0],
            opened_at=a[1],
            priority=a[2],
            seq=a[3],
            met_mask=a[4],
            differential=tuple(a[5]),
            drugs=tuple(a[6]),
            last_published_t=a[7],
            acknowledged_by=a[8],
            snoozed_until=a[9],
            lower_since=a[10],
            clear_since=a[11],
        ),
    )
