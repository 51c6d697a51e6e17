"""Protocol behaviour with a raw client that misbehaves on purpose."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import pytest

from pxelab.wire import tftp as w
from tests.conftest import require_tool
from tests.tftp.conftest import make_file
from tests.tftp.raw import RawClient


def test_edk2_tsize_probe_then_download(serve, engine: str, tftp_root: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    data = make_file(tftp_root, "bootx64.efi", 100_000)
    srv = serve(engine=engine)
    with caplog.at_level(logging.INFO, logger="pxelab.tftp"):
        with RawClient(srv.port) as probe:
            probe.rrq("bootx64.efi", {"blksize": "1468", "tsize": "0"})
            oack, _ = probe.recv()
            assert oack == w.OAck({"blksize": "1468", "tsize": "100000"})
            probe.send(w.Error(w.ERR_OPTION, "tsize probe done"))
        with RawClient(srv.port) as real:
            assert real.get("bootx64.efi", {"blksize": "1468", "tsize": "0"}) == data
        first, second = srv.wait_outcomes(2)
    assert (first["outcome"], first.get("error")) == ("aborted", 8)
    assert second["outcome"] == "sent"
    noisy = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO
             and ("error" in r.getMessage().lower() or "abort" in r.getMessage().lower())]
    assert noisy == []


def test_oack_only_carries_requested_options(serve, tftp_root: Path) -> None:
    make_file(tftp_root, "f", 3000)
    srv = serve()
    with RawClient(srv.port) as c:
        c.rrq("f", {"tsize": "0"})
        pkt, _ = c.recv()
        assert pkt == w.OAck({"tsize": "3000"})  # no unrequested blksize (tftpy's bug)
    with RawClient(srv.port) as c:
        c.rrq("f", {"foo": "bar"})  # nothing usable asked: no OACK, data at once
        pkt, _ = c.recv()
        assert isinstance(pkt, w.Data) and pkt.block == 1 and len(pkt.payload) == 512
    with RawClient(srv.port) as c:
        c.rrq("f", {"timeout": "3", "blksize": "100000"})
        pkt, _ = c.recv()
        assert pkt == w.OAck({"timeout": "3", "blksize": "65464"})


@pytest.mark.parametrize(
    ("settings", "oack"),
    [({"mtu": 1000}, {"blksize": "968", "tsize": "3000"}),
     ({"max_blksize": 1024}, {"blksize": "1024", "tsize": "3000"}),
     ({"no_blocksize": True}, {"tsize": "3000"})],
)
def test_blksize_limits(serve, tftp_root: Path, settings: dict[str, object],
                        oack: dict[str, str]) -> None:
    data = make_file(tftp_root, "f", 3000)
    srv = serve(**settings)
    with RawClient(srv.port) as c:
        c.rrq("f", {"blksize": "1468", "tsize": "0"})
        pkt, _ = c.recv()
        assert pkt == w.OAck(oack)
    with RawClient(srv.port) as c:
        assert c.get("f", {"blksize": "1468", "tsize": "0"}) == data


def _collect(c: RawClient, timeout: float) -> list[w.Packet]:
    c.sock.settimeout(timeout)
    got = []
    try:
        while True:
            got.append(c.recv()[0])
    except TimeoutError:
        return got


def test_duplicate_acks_do_not_double_traffic(serve, engine: str, tftp_root: Path) -> None:
    # Sorcerer's Apprentice: every ACK sent twice must not make every block go out twice.
    data = make_file(tftp_root, "f", 512 * 200 + 7)
    srv = serve(engine=engine, timeout=5.0)
    blocks: list[int] = []
    out = bytearray()
    with RawClient(srv.port) as c:
        c.rrq("f")
        while True:
            pkt, _ = c.recv()
            assert isinstance(pkt, w.Data)
            blocks.append(pkt.block)
            if pkt.block == len(blocks):
                out += pkt.payload
            c.ack(pkt.block)
            c.ack(pkt.block)
            if len(pkt.payload) < 512:
                break
        extra = _collect(c, 0.3)
    assert bytes(out) == data
    assert blocks == list(range(1, 202))
    assert extra == []


def test_retransmits_on_timeout_with_bounded_retries(serve, engine: str, tftp_root: Path) -> None:
    make_file(tftp_root, "f", 2000)
    srv = serve(engine=engine, timeout=0.1, retries=3)
    with RawClient(srv.port) as c:
        c.rrq("f")
        # The socket stays open until the server gives up (on a loaded machine that can take
        # longer than the 0.4 s schedule): closed early, it would see "client unreachable".
        (ev,) = srv.wait_outcomes(1)
        got = _collect(c, 0.2)
    assert [p.block for p in got if isinstance(p, w.Data)] == [1, 1, 1, 1]
    assert (ev["outcome"], ev["reason"]) == ("failed", "timeout")


def test_lost_data_is_resent_and_transfer_completes(serve, engine: str, tftp_root: Path) -> None:
    data = make_file(tftp_root, "f", 512 * 3 + 10)
    srv = serve(engine=engine, timeout=0.2)
    with RawClient(srv.port) as c:
        c.rrq("f")
        first, _ = c.recv()
        assert isinstance(first, w.Data) and first.block == 1  # "lost": not acknowledged
        again, _ = c.recv()
        assert again == first
        c.ack(1)
        out = bytearray(first.payload)
        while True:
            pkt, _ = c.recv()
            out += pkt.payload
            c.ack(pkt.block)
            if len(pkt.payload) < 512:
                break
    assert bytes(out) == data


def test_lost_final_ack_is_tolerated(serve, engine: str, tftp_root: Path) -> None:
    data = make_file(tftp_root, "f", 512 * 2 + 100)
    srv = serve(engine=engine, timeout=0.1, retries=2)
    with RawClient(srv.port) as c:
        c.rrq("f")
        out = bytearray()
        while True:
            pkt, _ = c.recv()
            out += pkt.payload
            if len(pkt.payload) < 512:
                break  # the final ACK never leaves
            c.ack(pkt.block)
        resent = _collect(c, 0.6)
    assert bytes(out) == data
    assert resent and all(isinstance(p, w.Data) and p.block == 3 for p in resent)
    (ev,) = srv.wait_outcomes(1)
    assert (ev["outcome"], ev["bytes"], ev["final_ack"]) == ("sent", len(data), False)


def test_client_gone_after_last_block_counts_as_sent(serve, engine: str, tftp_root: Path) -> None:
    make_file(tftp_root, "f", 700)
    # Without noticing the client is gone, 100 retries would take 30 s.
    srv = serve(engine=engine, timeout=0.3, retries=100)
    c = RawClient(srv.port)
    c.rrq("f")
    c.recv()
    c.ack(1)
    c.recv()
    c.close()  # the final ACK is lost and the client is gone: ICMP port unreachable
    t0 = time.monotonic()
    (ev,) = srv.wait_outcomes(1)
    assert ev["outcome"] == "sent" and ev["bytes"] == 700
    assert time.monotonic() - t0 < 10


def test_window_gap_resends_from_first_missing_block(serve, engine: str, tftp_root: Path) -> None:
    data = make_file(tftp_root, "f", 512 * 10 + 1)
    srv = serve(engine=engine, timeout=5.0)
    with RawClient(srv.port) as c:
        c.rrq("f", {"windowsize": "4"})
        assert c.recv()[0] == w.OAck({"windowsize": "4"})
        c.ack(0)
        first = [c.recv()[0] for _ in range(4)]
        assert [p.block for p in first] == [1, 2, 3, 4]
        c.ack(1)  # block 2 "lost": RFC 7440 receivers ACK the last block in order
        again = [c.recv()[0] for _ in range(4)]
        assert [p.block for p in again] == [2, 3, 4, 5]
        out = bytearray(first[0].payload)
        for p in again:
            out += p.payload
        c.ack(5)
        while True:
            pkt, _ = c.recv()
            out += pkt.payload
            if len(pkt.payload) < 512:
                c.ack(pkt.block)
                break
            if pkt.block % 4 == 1:
                c.ack(pkt.block)
    assert bytes(out) == data


def test_duplicate_rrq_starts_one_transfer(serve, tftp_root: Path) -> None:
    make_file(tftp_root, "f", 100)
    srv = serve(timeout=5.0)
    with RawClient(srv.port) as c:
        c.rrq("f", {"tsize": "0"})
        c.rrq("f", {"tsize": "0"})
        c.recv()
        assert _collect(c, 0.3) == []
        c.ack(0)
        pkt, _ = c.recv()
        c.ack(pkt.block)
    assert len(srv.wait_outcomes(1)) == 1
    assert len(srv.events("request")) == 1


def test_malformed_and_odd_requests(serve, tftp_root: Path) -> None:
    make_file(tftp_root, "f", 100)
    srv = serve()
    with RawClient(srv.port) as c:
        c.sock.sendto(b"\x00\x01no-terminator", c.server)
        pkt, _ = c.recv()
        assert isinstance(pkt, w.Error) and pkt.code == w.ERR_ILLEGAL_OP
        c.sock.sendto(b"\x00\x04\x00\x01", c.server)  # an ACK to the listening port
        pkt, _ = c.recv()
        assert isinstance(pkt, w.Error) and pkt.code == w.ERR_UNKNOWN_TID
    with RawClient(srv.port) as c:
        c.rrq("f", mode="mail")
        pkt, _ = c.recv()
        assert isinstance(pkt, w.Error) and pkt.code == w.ERR_ILLEGAL_OP
    with RawClient(srv.port) as c:
        assert len(c.get("f")) == 100


def test_single_port_mode(serve, tftp_root: Path, tmp_path: Path) -> None:
    a = make_file(tftp_root, "a", 512 * 20 + 3, seed=1)
    b = make_file(tftp_root, "b", 512 * 30 + 5, seed=2)
    srv = serve(single_port=True)
    c1, c2 = RawClient(srv.port), RawClient(srv.port)
    try:
        c1.rrq("a")
        c2.rrq("b")
        outs = {c1: bytearray(), c2: bytearray()}
        done: set[RawClient] = set()
        while len(done) < 2:  # interleaved: both transfers share the server's one port
            for c in (c1, c2):
                if c in done:
                    continue
                pkt, addr = c.recv()
                assert addr == ("127.0.0.1", srv.port)
                outs[c] += pkt.payload
                c.ack(pkt.block)
                if len(pkt.payload) < 512:
                    done.add(c)
        assert (bytes(outs[c1]), bytes(outs[c2])) == (a, b)
    finally:
        c1.close()
        c2.close()
    big = make_file(tftp_root, "big", 3_000_001)
    res = subprocess.run([require_tool("atftp"), "--option", "blksize 1468", "--option",
                          "windowsize 8", "-g", "-r", "big", "-l", str(tmp_path / "out"),
                          "127.0.0.1", str(srv.port)], capture_output=True, timeout=60,
                         check=False)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out").read_bytes() == big


def test_max_transfers(serve, engine: str, tftp_root: Path) -> None:
    data = make_file(tftp_root, "f", 1000)
    srv = serve(engine=engine, max_transfers=1, timeout=5.0)
    with RawClient(srv.port) as first, RawClient(srv.port) as second:
        first.rrq("f")
        pkt, _ = first.recv()
        second.rrq("f")
        assert _collect(second, 0.5) == []  # dropped: a ROM retries its request later
        first.ack(pkt.block)
        pkt, _ = first.recv()
        first.ack(pkt.block)
        assert [e["outcome"] for e in srv.wait_outcomes(2)] == ["busy", "sent"]
        second.sock.settimeout(3)
        assert second.get("f") == data


def test_stop_ends_running_transfers(serve, engine: str, tftp_root: Path) -> None:
    make_file(tftp_root, "f", 100_000)
    srv = serve(engine=engine, timeout=30.0)
    with RawClient(srv.port) as c:
        c.rrq("f")
        c.recv()
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 5
    (ev,) = srv.outcomes()
    assert ev["outcome"] == "aborted"


def test_netascii_with_window(serve, engine: str, tftp_root: Path) -> None:
    text = b"menu line\nCR alone\rCRLF\r\n" * 700
    (tftp_root / "menu.cfg").write_bytes(text)
    srv = serve(engine=engine)
    with RawClient(srv.port) as c:
        c.rrq("menu.cfg", {"windowsize": "8", "tsize": "0"}, mode="netascii")
        oack, _ = c.recv()
        converted = text.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")
        assert oack == w.OAck({"windowsize": "8", "tsize": str(len(converted))})
        c.ack(0)
        out = bytearray()
        expect = 1
        while True:
            pkt, _ = c.recv()
            assert isinstance(pkt, w.Data) and pkt.block == expect
            out += pkt.payload
            if len(pkt.payload) < 512 or expect % 8 == 0:
                c.ack(pkt.block)
            if len(pkt.payload) < 512:
                break
            expect += 1
    assert bytes(out) == converted
    (ev,) = srv.wait_outcomes(1)
    assert (ev["outcome"], ev["bytes"]) == ("sent", len(converted))


def test_garbage_never_stops_the_server(serve, engine: str, tftp_root: Path) -> None:
    import random

    data = make_file(tftp_root, "f", 50_000)
    srv = serve(engine=engine, timeout=0.2, retries=1)
    rng = random.Random(69)
    seeds = [w.encode(w.Request(w.RRQ, "f", "octet", {"blksize": "1468", "tsize": "0"})),
             w.encode(w.Request(w.WRQ, "x", "octet")), w.encode_ack(1),
             w.encode(w.Error(8, "x")), w.encode_data(1, b"abc"), b"", b"\x00"]
    with RawClient(srv.port) as c:
        c.sock.setblocking(False)
        for i in range(1500):
            raw = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(0, 3)):
                pos = rng.randrange(len(raw) + 1)
                raw[pos:pos + rng.randint(0, 2)] = rng.randbytes(rng.randint(0, 3))
            target = c.server if i % 3 else (c.peer or c.server)
            c.sock.sendto(bytes(raw), target)
            try:
                while True:
                    _, addr = c.sock.recvfrom(70000)
                    if addr != c.server:
                        c.peer = addr  # later garbage also goes to a transfer's own port
            except BlockingIOError:
                pass
    # The flood overflowed the request queue and started transfers nobody acknowledges (which
    # may fill the transfer cap until they expire): a client repeats its request, as ROMs do,
    # and must then be served as before.
    with RawClient(srv.port) as c:
        assert c.get("f", {"blksize": "1468"}, rrq_tries=20) == data


def test_empty_datagram_does_not_end_a_transfer(serve, engine: str, tftp_root: Path) -> None:
    # A zero-length UDP datagram is legal on the wire; it must not look like the server's own
    # stop signal to the transfer (found by the hardening corpus).
    data = make_file(tftp_root, "f", 512 * 20 + 3)
    srv = serve(engine=engine, timeout=2.0)
    out = bytearray()
    with RawClient(srv.port) as c:
        c.rrq("f")
        while True:
            pkt, _ = c.recv()
            assert isinstance(pkt, w.Data)
            if pkt.block == 1:
                assert c.peer is not None
                c.sock.sendto(b"", c.peer)
            if pkt.block == len(out) // 512 + 1:
                out += pkt.payload
            c.ack(pkt.block)
            if len(pkt.payload) < 512:
                break
    assert bytes(out) == data
    (ev,) = srv.wait_outcomes(1)
    assert ev["outcome"] == "sent"
