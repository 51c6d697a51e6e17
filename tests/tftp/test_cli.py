"""`pxelab serve --no-proxy`: TFTP alone in the foreground, exit 0 on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pxelab.serve.events import read_events
from tests.conftest import require_tool
from tests.tftp.conftest import make_file


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_answering(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            s.sendto(b"\x00\x01no-such-probe\x00octet\x00", ("127.0.0.1", port))
            try:
                s.recvfrom(600)
                return
            except OSError:
                continue
    raise AssertionError("pxelab serve did not answer")


def test_serve_no_proxy_serves_and_exits_0_on_sigterm(tftp_root: Path, tmp_path: Path) -> None:
    data = make_file(tftp_root, "pxelinux.0", 300_001)
    port = _free_udp_port()
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pxelab", "serve", "--user", "root",
            "--no-proxy", "--tftp-root", str(tftp_root),
         "--listen", "127.0.0.1", "--tftp-port", str(port), "--events", str(events)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_answering(port, proc)
        out = tmp_path / "out"
        res = subprocess.run([require_tool("atftp"), "--option", "blksize 1468", "--option",
                              "tsize 0", "-g", "-r", "pxelinux.0", "-l", str(out), "127.0.0.1",
                              str(port)], capture_output=True, timeout=30, check=False)
        assert res.returncode == 0, res.stderr
        assert out.read_bytes() == data
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert f"sent {tftp_root}/pxelinux.0 to 127.0.0.1" in stderr
    sent = [e for e in read_events(events) if e["event"] == "transfer"
            and e["outcome"] == "sent"]
    assert [(e["file"], e["bytes"], e["blksize"]) for e in sent] == [
        ("pxelinux.0", 300_001, 1468)]


def test_serve_bad_arguments_exit_2(tftp_root: Path) -> None:
    for argv in (["--no-proxy", "--tftp-port", "70000", "--tftp-root", str(tftp_root)],
                 ["--no-proxy", "--tftp-root", str(tftp_root / "missing")],
                 ["--no-proxy"]):
        res = subprocess.run([sys.executable, "-m", "pxelab", "serve", "--user", "root", *argv],
                             capture_output=True, timeout=30, check=False)
        assert res.returncode == 2, (argv, res.stderr)
        assert res.stderr.strip(), argv
