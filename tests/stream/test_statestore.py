"""The pending-state store between the engine and the Faust table (a dict stands in for the table):
reads see the newest state, flushes write exactly the newest, nothing of another worker's
partitions is ever written, and end markers are never taken for patients."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.stream.statestore import MARKER_PREFIX, StateStore, marker_keys, partition_of

PARTS = 4


def key_in(partition: int, n: int = 0) -> bytes:
    """The n-th patient key (p0, p1, ...) that lands on ``partition``."""
    found = [k for i in range(200) if partition_of(k := f"p{i}".encode(), PARTS) == partition]
    return found[n]


def test_reads_prefer_pending_over_the_table_and_see_pending_deletions() -> None:
    table: dict[bytes, bytes] = {b"a": b"old", b"b": b"kept"}
    store = StateStore(table, PARTS)
    store.put(b"a", b"new")
    store.put(b"b", None)
    store.put(b"c", b"fresh")
    assert store.get(b"a") == b"new"
    assert store.get(b"b") is None
    assert store.get(b"c") == b"fresh"
    assert store.get(b"zz") is None
    assert table == {b"a": b"old", b"b": b"kept"}  # nothing written before a flush


def test_flush_writes_the_newest_and_deletes_and_reports_partitions() -> None:
    a, b, c = key_in(0), key_in(1), key_in(2)
    table: dict[bytes, bytes] = {a: b"1", b: b"2"}
    store = StateStore(table, PARTS)
    store.put(a, b"1b")
    store.put(a, b"1c")
    store.put(b, None)
    store.put(c, b"3")
    written, dropped, touched = store.write(store.take(), owned={0, 1, 2, 3})
    assert (written, dropped, touched) == (3, 0, {0, 1, 2})
    assert table == {a: b"1c", c: b"3"}
    assert store.pending == {}


def test_states_of_partitions_not_owned_are_dropped_not_written() -> None:
    mine, theirs = key_in(0), key_in(3)
    table: dict[bytes, bytes] = {theirs: b"written by the new owner"}
    store = StateStore(table, PARTS)
    store.put(mine, b"m")
    store.put(theirs, b"stale")
    written, dropped, touched = store.write(store.take(), owned={0})
    assert (written, dropped, touched) == (1, 1, {0})
    assert table[theirs] == b"written by the new owner"


def test_keys_cover_pending_and_written_patients_of_the_asked_partitions_only() -> None:
    a, b, c, d = key_in(0), key_in(0, 1), key_in(1), key_in(0, 2)
    table: dict[bytes, bytes] = {a: b"x", c: b"y", d: b"z"}
    store = StateStore(table, PARTS)
    store.put(b, b"new patient")
    store.put(d, None)  # evicted, not yet flushed
    store.write_markers({0, 1})
    assert sorted(store.keys({0})) == sorted([a, b])
    assert store.keys({1}) == [c]
    assert store.keys({2, 3}) == []


def test_end_markers_land_one_per_partition_and_are_never_patient_keys() -> None:
    for parts in (1, 4, 12, 32):
        keys = marker_keys(parts)
        assert sorted(keys) == list(range(parts))
        for p, key in keys.items():
            assert partition_of(key, parts) == p
            assert key.startswith(MARKER_PREFIX)
            try:
                key.decode("utf-8")
            except UnicodeDecodeError:
                pass  # a patient id is a JSON string: its key is always valid UTF-8
            else:
                raise AssertionError(f"marker key {key!r} is valid UTF-8")
    table: dict[bytes, bytes] = {}
    store = StateStore(table, PARTS)
    assert store.write_markers({1, 3}) == 2
    assert store.write_markers({1}) == 1
    assert table == {store.markers[1]: b"2", store.markers[3]: b"1"}


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.integers(0, 7),
            st.one_of(st.none(), st.binary(min_size=1, max_size=4)),
        ),
        st.tuples(st.just("flush"), st.just(0), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_reads_always_see_the_last_put_and_flushes_persist_exactly_it(
    steps: list[tuple[str, int, bytes | None]],
) -> None:
    """Any interleaving of puts and flushes: get() returns the last value put (None = deleted),
    and after a flush the table holds exactly the live keys with their last values."""
    table: dict[bytes, bytes] = {}
    store = StateStore(table, PARTS)
    model: dict[bytes, bytes | None] = {}
    for op, n, value in steps:
        key = f"p{n}".encode()
        if op == "put":
            store.put(key, value)
            model[key] = value
        else:
            store.write(store.take(), owned=range(PARTS))
            assert table == {k: v for k, v in model.items() if v is not None}
        for k, v in model.items():
            assert store.get(k) == v
        live = sorted(k for k, v in model.items() if v is not None)
        assert sorted(store.keys(range(PARTS))) == live
