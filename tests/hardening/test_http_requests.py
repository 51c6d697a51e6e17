"""Bad requests to the HTTP server: malformed request lines, oversized heads, unsatisfiable
ranges, and a crowd of idle or slow-dripping connections (slowloris). The server answers each
with its status, stays up and serves the next normal GET; idle sockets are closed by the
header-read deadline, so they cannot pin descriptors for ever.

Malformed input goes out on raw sockets (no client library would send it); normal transfers
are curl's. The server binds 127.0.0.1 only. Nothing here is timed: the speed of a transfer
beside the crowd is benchmarks/reliability.py's HTTP section.
"""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.http.conftest import Running, start_http

pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="needs curl")

CROWD = 1000
MiB = 1 << 20


# ----------------------------------------------------------------------------- helpers


def raw(run: Running, data: bytes, closes: bool = False) -> tuple[int, dict[str, str], bytes]:
    """`data` sent as is on a new connection; the answer's (status, headers, body), read to
    its Content-Length; with `closes`, the server must then close the connection (a request
    that did not parse leaves nothing to read the next one from)."""
    with socket.create_connection(("127.0.0.1", run.server.port), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := s.recv(65536)):
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/"), answer[:200]
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        want = int(headers.get("content-length", "0"))
        while len(body) < want and (chunk := s.recv(65536)):
            body += chunk
        if closes:
            s.settimeout(60)
            assert s.recv(65536) == b"", "the connection stayed open after a bad request"
    return int(lines[0].split()[1]), headers, body


def get(path: str, *headers: str) -> bytes:
    return (
        b"GET "
        + path.encode()
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(h.encode() + b"\r\n" for h in headers)
        + b"Connection: close\r\n\r\n"
    )


def curl_ok(run: Running, name: str = "ok.efi") -> None:
    """The server is up and serves a normal GET, to curl, whole."""
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-o", "-", run.url + "/" + name],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == (run.root / name).read_bytes()


