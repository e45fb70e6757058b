"""IDX files: every element type, gzip or not, and every way a file can be bad.

The files are built byte by byte here with ``struct`` (independently of
``save_idx``), following the format description on Yann LeCun's MNIST page.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from numdl.datasets import idx, load_idx, save_idx

# Type code -> (big-endian struct format of one element, a sample with extremes).
SAMPLES = {
    0x08: ("B", np.array([[0, 1, 127], [128, 254, 255]], dtype=np.uint8)),
    0x09: ("b", np.array([[-128, -1, 0], [1, 100, 127]], dtype=np.int8)),
    0x0B: ("h", np.array([[-32768, -1, 0], [1, 256, 32767]], dtype=np.int16)),
    0x0C: ("i", np.array([[-(2**31), -1, 0], [1, 65536, 2**31 - 1]], dtype=np.int32)),
    0x0D: ("f", np.array([[-np.inf, -1.5, 0.0], [1e-40, 3.25e38, np.nan]], "f4")),
    0x0E: ("d", np.array([[-np.inf, -1.5, 0.0], [5e-324, 1e308, np.nan]], "f8")),
}


def idx_bytes(code: int, fmt: str, array: np.ndarray) -> bytes:
    """An IDX file built with struct: magic, big-endian sizes, big-endian data."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}i", *array.shape)
    return header + struct.pack(f">{array.size}{fmt}", *array.ravel().tolist())


def write(path, data: bytes):
    """Write ``data`` to ``path``, gzip-compressed when the name ends in .gz."""
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_every_type_code_reads_back(tmp_path, code, suffix):
    fmt, expected = SAMPLES[code]
    path = write(tmp_path / f"sample{suffix}", idx_bytes(code, fmt, expected))
    array = load_idx(path)
    assert array.dtype == expected.dtype and array.dtype.isnative
    assert array.shape == expected.shape
    np.testing.assert_array_equal(array, expected)  # NaN equal to NaN
    array[0, 0] = 1  # writable, like Keras's arrays
    assert load_idx(str(path))[0, 0] == expected[0, 0]  # str paths too


def test_known_bytes():
    # Labels 7, 2, 1 (the first MNIST test labels) in a 1-D uint8 file.
    labels = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    assert idx.parse_idx(labels).tolist() == [7, 2, 1]
    # A 1x2 float32 array: 1.0 is 3f800000, -2.0 is c0000000 (IEEE 754).
    floats = bytes.fromhex("00000d02 00000001 00000002 3f800000 c0000000")
    assert idx.parse_idx(floats).tolist() == [[1.0, -2.0]]


def test_shapes_with_zero_and_no_axes(tmp_path):
    empty = np.zeros((0, 28, 28), dtype=np.uint8)
    path = write(tmp_path / "empty.gz", idx_bytes(0x08, "B", empty))
    assert load_idx(path).shape == (0, 28, 28)
    scalar = np.array(3.5, dtype=np.float64)
    path = write(tmp_path / "scalar", idx_bytes(0x0E, "d", scalar))
    assert load_idx(path).shape == () and load_idx(path) == 3.5


def test_matches_the_reference_reader(tmp_path):
    """The reader printed in shared/data/README.md, on an MNIST-like file."""
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = write(tmp_path / "images.gz", idx_bytes(0x08, "B", images))
    with gzip.open(path, "rb") as f:
        buf = f.read()
    ndim = buf[3]
    shape = [int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    reference = np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    np.testing.assert_array_equal(load_idx(path), reference)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda data: data[:-1], "is truncated"),
        (lambda data: data[:13], "is truncated"),  # one byte of the payload left
        (lambda data: data + b"\0", "trailing bytes"),
        (lambda data: data + data, "trailing bytes"),
    ],
)
def test_payload_length_must_match_the_header(tmp_path, suffix, edit, message):
    fmt, array = SAMPLES[0x0C]
    path = write(tmp_path / f"bad-idx2-int{suffix}", edit(idx_bytes(0x0C, fmt, array)))
    with pytest.raises(ValueError, match=message) as error:
        load_idx(path)
    assert str(path) in str(error.value) and "(2, 3)" in str(error.value)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not an IDX file.*empty file"),
        (b"\x00\x00\x08", "not an IDX file"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x00", "not an IDX file.*01 00 08 01"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x00", "not an IDX file.*0x08.*0x0E"),
        (b"PK\x03\x04", "not an IDX file"),  # a zip archive, say
        (b"\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00", "truncated inside its header"),
        (b"\x00\x00\x08\x01\xff\xff\xff\xff", "negative sizes"),
    ],
)
def test_bad_headers(tmp_path, data, message):
    path = write(tmp_path / "bad", data)
    with pytest.raises(ValueError, match=message) as error:
        load_idx(path)
    assert str(path) in str(error.value)


def test_broken_gzip_is_reported_by_name(tmp_path):
    fmt, array = SAMPLES[0x0E]
    compressed = gzip.compress(idx_bytes(0x0E, fmt, array))
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(compressed[:-12])  # the end of the stream is lost
    paths = [truncated]
    for position in (-6, len(compressed) // 2):  # in the stored CRC; in the data
        flipped = bytearray(compressed)
        flipped[position] ^= 0xFF
        paths.append(tmp_path / f"corrupted{position}.gz")
        paths[-1].write_bytes(bytes(flipped))
    for path in paths:
        with pytest.raises(ValueError, match="gzip") as error:
            load_idx(path)
        assert str(path) in str(error.value)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_save_idx_writes_the_format(tmp_path, code, suffix):
    fmt, array = SAMPLES[code]
    path = tmp_path / f"saved{suffix}"
    save_idx(path, array)
    raw = path.read_bytes()
    data = gzip.decompress(raw) if suffix else raw
    assert raw.startswith(b"\x1f\x8b") == bool(suffix)
    assert data == idx_bytes(code, fmt, array)
    np.testing.assert_array_equal(load_idx(path), array)


def test_save_idx_accepts_little_endian_and_rejects_other_types(tmp_path):
    little = np.array([1, -2, 300], dtype="<i4")
    save_idx(tmp_path / "a", little)
    assert (tmp_path / "a").read_bytes()[8:] == struct.pack(">3i", 1, -2, 300)
    for bad in (np.zeros(3, np.float16), np.zeros(3, bool), np.zeros(3, np.int64)):
        with pytest.raises(ValueError, match=f"save_idx.*got {bad.dtype}"):
            save_idx(tmp_path / "b", bad)
