"""Alert episodes of one patient, rebuilt from its transitions (pure)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from monitor.evaluation.truth import Mark

RANK = {"low": 1, "medium": 2, "high": 3}
PRIORITIES = ("low", "medium", "high")


@dataclass(slots=True)
class Episode:
    patient_id: str
    alert_id: str
    opened: float
    ended: float | None = None
    reached: dict[str, float] = field(default_factory=dict)  # priority -> first time
    changes: list[tuple[float, int]] = field(default_factory=list)  # (time, rank; 0 = closed)
    transitions: int = 0


def episodes(patient_id: str, marks: list[Mark]) -> list[Episode]:
    """The alert episodes of one patient, from its transitions in any order."""
    by_alert: dict[str, list[Mark]] = defaultdict(list)
    for m in marks:
        by_alert[m.alert_id].append(m)
    out: list[Episode] = []
    for alert_id, ms in by_alert.items():
        ms.sort(key=lambda m: (m.sequence, m.time))
        ep = Episode(patient_id, alert_id, opened=ms[0].time)
        for m in ms:
            ep.transitions += 1
            if m.transition in ("opened", "escalated", "deescalated"):
                ep.changes.append((m.time, RANK[m.priority]))
            if m.transition in ("opened", "escalated"):
                for p in PRIORITIES:
                    if RANK[p] <= RANK[m.priority] and p not in ep.reached:
                        ep.reached[p] = m.time
            if m.transition == "resolved":
                ep.ended = m.time
                ep.changes.append((m.time, 0))
        out.append(ep)
    out.sort(key=lambda e: e.opened)
    return out


def rank_at(eps: list[Episode], t: float) -> int:
    """The priority rank of the patient's open alert at time ``t`` (0 when none)."""
    best = 0
    for ep in eps:
        current = 0
        for when, rank in ep.changes:
            if when > t:
                break
            current = rank
        best = max(best, current)
    return best
