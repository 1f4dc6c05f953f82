"""Routing per priority, withdrawal from routes a priority change leaves, resolution wherever the
alert is held, and redeliveries dropped (pure).

    opened low ─ escalated medium ─ escalated high ─ acknowledged ─ deescalated medium ─ resolved
    (nowhere)    am, hook            page, am;        page, am       am, hook;            am, hook
                                     withdraw hook                   withdraw page
"""

from __future__ import annotations

import pytest

from monitor.forward.routing import Holders, Step, plan
from monitor.forward.settings import Routes
from tests.forward.kit import lifecycle
from tests.web.factory import alert

ROUTES = Routes(high=("page", "am"), medium=("am", "hook"), low=())


def steps(got: list[Step]) -> list[tuple[str, str]]:
    return [(s.receiver, s.action) for s in got]


def test_a_whole_lifecycle() -> None:
    holders = Holders()
    got = [holders.route(a, ROUTES) for a in lifecycle()]
    assert [steps(s or []) for s in got] == [
        [],
        [("am", "notify"), ("hook", "notify")],
        [("am", "notify"), ("page", "notify"), ("hook", "withdraw")],
        [("am", "notify"), ("page", "notify")],
        [("am", "notify"), ("hook", "notify"), ("page", "withdraw")],
        [("am", "notify"), ("hook", "notify")],  # held there when it resolved
    ]


def test_who_held_it_before_travels_with_each_step() -> None:
    holders = Holders()
    story = lifecycle()
    holders.route(story[0], ROUTES)
    escalated = holders.route(story[1], ROUTES) or []
    assert {s.receiver: s.held for s in escalated} == {"am": False, "hook": False}
    to_high = holders.route(story[2], ROUTES) or []
    assert {s.receiver: s.held for s in to_high} == {"am": True, "page": False, "hook": True}


def test_low_alerts_go_nowhere_and_their_resolve_too() -> None:
    holders = Holders()
    opened = alert("p-2", "low")
    resolved = alert("p-2", "low", "resolved", 2, status="resolved")
    assert holders.route(opened, ROUTES) == []
    assert holders.route(resolved, ROUTES) == []


@pytest.mark.parametrize(
    ("transition", "priority", "expected"),
    [
        # Not known who holds it (e.g. history beyond retention): a priority change withdraws
        # from every other route's receivers; a resolve goes to every receiver of any route.
        ("escalated", "high", [("am", "notify"), ("page", "notify"), ("hook", "withdraw")]),
        ("updated", "medium", [("am", "notify"), ("hook", "notify")]),
        ("resolved", "medium", [("am", "notify"), ("hook", "notify"), ("page", "notify")]),
    ],
)
def test_when_holders_are_not_known(
    transition: str, priority: str, expected: list[tuple[str, str]]
) -> None:
    status = "resolved" if transition == "resolved" else "firing"
    a = alert("p-3", priority, transition, 7, status=status)
    got, _ = plan(a, ROUTES, None)
    assert steps(got) == expected
    assert all(s.held is None for s in got)


def test_a_redelivered_or_older_transition_is_not_routed_again() -> None:
    holders = Holders()
    story = lifecycle()
    for a in story[:3]:
        holders.route(a, ROUTES)
    assert holders.route(story[2], ROUTES) is None  # the worker produced it again after a crash
    assert holders.route(story[1], ROUTES) is None  # older
    assert holders.route(story[3], ROUTES) is not None
    holders.route(story[5], ROUTES)  # resolved
    assert holders.route(story[4], ROUTES) is None  # a late copy cannot re-open a page


def test_memory_is_bounded() -> None:
    holders = Holders(limit=10)
    for i in range(25):
        holders.route(alert(f"p-{i}", "high"), ROUTES)
    assert len(holders) == 10
    assert holders.get(alert("p-0").alert_id) is None  # forgotten: "not known" from now on
    assert holders.get(alert("p-24").alert_id) == frozenset({"page", "am"})
