"""The forwarder's view of an alert transition: the fields its mappings use.

Validated with the contract's own types (``monitor.contracts.alerts``), so a record without
them, or with a value the contract does not allow, is not an alert (dead-lettered). The rest
(criteria, evidence, trends: most of the bytes) is not parsed: no mapping sends it, and the
webhook forwards the record's bytes unchanged. Parsing a 4 KB transition this way allocates a
few objects instead of hundreds, which keeps the garbage collector out of the delivery path.

:class:`Transition` is what the mappings need: :class:`Head` and the full
:class:`~monitor.contracts.alerts.Alert` both have it.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict

from monitor.contracts.alerts import Priority
from monitor.contracts.alerts import Transition as TransitionName


class Transition(Protocol):
    @property
    def alert_id(self) -> str: ...
    @property
    def transition_id(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def condition(self) -> str: ...
    @property
    def location(self) -> str | None: ...
    @property
    def transition(self) -> TransitionName: ...
    @property
    def status(self) -> Literal["firing", "resolved"]: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def time(self) -> AwareDatetime: ...
    @property
    def opened_at(self) -> AwareDatetime: ...
    @property
    def score(self) -> int: ...
    @property
    def cutoff(self) -> int: ...
    @property
    def acknowledged_by(self) -> str | None: ...
    @property
    def snoozed_until(self) -> AwareDatetime | None: ...


class Head(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    alert_id: str
    transition_id: str
    sequence: int
    patient_id: str
    condition: Literal["nms"]
    location: str | None = None
    transition: TransitionName
    status: Literal["firing", "resolved"]
    priority: Priority
    time: AwareDatetime
    opened_at: AwareDatetime
    score: int
    cutoff: int
    acknowledged_by: str | None = None
    snoozed_until: AwareDatetime | None = None
