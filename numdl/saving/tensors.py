"""Named arrays to and from ``.safetensors`` and ``.npz`` streams, validated.

The safetensors format is small enough to write and read here directly: an
8-byte little-endian header length, a JSON header (dtype, shape and byte
range of each tensor, plus a ``__metadata__`` dict of strings), then the raw
little-endian bytes. Writing streams one tensor at a time (no copy of the
whole set), and reading checks every field before allocating anything, so a
hostile header cannot ask for more memory than the file holds. ``.npz``
files are read with ``allow_pickle=False`` after their zip entries are
checked (names, sizes, compression ratio).

Every problem with the data raises ``ValueError`` naming the file.
"""

from __future__ import annotations

import json
import math
import struct
import tokenize
import zipfile
import zlib
from typing import IO, Any

import numpy as np

MAX_HEADER_BYTES = 100 * 2**20  # the safetensors library's own limit
MAX_ENTRIES = 100_000
MAX_DIMS = 32  # NumPy's own limit is 64; no layer weight comes near
MAX_RATIO = 200  # deflate of real weights: ~1.1x; a zip bomb: ~1000x
_CHUNK = 16 * 2**20
# Exceptions the zipfile and zlib modules raise on damaged archives.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    OSError,
    struct.error,
    OverflowError,
    ValueError,
)
_CODES = {
    "BOOL": "|b1",
    "U8": "|u1",
    "I8": "|i1",
    "U16": "<u2",
    "I16": "<i2",
    "F16": "<f2",
    "U32": "<u4",
    "I32": "<i4",
    "F32": "<f4",
    "U64": "<u8",
    "I64": "<i8",
    "F64": "<f8",
}
_CODE_OF = {np.dtype(v).newbyteorder("=").str: k for k, v in _CODES.items()}
ALLOWED_DTYPES = frozenset(np.dtype(v).newbyteorder("=") for v in _CODES.values())


class FileProblem(ValueError):
    """A ``ValueError`` whose message names the file and what is wrong with it.

    >>> str(FileProblem("w.npz", "truncated"))
    "Cannot load 'w.npz': truncated"
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"Cannot load {where!r}: {problem}")


# ------------------------------------------------------------- safetensors
def write_safetensors(
    f: IO[bytes], arrays: dict[str, Any], metadata: dict[str, str] | None = None
) -> None:
    """Write ``arrays`` in the safetensors format, one tensor at a time.

    >>> import io
    >>> buf = io.BytesIO()
    >>> write_safetensors(buf, {"w": np.arange(3, dtype="float32")})
    >>> _ = buf.seek(0); read_safetensors(buf, len(buf.getvalue()), "buf")[0]["w"]
    array([0., 1., 2.], dtype=float32)
    """
    header: dict[str, Any] = {}
    offset = 0
    for name, array in arrays.items():
        code = _CODE_OF.get(np.dtype(array.dtype).newbyteorder("=").str)
        if code is None:
            raise ValueError(f"save: cannot store {name!r} of dtype {array.dtype}")
        size = int(array.nbytes)
        header[name] = {
            "dtype": code,
            "shape": [int(n) for n in array.shape],
            "data_offsets": [offset, offset + size],
        }
        offset += size
    if metadata:
        header["__metadata__"] = dict(metadata)
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # aligned data, as the library writes
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for array in arrays.values():
        _write_raw(f, array)


def _write_raw(f: IO[bytes], array: Any) -> None:
    """Write an array's bytes, little-endian and C-ordered, in chunks."""
    array = np.asarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    view = memoryview(flat)
    for start in range(0, len(view), _CHUNK):
        f.write(view[start : start + _CHUNK])


