"""Helpers for tests that check saved pictures."""

from __future__ import annotations

import struct


def png_size(path):
    """Width and height from the PNG's IHDR chunk, after checking that the
    file is a whole PNG (signature, IHDR first, IEND last, nonzero size)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert data[12:16] == b"IHDR" and data[-8:-4] == b"IEND"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    return width, height
