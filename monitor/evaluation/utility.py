"""A utility score in the style of the PhysioNet/CinC 2019 challenge (Reyna et al., Crit Care
Med 2020; docs/references.md), adapted to NMS.

Every patient is scored hourly from admission to the end of the record. The hourly prediction is
"an alert at ``min_rank`` (medium) or above is open". For a positive patient, with ``d`` the hours
from the time the syndrome is fully established:

- ``d < early`` (default -48 h): an alert costs ``u_fp`` (-0.05), silence costs nothing;
- ``early <= d <= optimal`` (-12 h): an alert earns 0 rising linearly to ``u_tp`` (1);
- ``optimal < d <= late`` (+6 h): an alert earns ``u_tp`` falling to 0; silence costs 0 falling
  linearly to ``u_fn`` (-2): a late or missed alert is penalised far more than a false one;
- ``d > late``: nothing counts either way.
A negative patient's hour with an alert open costs ``u_fp``. The total is normalised as in the
challenge: (observed - no alerts) / (best possible - no alerts), so 1 is perfect, 0 is the same as
never alerting, and below 0 is worse than never alerting.

Why this window: NMS builds up over one to three days (Velamoor 1994; docs/clinical-model.md);
stopping the neuroleptic 12-48 h before the full syndrome is the benefit an early alert buys, and
an alert more than six hours after the syndrome is established adds little to what the bedside
team sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitor.evaluation.episodes import Episode, rank_at
from monitor.evaluation.truth import PatientTruth

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class UtilityWindow:
    early_h: float = -48.0
    optimal_h: float = -12.0
    late_h: float = 6.0
    u_tp: float = 1.0
    u_fp: float = -0.05
    u_fn: float = -2.0
    min_rank: int = 2  # medium


def hour_utility(w: UtilityWindow, positive: bool, d: float | None, alert: bool) -> float:
    """The utility of one hour; ``d`` is hours from establishment (positives only)."""
    if not positive or d is None:
        return w.u_fp if alert else 0.0
    if d < w.early_h:
        return w.u_fp if alert else 0.0
    if d <= w.optimal_h:
        return w.u_tp * (d - w.early_h) / (w.optimal_h - w.early_h) if alert else 0.0
    if d <= w.late_h:
        frac = (d - w.optimal_h) / (w.late_h - w.optimal_h)
        return w.u_tp * (1.0 - frac) if alert else w.u_fn * frac
    return 0.0


def utility(
    truths: dict[str, PatientTruth], eps: dict[str, list[Episode]], w: UtilityWindow
) -> float | None:
    """The normalised utility of the whole cohort; None when nothing could be earned."""
    observed = best = inaction = 0.0
    for pid, truth in truths.items():
        patient_eps = eps.get(pid, [])
        hours = max(0, math.ceil((truth.end_at - truth.admitted_at) / HOUR_S))
        est = truth.established_at if truth.positive else None
        for k in range(hours):
            t = truth.admitted_at + k * HOUR_S
            d = (t - est) / HOUR_S if est is not None else None
            alert = bool(patient_eps) and rank_at(patient_eps, t) >= w.min_rank
            observed += hour_utility(w, truth.positive, d, alert)
            no = hour_utility(w, truth.positive, d, False)
            yes = hour_utility(w, truth.positive, d, True)
            inaction += no
            best += max(no, yes)
    if best == inaction:
        return None
    return (observed - inaction) / (best - inaction)
