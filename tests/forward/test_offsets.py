"""Offsets are committed only past transitions settled without a gap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.forward.offsets import Offsets

TP = ("nms.alerts", 0)


def test_out_of_order_settlement_commits_only_the_settled_prefix() -> None:
    o = Offsets()
    o.start(TP, 10)
    for off in (10, 11, 12, 14):  # 13 is a gap in the partition (a transaction marker)
        o.read(TP, off)
    assert o.pending == 4
    o.settle(TP, 12)
    o.settle(TP, 11)
    assert o.position(TP) == 10  # 10 still waits
    o.settle(TP, 10)
    assert o.position(TP) == 13 and o.pending == 1
    o.settle(TP, 14)
    assert o.position(TP) == 15 and o.pending == 0


def test_a_revoked_partition_is_forgotten_with_its_pending_transitions() -> None:
    o = Offsets()
    o.start(TP, 0)
    o.read(TP, 0)
    o.read(TP, 1)
    o.settle(TP, 1)
    o.forget([TP])
    assert o.pending == 0 and o.position(TP) is None
    o.settle(TP, 0)  # a delivery finishing after the revocation changes nothing
    assert o.pending == 0


def test_offsets_only_grow() -> None:
    o = Offsets()
    o.start(TP, 0)
    o.read(TP, 5)
    with pytest.raises(ValueError, match="read after"):
        o.read(TP, 5)


@given(st.permutations(list(range(30))), st.integers(0, 30))
def test_the_position_is_always_the_first_unsettled_offset(order: list[int], k: int) -> None:
    o = Offsets()
    o.start(TP, 0)
    for off in range(30):
        o.read(TP, off)
    settled = set(order[:k])
    for off in order[:k]:
        o.settle(TP, off)
    first_open = min(set(range(30)) - settled, default=30)
    assert o.position(TP) == first_open
    assert o.pending == 30 - k