@pytest.fixture
def fd_room() -> Iterator[None]:
    """Descriptors for the crowd: both ends of every connection live in this process. The soft
    limit goes up to the hard one if it is short; with a hard limit too low, skip."""
    need = 2 * CROWD + 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    if soft != infinite and soft < need:
        if hard != infinite and hard < need:
            pytest.skip(f"ulimit -n: hard limit {hard} is below the {need} descriptors needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Crowd:
    """`n` connections that never finish a request head: a third send nothing at all, a third
    a partial request line that then grows a byte at a time, a third a request line and the
    start of a header whose value grows a byte at a time (slowloris)."""

    STARTS = (b"", b"GET /ok", b"GET /ok.efi HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")

    def __init__(self, port: int, n: int) -> None:
        self.socks: list[socket.socket] = []
        self.closed: set[int] = set()
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(self.STARTS[i % 3])
            s.setblocking(False)
            self.socks.append(s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        while not self._stop.wait(0.5):
            for i, s in enumerate(self.socks):
                if i % 3 and i not in self.closed:
                    try:
                        s.send(b"a")
                    except BlockingIOError:
                        pass
                    except OSError:
                        self.closed.add(i)

    def count_closed(self) -> int:
        """How many the server has closed (end of stream or reset; nothing is ever sent)."""
        for i, s in enumerate(self.socks):
            if i in self.closed:
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                self.closed.add(i)
                continue
            assert data == b"", f"the server answered a request head that never ended: {data!r}"
            self.closed.add(i)
        return len(self.closed)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for s in self.socks:
            s.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    """A deadline for liveness only (a generous one: 2 shared cores), never a measurement."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.1)


def counted(run: Running, status: int, n: int = 1) -> None:
    """`n` answers of `status` in the metrics, and (for the refusals of a head) in the server's
    own count of bad requests. aiohttp logs its own answers after it sent them, so the client
    may read one a moment before it is counted."""
    metric = run.metrics.http_requests.labels(str(status))
    wait_for(f"{n} x {status} counted", lambda: metric._value.get() >= n, timeout=30)
    assert metric._value.get() == n
    if status in (400, 414, 431):
        assert run.server.stats["bad"] == n


# ----------------------------------------------------------------------------- requests


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Running]:
    with start_http(tmp_path) as r:
        (r.root / "ok.efi").write_bytes(os.urandom(4096))
        (r.root / "disk.iso").write_bytes(os.urandom(100000))
        yield r


MALFORMED = [
    ("not HTTP at all", b"GARBAGE\r\n\r\n"),
    ("method alone", b"GET\r\n\r\n"),
    ("no HTTP version (HTTP/0.9)", b"GET /ok.efi\r\n\r\n"),
    ("unknown HTTP version", b"GET /ok.efi HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("version without a number", b"GET /ok.efi HTTP/\r\nHost: x\r\n\r\n"),
    ("bare LF line ends", b"GET /ok.efi HTTP/1.1\nHost: x\n\n"),
    ("method with a high byte", b"G\xffT /ok.efi HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("raw NUL in the target", b"GET /ok\x00.efi HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("raw UTF-8 in the target", b"GET /\xc3\xa9.efi HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("target not a path", b"GET ok.efi HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("asterisk target", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("broken percent-escape", b"GET /ok%2.efi HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("header without a colon", b"GET /ok.efi HTTP/1.1\r\nHost x\r\n\r\n"),
    ("folded header line", b"GET /ok.efi HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),
    ("no Host in HTTP/1.1", b"GET /ok.efi HTTP/1.1\r\n\r\n"),
    ("negative Content-Length", b"GET /ok.efi HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    (
        "Content-Length and chunked",
        b"GET /ok.efi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 3\r\n\r\n",
    ),
    ("TLS ClientHello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40),
]


@pytest.mark.parametrize("what,data", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_request_is_400_and_the_server_goes_on(
    run: Running, what: str, data: bytes
) -> None:
    status, headers, _ = raw(run, data, closes=True)
    assert status == 400, what
    assert "content-length" in headers
    counted(run, 400)
    curl_ok(run)


TOO_LARGE = [
    ("one header of 9000 bytes", get("/ok.efi", "X-Big: " + "a" * 9000)),
    ("a header name of 9000 bytes", get("/ok.efi", "X" * 9000 + ": 1")),
    ("100 headers of 100 bytes", get("/ok.efi", *(f"X-{i}: {'a' * 100}" for i in range(100)))),
    ("129 headers", get("/ok.efi", *(f"X-{i}: 1" for i in range(129)))),
    ("a Range of 9000 digits", get("/disk.iso", "Range: bytes=" + "9" * 9000 + "-")),
]


@pytest.mark.parametrize("what,data", TOO_LARGE, ids=[m[0] for m in TOO_LARGE])
def test_headers_over_8k_are_431(run: Running, what: str, data: bytes) -> None:
    status, headers, _ = raw(run, data, closes=True)
    assert status == 431, what
    assert "content-length" in headers
    counted(run, 431)
    curl_ok(run)


def test_request_line_over_8k_is_414(run: Running) -> None:
    status, _, _ = raw(run, get("/" + "a" * 9000), closes=True)
    assert status == 414
    counted(run, 414)
    curl_ok(run)


def test_head_just_under_the_limits_is_served(run: Running) -> None:
    """The limits are not tighter than they say: 7.5 KiB of headers, one header of 8000
    bytes, 100 headers, a request line of 8000 bytes (a long name: 404, not 414)."""
    for data, want in (
        (get("/ok.efi", *(f"X-{i}: {'a' * 70}" for i in range(100))), 200),
        (get("/ok.efi", "X-Big: " + "a" * 8000), 200),
        (get("/ok.efi", *(f"X-{i}: 1" for i in range(100))), 200),
        (get("/" + "a" * 1000 + "%41" * 2300), 403),
    ):
        status, _, body = raw(run, data)
        assert status == want, data[:60]
    assert body.startswith(b"403 name longer than")


RANGES = [
    ("starts at the size", "bytes=100000-"),
    ("starts past the end", "bytes=100001-200000"),
    ("inverted", "bytes=5-2"),
    ("inverted, huge start", "bytes=99999999999999999-5"),
    ("start of 30 digits", "bytes=999999999999999999999999999999-"),
    ("start past 2**64", "bytes=18446744073709551616-18446744073709551617"),
    ("empty suffix", "bytes=-0"),
]


@pytest.mark.parametrize("what,value", RANGES, ids=[r[0] for r in RANGES])
def test_huge_or_inverted_range_is_416(run: Running, what: str, value: str) -> None:
    status, headers, _ = raw(run, get("/disk.iso", f"Range: {value}"))
    assert status == 416, what
    assert headers["content-range"] == "bytes */100000"
    assert headers["content-length"] == str(len(b"416 \n") + len(_416_reason(run)))
    counted(run, 416)
    curl_ok(run, "disk.iso")


def _416_reason(run: Running) -> bytes:
    last = [e for e in run.events("response") if e["status"] == 416][-1]
    return last["outcome"].encode()


def test_huge_range_end_is_clamped_not_refused(run: Running) -> None:
    """An end past the file (any number of digits) is the rest of the file (RFC 9110 14.1.2)."""
    data = (run.root / "disk.iso").read_bytes()
    for value in ("bytes=99990-99999999999999999999999999", "bytes=-99999999999999999999999"):
        status, headers, body = raw(run, get("/disk.iso", f"Range: {value}"))
        assert status == 206, value
        start = 99990 if value.startswith("bytes=9") else 0
        assert body == data[start:]
        assert headers["content-range"] == f"bytes {start}-99999/100000"


# ----------------------------------------------------------------------------- slowloris


def test_256mib_transfer_completes_beside_1000_idle_connections(fd_room, tmp_path: Path) -> None:
    with start_http(tmp_path, header_timeout=600) as run:
        (run.root / "ok.efi").write_bytes(b"small\n")
        digest = hashlib.sha256()
        with open(run.root / "big.img", "wb") as f:
            for _ in range(256):
                chunk = os.urandom(MiB)
                digest.update(chunk)
                f.write(chunk)
        crowd = Crowd(run.server.port, CROWD)
        try:
            wait_for("the server to hold the crowd", lambda: run.server.connections >= CROWD)
            curl = subprocess.Popen(
                ["curl", "-sS", "--max-time", "600", "-o", "-", run.url + "/big.img"],
                stdout=subprocess.PIPE,
            )
            got, n = hashlib.sha256(), 0
            assert curl.stdout is not None
            while chunk := curl.stdout.read(MiB):
                got.update(chunk)
                n += len(chunk)
            assert curl.wait(60) == 0
            assert n == 256 * MiB
            assert got.hexdigest() == digest.hexdigest()
            # the crowd was there all along: nothing was closed to make room
            assert crowd.count_closed() == 0
            assert run.server.connections >= CROWD
            curl_ok(run)
        finally:
            crowd.close()
        wait_for("the crowd's sockets to be let go", lambda: run.server.connections == 0)
        assert run.server.stats["timeouts"] == 0


def test_idle_connections_closed_by_header_timeout(
    fd_room, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pxelab.http")
    # aiohttp's own keep-alive timer must not be what closes them: an hour
    with start_http(tmp_path, header_timeout=1.0, keepalive_timeout=3600) as run:
        (run.root / "ok.efi").write_bytes(b"small\n")
        crowd = Crowd(run.server.port, CROWD)
        try:
            wait_for(
                "the header timeout to close all the crowd", lambda: crowd.count_closed() == CROWD
            )
            wait_for("the server to let their descriptors go", lambda: run.server.connections == 0)
        finally:
            crowd.close()
        assert run.server.stats["timeouts"] == CROWD
        assert run.metrics.http_requests.labels("408")._value.get() == CROWD
        lines = [r for r in caplog.records if "no whole request head in 1 s" in r.getMessage()]
        assert len(lines) == CROWD
        curl_ok(run)  # and a client that sends its request at once is served


def test_kept_alive_connection_waiting_too_long_is_closed(tmp_path: Path) -> None:
    """After an answer, the wait for the next request head is bounded too (keepalive_timeout),
    and such an ordinary end of a kept-alive connection is not counted as a 408."""
    with start_http(tmp_path, header_timeout=3600, keepalive_timeout=1.0) as run:
        (run.root / "ok.efi").write_bytes(b"small\n")
        with socket.create_connection(("127.0.0.1", run.server.port), timeout=30) as s:
            s.sendall(b"GET /ok.efi HTTP/1.1\r\nHost: x\r\n\r\nGET /ok.efi HTTP/1.1\r\nHo")
            answer = b""
            while not answer.endswith(b"small\n"):
                answer += s.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            s.settimeout(120)
            assert s.recv(65536) == b""  # closed, with the second head still unfinished
        wait_for("the server to let it go", lambda: run.server.connections == 0)
        assert run.server.stats["timeouts"] == 0
        assert run.metrics.http_requests.labels("408")._value.get() == 0


# ----------------------------------------------------------------------------- settings


def test_header_timeout_from_toml_and_reload(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pxelab.config.model import ConfigError
    from pxelab.config.tomlconf import read_toml
    from pxelab.serve.http import HttpServer, HttpSettings, http_settings_for
    from pxelab.serve.reload import apply

    root = tmp_path / "tftp"
    root.mkdir()
    conf = tmp_path / "pxelab.toml"
    conf.write_text(f'[tftp]\nroot = "{root}"\n\n[http]\nport = 8080\nheader_timeout = 5\n')
    cfg = read_toml(conf)
    settings = http_settings_for(cfg, root, "127.0.0.1")
    assert settings is not None and settings.header_timeout == 5.0
    assert HttpSettings(root=root).header_timeout == 20.0  # the default, without the key

    # a reload puts a new deadline in force for the connections accepted from then on
    server = SimpleNamespace(cfg=cfg, http=HttpServer(settings))
    conf.write_text(f'[tftp]\nroot = "{root}"\n\n[http]\nport = 8080\nheader_timeout = 2.5\n')
    assert apply(server, read_toml(conf)) == []
    assert server.http.settings.header_timeout == 2.5

    for bad in ("0", "-1", '"20"', "true", "86400"):
        conf.write_text(f"[http]\nport = 8080\nheader_timeout = {bad}\n")
        with pytest.raises(ConfigError, match=r"http\.header_timeout") as err:
            read_toml(conf)
        assert f"{conf}:3:" in str(err.value)
