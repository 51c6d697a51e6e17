"""The client's TFTP (tftpy with ROM options, and the size probe) against pxelab's TFTP server on
loopback, on a free ephemeral port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.client import tftp


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path, bytes]]:
    root = tmp_path / "root"
    root.mkdir()
    data = os.urandom(100_000)
    (root / "nbp.bin").write_bytes(data)
    port = _free_udp_port()
    events = tmp_path / "events"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pxelab", "serve", "--user", "root",
            "--no-proxy", "--tftp-root", str(root),
         "--tftp-port", str(port), "--listen", "127.0.0.1", "--tftp-max-blksize", "1024",
         "--events", str(events)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if tftp.fetch("127.0.0.1", "nbp.bin", port=port, timeout=1, retries=0).found:
                break
            time.sleep(0.2)
        else:
            pytest.fail("pxelab serve --no-proxy did not answer on loopback within 30 s")
        yield port, events, data
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_oack_with_tsize_only_falls_back_to_512(server: tuple[int, Path, bytes]) -> None:
    port, _, data = server
    got = tftp.fetch("127.0.0.1", "nbp.bin", tsize=True, port=port)
    assert got.found and got.data == data and got.tsize == len(data)
    assert got.options_acked == {"tsize": str(len(data))} and got.unrequested == []


def test_blksize_above_the_servers_limit_is_negotiated_down(
        server: tuple[int, Path, bytes]) -> None:
    port, _, data = server
    got = tftp.fetch("127.0.0.1", "nbp.bin", blksize=1432, tsize=True, port=port)
    assert got.found and got.data == data and got.size_ok
    assert got.options_acked["blksize"] == "1024"


def test_size_probe_then_missing_file(server: tuple[int, Path, bytes]) -> None:
    from pxelab.serve.events import read_events

    port, events, data = server
    probe = tftp.tsize_probe("127.0.0.1", "nbp.bin", blksize=1468, abort_code=8, port=port)
    assert probe.answer == "oack" and probe.tsize == len(data)
    assert probe.options["blksize"] == "1024"
    missing = tftp.fetch("127.0.0.1", "nope.bin", tsize=True, blksize=1408, port=port)
    assert not missing.found and missing.error == "file not found"
    assert tftp.tsize_probe("127.0.0.1", "nope.bin", port=port).answer == "error"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        outcomes = [e.get("outcome") for e in read_events(events)
                    if e.get("event") == "transfer" and e.get("file") == "nbp.bin"]
        if "aborted" in outcomes:
            break
        time.sleep(0.1)
    assert "aborted" in outcomes
