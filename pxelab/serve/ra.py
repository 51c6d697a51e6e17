"""IPv6 router advertisements (RFC 4861), as a home router sends them, on asyncio.

iPXE sends router solicitations for about 16 s before it configures IPv4 when no router
answers (REFERENCE.md), so the simulated router advertises by default: at start (three times,
one second apart, like RFC 4861's initial advertisements), every `interval` seconds after that,
and at once for every router solicitation. The advertisement carries the source link-layer
address, the MTU and one prefix with the on-link and autonomous flags (SLAAC), and is sent from
the interface's link-local address to ff02::1 with hop limit 255.

    ra = RouterAdvertiser(RaSettings(interface="eth0", prefix="fd00:10::/64"), events)
    ra.start()          # in a running loop; ra.close() to stop
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from pxelab.serve.events import EventLog

log = logging.getLogger("pxelab.router.ra")

ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"
ICMP6_RS, ICMP6_RA = 133, 134
_ICMP6_FILTER = 1  # setsockopt level IPPROTO_ICMPV6
_IPV6_JOIN_GROUP = getattr(socket, "IPV6_JOIN_GROUP", 20)
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
MIN_ANSWER_GAP = 0.05  # solicited RAs go out at most 20 times a second


@dataclass
class RaSettings:
    interface: str
    prefix: str = "fd00:10::/64"
    interval: float = 4.0
    router_lifetime: int = 1800
    valid_lifetime: int = 86400
    preferred_lifetime: int = 14400
    mtu: int | None = None  # read from the interface when None
    initial_count: int = 3
    initial_gap: float = 1.0


def _link_local(ifname: str) -> str | None:
    """The interface's link-local address from /proc/net/if_inet6 (None when it has none)."""
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[5] == ifname and parts[0].startswith("fe80"):
            return str(ipaddress.IPv6Address(bytes.fromhex(parts[0])))
    return None


def _mac(ifname: str) -> bytes | None:
    try:
        text = Path(f"/sys/class/net/{ifname}/address").read_text().strip()
        return bytes.fromhex(text.replace(":", ""))
    except (OSError, ValueError):
        return None


def _mtu(ifname: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{ifname}/mtu").read_text().strip())
    except (OSError, ValueError):
        return None


def build_ra(
    prefix: ipaddress.IPv6Network,
    *,
    mac: bytes | None,
    mtu: int | None,
    router_lifetime: int,
    valid_lifetime: int,
    preferred_lifetime: int,
) -> bytes:
    """The ICMPv6 router advertisement body (checksum 0: the kernel fills it in)."""
    # type, code, checksum, cur hop limit, flags (no M, no O: stateless), router lifetime,
    # reachable time, retrans timer
    body = struct.pack("!BBHBBHII", ICMP6_RA, 0, 0, 64, 0, router_lifetime, 0, 0)
    if mac and len(mac) == 6:
        body += struct.pack("!BB", 1, 1) + mac
    if mtu:
        body += struct.pack("!BBHI", 5, 1, 0, mtu)
    # prefix information: L (on-link) and A (autonomous address configuration)
    body += struct.pack(
        "!BBBBIII", 3, 4, prefix.prefixlen, 0xC0, valid_lifetime, preferred_lifetime, 0
    )
    body += prefix.network_address.packed
    return body


class RouterAdvertiser:
    """Sends RAs on one interface and answers router solicitations."""

    def __init__(self, settings: RaSettings, events: EventLog | None = None) -> None:
        self.settings = settings
        self.events = events or EventLog()
        self.prefix = ipaddress.IPv6Network(settings.prefix, strict=False)
        self.sent = 0
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_answer = 0.0
        self._packet = b""

    def start(self) -> None:
        ifname = self.settings.interface
        ifindex = socket.if_nametoindex(ifname)
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, ifname.encode())
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            # ICMP6_FILTER: block every type but router solicitations (a bitmap of 256 bits,
            # a set bit blocks the type).
            blocked = [0xFFFFFFFF] * 8
            blocked[ICMP6_RS >> 5] &= ~(1 << (ICMP6_RS & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *blocked))
            group = socket.inet_pton(socket.AF_INET6, ALL_ROUTERS) + struct.pack("@I", ifindex)
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_JOIN_GROUP, group)
            ll = _link_local(ifname)
            if ll is not None:
                # RFC 4861: the source of an RA must be the link-local address.
                with contextlib.suppress(OSError):
                    sock.bind((ll, 0, 0, ifindex))
            else:
                log.warning("%s has no IPv6 link-local address yet; the kernel picks the source",
                            ifname)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._ifindex = ifindex
        self._packet = build_ra(
            self.prefix,
            mac=_mac(ifname),
            mtu=self.settings.mtu or _mtu(ifname),
            router_lifetime=self.settings.router_lifetime,
            valid_lifetime=self.settings.valid_lifetime,
            preferred_lifetime=self.settings.preferred_lifetime,
        )
        loop = asyncio.get_running_loop()
        loop.add_reader(sock.fileno(), self._on_readable)
        self._task = loop.create_task(self._periodic())
        self.events.emit("router", "ra-start", interface=ifname, prefix=str(self.prefix))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def send(self, reason: str, to: str = ALL_NODES) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto(self._packet, (to, 0, 0, self._ifindex))
            self.sent += 1
            self.events.emit("router", "ra", reason=reason, to=to, prefix=str(self.prefix))
        except OSError as exc:
            log.warning("router advertisement not sent on %s: %s", self.settings.interface, exc)

    async def _periodic(self) -> None:
        s = self.settings
        for _ in range(max(1, s.initial_count)):
            self.send("initial")
            await asyncio.sleep(min(s.initial_gap, s.interval))
        while True:
            self.send("periodic")
            await asyncio.sleep(s.interval)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("ICMPv6 receive: %s", exc)
                return
            try:
                self._on_packet(data, addr)
            except Exception:  # never let one packet stop the router
                log.exception("bad ICMPv6 packet from %s", addr)

    def _on_packet(self, data: bytes, addr: tuple[object, ...]) -> None:
        if len(data) < 8 or data[0] != ICMP6_RS or data[1] != 0:
            return
        self.events.emit("router", "rs", client=str(addr[0]))
        now = time.monotonic()
        if now - self._last_answer < MIN_ANSWER_GAP:
            return
        self._last_answer = now
        self.send("solicited")
