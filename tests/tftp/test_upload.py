"""Uploads: `pxelab serve --tftp-upload-dir DIR` and TOML `tftp.upload_dir`, with real clients.

Every test runs the `pxelab serve` command on loopback with ephemeral ports, and puts files with
tftp-hpa's `tftp`, atftp and tftpy. New files only: an existing name is ERROR 6 and is left as
it was; a name that leaves the upload directory is ERROR 2 and nothing is written anywhere.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tftpy

from pxelab.serve.events import read_events
from pxelab.wire import tftp as w
from tests.conftest import require_tool
from tests.tftp.raw import RawClient


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path, events: Path) -> None:
        self.proc, self.port, self.log, self.events = proc, port, log, events

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, count: int = 1, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count(needle) < count:
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, f"no {needle!r} in:\n{self.text()}"
            time.sleep(0.05)

    def outcomes(self, n: int, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            got = [e for e in read_events(self.events) if e["event"] == "transfer"
                   and e["file"] != "no-such-probe"]
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


def _wait_answering(srv: Served, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            assert srv.proc.poll() is None, srv.text()
            s.sendto(b"\x00\x01no-such-probe\x00octet\x00", ("127.0.0.1", srv.port))
            with contextlib.suppress(OSError):
                s.recvfrom(600)
                return
    raise AssertionError(f"pxelab serve did not answer:\n{srv.text()}")


@contextlib.contextmanager
def pxelab_serve(tmp_path: Path, *args: str, full: bool = False) -> Iterator[Served]:
    """`pxelab serve` on 127.0.0.1: TFTP alone (`--no-proxy`), or with the proxy (`full`)."""
    port = _free_udp_port()
    log, events = tmp_path / f"serve-{port}.log", tmp_path / f"events-{port}.jsonl"
    argv = [sys.executable, "-m", "pxelab", "serve", "--user", "root", "--listen", "127.0.0.1",
            "--tftp-port", str(port), "--events", str(events), *args]
    if full:
        argv += ["--dhcp-port", str(_free_udp_port()), "--pxe-port", str(_free_udp_port())]
    else:
        argv.append("--no-proxy")
    with open(log, "wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    srv = Served(proc, port, log, events)
    try:
        _wait_answering(srv)
        yield srv
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, srv.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def hpa_put(port: int, local: Path, remote: str) -> str:
    """tftp-hpa's client; it exits 0 even on an ERROR, so its output is what tells."""
    res = subprocess.run([require_tool("tftp"), "-m", "binary", "127.0.0.1", str(port), "-c",
                          "put", str(local), remote], capture_output=True, text=True,
                         timeout=60, check=False)
    return res.stdout + res.stderr


def atftp_put(port: int, local: Path, remote: str, *opts: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("atftp"), *opts, "-p", "-l", str(local), "-r", remote,
                           "127.0.0.1", str(port)], capture_output=True, text=True, timeout=60,
                          check=False)


def tftpy_put(port: int, local: Path, remote: str) -> None:
    tftpy.TftpClient("127.0.0.1", port).upload(remote, str(local), timeout=5)