def read_safetensors(
    f: IO[bytes], size: int, where: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and check a safetensors stream of ``size`` bytes.

    Returns the arrays (in file order) and the ``__metadata__`` dict.

    >>> import io
    >>> try:
    ...     read_safetensors(io.BytesIO(b"12"), 2, "x.safetensors")
    ... except ValueError as e:
    ...     print(e)
    Cannot load 'x.safetensors': truncated safetensors file (2 bytes, the header \
length alone takes 8)
    """
    if size < 8:
        raise FileProblem(
            where,
            f"truncated safetensors file ({size} bytes, the header "
            "length alone takes 8)",
        )
    (n,) = struct.unpack("<Q", _read_exact(f, 8, where))
    if n > MAX_HEADER_BYTES or n > size - 8:
        raise FileProblem(
            where,
            f"safetensors header of {n} bytes is larger than the file "
            f"({size} bytes) or the {MAX_HEADER_BYTES}-byte limit",
        )
    header = parse_json(_read_exact(f, n, where), where, "safetensors header")
    if not isinstance(header, dict):
        raise FileProblem(where, "the safetensors header is not a JSON object")
    metadata = _metadata(header.pop("__metadata__", None), where)
    entries = sorted(
        (_entry(name, value, where) for name, value in header.items()),
        key=lambda e: e[3],
    )
    _check_layout(entries, size - 8 - n, where)
    arrays = {}
    for name, dtype, shape, _begin in entries:
        arrays[name] = _read_array(f, dtype, shape, where)
    return arrays, metadata


def _entry(name: str, value: Any, where: str) -> tuple[str, np.dtype, tuple, int]:
    if not isinstance(value, dict):
        raise FileProblem(where, f"tensor {name!r}: entry is not a JSON object")
    code, shape, offsets = (
        value.get("dtype"),
        value.get("shape"),
        value.get("data_offsets"),
    )
    if not isinstance(code, str) or code not in _CODES:
        raise FileProblem(
            where, f"tensor {name!r}: dtype {code!r} is not one of {sorted(_CODES)}"
        )
    if not _int_list(shape) or not _int_list(offsets) or len(offsets) != 2:
        raise FileProblem(
            where,
            f"tensor {name!r}: shape {shape!r} / data_offsets {offsets!r} "
            "must be lists of non-negative integers (two offsets)",
        )
    if len(shape) > MAX_DIMS:
        raise FileProblem(where, f"tensor {name!r}: {len(shape)} dimensions")
    dtype = np.dtype(_CODES[code])
    begin, end = offsets
    if end - begin != math.prod(shape) * dtype.itemsize:
        raise FileProblem(
            where,
            f"tensor {name!r}: {code} of shape {tuple(shape)} needs "
            f"{math.prod(shape) * dtype.itemsize} bytes but its data_offsets "
            f"span {end - begin}",
        )
    return name, dtype, tuple(shape), begin


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value
    )


def _check_layout(entries: list, data_size: int, where: str) -> None:
    """Tensors must tile the data exactly: no holes, overlaps or tail."""
    position = 0
    for name, dtype, shape, begin in entries:
        if begin != position:
            raise FileProblem(
                where,
                f"tensor {name!r} starts at byte {begin}, expected "
                f"{position} (tensors must follow each other without gaps)",
            )
        position = begin + math.prod(shape) * dtype.itemsize
    if position != data_size:
        raise FileProblem(
            where,
            f"the header describes {position} bytes of tensor data but "
            f"the file holds {data_size} (truncated or padded file)",
        )


def _metadata(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise FileProblem(where, "__metadata__ must map strings to strings")
    return value


def _read_array(f: IO[bytes], dtype: np.dtype, shape: tuple, where: str) -> Any:
    array = np.empty(shape, dtype)
    view = memoryview(array.reshape(-1).view(np.uint8))
    filled = 0
    while filled < len(view):
        got = f.readinto(view[filled : filled + _CHUNK])
        if not got:
            raise FileProblem(where, "truncated tensor data")
        filled += got
    return array.astype(dtype.newbyteorder("="), copy=False)


def _read_exact(f: IO[bytes], n: int, where: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FileProblem(where, f"truncated file: expected {n} more bytes")
    return data


def parse_json(data: bytes, where: str, what: str) -> Any:
    """Decode UTF-8 JSON, turning any decoding problem into ``FileProblem``.

    >>> parse_json(b'{"a": 1}', "f", "config")
    {'a': 1}
    """
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise FileProblem(where, f"{what} is not valid UTF-8 JSON ({e})") from None


# --------------------------------------------------------------------- npz
def write_npz(
    f: IO[bytes], arrays: dict[str, Any], metadata: dict[str, str] | None = None
) -> None:
    """Write ``arrays`` (and ``metadata`` as a uint8 array of JSON) as ``.npz``.

    >>> import io
    >>> buf = io.BytesIO(); write_npz(buf, {"w": np.ones(2)}, {"k": "v"})
    >>> _ = buf.seek(0); read_npz(buf, "buf")
    ({'w': array([1., 1.])}, {'k': 'v'})
    """
    blob = json.dumps(metadata or {}).encode("utf-8")
    np.savez(f, __metadata__=np.frombuffer(blob, np.uint8), **arrays)


def read_npz(f: IO[bytes], where: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and check an ``.npz`` stream (seekable), never unpickling.

    >>> import io
    >>> try:
    ...     read_npz(io.BytesIO(b"not a zip"), "w.npz")
    ... except ValueError as e:
    ...     print(e)
    Cannot load 'w.npz': not a valid .npz (zip) file (File is not a zip file)
    """
    try:
        with zipfile.ZipFile(f) as zf:
            infos = check_zip(zf, where)
            arrays = {}
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise FileProblem(
                        where, f"entry {info.filename!r} is not an .npy array"
                    )
                arrays[info.filename[:-4]] = _npy(zf, info, where)
    except FileProblem:
        raise
    except ZIP_ERRORS as e:
        raise FileProblem(where, f"not a valid .npz (zip) file ({e})") from None
    blob = arrays.pop("__metadata__", None)
    metadata: Any = {}
    if blob is not None:
        if blob.dtype != np.uint8 or blob.ndim != 1:
            raise FileProblem(where, "__metadata__ must be a 1-D uint8 array")
        metadata = _metadata(parse_json(blob.tobytes(), where, "metadata"), where)
    return arrays, metadata


def _npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """One ``.npy`` entry: header checked (dtype, size within the entry) first."""
    name = info.filename
    with zf.open(info) as g:
        dtype, shape, fortran = _npy_header(g, name, where)
        if dtype.newbyteorder("=") not in ALLOWED_DTYPES:
            raise FileProblem(
                where,
                f"array {name!r} has dtype {dtype}: only booleans, integers and "
                "floats are accepted (object arrays are refused: no pickle)",
            )
        if len(shape) > MAX_DIMS:
            raise FileProblem(where, f"array {name!r}: {len(shape)} dimensions")
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise FileProblem(
                where,
                f"array {name!r} claims shape {shape} ({dtype}), more than its "
                f"{info.file_size}-byte entry holds",
            )
        if fortran:
            return _read_array(g, dtype, shape[::-1], where).T
        return _read_array(g, dtype, shape, where)


def _npy_header(g: IO[bytes], name: str, where: str) -> tuple[np.dtype, tuple, bool]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(g)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(g)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(g)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, TypeError, tokenize.TokenError) as e:
        raise FileProblem(where, f"array {name!r}: bad .npy header ({e})") from None
    return np.dtype(dtype), tuple(shape), bool(fortran)


