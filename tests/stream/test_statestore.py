"""The pending-state store between the engine and the Faust table (a dict stands in for the table):
reads see the newest state, flushes write exactly the newest, nothing of another worker's
partitions is ever written, and end markers are never taken for patients."""

from __future__ import annotations

from typing import Any

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
    assert store.dirty == set() and store.latest == {}  # nothing kept twice


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


def test_values_that_need_no_durability_are_read_but_not_written() -> None:
    a, b = key_in(0), key_in(1)
    table: dict[bytes, bytes] = {a: b"v1", b: b"w1"}
    store = StateStore(table, PARTS)
    store.put(a, b"v1 clock moved", durable=False)
    store.put(b, b"w2")
    store.put(b, b"w2 clock moved", durable=False)  # after a durable change: still written
    assert store.get(a) == b"v1 clock moved"
    assert store.write(store.take(), owned=range(PARTS)) == (1, 0, {1})
    assert table == {a: b"v1", b: b"w2 clock moved"}
    assert store.get(a) == b"v1 clock moved"  # still read from memory
    store.put(a, None, durable=False)  # an eviction is always written
    store.write(store.take(), owned=range(PARTS))
    assert a not in table and store.get(a) is None
    assert store.forget() == 0


def test_reads_during_a_chunked_flush_see_values_not_yet_written() -> None:
    keys = [key_in(p, n) for p in range(PARTS) for n in range(3)]
    table: dict[bytes, bytes] = {}
    store = StateStore(table, PARTS)
    for k in keys:
        store.put(k, b"x" * 10)
    parts = store.chunks(store.take(), max_bytes=40)
    assert len(parts) > 2 and all(len(p) >= 1 for p in parts)
    assert sorted(k for p in parts for k in p) == sorted(keys)
    store.write(parts[0], owned=range(PARTS))
    for k in keys:  # written or not yet: every read sees the value
        assert store.get(k) == b"x" * 10
    store.put(keys[-1], b"newer")  # during the flush: next flush, and never overwritten
    for part in parts[1:]:
        store.write(part, owned=range(PARTS))
    assert table[keys[-1]] == b"x" * 10 and store.get(keys[-1]) == b"newer"
    assert store.dirty == {keys[-1]}


def test_forget_drops_everything_unwritten_and_reads_fall_back_to_the_table() -> None:
    a = key_in(0)
    table: dict[bytes, bytes] = {a: b"written"}
    store = StateStore(table, PARTS)
    store.put(a, b"unwritten")
    store.put(key_in(1), b"new")
    assert store.forget() == 2
    assert store.get(a) == b"written" and store.get(key_in(1)) is None
    assert store.take() == {}


value = st.one_of(st.none(), st.binary(min_size=1, max_size=4))
put = st.tuples(st.just("put"), st.integers(0, 7), value, st.booleans())
ops = st.lists(
    st.one_of(
        put,
        # a flush written in chunks of at most n bytes, with these puts arriving meanwhile
        st.tuples(st.just("flush"), st.integers(1, 12), st.lists(put, max_size=4), st.none()),
        st.tuples(st.just("forget"), st.just(0), st.none(), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_reads_always_see_the_last_put_and_flushes_persist_exactly_the_durable_changes(
    steps: list[tuple[str, int, Any, Any]],
) -> None:
    """Any interleaving of puts (durable or not), chunked flushes with puts arriving between
    chunks, and rebalance forgets: get() returns the last value put (or, after a forget, the
    table's); a flush writes exactly the keys put durably (or deleted) before it began, each
    with its newest value at that moment, and leaves every other key of the table alone."""
    table: dict[bytes, bytes] = {}
    store = StateStore(table, PARTS)
    seen: dict[bytes, bytes | None] = {}  # what a read must return
    must_write: set[bytes] = set()  # changed durably since the last flush began

    def do_put(n: int, v: bytes | None, durable: bool) -> None:
        key = f"p{n}".encode()
        store.put(key, v, durable)
        seen[key] = v
        if durable or v is None:
            must_write.add(key)

    def check_reads() -> None:
        for k, v in seen.items():
            assert store.get(k) == v
        live = sorted(k for k, v in seen.items() if v is not None)
        assert sorted(store.keys(range(PARTS))) == live

    for op, n, arg, durable in steps:
        if op == "put":
            do_put(n, arg, durable)
        elif op == "forget":
            store.forget()
            must_write.clear()
            seen = {k: table.get(k) for k in seen}
        else:
            expected = dict(table)
            for k in must_write:
                if seen[k] is None:
                    expected.pop(k, None)
                else:
                    expected[k] = seen[k]  # type: ignore[assignment]
            must_write = set()
            parts = store.chunks(store.take(), max_bytes=n)
            for i, part in enumerate(parts):
                store.write(part, owned=range(PARTS))
                if i == 0:
                    for _, pn, pv, pd in arg:
                        do_put(pn, pv, pd)
                check_reads()
            if not parts:
                for _, pn, pv, pd in arg:
                    do_put(pn, pv, pd)
            assert table == expected
        check_reads()
