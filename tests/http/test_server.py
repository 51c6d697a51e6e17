"""pxelab's HTTP server against real curl on 127.0.0.1: what UEFI HTTP Boot and iPXE need."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from tests.http.conftest import Running

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/curl"), reason="needs curl")


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True,
                          timeout=20, check=False)


def status_and_headers(run: Running, path: str, *extra: str) -> tuple[int, dict[str, str]]:
    """curl -I/-D: the status and headers (lower-case names) of one request."""
    out = curl("-o", "/dev/null", "-D", "-", "--path-as-is", *extra, run.url + path)
    lines = out.stdout.decode("latin-1").splitlines()
    assert lines, out.stderr
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def make(run: Running, name: str, size: int) -> bytes:
    data = os.urandom(size)
    path = run.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def test_get_whole_file(http_server: Running, tmp_path) -> None:
    data = make(http_server, "boot/vmlinuz", 3 << 20)
    got = tmp_path / "got"
    out = curl("-o", str(got), "-w", "%{http_code} %{size_download}",
               http_server.url + "/boot/vmlinuz")
    assert out.stdout.decode() == f"200 {len(data)}"
    assert got.read_bytes() == data
    status, headers = status_and_headers(http_server, "/boot/vmlinuz")
    assert status == 200
    assert headers["content-length"] == str(len(data))
    assert headers["accept-ranges"] == "bytes"
    assert http_server.metrics.http_bytes._value.get() >= 2 * len(data)


def test_head_has_length_and_no_body(http_server: Running) -> None:
    make(http_server, "initrd.img", 12345)
    out = curl("-I", "-w", "%{http_code} %{size_download}", http_server.url + "/initrd.img")
    text = out.stdout.decode()
    assert "Content-Length: 12345" in text
    assert text.endswith("200 0")


def test_range_206_and_416(http_server: Running, tmp_path) -> None:
    data = make(http_server, "disk.iso", 100000)
    got = tmp_path / "part"
    out = curl("-o", str(got), "-r", "1000-1999", "-w", "%{http_code}",
               http_server.url + "/disk.iso")
    assert out.stdout.decode() == "206"
    assert got.read_bytes() == data[1000:2000]
    status, headers = status_and_headers(http_server, "/disk.iso", "-r", "-10")
    assert status == 206
    assert headers["content-range"] == "bytes 99990-99999/100000"
    assert headers["content-length"] == "10"
    assert headers["content-type"] == "application/vnd.efi-iso"
    for bad in ("100000-", "5-2", "99999999999999999999999-"):
        status, headers = status_and_headers(http_server, "/disk.iso", "-H", f"Range: bytes={bad}")
        assert status == 416, bad
        assert headers["content-range"] == "bytes */100000"


def test_efi_content_type(http_server: Running) -> None:
    make(http_server, "EFI/BOOT/BOOTX64.EFI", 4096)
    status, headers = status_and_headers(http_server, "/EFI/BOOT/BOOTX64.EFI")
    assert status == 200
    assert headers["content-type"] == "application/efi"


def test_keep_alive_reuses_one_connection(http_server: Running) -> None:
    make(http_server, "a.efi", 10)
    make(http_server, "b.efi", 20)
    out = curl("-v", "-o", "/dev/null", "-o", "/dev/null", http_server.url + "/a.efi",
               http_server.url + "/b.efi")
    assert b"Re-using existing connection" in out.stderr or b"Reusing existing" in out.stderr


@pytest.mark.parametrize("path", ["/../outside/canary", "/%2e%2e/outside/canary",
                                  "/%2E%2E%2Foutside%2Fcanary", "/..%5coutside%5ccanary",
                                  "/sub/../../outside/canary", "/link/canary", "/escape",
                                  "/%00canary", "/%252e%252e/outside/canary"])
def test_traversal_refused(http_server: Running, path: str) -> None:
    (http_server.outside / "canary").write_text("secret")
    (http_server.root / "sub").mkdir()
    (http_server.root / "link").symlink_to(http_server.outside)
    (http_server.root / "escape").symlink_to(http_server.outside / "canary")
    out = curl("--path-as-is", "-w", "%{http_code}", "-o", "-", http_server.url + path)
    body = out.stdout.decode("latin-1")
    assert "secret" not in body
    assert body[-3:] in ("403", "404"), body
    answered = [e for e in http_server.events("response")]
    assert answered[-1]["status"] in (403, 404)
    if body[-3:] == "403":
        assert http_server.server.stats["refused"] >= 1


def test_directory_is_never_a_redirect(http_server: Running) -> None:
    make(http_server, "boot/x.efi", 1)
    for path in ("/boot", "/boot/", "/"):
        status, headers = status_and_headers(http_server, path)
        assert status == 403, path
        assert "location" not in headers
        assert "content-length" in headers


def test_missing_is_404_and_post_405(http_server: Running) -> None:
    status, headers = status_and_headers(http_server, "/nothing.efi")
    assert status == 404
    assert "content-length" in headers
    status, headers = status_and_headers(http_server, "/nothing.efi", "-X", "POST")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


def raw(run: Running, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", run.server.port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_malformed_request_is_400_and_the_server_goes_on(http_server: Running) -> None:
    make(http_server, "ok.efi", 5)
    for junk in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET /ok.efi HTTP/9.9\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40):
        answer = raw(http_server, junk)
        assert answer[:5] == b"HTTP/" and answer[8:13] == b" 400 ", (junk, answer[:80])
        assert b"Content-Length:" in answer.split(b"\r\n\r\n", 1)[0]
    huge = b"GET /ok.efi HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    assert raw(http_server, huge).split(b"\r\n", 1)[0][9:12] in (b"400", b"431")
    assert http_server.server.stats["bad"] >= 5
    assert http_server.metrics.http_requests.labels("400")._value.get() >= 4
    out = curl("-w", "%{http_code}", "-o", "/dev/null", http_server.url + "/ok.efi")
    assert out.stdout.decode() == "200"


def test_in_flight_back_to_zero(http_server: Running) -> None:
    make(http_server, "f.bin", 1 << 20)
    for _ in range(3):
        curl("-o", "/dev/null", http_server.url + "/f.bin")
    assert http_server.metrics.http_in_flight._value.get() == 0
    assert http_server.metrics.http_requests.labels("200")._value.get() == 3


def test_root_switch_leaves_a_send_in_flight_whole(http_server: Running, tmp_path) -> None:
    data = make(http_server, "big.img", 48 << 20)  # more than the socket buffers hold
    other = tmp_path / "other"
    other.mkdir()
    (other / "big.img").write_bytes(b"new")
    got = tmp_path / "got"
    slow = subprocess.Popen(["curl", "-sS", "--limit-rate", "16M", "-o", str(got),
                             http_server.url + "/big.img"])
    deadline = time.monotonic() + 10
    while http_server.metrics.http_in_flight._value.get() < 1:
        assert time.monotonic() < deadline, "the send did not start"
        time.sleep(0.01)
    http_server.loop.call_soon_threadsafe(http_server.server.set_root, other)
    out = curl("-w", "%{http_code}", "-o", "-", http_server.url + "/big.img")
    assert out.stdout == b"new200"
    assert slow.wait(30) == 0
    assert got.read_bytes() == data