def _local(tmp_path: Path, name: str, size: int) -> tuple[Path, bytes]:
    import random

    data = random.Random(size).randbytes(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    root, up = tmp_path / "root", tmp_path / "up"
    root.mkdir()
    up.mkdir()
    return root, up


def test_each_client_uploads_byte_for_byte(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, up = dirs
    # 512 * 40 exactly: the transfer ends with an empty DATA block
    files = {name: _local(tmp_path, name, size) for name, size in
             (("hpa.bin", 300_001), ("atftp.bin", 512 * 40), ("tftpy.bin", 70_000))}
    with pxelab_serve(tmp_path, "--tftp-root", str(root), "--tftp-upload-dir", str(up)) as srv:
        assert "Error" not in hpa_put(srv.port, files["hpa.bin"][0], "hpa.bin")
        res = atftp_put(srv.port, files["atftp.bin"][0], "atftp.bin", "--option", "blksize 1468")
        assert res.returncode == 0, res.stderr
        tftpy_put(srv.port, files["tftpy.bin"][0], "/tftpy.bin")  # a leading / is the dir
        events = srv.outcomes(3)
    for name, (_, data) in files.items():
        assert (up / name).read_bytes() == data, name
    assert sorted(p.name for p in up.iterdir()) == sorted(files)  # no .part left behind
    assert not list(root.iterdir())
    assert sorted((e["file"], e["outcome"], e["bytes"]) for e in events) == [
        ("/tftpy.bin", "received", 70_000), ("atftp.bin", "received", 512 * 40),
        ("hpa.bin", "received", 300_001)]
    assert f"received {up}/hpa.bin from 127.0.0.1" in srv.text()


def test_existing_file_and_traversal_refused(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, up = dirs
    keep = up / "keep.bin"
    keep.write_bytes(b"the original\n")
    before = keep.stat()
    local, _ = _local(tmp_path, "local.bin", 5000)
    outside = sorted(p.name for p in tmp_path.iterdir())
    with pxelab_serve(tmp_path, "--tftp-root", str(root), "--tftp-upload-dir", str(up)) as srv:
        assert "Error code 6" in hpa_put(srv.port, local, "keep.bin")
        assert atftp_put(srv.port, local, "keep.bin").returncode != 0
        with pytest.raises(tftpy.TftpException):
            tftpy_put(srv.port, local, "keep.bin")
        for name in ("../escape.bin", "..\\escape.bin", "sub/../../escape.bin",
                     "../root/escape.bin"):
            assert "Error code 2" in hpa_put(srv.port, local, name), name
        with RawClient(srv.port) as c:
            c.wrq("keep.bin")
            pkt, _ = c.recv()
            assert isinstance(pkt, w.Error) and pkt.code == w.ERR_EXISTS
        with RawClient(srv.port) as c:
            c.wrq("../escape.bin")
            pkt, _ = c.recv()
            assert isinstance(pkt, w.Error) and pkt.code == w.ERR_ACCESS
        events = srv.outcomes(9)
    assert keep.read_bytes() == b"the original\n"
    assert keep.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in up.iterdir()) == ["keep.bin"]
    assert not list(root.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(
        ("serve-", "events-"))) == outside
    assert [e["outcome"] for e in events] == ["denied"] * 9


def test_write_refused_without_upload_dir(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, _ = dirs
    local, _ = _local(tmp_path, "local.bin", 1000)
    with pxelab_serve(tmp_path, "--tftp-root", str(root)) as srv:
        assert "Error code 2" in hpa_put(srv.port, local, "new.bin")
        assert atftp_put(srv.port, local, "new2.bin").returncode != 0
        events = srv.outcomes(2)
    assert not list(root.iterdir())
    assert [(e["outcome"], e["reason"]) for e in events] == [
        ("denied", "write requests are not accepted")] * 2


def _toml(path: Path, root: Path, upload: Path | None = None) -> Path:
    # a boot entry: a reload must pass `pxelab check` to be applied
    lines = ["[tftp]", "enabled = true", f'root = "{root}"']
    if upload is not None:
        lines.append(f'upload_dir = "{upload}"')
    lines += ["", "[[boot]]", 'file = "boot.bin"', ""]
    path.write_text("\n".join(lines))
    (root / "boot.bin").write_bytes(b"boot")
    return path


def test_flag_in_full_serve_survives_reload(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, up = dirs
    conf = _toml(tmp_path / "pxelab.toml", root)
    a, data_a = _local(tmp_path, "a.bin", 40_000)
    b, data_b = _local(tmp_path, "b.bin", 1468 * 3)
    with pxelab_serve(tmp_path, "--config", str(conf), "--tftp-upload-dir", str(up),
                      full=True) as srv:
        res = atftp_put(srv.port, a, "a.bin")
        assert res.returncode == 0, res.stderr
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log("reload applied")
        res = atftp_put(srv.port, b, "b.bin", "--option", "blksize 1468")
        assert res.returncode == 0, res.stderr
        srv.outcomes(2)
    assert (up / "a.bin").read_bytes() == data_a
    assert (up / "b.bin").read_bytes() == data_b


def test_toml_upload_dir_follows_reload(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, up = dirs
    up2 = tmp_path / "up2"
    up2.mkdir()
    conf = _toml(tmp_path / "pxelab.toml", root, up)
    local, data = _local(tmp_path, "local.bin", 9000)
    with pxelab_serve(tmp_path, "--config", str(conf), full=True) as srv:
        tftpy_put(srv.port, local, "one.bin")
        _toml(conf, root, up2)
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log("reload applied")
        tftpy_put(srv.port, local, "two.bin")
        # a directory that is not there: the reload is refused, naming the line
        _toml(conf, root, tmp_path / "missing")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(f"reload rejected: {conf}:4: error: tftp.upload_dir: upload directory "
                     f"{tmp_path / 'missing'} does not exist")
        tftpy_put(srv.port, local, "three.bin")
        srv.outcomes(3)
    assert sorted(p.name for p in up.iterdir()) == ["one.bin"]
    assert sorted(p.name for p in up2.iterdir()) == ["three.bin", "two.bin"]
    assert (up2 / "two.bin").read_bytes() == data


def test_bad_upload_dir_is_one_line_exit_2(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, _ = dirs
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    conf = _toml(tmp_path / "pxelab.toml", root)
    base = [sys.executable, "-m", "pxelab", "serve", "--user", "root", "--listen", "127.0.0.1",
            "--tftp-port", str(_free_udp_port()), "--dhcp-port", str(_free_udp_port()),
            "--pxe-port", str(_free_udp_port())]
    cases = [
        (["--no-proxy", "--tftp-root", str(root), "--tftp-upload-dir", str(tmp_path / "nope")],
         f"--tftp-upload-dir: upload directory {tmp_path / 'nope'} does not exist"),
        (["--no-proxy", "--tftp-root", str(root), "--tftp-upload-dir", str(a_file)],
         f"--tftp-upload-dir: upload directory {a_file} is not a directory"),
        (["--config", str(conf), "--tftp-upload-dir", str(tmp_path / "nope")],
         f"--tftp-upload-dir: upload directory {tmp_path / 'nope'} does not exist"),
        (["--config", str(_toml(tmp_path / "bad.toml", root, a_file))],
         f"{tmp_path / 'bad.toml'}:4: tftp.upload_dir: upload directory {a_file} is not a "
         "directory"),
    ]
    for argv, message in cases:
        res = subprocess.run([*base, *argv], capture_output=True, text=True, timeout=30,
                             check=False)
        assert res.returncode == 2, (argv, res.stderr)
        assert res.stderr.strip().splitlines() == [f"pxelab serve: {message}"], argv
