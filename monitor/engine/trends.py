"""The hourly series an alert carries for trend lines: the same summaries the criteria use.

Hours still inside the criteria's windows come from the live hourly buckets (means; the highest
oral-equivalent temperature); older hours from the values archived when they left the windows
(``PatientState.trend``), back to ``trend_hours``. CK results come from the lab list with the
upper limit of normal each was judged against. Display only: no criterion reads any of this.
"""

from __future__ import annotations

from monitor.contracts.alerts import CkPoint, Trends
from monitor.engine.detectors import ck_uln
from monitor.engine.state import PatientState
from monitor.engine.timeutil import to_datetime
from monitor.knowledge.thresholds import HOUR, ClinicalSettings

SERIES = ("heart_rate", "respiratory_rate", "systolic_bp", "diastolic_bp")


def trends(state: PatientState, now: float, cfg: ClinicalSettings) -> Trends:
    hours = int(cfg.trend_hours)
    last = int(now // HOUR)
    first = last - hours + 1
    span = range(first, last + 1)

    def series(code: str) -> list[float | None]:
        live = state.vitals.get(code, {})
        old = state.trend.get(code, {})
        out: list[float | None] = []
        for h in span:
            b = live.get(h)
            out.append(round(b[1] / b[0], 1) if b is not None else old.get(h))
        return out

    old_temp = state.trend.get("temperature", {})
    temperature: list[float | None] = []
    for h in span:
        tb = state.temps.get(h)
        temperature.append(round(tb.max_oral, 1) if tb is not None else old_temp.get(h))
    ck = [
        CkPoint(time=to_datetime(r[0]), value=round(r[1], 1), uln=ck_uln(state, r[2], cfg)[0])
        for r in state.labs.get("ck", ())
        if first * HOUR <= r[0] <= now
    ]
    return Trends(
        start=to_datetime(first * HOUR),
        hours=hours,
        temperature=temperature,
        ck=ck,
        ck_uln_multiple=cfg.ck_uln_multiple,
        **{code: series(code) for code in SERIES},
    )
