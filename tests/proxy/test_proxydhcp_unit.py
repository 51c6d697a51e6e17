"""The service's per-packet path without sockets: where replies go, and bad packets."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

import pytest

from pxelab.boot.policy import Local
from pxelab.config.dnsmasq import read_dnsmasq_text
from pxelab.serve.proxydhcp import ProxyDhcpServer
from pxelab.wire import dhcp
from tests.proxy.helpers import request

CONF = """\
dhcp-boot=pxelinux.0
pxe-service=x86PC,"net",pxelinux
dhcp-range=192.168.10.20,proxy
"""
LOCAL = Local(IPv4Address("192.168.10.20"), 24, "eth0")


class FakeSock:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int], bool]] = []

    def sendto(self, data: bytes, dest: tuple[str, int]) -> None:
        self.sent.append((data, dest, False))

    def sendmsg(self, bufs: list[bytes], anc: list, flags: int, dest: tuple[str, int]) -> None:
        self.sent.append((bufs[0], dest, bool(anc)))


@pytest.fixture
def server() -> ProxyDhcpServer:
    s = ProxyDhcpServer(read_dnsmasq_text(CONF))
    s._local = lambda ifindex: LOCAL  # type: ignore[method-assign]
    return s


def test_destinations(server: ProxyDhcpServer) -> None:
    sock = FakeSock()
    server._packet(sock, 67, request(), ("0.0.0.0", 68), 2)
    server._packet(sock, 67, request(giaddr="192.168.10.1"), ("192.168.10.1", 67), 2)
    server._packet(sock, 4011, request(3, ciaddr="192.168.10.50", boot_item=(0x8000, 0)),
                   ("192.168.10.50", 68), 2)
    server._packet(sock, 4011, request(3, ciaddr="192.168.10.50"), ("192.168.10.50", 1234), 2)
    dests = [(d, anc) for _, d, anc in sock.sent]
    assert dests == [
        (("255.255.255.255", 68), True),  # broadcast out of the arrival interface
        (("192.168.10.1", 67), False),  # to the relay, port 67
        (("192.168.10.50", 68), False),  # PXEBS: back to the source
        (("192.168.10.50", 1234), False),  # ProxyDHCPREQUEST with ciaddr: ciaddr, src port
    ]
    assert all(dhcp.decode(d).yiaddr in (IPv4Address("0.0.0.0"), IPv4Address("192.168.10.50"))
               for d, _, _ in sock.sent)


def test_malformed_packets_are_counted_and_logged_rate_limited(
    server: ProxyDhcpServer, caplog: pytest.LogCaptureFixture
) -> None:
    sock = FakeSock()
    caplog.set_level(logging.WARNING, "pxelab.proxydhcp")
    good = request()
    for _ in range(3):
        server._packet(sock, 67, good[:243] + b"\x3c\xff", ("10.0.0.9", 68), 2)
        server._packet(sock, 67, b"\x01" * 20, ("10.0.0.9", 68), 2)
    assert server.stats["malformed"] == 6
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 1
    server._packet(sock, 67, good, ("0.0.0.0", 68), 2)  # and it still answers
    assert len(sock.sent) == 1


def test_interface_and_listen_filters() -> None:
    cfg = read_dnsmasq_text(CONF + "interface=eth1\n")
    s = ProxyDhcpServer(cfg)
    s._local = lambda ifindex: LOCAL  # type: ignore[method-assign]
    sock = FakeSock()
    s._packet(sock, 67, request(), ("0.0.0.0", 68), 2)
    assert sock.sent == []  # arrived on eth0, configured for eth1 only
    s = ProxyDhcpServer(read_dnsmasq_text(CONF), listen="192.168.10.99")
    s._local = lambda ifindex: LOCAL  # type: ignore[method-assign]
    s._packet(sock, 67, request(), ("0.0.0.0", 68), 2)
    assert sock.sent == []


class QueueSock(FakeSock):
    """recvmsg hands out queued datagrams, then stops the server's loop."""

    def __init__(self, server: ProxyDhcpServer, packets: list[tuple[bytes, tuple[str, int]]]):
        super().__init__()
        self.server = server
        self.queue = list(packets)

    def recvmsg(self, size: int, ancsize: int) -> tuple[bytes, list, int, tuple[str, int]]:
        if not self.queue:
            self.server._stopping = True
            raise OSError("done")
        data, src = self.queue.pop(0)
        anc = [(0, 8, (2).to_bytes(4, "little") + bytes(8))]
        return data, anc, 0, src


def test_receive_loop_answers_like_the_policy() -> None:
    from pxelab.boot.policy import ProxyPolicy
    from pxelab.wire.dhcp import Request

    cfg = read_dnsmasq_text(CONF)
    server = ProxyDhcpServer(cfg)
    server._locals[2] = LOCAL
    server._locals_at = 1e18  # no refresh during the test
    packets = []
    for i in range(4):
        mac = f"52:54:00:00:00:{i:02x}"
        packets.append((request(giaddr="192.168.10.1", mac=mac, xid=1000 + i),
                        ("192.168.10.1", 67)))
        packets.append((request(mac=mac, xid=2000 + i), ("0.0.0.0", 68)))
        packets.append((request(vendor="MSFT 5.0", mac=mac, xid=3000 + i), ("0.0.0.0", 68)))
    sock = QueueSock(server, packets)
    server._serve(sock, 67)  # type: ignore[arg-type]
    assert server.stats["received"] == 12 and server.stats["ignored"] == 4
    policy = ProxyPolicy(cfg)
    expected = [policy.decide(Request.from_bytes(d, 67), LOCAL).reply for d, _ in packets]
    assert [data for data, _, _ in sock.sent] == [r for r in expected if r is not None]
    dests = [(dest, anc) for _, dest, anc in sock.sent]
    assert dests == [(("192.168.10.1", 67), False), (("255.255.255.255", 68), True)] * 4


def test_a_bug_is_an_internal_error_not_a_malformed_packet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A policy that raises on one packet: counted as internal_error (not malformed), logged
    with its traceback once, and the server answers the next packet."""
    cfg = read_dnsmasq_text(CONF)
    server = ProxyDhcpServer(cfg)
    server._locals[2] = LOCAL
    server._locals_at = 1e18
    real = server.policy.decide
    calls = []

    def flaky(req, local):
        calls.append(req.xid_int)
        if len(calls) <= 2:
            raise KeyError("planted")
        return real(req, local)

    server.policy.decide = flaky  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, "pxelab.proxydhcp")
    packets = [(request(mac=f"52:54:00:00:01:{i:02x}", xid=10 + i), ("0.0.0.0", 68))
               for i in range(3)]
    sock = QueueSock(server, packets)
    server._serve(sock, 67)  # type: ignore[arg-type]
    assert server.stats["internal_error"] == 2
    assert server.stats["malformed"] == 0
    assert len(sock.sent) == 1  # the third packet is still answered
    errors = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(errors) == 1 and errors[0].exc_info is not None
