"""Trend sparklines as SVG geometry, computed in Python (pure; no JavaScript chart library).

The series are the hourly values the engine used (``Alert.trends``): gaps are ``None``. Readings
charted every few hours leave a gap between every value, so consecutive values up to
``JOIN_GAP_HOURS`` apart are joined by a line; a longer gap breaks it. Every value also gets a dot,
so a single reading is visible. CK is drawn on a log scale (it spans 100 to 100,000 U/L) as
points at their times, with the criterion's line at ``ck_uln_multiple`` x ULN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

JOIN_GAP_HOURS = 6


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    title: str
    alarm: bool = False


@dataclass(frozen=True, slots=True)
class Spark:
    """One small chart: polylines (``"x,y x,y ..."``), dots, an optional dashed threshold line,
    and the text a screen reader (and a person who cannot tell the colours) gets."""

    name: str
    width: int
    height: int
    lines: tuple[str, ...]
    dots: tuple[Dot, ...]
    threshold_y: float | None
    threshold_label: str | None
    last: str
    low: str
    high: str
    label: str

    @property
    def empty(self) -> bool:
        return not self.dots and not self.lines


def _fmt(v: float, digits: int) -> str:
    return f"{v:.{digits}f}"


def _scale(lo: float, hi: float, height: int, pad: float) -> tuple[float, float]:
    """(a, b) so that y = a * value + b maps [lo, hi] into [pad, height - pad], high at the top."""
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    a = -(height - 2 * pad) / (hi - lo)
    return a, pad - a * hi


def hourly(
    values: Sequence[float | None],
    width: int,
    height: int,
    name: str,
    unit: str,
    digits: int = 0,
    hour_labels: Sequence[str] = (),
    detail: bool = False,
) -> Spark:
    """A sparkline of hourly values (index = hour from the series start). Compact (``detail``
    False): dots only where a value stands alone and for the latest; detailed: a dot with its
    time and value for every hour."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    n = max(len(values) - 1, 1)
    pad = 3.0
    if not points:
        return Spark(name, width, height, (), (), None, None, "none", "", "", f"{name}: none")
    lo = min(v for _, v in points)
    hi = max(v for _, v in points)
    a, b = _scale(lo, hi, height, pad)

    step = (width - 2 * pad) / n

    def xy(i: int, v: float) -> tuple[float, float]:
        return round(pad + step * i, 1), round(a * v + b, 1)

    runs: list[list[tuple[int, float]]] = []
    for i, v in points:
        if not runs or i - runs[-1][-1][0] > JOIN_GAP_HOURS:
            runs.append([])
        runs[-1].append((i, v))
    # Whole pixels: the lines are at most a few hundred pixels wide.
    lines = tuple(
        " ".join([f"{pad + step * i:.0f},{a * v + b:.0f}" for i, v in r])
        for r in runs
        if len(r) > 1
    )
    dots: list[Dot] = []
    last_i, last_v = points[-1]
    for r in runs:
        for i, v in r:
            if detail or len(r) == 1 or i == last_i:
                x, y = xy(i, v)
                when = hour_labels[i] if i < len(hour_labels) else f"hour {i}"
                dots.append(Dot(x, y, f"{when}: {_fmt(v, digits)} {unit}" if detail else ""))
    last = f"{_fmt(last_v, digits)} {unit}"
    label = (
        f"{name}: latest {last}, lowest {_fmt(lo, digits)}, highest {_fmt(hi, digits)} "
        f"({len(points)} hours with readings)"
    )
    return Spark(
        name,
        width,
        height,
        lines,
        tuple(dots),
        None,
        None,
        last,
        _fmt(lo, digits),
        _fmt(hi, digits),
        label,
    )


def ck_chart(
    points: Sequence[tuple[float, float, float, str]],
    window: tuple[float, float],
    multiple: float,
    width: int,
    height: int,
) -> Spark:
    """CK results ``(epoch s, U/L, ULN, time label)`` in ``window`` on a log scale, with the
    criterion's line at ``multiple`` x ULN (the latest result's ULN)."""
    start, end = window
    inside = [p for p in points if start <= p[0] <= end and p[1] > 0]
    pad = 3.0
    if not inside:
        return Spark("CK", width, height, (), (), None, None, "none", "", "", "CK: no result")
    line_value = multiple * inside[-1][2]
    logs = [math.log10(p[1]) for p in inside] + [math.log10(line_value)]
    lo, hi = min(logs), max(logs)
    a, b = _scale(lo - 0.1, hi + 0.1, height, pad)
    span = max(end - start, 1.0)
    dots: list[Dot] = []
    coords: list[str] = []
    for t, v, uln, when in inside:
        x = round(pad + (width - 2 * pad) * (t - start) / span, 1)
        y = round(a * math.log10(v) + b, 1)
        coords.append(f"{x},{y}")
        ratio = v / uln
        dots.append(Dot(x, y, f"{when}: CK {v:.0f} U/L = {ratio:.1f} x ULN", ratio >= multiple))
    last = inside[-1]
    threshold_label = f"{multiple:g} x ULN = {line_value:.0f} U/L"
    label = (
        f"CK: latest {last[1]:.0f} U/L ({last[1] / last[2]:.1f} x ULN), "
        f"{len(inside)} result(s); line at {threshold_label}"
    )
    return Spark(
        "CK",
        width,
        height,
        (" ".join(coords),) if len(coords) > 1 else (),
        tuple(dots),
        round(a * math.log10(line_value) + b, 1),
        threshold_label,
        f"{last[1]:.0f} U/L",
        f"{min(p[1] for p in inside):.0f}",
        f"{max(p[1] for p in inside):.0f}",
        label,
    )
