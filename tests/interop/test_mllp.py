"""MLLP framing: round trips and chunking invariance as properties, and each kind of bad stream."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.interop.hl7.mllp import Decoder, Frame, Garbage, Item, Oversized, Truncated, frame

MAX = 256
# A payload is any bytes except the two framing bytes (HL7 text never contains them).
payloads = st.binary(max_size=MAX).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b""))


def decode(stream: bytes, cuts: list[int], max_bytes: int = MAX) -> list[Item]:
    """Feed ``stream`` cut at the given positions, then close."""
    dec = Decoder(max_bytes, head_bytes=16)
    out: list[Item] = []
    last = 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}):
        out += dec.feed(stream[last:cut])
        last = cut
    out += dec.feed(stream[last:])
    return out + dec.close()


@settings(max_examples=300, deadline=None)
@given(st.lists(payloads, max_size=6), st.lists(st.integers(min_value=0), max_size=12))
def test_framed_payloads_round_trip_whatever_the_chunking(
    msgs: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(frame(m) for m in msgs)
    assert decode(stream, cuts) == [Frame(m) for m in msgs]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0), max_size=12))
def test_any_bytes_decode_the_same_however_they_are_chunked(stream: bytes, cuts: list[int]) -> None:
    whole = decode(stream, [])
    assert decode(stream, cuts) == whole
    for item in whole:  # nothing held beyond the limit, and every kept head is bounded
        if isinstance(item, Frame):
            assert len(item.payload) <= MAX
        elif isinstance(item, Oversized | Truncated):
            assert len(item.head) <= 16


def test_whitespace_between_frames_is_ignored_and_fs_without_cr_ends_a_frame() -> None:
    stream = b"\r\n\x0bA\x1c\r \n\x0bB\x1c\x0bC\x1c\r"
    assert decode(stream, [3, 9]) == [Frame(b"A"), Frame(b"B"), Frame(b"C")]


def test_bytes_outside_a_frame_are_garbage_counted_once_per_run() -> None:
    stream = b"MSH|not framed\r\x0bA\x1c\rjunk"
    assert decode(stream, [4, 20]) == [Garbage(13), Frame(b"A"), Garbage(4)]


def test_an_oversized_frame_is_discarded_to_its_end_and_the_next_one_survives() -> None:
    big = b"MSH|" + b"x" * 1000
    items = decode(frame(big) + frame(b"small"), [100, 500])
    assert items == [Oversized(len(big), big[:16]), Frame(b"small")]


def test_a_frame_cut_short_by_a_new_one_or_by_the_end_is_truncated() -> None:
    items = decode(b"\x0bMSH|first\x0bMSH|second\x1c\r\x0bMSH|third", [])
    assert items == [Truncated(9, b"MSH|first"), Frame(b"MSH|second"), Truncated(9, b"MSH|third")]


def test_in_frame_tells_whether_a_message_is_pending() -> None:
    dec = Decoder(MAX)
    assert not dec.in_frame
    assert dec.feed(b"\x0bMSH") == []
    assert dec.in_frame
    assert dec.feed(b"|x\x1c") == []  # the <CR> may still follow
    assert dec.feed(b"\r") == [Frame(b"MSH|x")]
    assert not dec.in_frame


def test_a_receiver_can_end_a_garbage_run_to_answer_it_at_once() -> None:
    dec = Decoder(MAX)
    assert dec.feed(b"not framed\r\n") == []
    assert dec.take_garbage() == Garbage(9)  # whitespace is not counted
    assert dec.take_garbage() is None
    assert dec.feed(b"\x0bA\x1c\r") == [Frame(b"A")]
