"""A ward whose idle patients wait on disk: memory bounded by the census, not by the history.

A replay of months of a hospital's history meets far more patients than are ever in it at once.
When more than ``limit`` states are in memory, the least recently active ones (oldest clock:
the input is replayed in event-time order, so they have had no event for longest) are written
to a file in the run's temporary directory with ``dumps_state`` and read back with
``loads_state`` when their patient has an event again, or for the final tick. A state round
trips through its bytes without changing any outcome (the SERDE property test), so where a
state waited does not change the output; only the derived caches are rebuilt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import BinaryIO

from monitor.contracts.alerts import Alert
from monitor.contracts.events import Event
from monitor.engine.core import StepResult, step, tick
from monitor.engine.serde import dumps_state, loads_state
from monitor.engine.state import PatientState, new_state
from monitor.engine.ward import Ward
from monitor.knowledge.thresholds import ClinicalSettings

CHECK_EVERY = 20_000  # events between two looks at the number of states in memory


@dataclass(slots=True)
class ColdStates:
    """Serialised states in one append-only file: patient -> (offset, length)."""

    path: str
    index: dict[str, tuple[int, int]] = field(default_factory=dict)
    _fh: BinaryIO | None = None

    def put(self, state: PatientState) -> None:
        if self._fh is None:
            self._fh = open(self.path, "w+b")  # noqa: SIM115 - closed by close()
        data = dumps_state(state)
        offset = self._fh.seek(0, os.SEEK_END)
        self._fh.write(data)
        self.index[state.patient_id] = (offset, len(data))

    def take(self, patient_id: str) -> PatientState | None:
        where = self.index.pop(patient_id, None)
        if where is None or self._fh is None:
            return None
        self._fh.seek(where[0])
        return loads_state(self._fh.read(where[1]))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class SpillingWard(Ward):
    """:class:`~monitor.engine.ward.Ward` with at most about ``limit`` states in memory."""

    __slots__ = ("_cold", "_countdown", "limit")

    def __init__(self, cfg: ClinicalSettings, tmpdir: str, limit: int) -> None:
        super().__init__(cfg)
        self.limit = limit
        self._cold = ColdStates(os.path.join(tmpdir, f"states-{os.getpid()}-{id(self)}"))
        self._countdown = CHECK_EVERY

    def process(self, event: Event) -> StepResult:
        pid = event.patient_id
        state = self.states.get(pid)
        if state is None:
            state = self._cold.take(pid) if self._cold.index else None
            if state is None:
                state = new_state(pid)  # kept only once an event is accepted, as Ward does
            else:
                self.states[pid] = state
        self._countdown -= 1
        if not self._countdown:
            self._countdown = CHECK_EVERY
            if len(self.states) > self.limit:
                self._spill(pid)
        result = step(state, event, self.cfg)
        self.states[pid] = result.state
        return result

    def _spill(self, keep: str) -> None:
        """Write the states idle longest to disk, down to 80 % of the limit."""
        idle = sorted(self.states.values(), key=lambda s: (s.clock or 0.0, s.patient_id))
        for state in idle[: len(self.states) - int(self.limit * 0.8)]:
            if state.patient_id != keep:
                self._cold.put(state)
                del self.states[state.patient_id]

    def patients(self) -> list[str]:
        """Every patient met, in memory or on disk, sorted."""
        return sorted({*self.states, *self._cold.index})

    def tick_one(self, patient_id: str, now: float) -> list[Alert]:
        """:func:`~monitor.engine.core.tick` one patient (a waiting state is read, ticked and
        written back, so memory stays bounded)."""
        state = self.states.get(patient_id)
        if state is not None:
            return tick(state, now, self.cfg)
        state = self._cold.take(patient_id)
        if state is None:
            raise KeyError(patient_id)
        out = tick(state, now, self.cfg)
        self._cold.put(state)
        return out

    def tick_all(self, now: float) -> list[Alert]:
        """As :meth:`Ward.tick_all`, loading waiting states one at a time."""
        out: list[Alert] = []
        for pid in self.patients():
            out.extend(self.tick_one(pid, now))
        return out

    def close(self) -> None:
        self._cold.close()
