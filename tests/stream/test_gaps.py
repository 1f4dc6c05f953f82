"""Skipped input offsets: every offset jumped over is counted once; replays after a seek back
and the first message after a reset are not gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.stream.gaps import OffsetGaps


def test_consecutive_offsets_are_no_gap() -> None:
    gaps = OffsetGaps()
    assert [gaps.see("t", 0, o) for o in (5, 6, 7)] == [0, 0, 0]


def test_a_jump_of_two_skips_one_offset() -> None:
    gaps = OffsetGaps()
    gaps.see("t", 0, 5)
    assert gaps.see("t", 0, 7) == 1


def test_a_repeated_offset_and_a_step_back_are_replays() -> None:
    gaps = OffsetGaps()
    gaps.see("t", 0, 10)
    assert gaps.see("t", 0, 10) == 0
    assert gaps.see("t", 0, 3) == 0  # seek back to the committed offset
    assert gaps.see("t", 0, 4) == 0
    assert gaps.see("t", 0, 6) == 1  # the replay is watched like any run


def test_partitions_and_topics_are_separate() -> None:
    gaps = OffsetGaps()
    gaps.see("t", 0, 100)
    assert gaps.see("t", 1, 0) == 0
    assert gaps.see("u", 0, 0) == 0
    assert gaps.see("t", 1, 1) == 0


def test_the_first_offset_after_a_reset_is_a_new_baseline() -> None:
    gaps = OffsetGaps()
    gaps.see("t", 0, 5)
    gaps.reset()
    assert gaps.see("t", 0, 500) == 0


runs = st.lists(
    st.tuples(st.integers(0, 1_000), st.integers(1, 30)), min_size=1, max_size=8
)  # (start, length) of each delivered run; a new run starting anywhere at or before the end


@given(runs, st.data())
def test_dropped_offsets_are_counted_exactly(
    spec: list[tuple[int, int]], data: st.DataObject
) -> None:
    """Runs of consecutive offsets, each starting at or before where the last one ended (a
    replay), with some offsets inside the runs never delivered: the count is exactly those."""
    gaps = OffsetGaps()
    counted = dropped = 0
    end = 0
    for i, (start, length) in enumerate(spec):
        first = start if i == 0 else min(start, end)
        offsets = list(range(first, first + length))
        # Any offset but a run's first and last may be lost on the way.
        inner = offsets[1:-1]
        lost = data.draw(st.sets(st.sampled_from(inner))) if inner else set()
        dropped += len(lost)
        for o in offsets:
            if o not in lost:
                counted += gaps.see("t", 0, o)
        end = first + length
    assert counted == dropped
