"""TFTP containment: a traversal corpus is refused with the right code and nothing outside the
root is ever opened.

Outside the root sit a canary file and a FIFO, both watched with inotify (IN_OPEN | IN_ACCESS on
them and on their folder). The watch is proven live by opening the canary from the test first, so
a server that opened either would fail the test; a server that opened the FIFO for reading
without O_NONBLOCK would also hang, which the timeouts catch.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pxelab.wire import tftp as w
from tests.hardening.tftpclient import Client, rrq_bytes
from tests.inotify import Watch

ACCESS, NOT_FOUND, ILLEGAL = w.ERR_ACCESS, w.ERR_NOT_FOUND, w.ERR_ILLEGAL_OP


def corpus(canary: Path) -> list[tuple[str, bytes, set[int]]]:
    """(what, raw RRQ, the error codes that are right for it)."""
    out = [
        ("dot-dot", b"../outside/canary", {ACCESS}),
        ("backslash dot-dot", b"..\\outside\\canary", {ACCESS}),
        ("double slash", b"//../outside/canary", {ACCESS}),
        ("double slash, backslash", b"\\\\..\\\\outside/canary", {ACCESS}),
        ("dot-dot after a folder", b"sub/../../outside/canary", {ACCESS}),
        ("dot-dot x100", b"../" * 100 + b"etc/passwd", {ACCESS}),
        ("dot segments", b"./sub/./../.././outside/canary", {ACCESS}),
        # A leading '/' is relative to the root (dnsmasq does the same): not there.
        ("absolute path of the canary", os.fsencode(canary), {NOT_FOUND}),
        ("absolute /etc/passwd", b"/etc/passwd", {NOT_FOUND}),
        ("percent-encoded dot-dot", b"%2e%2e/outside/canary", {NOT_FOUND}),
        ("overlong UTF-8 slash", b"..\xc0\xafoutside\xc0\xafcanary", {NOT_FOUND}),
        ("symlink out of the root", b"escape", {ACCESS}),
        ("symlinked folder out of the root", b"escape_dir/canary", {ACCESS}),
        ("symlink to /dev/zero", b"zero", {ACCESS}),
        ("symlink to a FIFO outside", b"fifo_link", {ACCESS}),
        ("control character", b"ok\x01.bin", {ACCESS}),
        ("DEL character", b"ok\x7f.bin", {ACCESS}),
        ("name of 513 bytes", b"a" * 513, {ACCESS}),
        ("name of 4000 bytes of ../", b"../" * 1333 + b"x", {ACCESS}),
        ("empty name", b"", {ACCESS}),
        ("a folder", b"sub", {ACCESS}),
    ]
    # NUL inside the name: on the wire the name ends there and the rest is taken as the mode.
    out.append(("NUL in the name", b"ok.bin\x00../outside/canary", {ILLEGAL}))
    out.append(("NUL, then an option without a value", b"../outside/canary\x00octet\x00x",
                {ILLEGAL}))
    return [(what, rrq_bytes(name) if b"\x00" not in name else b"\x00\x01" + name + b"\x00",
             codes) for what, name, codes in out]


@pytest.fixture
def jail(loopback_tftp, tmp_path: Path):
    root = loopback_tftp.root
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary"
    canary.write_bytes(b"never serve me\n")
    fifo = outside / "fifo"
    os.mkfifo(fifo)
    (root / "sub").mkdir()
    (root / "escape").symlink_to(canary)
    (root / "escape_dir").symlink_to(outside)
    (root / "zero").symlink_to("/dev/zero")
    (root / "fifo_link").symlink_to(fifo)
    (root / "ok.bin").write_bytes(os.urandom(5000))
    watch = Watch(outside, canary, fifo)
    canary.read_bytes()  # the watch must see a real open, or the test proves nothing
    assert watch.events() > 0, "inotify did not report the test's own open"
    yield loopback_tftp, canary, watch
    watch.close()


def test_traversal_corpus_refused_canary_never_opened(jail) -> None:
    srv, canary, watch = jail
    wrong = []
    for what, raw, codes in corpus(canary):
        with Client("127.0.0.1", srv.port) as c:
            pkt = c.first_reply(raw)
        if not isinstance(pkt, w.Error) or pkt.code not in codes:
            wrong.append((what, pkt))
    assert not wrong, wrong
    assert watch.events() == 0, "the server opened something outside its root"
    assert srv.alive
    with Client("127.0.0.1", srv.port) as c:
        assert c.get("ok.bin") == (srv.root / "ok.bin").read_bytes()


@pytest.mark.parametrize("count", [300, 3000])
def test_hundreds_of_options(jail, count: int) -> None:
    srv, _, watch = jail
    # Unknown options are ignored; among repeated known ones the first counts.
    opts = [(f"x{i}".encode(), b"1") for i in range(count)]
    opts += [(b"blksize", str(8 + i).encode()) for i in range(count)]
    with Client("127.0.0.1", srv.port) as c:
        pkt = c.first_reply(rrq_bytes(b"ok.bin", opts[: count]))
        # Only unknown options: none to acknowledge, so RFC 2347 says no OACK, plain DATA 1.
        assert isinstance(pkt, w.Data) and pkt.block == 1, pkt
        assert pkt.payload == (srv.root / "ok.bin").read_bytes()[:512]
        c.sock.sendto(w.encode_error(0, "done"), c.peer)
    with Client("127.0.0.1", srv.port) as c:
        pkt = c.first_reply(rrq_bytes(b"ok.bin", opts[count:]))
        assert isinstance(pkt, w.OAck) and pkt.options == {"blksize": "8"}, pkt
        c.sock.sendto(w.encode_error(0, "done"), c.peer)
    with Client("127.0.0.1", srv.port) as c:
        assert c.get("ok.bin", {"blksize": "1024"}) == (srv.root / "ok.bin").read_bytes()
    assert watch.events() == 0
