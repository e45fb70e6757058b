"""IDX files, the format of MNIST and Fashion-MNIST (gzip-compressed or not).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian int32 size per dimension, then the values in
row-major order, big-endian. ``load_idx`` reads one into a native-endian
ndarray and refuses a file whose payload is shorter or longer than its header
says; ``save_idx`` writes one.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

#: IDX type code -> big-endian NumPy dtype.
TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read the IDX file at ``path`` (gzip-compressed or not) into an ndarray.

    The result is writable and native-endian, with the file's element type
    (uint8, int8, int16, int32, float32 or float64). A bad magic number, a
    truncated file or trailing bytes raise ``ValueError`` naming the file.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x-idx2-ubyte.gz"
    >>> save_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> load_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    name = os.fspath(path)
    with open(name, "rb") as file:
        data = file.read()
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise ValueError(
                f"load_idx: {name} is not a complete gzip file ({error}); it is "
                "truncated or corrupted"
            ) from error
    return parse_idx(data, name)


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the (uncompressed) bytes of an IDX file; ``name`` is for errors.

    >>> parse_idx(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 1, 0, 255, 255]))
    array([256,  -1], dtype=int16)
    """
    dtype, shape = _header(data, name)
    offset = 4 + 4 * len(shape)
    expected = dtype.itemsize * math.prod(shape)
    present = len(data) - offset
    if present != expected:
        problem = "is truncated" if present < expected else "has trailing bytes"
        raise ValueError(
            f"load_idx: {name} {problem}: its header announces a {dtype.name} "
            f"array of shape {shape} ({expected} bytes), the payload has {present}"
        )
    flat = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=offset)
    return flat.reshape(shape).astype(dtype.newbyteorder("="))  # a writable copy


def _header(data: bytes, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    """Read the magic number and sizes: ``(big-endian dtype, shape)``."""
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in TYPE_CODES:
        codes = ", ".join(f"0x{code:02X}" for code in TYPE_CODES)
        raise ValueError(
            f"load_idx: {name} is not an IDX file: expected a magic number of two "
            f"zero bytes, a type code ({codes}) and a dimension count, got "
            f"{data[:4].hex(' ') or 'an empty file'}"
        )
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(
            f"load_idx: {name} is truncated inside its header ({ndim} sizes "
            f"announced, {len(data) - 4} of {4 * ndim} bytes present)"
        )
    sizes = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    shape = tuple(int(size) for size in sizes)
    if any(size < 0 for size in shape):
        raise ValueError(f"load_idx: {name} has negative sizes in its header {shape}")
    return TYPE_CODES[data[2]], shape


def save_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in .gz.

    ``array`` must have an IDX element type (uint8, int8, int16, int32,
    float32 or float64) and fewer than 256 dimensions.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "y-idx1-ubyte"
    >>> save_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    >>> path.read_bytes().hex(" ")
    '00 00 08 01 00 00 00 03 07 02 01'
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in TYPE_CODES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim > 255:
        raise ValueError(
            "save_idx: expected an array of uint8, int8, int16, int32, float32 or "
            f"float64 with at most 255 dimensions, got {array.dtype} with "
            f"{array.ndim}"
        )
    header = (
        bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    )
    payload = array.astype(TYPE_CODES[code], copy=False).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as out:
        out.write(header + payload)
