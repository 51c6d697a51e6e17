"""Path rules: what is served, what is refused (with which code), and nothing read outside root.

The canary sits outside the root, watched with inotify (IN_OPEN | IN_ACCESS on the file and its
folder): a server that so much as opened it would be caught. The watch is proven live first by
opening the canary from the test itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.wire import tftp as w
from tests.inotify import Watch
from tests.tftp.conftest import make_file
from tests.tftp.raw import RawClient


@pytest.fixture
def canary(tmp_path: Path, tftp_root: Path) -> Iterator[tuple[Path, Watch]]:
    secret = tmp_path / "secret"
    secret.mkdir()
    target = secret / "canary.txt"
    target.write_bytes(b"never serve me\n")
    (tftp_root / "link_out").symlink_to(target)
    (tftp_root / "dirlink").symlink_to(secret)
    (tftp_root / "sub").mkdir()
    watch = Watch(target, secret)
    with open(target, "rb") as f:  # the watch must see a real open, or the test proves nothing
        f.read()
    assert watch.events() > 0
    yield target, watch
    watch.close()


def error_for(port: int, name: str, write: bool = False) -> w.Packet:
    with RawClient(port) as c:
        c.wrq(name) if write else c.rrq(name)
        pkt, _ = c.recv()
    return pkt


REFUSED = [
    ("../secret/canary.txt", w.ERR_ACCESS),
    ("..\\secret\\canary.txt", w.ERR_ACCESS),
    ("sub/../../secret/canary.txt", w.ERR_ACCESS),
    ("\\..\\secret\\canary.txt", w.ERR_ACCESS),
    ("/../secret/canary.txt", w.ERR_ACCESS),
    ("link_out", w.ERR_ACCESS),
    ("dirlink/canary.txt", w.ERR_ACCESS),
    ("sub/../dirlink/canary.txt", w.ERR_ACCESS),
    ("bad\x01name", w.ERR_ACCESS),
    ("bad\x7fname", w.ERR_ACCESS),
    ("a" * 300, w.ERR_ACCESS),
    ("", w.ERR_ACCESS),
    ("sub", w.ERR_ACCESS),
    ("missing.cfg", w.ERR_NOT_FOUND),
]


def test_refusals_and_canary(serve, tftp_root: Path, canary: tuple[Path, Watch]) -> None:
    target, watch = canary
    srv = serve()
    absolute = str(target)  # taken relative to the root: root/tmp/.../canary.txt, missing
    for name, code in [*REFUSED, (absolute, w.ERR_NOT_FOUND)]:
        pkt = error_for(srv.port, name)
        assert isinstance(pkt, w.Error), (name, pkt)
        assert pkt.code == code, (name, pkt)
    assert watch.events() == 0, "the server touched the canary outside its root"
    outcomes = srv.wait_outcomes(len(REFUSED) + 1)
    expected = ["denied" if c == w.ERR_ACCESS else "not_found" for _, c in REFUSED]
    assert [e["outcome"] for e in outcomes] == [*expected, "not_found"]
    assert [e["file"] for e in srv.events("request")] == [n for n, _ in REFUSED] + [absolute]


def test_fifo_in_root_is_refused_without_blocking(serve, tftp_root: Path) -> None:
    os.mkfifo(tftp_root / "pipe")
    srv = serve()
    pkt = error_for(srv.port, "pipe")
    assert isinstance(pkt, w.Error) and pkt.code == w.ERR_ACCESS
    make_file(tftp_root, "after.bin", 1000)
    with RawClient(srv.port) as c:
        assert c.get("after.bin") == (tftp_root / "after.bin").read_bytes()


def test_write_refused_without_upload_dir(serve, tftp_root: Path) -> None:
    srv = serve()
    pkt = error_for(srv.port, "new.bin", write=True)
    assert isinstance(pkt, w.Error) and pkt.code == w.ERR_ACCESS
    assert not (tftp_root / "new.bin").exists()
    (ev,) = srv.wait_outcomes(1)
    assert ev["outcome"] == "denied"


@pytest.mark.parametrize(
    "name",
    ["/hello.txt", "hello.txt", "sub\\hello.txt", "sub/./x/../hello.txt", "//sub//hello.txt",
     "inner_link"],
)
def test_allowed_forms(serve, tftp_root: Path, name: str) -> None:
    make_file(tftp_root, "hello.txt", 700, seed=1)
    make_file(tftp_root, "sub/hello.txt", 900, seed=2)
    (tftp_root / "inner_link").symlink_to(tftp_root / "sub" / "hello.txt")
    srv = serve()
    expected = "sub/hello.txt" if "sub" in name or name == "inner_link" else "hello.txt"
    with RawClient(srv.port) as c:
        assert c.get(name) == (tftp_root / expected).read_bytes()


def test_dnsmasq_style_log_lines(serve, tftp_root: Path, caplog: pytest.LogCaptureFixture
                                 ) -> None:
    make_file(tftp_root, "pxelinux.0", 5000)
    srv = serve()
    with caplog.at_level(logging.INFO, logger="pxelab.tftp"):
        with RawClient(srv.port) as c:
            c.get("pxelinux.0")
        error_for(srv.port, "pxelinux.cfg/C0A80A15")
        srv.wait_outcomes(2)
    root = os.path.abspath(tftp_root)
    messages = [r.getMessage() for r in caplog.records]
    assert f"sent {root}/pxelinux.0 to 127.0.0.1" in messages
    assert f"file {root}/pxelinux.cfg/C0A80A15 not found for 127.0.0.1" in messages


def test_upload_dir(serve, tftp_root: Path, tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import require_tool

    upload = tmp_path / "up"
    upload.mkdir()
    src = tmp_path / "local.bin"
    data = os.urandom(100_001)
    src.write_bytes(data)
    srv = serve(upload_dir=upload)
    res = subprocess.run([require_tool("atftp"), "--option", "blksize 1468", "-p", "-r",
                          "put.bin", "-l", str(src), "127.0.0.1", str(srv.port)],
                         capture_output=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr
    (ev,) = srv.wait_outcomes(1)
    assert ev["outcome"] == "received"
    assert (upload / "put.bin").read_bytes() == data
    assert sorted(p.name for p in upload.iterdir()) == ["put.bin"]
    pkt = error_for(srv.port, "put.bin", write=True)
    assert isinstance(pkt, w.Error) and pkt.code == w.ERR_EXISTS
    pkt = error_for(srv.port, "../escape.bin", write=True)
    assert isinstance(pkt, w.Error) and pkt.code == w.ERR_ACCESS
    assert not (tmp_path / "escape.bin").exists()
