"""What the dashboard shows, as plain data: alert transitions in, cards and sections out (pure).

Nothing here reads the clock, the network or a file: ``now`` and the time zone are arguments, so
the tests check sorting, grouping and what each transition shows without a browser.

Ward order: sections high, medium, low (IEC 60601-1-8 words; red, yellow, cyan, always with the
word and the ``!!!``/``!!``/``!`` marker, never colour alone), then snoozed alerts of any
priority. Within a section: the highest priority first, then the most recent change of priority
(opened, escalated or de-escalated) first, since that is the one nobody has looked at yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from monitor.contracts.alerts import PRIORITY_RANK, Alert, Criterion, Evidence, Trends
from monitor.web import sparkline
from monitor.web.sparkline import Spark
from monitor.web.texts import (
    CODE_LABELS,
    CRITERION_LABELS,
    UNITS,
    When,
    num,
    value_text,
    when,
)

PRIORITY_CHANGES = frozenset({"opened", "escalated", "deescalated"})
PRIORITY_MARK = {"high": "!!!", "medium": "!!", "low": "!"}
GROUPS = ("high", "medium", "low", "snoozed")
GROUP_TITLES = {
    "high": "High priority",
    "medium": "Medium priority",
    "low": "Low priority",
    "snoozed": "Snoozed",
}
# Snooze lengths offered (minutes); the engine accepts up to 24 h.
SNOOZE_CHOICES = (15, 30, 60, 120, 240, 480)


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """What the store knows of one alert: its latest transition and when its priority was set."""

    latest: Alert
    priority_since: dt.datetime


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    when: When
    what: str
    value: str
    threshold: str
    baseline: str
    note: str


@dataclass(frozen=True, slots=True)
class CriterionView:
    name: str
    label: str
    met: bool
    points: int
    weight: int
    detail: str
    evidence: tuple[EvidenceRow, ...]


@dataclass(frozen=True, slots=True)
class DrugView:
    drug: str
    drug_class: str
    route: str
    depot: str
    last_dose: When
    until: When
    doses: str


@dataclass(frozen=True, slots=True)
class Card:
    alert_id: str
    transition_id: str
    patient_id: str
    location: str
    priority: str
    priority_word: str
    mark: str
    group: str
    sort_key: str
    transition: str
    changed: When
    score: int
    cutoff: int
    max_computable: int
    met: tuple[CriterionView, ...]
    not_met: tuple[str, ...]
    drugs: tuple[DrugView, ...]
    withdrawn: tuple[str, ...]
    risk_factors: tuple[str, ...]
    differential: tuple[tuple[str, str], ...]
    recommendations: tuple[str, ...]
    state: str
    state_text: str
    reason: str
    opened: When
    priority_since: When
    newest_evidence: When | None
    sparks: tuple[Spark, ...]
    open: bool


@dataclass(frozen=True, slots=True)
class Section:
    group: str
    title: str
    cards: tuple[Card, ...]


@dataclass(frozen=True, slots=True)
class WardView:
    sections: tuple[Section, ...]
    total: int


@dataclass(frozen=True, slots=True)
class TransitionView:
    card: Card
    sequence: int


@dataclass(frozen=True, slots=True)
class EpisodeView:
    alert_id: str
    open: bool
    opened: When
    transitions: tuple[TransitionView, ...]


@dataclass(frozen=True, slots=True)
class PatientView:
    patient_id: str
    location: str
    episodes: tuple[EpisodeView, ...]
    sparks: tuple[Spark, ...]
    trends_from: When | None
    trends_to: When | None


def _evidence(e: Evidence, now: dt.datetime, tz: ZoneInfo) -> EvidenceRow:
    unit = UNITS.get(e.unit or "", e.unit or "")
    return EvidenceRow(
        when(e.time, now, tz),
        CODE_LABELS.get(e.code, e.code.replace("_", " ")),
        value_text(e),
        f"threshold {num(e.threshold)} {unit}".strip() if e.threshold is not None else "",
        f"baseline {num(e.baseline)} {unit}".strip() if e.baseline is not None else "",
        e.note or "",
    )


def _criterion(c: Criterion, now: dt.datetime, tz: ZoneInfo) -> CriterionView:
    return CriterionView(
        c.name,
        CRITERION_LABELS[c.name],
        c.met,
        c.points,
        c.weight,
        c.detail,
        tuple(_evidence(e, now, tz) for e in c.evidence),
    )


def group_of(a: Alert) -> str:
    return "snoozed" if a.snoozed_until is not None else a.priority


def sort_key(a: Alert, priority_since: dt.datetime) -> str:
    """Orders cards within a section as strings (the page inserts live cards by this key)."""
    rank = 3 - PRIORITY_RANK[a.priority]
    newest_first = 10**11 - int(priority_since.timestamp())
    return f"{rank}|{newest_first:012d}|{a.alert_id}"


def _state(a: Alert, tz: ZoneInfo) -> tuple[str, str]:
    if a.status == "resolved":
        return "resolved", "Resolved"
    if a.snoozed_until is not None:
        until = a.snoozed_until.astimezone(tz).strftime("%d %b %H:%M")
        return "snoozed", f"Snoozed until {until}"
    if a.acknowledged_by is not None:
        return "acknowledged", f"Acknowledged by {a.acknowledged_by}"
    return "unacknowledged", "Not acknowledged"


def newest_evidence(a: Alert) -> dt.datetime | None:
    times = [e.time for c in a.criteria if c.met for e in c.evidence]
    times += [d.last_dose_time for d in a.exposure.drugs]
    times += [w.stopped_at for w in a.exposure.withdrawn_dopaminergics]
    return max(times) if times else None


def trend_sparks(
    trends: Trends | None, tz: ZoneInfo, width: int, height: int, detail: bool
) -> tuple[Spark, ...]:
    """Temperature, heart rate, systolic and diastolic BP, respiratory rate, and CK with its
    ``ck_uln_multiple`` x ULN line, over the hours of ``trends``."""
    if trends is None:
        return ()
    start = trends.start
    labels = (
        [(start + dt.timedelta(hours=i)).astimezone(tz).strftime("%d %b %H:00") for i in range(72)]
        if detail
        else []
    )
    series = (
        (trends.temperature, "Temperature", "°C", 1),
        (trends.heart_rate, "Heart rate", "/min", 0),
        (trends.systolic_bp, "Systolic BP", "mmHg", 0),
        (trends.diastolic_bp, "Diastolic BP", "mmHg", 0),
        (trends.respiratory_rate, "Respiratory rate", "/min", 0),
    )
    sparks = [
        sparkline.hourly(vals, width, height, name, unit, digits, labels, detail)
        for vals, name, unit, digits in series
    ]
    t0 = start.timestamp()
    window = (t0, t0 + trends.hours * 3600.0)
    ck = [
        (p.time.timestamp(), p.value, p.uln, p.time.astimezone(tz).strftime("%d %b %H:%M"))
        for p in trends.ck
    ]
    sparks.append(sparkline.ck_chart(ck, window, trends.ck_uln_multiple, width, height))
    return tuple(sparks)


def card(
    a: Alert,
    priority_since: dt.datetime,
    now: dt.datetime,
    tz: ZoneInfo,
    spark_size: tuple[int, int] | None = (132, 30),
) -> Card:
    """Everything one alert card shows for transition ``a``."""
    state, state_text = _state(a, tz)
    drugs = tuple(
        DrugView(
            d.drug,
            d.drug_class.replace("_", " "),
            d.route or "route not recorded",
            (d.product or "long-acting") if d.long_acting else "",
            when(d.last_dose_time, now, tz),
            when(d.exposure_until, now, tz),
            f"{d.doses_in_window} dose(s) in the window, {d.im_doses_in_window} IM",
        )
        for d in a.exposure.drugs
    )
    withdrawn = tuple(
        f"{w.drug} {'stopped' if w.how == 'discontinued' else 'dose cut'} "
        f"{w.stopped_at.astimezone(tz).strftime('%d %b %H:%M')}"
        for w in a.exposure.withdrawn_dopaminergics
    )
    newest = newest_evidence(a)
    return Card(
        alert_id=a.alert_id,
        transition_id=a.transition_id,
        patient_id=a.patient_id,
        location=a.location or "location unknown",
        priority=a.priority,
        priority_word=a.priority.upper(),
        mark=PRIORITY_MARK[a.priority],
        group=group_of(a),
        sort_key=sort_key(a, priority_since),
        transition=a.transition,
        changed=when(a.time, now, tz),
        score=a.score,
        cutoff=a.cutoff,
        max_computable=a.max_computable_score,
        met=tuple(_criterion(c, now, tz) for c in a.criteria if c.met),
        not_met=tuple(CRITERION_LABELS[c.name] for c in a.criteria if not c.met),
        drugs=drugs,
        withdrawn=withdrawn,
        risk_factors=tuple(a.exposure.risk_factors),
        differential=tuple((d.condition.replace("_", " "), d.reason) for d in a.differential),
        recommendations=tuple(a.recommendations),
        state=state,
        state_text=state_text,
        reason=a.reason or "",
        opened=when(a.opened_at, now, tz),
        priority_since=when(priority_since, now, tz),
        newest_evidence=when(newest, now, tz) if newest is not None else None,
        sparks=trend_sparks(a.trends, tz, *spark_size, detail=False) if spark_size else (),
        open=a.status == "firing",
    )


def ward_order(alerts: Iterable[AlertSummary]) -> list[tuple[str, list[AlertSummary]]]:
    """Open alerts only, per section (``GROUPS``), each section in ward order."""
    by_group: dict[str, list[AlertSummary]] = {g: [] for g in GROUPS}
    for s in alerts:
        if s.latest.status == "firing":
            by_group[group_of(s.latest)].append(s)
    return [
        (g, sorted(by_group[g], key=lambda s: sort_key(s.latest, s.priority_since))) for g in GROUPS
    ]


def ward(alerts: Iterable[AlertSummary], now: dt.datetime, tz: ZoneInfo) -> WardView:
    """The ward view: the cards of ``ward_order``."""
    sections = tuple(
        Section(g, GROUP_TITLES[g], tuple(card(s.latest, s.priority_since, now, tz) for s in ss))
        for g, ss in ward_order(alerts)
    )
    return WardView(sections, sum(len(s.cards) for s in sections))


def priority_since(history: Sequence[Alert]) -> dt.datetime:
    """When the alert's current priority was set: its latest opened/escalated/deescalated."""
    for a in reversed(history):
        if a.transition in PRIORITY_CHANGES:
            return a.time
    return history[-1].opened_at


