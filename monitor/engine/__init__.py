"""The pure NMS detection engine: state + event -> new state + alert transitions.

Nothing here imports Faust, Kafka, asyncio or reads the clock; time is always passed in.
"""

from monitor.engine.core import StepResult, is_evictable, step, tick
from monitor.engine.errors import EventRejected, InvariantError
from monitor.engine.serde import dumps_state, loads_state
from monitor.engine.state import PatientState, new_state

__all__ = [
    "EventRejected",
    "InvariantError",
    "PatientState",
    "StepResult",
    "dumps_state",
    "is_evictable",
    "loads_state",
    "new_state",
    "step",
    "tick",
]