def check_zip(
    zf: zipfile.ZipFile, where: str, allowed: set[str] | None = None
) -> list[zipfile.ZipInfo]:
    """Refuse archives with unsafe names, encryption, odd compression or bombs.

    >>> import io
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z: z.writestr("../evil", b"")
    >>> try:
    ...     check_zip(zipfile.ZipFile(buf), "a.zip")
    ... except ValueError as e:
    ...     print(e)
    Cannot load 'a.zip': unsafe entry name '../evil' (absolute path, '..', \
backslash or control character)
    """
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise FileProblem(where, f"{len(infos)} entries (limit {MAX_ENTRIES})")
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if not _safe_name(name):
            raise FileProblem(
                where,
                f"unsafe entry name {name!r} (absolute path, '..', "
                "backslash or control character)",
            )
        if name in seen:
            raise FileProblem(where, f"entry {name!r} appears twice")
        seen.add(name)
        if allowed is not None and name not in allowed:
            raise FileProblem(
                where, f"unexpected entry {name!r} (expected {sorted(allowed)})"
            )
        _check_entry(info, where)
    return infos


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return (
        bool(name)
        and not name.startswith("/")
        and "\\" not in name
        and ".." not in parts
        and ":" not in parts[0]
        and all(ord(c) >= 32 for c in name)
    )


def _check_entry(info: zipfile.ZipInfo, where: str) -> None:
    if info.flag_bits & 0x1:
        raise FileProblem(where, f"entry {info.filename!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise FileProblem(
            where,
            f"entry {info.filename!r} uses compression method "
            f"{info.compress_type} (only stored and deflate are read)",
        )
    if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(
        info.compress_size, 1
    ):
        raise FileProblem(
            where,
            f"entry {info.filename!r} would expand from "
            f"{info.compress_size} to {info.file_size} bytes (a zip bomb?)",
        )


def read_entry_bytes(zf: zipfile.ZipFile, name: str, limit: int, where: str) -> bytes:
    """The bytes of one (small) entry, refusing entries larger than ``limit``.

    >>> import io
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z: z.writestr("a.json", b"{}")
    >>> read_entry_bytes(zipfile.ZipFile(buf), "a.json", 10, "x.zip")
    b'{}'
    """
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise FileProblem(
            where, f"entry {name!r} is {info.file_size} bytes (limit {limit})"
        )
    return zf.read(info)
