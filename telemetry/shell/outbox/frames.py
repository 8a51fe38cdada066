"""The outbox's frame format: each entry is one frame, `magic (4) | length (4) | crc32 (4) |
payload`, little-endian, appended with one `write`. A reader walks the frames of a byte
range: a frame whose bytes are all there and whose checksum matches is an entry; a frame
cut short at the end of what was read is `incomplete` (still being written, or torn by a
crash); anything else is corrupt, and the reader skips to the next magic that starts a
good frame, so a damaged stretch costs only itself."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import NamedTuple

import attrs

MAGIC = b"TOB1"
HEADER = struct.Struct("<4sII")
HEADER_SIZE = HEADER.size
# A frame longer than this is not one of ours (a record is a few KiB): a corrupt length.
MAX_PAYLOAD = 64 << 20
_pack = HEADER.pack
_crc32 = zlib.crc32


def encode_frame(payload: bytes) -> bytes:
    """The frame of one entry."""
    return _pack(MAGIC, len(payload), _crc32(payload)) + payload


class Frame(NamedTuple):
    """A whole, checked entry at `start` (offset of its header) ending at `end` (a tuple:
    the courier makes one per entry)."""

    start: int
    end: int
    payload: bytes


@attrs.frozen
class Damaged:
    """Bytes `start`..`end` hold no good frame (a torn write, a flipped bit)."""

    start: int
    end: int


def frames(data: bytes, base: int, final: bool) -> Iterator[Frame | Damaged]:
    """The frames in `data`, read at offset `base` of its segment, in order. A frame cut
    short at the end of `data` (its header, or its payload, is not all there) ends the walk
    unless `final` (nothing more will be written: a sealed segment or a dead process's), where
    it is damaged like any other bad frame."""
    view = memoryview(data)
    size = len(data)
    position = 0
    while position < size:
        if position + HEADER_SIZE <= size:
            magic, length, checksum = HEADER.unpack_from(view, position)
            end = position + HEADER_SIZE + length
            if magic == MAGIC and length <= MAX_PAYLOAD:
                if end <= size and _crc32(view[position + HEADER_SIZE : end]) == checksum:
                    yield Frame(base + position, base + end, data[position + HEADER_SIZE : end])
                    position = end
                    continue
                if end > size and not final:
                    return  # still being written
        elif not final:
            return
        resume = _next_good(data, view, position + 1, final)
        yield Damaged(base + position, base + resume)
        position = resume


def _next_good(data: bytes, view: memoryview, start: int, final: bool) -> int:
    """Where, after `start`, the next frame that checks out starts (or, unless `final`, one
    cut short by the end of `data`); the end of `data` if there is none."""
    size = len(data)
    position = start
    while True:
        position = data.find(MAGIC, position)
        if position < 0:
            return size
        if position + HEADER_SIZE > size:
            return size if final else position
        _, length, checksum = HEADER.unpack_from(view, position)
        end = position + HEADER_SIZE + length
        if length <= MAX_PAYLOAD:
            if end <= size and _crc32(view[position + HEADER_SIZE : end]) == checksum:
                return position
            if end > size and not final:
                return position
        position += 1
