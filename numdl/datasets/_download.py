"""Find, verify and download the files of a data set (shared by its loaders).

A data set ``name`` lives in ``$NUMDL_DATA/<name>/`` when the environment
variable ``NUMDL_DATA`` is set, else in ``~/.numdl/datasets/<name>/``. Every
file is checked against its published MD5 before it is used. A missing file is
downloaded from the first mirror that serves it, into a temporary file that is
renamed only once its checksum matches, so an interrupted or corrupted
download never leaves a file behind that looks complete.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30.0


def data_dir(name: str) -> Path:
    """The directory of data set ``name``: ``$NUMDL_DATA/name`` or the default.

    >>> data_dir("mnist").name
    'mnist'
    """
    root = os.environ.get("NUMDL_DATA")
    if root:
        return Path(root).expanduser() / name
    return Path.home() / ".numdl" / "datasets" / name


def md5sum(path: str | os.PathLike) -> str:
    """The MD5 of the file at ``path`` as hex, read in 1 MiB chunks.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = path.write_bytes(b"")
    >>> md5sum(path)
    'd41d8cd98f00b204e9800998ecf8427e'
    """
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    directory: str | os.PathLike,
    files: Mapping[str, str],
    mirrors: Sequence[str],
    progress: bool = True,
) -> dict[str, Path]:
    """Return ``{file name: path}`` for ``files`` (name -> MD5) in ``directory``.

    Files already there are verified; a mismatch raises ``OSError`` naming the
    file (it is never replaced silently). Missing files are downloaded from
    ``mirrors`` (URL prefixes, tried in order). When no mirror can be reached,
    the ``OSError`` names the directory and every file to place there by hand.

    >>> import tempfile, pathlib
    >>> directory = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (directory / "a.txt").write_bytes(b"")
    >>> paths = fetch(directory, {"a.txt": "d41d8cd98f00b204e9800998ecf8427e"}, [])
    >>> paths["a.txt"] == directory / "a.txt"
    True
    """
    directory = Path(directory)
    missing = [name for name in files if not (directory / name).is_file()]
    for name in files:
        if name not in missing:
            _verify(directory / name, files[name])
    for name in missing:
        _download(directory, name, files[name], mirrors, files, progress)
    return {name: directory / name for name in files}


def _verify(path: Path, md5: str) -> None:
    """Raise ``OSError`` naming ``path`` when its MD5 is not ``md5``."""
    actual = md5sum(path)
    if actual != md5:
        raise OSError(
            f"{path} is corrupted or truncated: its MD5 is {actual}, the published "
            f"one is {md5} ({path.stat().st_size} bytes). Delete it to download it "
            "again, or replace it with an intact copy."
        )


def _download(
    directory: Path,
    name: str,
    md5: str,
    mirrors: Sequence[str],
    files: Mapping[str, str],
    progress: bool,
) -> None:
    """Fetch ``name`` from the first mirror that serves it with the right MD5."""
    _make_directory(directory, files)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            _download_one(url, directory / name, md5, progress)
            return
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"  {url}: {_describe(error)}")
    tried = "\n".join(failures) or "  (no mirror configured)"
    advice = _place_by_hand(directory, files)
    raise OSError(f"could not download {name}; tried:\n{tried}\n{advice}")


def _describe(error: Exception) -> str:
    """A one-line reason for a failed download."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _download_one(url: str, target: Path, md5: str, progress: bool) -> None:
    """Stream ``url`` to a temporary file next to ``target``; rename if intact."""
    from tqdm.auto import tqdm

    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
        ):
            length = response.headers.get("Content-Length")
            with tqdm(
                total=int(length) if length else None,
                desc=target.name,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                disable=not progress,
            ) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise OSError(
                f"checksum mismatch: the download has MD5 {digest.hexdigest()}, "
                f"the published one is {md5}; not saved"
            )
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _make_directory(directory: Path, files: Mapping[str, str]) -> None:
    """Create ``directory`` for downloads, or explain how to fill it by hand."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            f"cannot create {directory} to download into ({error}).\n"
            + _place_by_hand(directory, files)
        ) from error


def _place_by_hand(directory: Path, files: Mapping[str, str]) -> str:
    """The instruction for offline machines: which files go where."""
    names = "\n".join(f"  {name}  (md5 {md5})" for name, md5 in files.items())
    return (
        f"Without network access, place these {len(files)} files in {directory} "
        f"(or set NUMDL_DATA to a directory whose subdirectory {directory.name}/ "
        f"holds them):\n{names}"
    )
