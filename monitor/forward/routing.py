"""Which receivers a transition goes to, and how (pure).

Routes are per priority (``routes.high`` pages, ``routes.medium`` goes to a lower-urgency route,
``routes.low`` nowhere, by default). A receiver that was told of an alert must also hear when it
no longer has it, or its page would stay open: so besides the receivers of the transition's
priority (``notify``), a priority change sends ``withdraw`` to the receivers that held the alert
at its former priority and are not routed the new one, and a resolve goes to every receiver that
holds the alert. Who holds an alert follows from the transitions routed before it
(:class:`Holders`, rebuilt from the topic's history when a partition is assigned); when that is
not known (history beyond the topic's retention), every receiver of any route is assumed to.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from monitor.forward.head import Transition
from monitor.forward.settings import PRIORITIES, Routes

Action = Literal["notify", "withdraw"]
PRIORITY_CHANGES = ("escalated", "deescalated")


@dataclass(frozen=True, slots=True)
class Step:
    receiver: str
    action: Action
    held: bool | None = None  # did the receiver hold the alert before? None: not known


def everyone(routes: Routes) -> frozenset[str]:
    return frozenset(r for p in PRIORITIES for r in routes.for_priority(p))


def plan(
    alert: Transition, routes: Routes, holders: frozenset[str] | None
) -> tuple[list[Step], frozenset[str]]:
    """The deliveries of one transition, and who holds the alert after it.

    ``holders`` is who held the alert before this transition (None: not known)."""
    targets = frozenset(routes.for_priority(alert.priority))

    def held(receiver: str) -> bool | None:
        return None if holders is None else receiver in holders

    if alert.status == "resolved":
        previous = holders if holders is not None else everyone(routes)
        return [Step(r, "notify", held(r)) for r in sorted(previous)], frozenset()
    if alert.transition == "opened":
        holders = previous = frozenset()
    elif holders is not None:
        previous = holders
    elif alert.transition in PRIORITY_CHANGES:
        previous = everyone(routes)
    else:
        previous = targets  # same priority as before: held where it is routed
    steps = [Step(r, "notify", held(r)) for r in sorted(targets)]
    steps += [Step(r, "withdraw", held(r)) for r in sorted(previous - targets)]
    return steps, targets


class Holders:
    """What the forwarder remembers of each alert: the highest sequence routed and who holds it.

    A transition whose sequence is not above the remembered one is a redelivery (the worker
    reproduces a transition, with its ``transition_id``, after a crash) or older: it is not
    routed again. Resolved alerts are remembered too, so that a late copy of an earlier
    transition cannot re-open a page. The least recently changed alerts are forgotten beyond
    ``limit``; a forgotten alert's holders fall back to "not known".
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._seen: OrderedDict[str, tuple[int, frozenset[str]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def get(self, alert_id: str) -> frozenset[str] | None:
        known = self._seen.get(alert_id)
        return None if known is None else known[1]

    def route(self, alert: Transition, routes: Routes) -> list[Step] | None:
        """Plan ``alert`` and remember it; None for a redelivered or older transition."""
        known = self._seen.get(alert.alert_id)
        if known is not None and alert.sequence <= known[0]:
            return None
        steps, after = plan(alert, routes, None if known is None else known[1])
        self._seen[alert.alert_id] = (alert.sequence, after)
        self._seen.move_to_end(alert.alert_id)
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return steps
