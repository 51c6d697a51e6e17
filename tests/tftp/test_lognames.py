"""Client-chosen names in the log: escaped, cut, one line per request; refusals rate-limited.

A name is the client's text: with a newline or a terminal escape in it, logged raw, it would forge
log lines or repaint the operator's terminal; 60 kB of it would be one 60 kB line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from pxelab.serve.containment import printable
from pxelab.wire import tftp as w
from tests.tftp.conftest import make_file
from tests.tftp.raw import RawClient

LONG = "A" * 5000


def _ask(port: int, name: str) -> w.Packet:
    with RawClient(port) as c:
        c.rrq(name)
        pkt, _ = c.recv()
    return pkt


def _tftp_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pxelab.tftp"
            and "TFTP root is" not in r.getMessage()]


def test_printable_leaves_ordinary_names_alone() -> None:
    for name in ("pxelinux.0", "pxelinux.cfg/C0A80A15", "/srv/tftp/images/tc/core.gz",
                 "pxelinux.cfg/01-00-80-64-71-ab-0a", "Grüße.txt"):
        assert printable(name) == name
    assert printable("a\nb\x1b[2J\\") == "a\\nb\\x1b[2J\\\\"
    assert printable("\x85\x9b\u2028") == "\\x85\\x9b\\u2028"
    cut = printable("\x01" * 500)
    assert cut.endswith("...") and len(cut) <= 103 and "\x01" not in cut


@pytest.mark.parametrize(
    ("name", "code", "shown"),
    [
        ("evil\nsent /etc/shadow to 10.0.0.1", w.ERR_ACCESS, "evil\\nsent /etc/shadow"),
        ("\x1b[2Jclear", w.ERR_ACCESS, "\\x1b[2Jclear"),
        (LONG, w.ERR_ACCESS, "A" * 100 + "..."),
        # C1 controls pass the path rules (not found), and must still not reach a terminal raw
        ("x\x9b2J\x85next", w.ERR_NOT_FOUND, "x\\x9b2J\\x85next"),
    ],
    ids=["newline", "ansi", "long", "c1"],
)
def test_names_logged_escaped_one_line(serve, caplog: pytest.LogCaptureFixture, name: str,
                                       code: int, shown: str) -> None:
    srv = serve()  # a fresh server each: the refusal line is rate-limited per server
    with caplog.at_level(logging.INFO, logger="pxelab.tftp"):
        pkt = _ask(srv.port, name)
        (ev,) = srv.wait_outcomes(1)
    assert isinstance(pkt, w.Error) and pkt.code == code
    lines = _tftp_lines(caplog)
    assert len(lines) == 1, lines
    (line,) = lines
    assert shown in line
    assert line.endswith("for 127.0.0.1" if code == w.ERR_NOT_FOUND else "(1 so far)")
    assert len(line.splitlines()) == 1 and "\x1b" not in line and "\x9b" not in line
    assert len(line) <= 200
    assert line.isprintable()
    assert ev["file"] == name  # the events keep the real name (JSON escapes it)


def test_client_error_message_escaped(serve, tftp_root: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    make_file(tftp_root, "big.bin", 20_000)
    srv = serve()
    with caplog.at_level(logging.INFO, logger="pxelab.tftp"), RawClient(srv.port) as c:
        c.rrq("big.bin")
        pkt, _ = c.recv()
        assert isinstance(pkt, w.Data) and pkt.block == 1
        c.send(w.Error(w.ERR_UNDEFINED, "disk full\nsent /etc/shadow to 10.0.0.1\x1b[2J"))
        (ev,) = srv.wait_outcomes(1)
    assert ev["outcome"] == "aborted"
    lines = [ln for ln in _tftp_lines(caplog) if "received from" in ln]
    assert lines == ["error 0 disk full\\nsent /etc/shadow to 10.0.0.1\\x1b[2J received from "
                     "127.0.0.1"]


def test_refusal_flood_is_one_warning(serve, tftp_root: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    make_file(tftp_root, "pxelinux.0", 100)
    srv = serve()
    with caplog.at_level(logging.INFO, logger="pxelab.tftp"):
        with RawClient(srv.port) as c:
            # 200 traversal attempts in bursts of 50, every one answered with ERROR 2
            for burst in range(4):
                for i in range(50):
                    c.rrq(f"../../etc/passwd{burst * 50 + i}")
                for _ in range(50):
                    pkt, _ = c.recv()
                    assert isinstance(pkt, w.Error) and pkt.code == w.ERR_ACCESS
            # PXELINUX's config search: every miss stays a line of its own
            for n in range(3):
                c.rrq(f"pxelinux.cfg/C0A80A1{n}")
                pkt, _ = c.recv()
                assert isinstance(pkt, w.Error) and pkt.code == w.ERR_NOT_FOUND
        events = srv.wait_outcomes(203)
    lines = _tftp_lines(caplog)
    refused = [ln for ln in lines if ln.startswith("refused access")]
    assert refused == ["refused access to ../../etc/passwd0 for 127.0.0.1: '..' leaves the root "
                       "(1 so far)"]
    root = os.path.abspath(tftp_root)
    assert [ln for ln in lines if "not found" in ln] == [
        f"file {root}/pxelinux.cfg/C0A80A1{n} not found for 127.0.0.1" for n in range(3)]
    denied = [e for e in events if e["outcome"] == "denied"]
    assert sorted(e["file"] for e in denied) == sorted(f"../../etc/passwd{i}" for i in range(200))
    assert srv.server.stats["denied"] == 200