def patient(
    patient_id: str, alerts: Sequence[Sequence[Alert]], now: dt.datetime, tz: ZoneInfo
) -> PatientView:
    """A patient's alert history: every transition of every alert (newest alert first, newest
    transition first), each with the evidence it carried, and the latest full trends."""
    episodes: list[tuple[dt.datetime, EpisodeView]] = []
    latest: Alert | None = None
    location = ""
    for history in alerts:
        if not history:
            continue
        rows: list[TransitionView] = []
        for i, a in enumerate(history):
            since = priority_since(history[: i + 1])
            c = card(a, since, now, tz, spark_size=None)
            rows.append(TransitionView(c, a.sequence))
        last = history[-1]
        if latest is None or last.time >= latest.time:
            latest = last
        location = last.location or location
        view = EpisodeView(
            last.alert_id,
            last.status == "firing",
            when(last.opened_at, now, tz),
            tuple(reversed(rows)),
        )
        episodes.append((last.opened_at, view))
    episodes.sort(key=lambda e: e[0], reverse=True)
    sparks = trend_sparks(latest.trends, tz, 640, 90, detail=True) if latest else ()
    trends = latest.trends if latest is not None else None
    trends_from = when(trends.start, now, tz) if trends else None
    trends_to = when(trends.start + dt.timedelta(hours=trends.hours), now, tz) if trends else None
    return PatientView(
        patient_id,
        location or "location unknown",
        tuple(e for _, e in episodes),
        sparks,
        trends_from,
        trends_to,
    )
