"""`pxelab serve --http-port` / TOML [http]: on with the proxy and TFTP, the TFTP root by
default, privileges dropped, SIGHUP moves the root, metrics count by status."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def world() -> Iterator[Path]:
    """A tree the unprivileged user can read (pytest's tmp_path is root's, mode 0700)."""
    top = Path(tempfile.mkdtemp(prefix="pxelab-http-"))
    os.chmod(top, 0o755)
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("pxelab serve did not answer over HTTP")


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])
    raise AssertionError("no Uid line")


def test_http_from_toml_root_default_reload_and_metrics(world: Path) -> None:
    tftp_root, other = world / "tftp", world / "other"
    for d in (tftp_root, other):
        d.mkdir()
        os.chmod(d, 0o755)
    (tftp_root / "ipxe.efi").write_bytes(b"A" * 1000)
    (other / "ipxe.efi").write_bytes(b"B" * 2000)
    http_port, metrics_port = _free_port(), _free_port()
    conf = world / "pxelab.toml"
    text = (f'[tftp]\nroot = "{tftp_root}"\nport = {_free_port(socket.SOCK_DGRAM)}\n'
            f'[http]\nport = {http_port}\nlisten = "127.0.0.1"\n'
            '[[boot]]\nfile = "ipxe.efi"\n')
    conf.write_text(text)
    os.chmod(conf, 0o644)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pxelab", "serve", "--config", str(conf), "--user", "nobody",
         "--listen", "127.0.0.1", "--dhcp-port", str(_free_port(socket.SOCK_DGRAM)),
         "--pxe-port", str(_free_port(socket.SOCK_DGRAM)),
         "--metrics", f"127.0.0.1:{metrics_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{http_port}/ipxe.efi"
    try:
        _wait(url, proc)
        assert _get(url) == (200, b"A" * 1000)  # the TFTP root, by default
        assert _uid(proc.pid) != 0  # bound as root, serving as nobody
        conf.write_text(text.replace("[http]\n", f'[http]\nroot = "{other}"\n'))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while _get(url)[1] != b"B" * 2000 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _get(url) == (200, b"B" * 2000)
        assert _get(f"http://127.0.0.1:{http_port}/../pxelab.toml")[0] in (403, 404)
        _, body = _get(f"http://127.0.0.1:{metrics_port}/metrics")
        text_m = body.decode()
        assert 'pxelab_http_requests_total{status="200"}' in text_m
        sent = [float(line.split()[1]) for line in text_m.splitlines()
                if line.startswith("pxelab_http_bytes_sent_total ")]
        assert sent and sent[0] >= 3000
        assert "pxelab_http_transfers_in_flight 0.0" in text_m
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert rc == 0, err
    assert f"pxelab-http: sent {tftp_root}/ipxe.efi to 127.0.0.1" in err
    assert f"pxelab-http: sent {other}/ipxe.efi to 127.0.0.1" in err


def test_http_off_by_default(world: Path) -> None:
    from pxelab.config.tomlconf import read_toml

    conf = world / "a.toml"
    conf.write_text(f'[tftp]\nroot = "{world}"\n')
    assert read_toml(conf).http.port is None


def test_http_root_must_be_a_directory(world: Path) -> None:
    from pxelab.config.model import ConfigError
    from pxelab.config.tomlconf import read_toml

    conf = world / "a.toml"
    conf.write_text(f'[http]\nport = 8080\nroot = "{world}/nope"\n')
    with pytest.raises(ConfigError, match=r"http\.root"):
        read_toml(conf)


def test_no_proxy_serves_http_beside_tftp(world: Path) -> None:
    root = world / "tree"
    root.mkdir()
    os.chmod(root, 0o755)
    (root / "snponly.efi").write_bytes(b"S" * 4321)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pxelab", "serve", "--no-proxy", "--user", "nobody",
         "--tftp-root", str(root), "--listen", "127.0.0.1",
         "--tftp-port", str(_free_port(socket.SOCK_DGRAM)), "--http-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/snponly.efi"
    try:
        _wait(url, proc)
        assert _get(url) == (200, b"S" * 4321)
        assert _uid(proc.pid) != 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    assert rc == 0, proc.stderr.read() if proc.stderr else b""
