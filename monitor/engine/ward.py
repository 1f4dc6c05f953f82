"""Many patients at once: a dict of states and the same step/tick (still pure, no I/O).

Used by ``replay`` and the evaluation tools; the streaming worker keeps states in a table instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.contracts.alerts import Alert
from monitor.contracts.events import Event
from monitor.engine.core import StepResult, step, tick
from monitor.engine.state import PatientState, new_state
from monitor.knowledge.thresholds import ClinicalSettings


@dataclass(slots=True)
class Ward:
    cfg: ClinicalSettings
    states: dict[str, PatientState] = field(default_factory=dict)

    def process(self, event: Event) -> StepResult:
        """Step the event's patient; raises EventRejected for a refused event."""
        state = self.states.get(event.patient_id)
        if state is None:
            state = new_state(event.patient_id)
        result = step(state, event, self.cfg)
        self.states[event.patient_id] = result.state
        return result

    def tick_all(self, now: float) -> list[Alert]:
        """Advance every patient to event time ``now``."""
        out: list[Alert] = []
        for pid in sorted(self.states):
            out.extend(tick(self.states[pid], now, self.cfg))
        return out
