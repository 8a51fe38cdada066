"""The frame format: what is written whole reads back in order; a damaged stretch costs
only the frames it touches; a frame cut short at the end waits while its segment may
still be written and is damaged once it cannot be."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telemetry.shell.outbox.frames import HEADER_SIZE, Damaged, Frame, encode_frame, frames

payloads = st.lists(st.binary(min_size=0, max_size=64), min_size=1, max_size=12)


def _read(data: bytes, final: bool) -> tuple[list[bytes], list[Damaged]]:
    good, bad = [], []
    for item in frames(data, 0, final):
        if isinstance(item, Frame):
            good.append(item.payload)
        else:
            bad.append(item)
    return good, bad


@given(payloads)
def test_frames_written_whole_read_back_in_order(items: list[bytes]) -> None:
    assert _read(b"".join(encode_frame(item) for item in items), final=True) == (items, [])


@given(payloads, st.data())
def test_a_damaged_frame_costs_only_itself(items: list[bytes], data: st.DataObject) -> None:
    encoded = [encode_frame(item) for item in items]
    victim = data.draw(st.integers(0, len(items) - 1))
    position = data.draw(st.integers(0, len(encoded[victim]) - 1))
    damaged = bytearray(encoded[victim])
    damaged[position] ^= 0xFF
    encoded[victim] = bytes(damaged)
    good, bad = _read(b"".join(encoded), final=True)
    assert good == items[:victim] + items[victim + 1 :]
    assert len(bad) == 1 and bad[0].start == sum(len(frame) for frame in encoded[:victim])


@given(payloads, st.data())
def test_a_frame_cut_short_waits_unless_final(items: list[bytes], data: st.DataObject) -> None:
    whole = b"".join(encode_frame(item) for item in items[:-1])
    last = encode_frame(items[-1])
    cut = data.draw(st.integers(1, len(last) - 1))
    torn = whole + last[:cut]
    assert _read(torn, final=False) == (items[:-1], [])
    good, bad = _read(torn, final=True)
    assert good == items[:-1] and [(d.start, d.end) for d in bad] == [(len(whole), len(torn))]


def test_garbage_between_frames_is_one_damaged_stretch() -> None:
    data = encode_frame(b"a") + b"\x00" * (HEADER_SIZE + 5) + encode_frame(b"b")
    good, bad = _read(data, final=True)
    assert good == [b"a", b"b"] and len(bad) == 1
