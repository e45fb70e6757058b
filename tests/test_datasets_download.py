"""MNIST / Fashion-MNIST loading: local files, checksums, downloads.

Every download goes to an ``http.server`` on 127.0.0.1 started here; the
mirrors of both loaders point at a closed local port in every test, so
nothing here can reach the internet. The data sets are small IDX files
written by the tests, with their own MD5s standing in for the published ones.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from numdl.datasets import _download, fashion_mnist, mnist

NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def idx_gz(array: np.ndarray) -> bytes:
    """A gzip IDX file of a uint8 array, built with struct."""
    header = struct.pack(f">BBBB{array.ndim}i", 0, 0, 8, array.ndim, *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def tiny():
    """A 6-image training set and a 3-image test set of 4x5 images."""
    rng = np.random.default_rng(0)
    arrays = [
        rng.integers(0, 256, (6, 4, 5), dtype=np.uint8),
        rng.integers(0, 10, 6, dtype=np.uint8),
        rng.integers(0, 256, (3, 4, 5), dtype=np.uint8),
        rng.integers(0, 10, 3, dtype=np.uint8),
    ]
    blobs = {name: idx_gz(array) for name, array in zip(NAMES, arrays)}
    return arrays, blobs, {name: md5(blob) for name, blob in blobs.items()}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No proxies, no real mirrors, NUMDL_DATA in a temporary directory."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.setenv("NUMDL_DATA", str(tmp_path / "data"))
    for module in (mnist, fashion_mnist):
        monkeypatch.setattr(module, "MIRRORS", [closed_port_url()])


class Server:
    """A local HTTP server over ``directory``; records the paths requested.

    ``truncate`` names files sent with their full Content-Length but only
    half their bytes (a dropped connection).
    """

    def __init__(self, directory: Path):
        self.requests: list[str] = []
        self.truncate: set[str] = set()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server.requests.append(self.path)
                if self.path.rsplit("/", 1)[-1] not in server.truncate:
                    return super().do_GET()
                data = (directory / self.path.lstrip("/")).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True

        handler = functools.partial(Handler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()


@pytest.fixture
def server(tmp_path, tiny):
    """The tiny data set served at ``server.url`` (under /files/)."""
    root = tmp_path / "www" / "files"
    root.mkdir(parents=True)
    for name, blob in tiny[1].items():
        (root / name).write_bytes(blob)
    running = Server(root.parent)
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()
    running.thread.join()


def place(directory: Path, blobs: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, blob in blobs.items():
        (directory / name).write_bytes(blob)
    return directory


def assert_loaded(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for got, expected in zip((x_train, y_train, x_test, y_test), arrays):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)


def test_published_checksums_and_mirrors():
    # The MD5s the publishers list (LeCun's page via torchvision; Zalando's
    # README), in Keras's order: train images, train labels, test images, labels.
    assert mnist.FILES == {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    assert list(fashion_mnist.FILES) == NAMES
    assert list(fashion_mnist.FILES.values()) == [
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ]
    assert len(fashion_mnist.CLASS_NAMES) == 10


@pytest.mark.parametrize(
    "module, folder", [(mnist, "mnist"), (fashion_mnist, "fashion-mnist")]
)
def test_reads_verified_files_from_numdl_data(
    monkeypatch, tmp_path, tiny, module, folder
):
    arrays, blobs, md5s = tiny
    monkeypatch.setattr(module, "FILES", md5s)
    place(tmp_path / "data" / folder, blobs)
    assert_loaded(module.load_data(), arrays)


def test_default_directory_is_under_home(monkeypatch, tmp_path, tiny):
    arrays, blobs, md5s = tiny
    monkeypatch.delenv("NUMDL_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(mnist, "FILES", md5s)
    place(tmp_path / "home" / ".numdl" / "datasets" / "mnist", blobs)
    assert_loaded(mnist.load_data(), arrays)
    assert_loaded(mnist.load_data(path="mnist.npz"), arrays)  # Keras's default name
    monkeypatch.setenv("NUMDL_DATA", "")  # empty means unset
    assert _download.data_dir("mnist") == tmp_path / "home/.numdl/datasets/mnist"


def test_path_argument_names_the_directory(monkeypatch, tmp_path, tiny):
    arrays, blobs, md5s = tiny
    monkeypatch.setattr(fashion_mnist, "FILES", md5s)
    directory = place(tmp_path / "elsewhere", blobs)
    assert_loaded(fashion_mnist.load_data(path=directory), arrays)
    assert_loaded(fashion_mnist.load_data(path=str(directory)), arrays)


def test_download_fills_the_directory_once(monkeypatch, tmp_path, tiny, server, capsys):
    arrays, blobs, md5s = tiny
    monkeypatch.setattr(mnist, "FILES", md5s)
    monkeypatch.setattr(mnist, "MIRRORS", [server.url])
    assert_loaded(mnist.load_data(), arrays)
    directory = tmp_path / "data" / "mnist"
    assert sorted(p.name for p in directory.iterdir()) == sorted(NAMES)  # no .part
    assert all((directory / n).read_bytes() == blobs[n] for n in NAMES)
    assert sorted(server.requests) == sorted(f"/files/{n}" for n in NAMES)
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # tqdm's bar
    assert_loaded(mnist.load_data(), arrays)
    assert len(server.requests) == 4  # the second load reads the cache


def test_download_only_what_is_missing(monkeypatch, tmp_path, tiny, server):
    arrays, blobs, md5s = tiny
    monkeypatch.setattr(mnist, "FILES", md5s)
    monkeypatch.setattr(mnist, "MIRRORS", [server.url])
    place(tmp_path / "data" / "mnist", {n: blobs[n] for n in NAMES[:3]})
    assert_loaded(mnist.load_data(), arrays)
    assert server.requests == [f"/files/{NAMES[3]}"]


def test_falls_back_to_the_next_mirror(monkeypatch, tiny, server):
    arrays, _, md5s = tiny
    monkeypatch.setattr(fashion_mnist, "FILES", md5s)
    missing = server.url.replace("/files/", "/nothing-here/")  # answers 404
    mirrors = [closed_port_url(), missing, server.url]
    monkeypatch.setattr(fashion_mnist, "MIRRORS", mirrors)
    assert_loaded(fashion_mnist.load_data(), arrays)
    assert server.requests.count(f"/nothing-here/{NAMES[0]}") == 1


def test_checksum_mismatch_saves_nothing(monkeypatch, tmp_path, tiny, server):
    _, _, md5s = tiny
    wrong = dict(md5s, **{NAMES[1]: "0" * 32})
    monkeypatch.setattr(mnist, "FILES", wrong)
    monkeypatch.setattr(mnist, "MIRRORS", [server.url])
    with pytest.raises(OSError, match="checksum mismatch") as error:
        mnist.load_data()
    message = str(error.value)
    assert NAMES[1] in message and md5s[NAMES[1]] in message and "0" * 32 in message
    directory = tmp_path / "data" / "mnist"
    assert sorted(p.name for p in directory.iterdir()) == [NAMES[0]]  # no .part


def test_dropped_connection_saves_nothing(monkeypatch, tmp_path, tiny, server):
    _, _, md5s = tiny
    monkeypatch.setattr(mnist, "FILES", md5s)
    monkeypatch.setattr(mnist, "MIRRORS", [server.url])
    server.truncate.add(NAMES[0])
    with pytest.raises(OSError, match=f"could not download {NAMES[0]}"):
        mnist.load_data()
    assert list((tmp_path / "data" / "mnist").iterdir()) == []


@pytest.mark.parametrize(
    "module, folder", [(mnist, "mnist"), (fashion_mnist, "fashion-mnist")]
)
def test_no_network_names_the_directory_and_the_files(
    monkeypatch, tmp_path, tiny, module, folder
):
    _, blobs, md5s = tiny
    monkeypatch.setattr(module, "FILES", md5s)
    place(tmp_path / "data" / folder, {NAMES[0]: blobs[NAMES[0]]})
    with pytest.raises(OSError) as error:
        module.load_data()
    message = str(error.value)
    assert "Connection refused" in message
    assert f"place these 4 files in {tmp_path / 'data' / folder}" in message
    assert all(name in message for name in NAMES)


def test_no_mirror_at_all(monkeypatch, tiny):
    monkeypatch.setattr(mnist, "FILES", tiny[2])
    monkeypatch.setattr(mnist, "MIRRORS", [])
    with pytest.raises(OSError, match="no mirror configured"):
        mnist.load_data()


def test_unwritable_directory_explains_what_to_do(monkeypatch, tmp_path, tiny):
    monkeypatch.setattr(mnist, "FILES", tiny[2])
    (tmp_path / "a-file").write_bytes(b"")
    monkeypatch.setenv("NUMDL_DATA", str(tmp_path / "a-file"))
    with pytest.raises(OSError, match="cannot create .*a-file/mnist") as error:
        mnist.load_data()
    assert all(name in str(error.value) for name in NAMES)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_local_file_is_reported_not_parsed(
    monkeypatch, tmp_path, tiny, server, damage
):
    arrays, blobs, md5s = tiny
    monkeypatch.setattr(mnist, "FILES", md5s)
    monkeypatch.setattr(mnist, "MIRRORS", [server.url])
    data = bytearray(blobs[NAMES[2]])
    if damage == "truncate":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 1
    directory = place(
        tmp_path / "data" / "mnist", dict(blobs, **{NAMES[2]: bytes(data)})
    )
    with pytest.raises(OSError, match="corrupted or truncated") as error:
        mnist.load_data()
    assert str(directory / NAMES[2]) in str(error.value)
    assert (directory / NAMES[2]).read_bytes() == data  # left for the user to see
    assert server.requests == []


def test_a_bad_file_with_a_matching_checksum_is_still_not_garbage(
    monkeypatch, tmp_path, tiny
):
    """Even when the checksum a caller gives matches, a truncated IDX fails."""
    arrays, blobs, md5s = tiny
    raw = gzip.decompress(blobs[NAMES[0]])[: -4 * 5]  # the last image cut off
    cut = gzip.compress(raw)
    monkeypatch.setattr(mnist, "FILES", dict(md5s, **{NAMES[0]: md5(cut)}))
    directory = place(tmp_path / "data" / "mnist", dict(blobs, **{NAMES[0]: cut}))
    with pytest.raises(ValueError, match="is truncated") as error:
        mnist.load_data()
    assert str(directory / NAMES[0]) in str(error.value)


def test_images_and_labels_must_agree(monkeypatch, tmp_path, tiny):
    arrays, blobs, _ = tiny
    bad = dict(blobs)
    bad[NAMES[3]] = idx_gz(arrays[3][:2])  # 3 test images, 2 labels
    bad[NAMES[1]] = idx_gz(arrays[0])  # training "labels" that are images
    for swap, message in ((NAMES[3], "3 images but .* 2 labels"), (NAMES[1], "1-D")):
        files = dict(blobs, **{swap: bad[swap]})
        monkeypatch.setattr(mnist, "FILES", {n: md5(b) for n, b in files.items()})
        directory = place(tmp_path / "data" / "mnist", files)
        with pytest.raises(ValueError, match=message) as error:
            mnist.load_data()
        assert str(directory / swap) in str(error.value)


def test_md5sum_reads_in_chunks(monkeypatch, tmp_path):
    data = np.random.default_rng(1).bytes(1000)
    (tmp_path / "f").write_bytes(data)
    monkeypatch.setattr(_download, "CHUNK_BYTES", 7)  # 143 chunks, the last short
    assert _download.md5sum(tmp_path / "f") == hashlib.md5(data).hexdigest()
