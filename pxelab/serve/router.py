"""The simulated home router: a DHCP server as home routers have them, plus IPv6 RAs.

DHCP (RFC 2131): DISCOVER/OFFER, REQUEST in the selecting, init-reboot, renewing and rebinding
states, NAK for an address the client may not have, DECLINE, RELEASE, INFORM, static leases by
MAC, a pool, a lease table in memory (and in a file when asked). No PXE at all: options 60, 93
and 97 are ignored and replies never carry 43, 60, 66 or 67 -- unless a quirk says so, or the
router is told a `next_server` (siaddr) and a `boot_file` (the `file` field, and option 67 for a
client that asks for it), as OpenWrt's and pfSense's "next-server"/"filename" settings do.

Quirks reproduce broken networks (`QUIRKS` lists them): `option60-pxeclient` answers with
option 60 "PXEClient" (the misconfiguration that sends PXE clients to port 4011 on the router),
`reply-delay` waits before each reply, `broadcast-only` never unicasts, `require-client-id`
ignores clients without option 61.

    settings = RouterSettings(interface="eth0", address="192.168.10.1/24",
                              pool=("192.168.10.100", "192.168.10.150"))
    router = Router(settings, EventLog("router.jsonl"))
    await router.start()      # in a running loop (binds 0.0.0.0:67 on the interface)
    ...
    router.close()

`run_router(settings)` is the foreground form `pxelab router` uses (SIGTERM/SIGINT: exit 0).
The decision logic (`DhcpLogic.handle`) is pure, given a clock value; the sockets are around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
import signal
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pxelab.serve.events import EventLog
from pxelab.serve.ra import RaSettings, RouterAdvertiser
from pxelab.wire import dhcp
from pxelab.wire.errors import WireError
from pxelab.wire.options import MessageType, Opt

log = logging.getLogger("pxelab.router")

IPv4 = ipaddress.IPv4Address

SERVER_PORT, CLIENT_PORT = 67, 68
BROADCAST = IPv4("255.255.255.255")
ZERO = IPv4("0.0.0.0")

QUIRKS: dict[str, str] = {
    "option60-pxeclient": 'answer with option 60 "PXEClient" (sends PXE clients to port 4011 '
    "on the router)",
    "reply-delay": "wait before every reply (--reply-delay S, default 1 s)",
    "broadcast-only": "send every reply by broadcast, never unicast",
    "require-client-id": "ignore clients that send no client identifier (option 61)",
}

_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_SIOCSARP = 0x8955
_ATF_COM = 0x02
_ARPHRD_ETHER = 1


@dataclass
class RouterSettings:
    interface: str
    address: str = "192.168.10.1/24"
    pool: tuple[str, str] | None = None  # default: .100 - .199 of the subnet (clipped)
    static: dict[str, str] = field(default_factory=dict)  # MAC -> IPv4
    gateway: str | None = None  # default: the router's address
    dns: list[str] | None = None  # default: the router's address
    domain: str | None = None
    lease_time: int = 43200
    ra: bool = True
    ra_prefix: str = "fd00:10::/64"
    ra_interval: float = 4.0
    lease_file: str | None = None
    quirks: set[str] = field(default_factory=set)
    reply_delay: float = 0.0
    offer_hold: float = 30.0  # an offered address stays reserved this long
    decline_hold: float = 600.0  # a declined address is not handed out for this long
    port: int = SERVER_PORT
    next_server: str | None = None  # siaddr of every reply (OpenWrt/pfSense "next-server")
    boot_file: str | None = None  # the `file` header field (and option 67 when asked for)

    def __post_init__(self) -> None:
        unknown = set(self.quirks) - set(QUIRKS)
        if unknown:
            raise ValueError(
                f"unknown quirk(s) {', '.join(sorted(unknown))}; known: {', '.join(QUIRKS)}"
            )
        if self.reply_delay > 0:
            self.quirks.add("reply-delay")
        elif "reply-delay" in self.quirks:
            self.reply_delay = 1.0
        iface = ipaddress.IPv4Interface(self.address)
        if iface.network.prefixlen > 30:
            raise ValueError(f"address {self.address}: the subnet has no room for clients")
        if self.next_server is not None:
            try:
                ns = IPv4(self.next_server)
            except ValueError:
                raise ValueError(f"next server {self.next_server!r}: not an IPv4 address") from None
            if ns.is_unspecified or ns.is_multicast or ns == BROADCAST:
                raise ValueError(f"next server {ns}: not a host address")
        if self.boot_file is not None:
            problem = boot_file_problem(self.boot_file)
            if problem:
                raise ValueError(f"boot file {self.boot_file!r}: {problem}")


def boot_file_problem(name: str) -> str | None:
    """Why `name` cannot go in the 128-byte `file` field (None: it can)."""
    if not name:
        return "empty"
    if not name.isascii() or not name.isprintable():
        return "only printable ASCII fits the file field"
    if len(name.encode()) > dhcp.FILE_SIZE - 1:
        return f"longer than {dhcp.FILE_SIZE - 1} bytes (the file field holds 128 with its NUL)"
    return None


def parse_pool(text: str | None) -> tuple[str, str] | None:
    """`FIRST-LAST` as the command line gives it."""
    if not text:
        return None
    first, sep, last = text.partition("-")
    if not sep:
        raise ValueError(f"--pool {text!r}: expected FIRST-LAST")
    return first.strip(), last.strip()


def parse_static(items: list[str]) -> dict[str, str]:
    """`MAC=IP` items as the command line gives them."""
    static = {}
    for item in items:
        mac, sep, ip = item.partition("=")
        if not sep:
            raise ValueError(f"--static {item!r}: expected MAC=IP")
        static[mac.strip()] = ip.strip()
    return static


def validated(settings: RouterSettings) -> RouterSettings:
    """Build the policy once, so a bad pool or static lease is reported before binding."""
    DhcpLogic(settings)
    return settings


# --------------------------------------------------------------------------- leases


@dataclass
class Lease:
    ip: IPv4
    mac: str
    key: bytes
    expires: float
    state: str  # "offered" | "bound"
    hostname: str | None = None
    client_id: bytes | None = None


def client_key(msg: dhcp.DhcpMessage) -> bytes:
    """RFC 2131 4.2: a client is its client identifier (61) if sent, else its chaddr."""
    cid = msg.options.raw(Opt.CLIENT_ID)
    if cid:
        return b"id:" + cid
    return b"hw:" + bytes([msg.htype]) + msg.chaddr[: max(0, min(msg.hlen, 16))]


class LeaseTable:
    """Who has which address; the pool is scanned with a cursor so a big pool costs nothing."""

    def __init__(
        self,
        network: ipaddress.IPv4Network,
        server_ip: IPv4,
        pool: tuple[IPv4, IPv4],
        static: dict[str, IPv4],
    ) -> None:
        self.network = network
        self.server_ip = server_ip
        self.first, self.last = int(pool[0]), int(pool[1])
        self.static = {mac.lower(): ip for mac, ip in static.items()}
        self.static_ips = {int(ip) for ip in self.static.values()}
        self.by_key: dict[bytes, Lease] = {}
        self.by_ip: dict[int, Lease] = {}
        self.declined: dict[int, float] = {}
        self._cursor = self.first
        self.changed = False

    # -- questions

    def on_subnet(self, ip: IPv4) -> bool:
        return (
            ip in self.network
            and ip != self.network.network_address
            and ip != self.network.broadcast_address
        )

    def may_have(self, ip: IPv4, key: bytes, mac: str, now: float) -> bool:
        """May this client hold `ip` now (free, or already its own)?"""
        n = int(ip)
        static = self.static.get(mac)
        if static is not None:
            return ip == static
        if not self.on_subnet(ip) or ip == self.server_ip:
            return False
        if not self.first <= n <= self.last or n in self.static_ips:
            return False
        if self.declined.get(n, 0.0) > now:
            return False
        holder = self.by_ip.get(n)
        return holder is None or holder.key == key or holder.expires <= now

    # -- choices

    def pick(self, key: bytes, mac: str, requested: IPv4 | None, now: float) -> IPv4 | None:
        static = self.static.get(mac)
        if static is not None:
            return static
        lease = self.by_key.get(key)
        if lease is not None and self.may_have(lease.ip, key, mac, now):
            return lease.ip
        if requested is not None and self.may_have(requested, key, mac, now):
            return requested
        size = self.last - self.first + 1
        n = self._cursor
        for _ in range(size):
            cand = n
            n = self.first if n >= self.last else n + 1
            if cand in self.static_ips or self.declined.get(cand, 0.0) > now:
                continue
            holder = self.by_ip.get(cand)
            if holder is None or holder.expires <= now:
                ip = IPv4(cand)
                if ip == self.server_ip or not self.on_subnet(ip):
                    continue
                self._cursor = n
                return ip
        return None

    def hold(
        self, key: bytes, mac: str, ip: IPv4, expires: float, state: str,
        hostname: str | None = None, client_id: bytes | None = None,
    ) -> Lease:
        old = self.by_key.get(key)
        if old is not None and old.ip != ip and self.by_ip.get(int(old.ip)) is old:
            del self.by_ip[int(old.ip)]
        holder = self.by_ip.get(int(ip))
        if holder is not None and holder.key != key:
            self.by_key.pop(holder.key, None)
        lease = Lease(ip=ip, mac=mac, key=key, expires=expires, state=state,
                      hostname=hostname or (old.hostname if old else None), client_id=client_id)
        self.by_key[key] = lease
        self.by_ip[int(ip)] = lease
        if state == "bound":
            self.changed = True
        return lease

    def drop(self, key: bytes) -> Lease | None:
        lease = self.by_key.pop(key, None)
        if lease is not None:
            if self.by_ip.get(int(lease.ip)) is lease:
                del self.by_ip[int(lease.ip)]
            self.changed = True
        return lease

    def decline(self, ip: IPv4, until: float) -> None:
        self.declined[int(ip)] = until
        holder = self.by_ip.get(int(ip))
        if holder is not None:
            self.drop(holder.key)

    def bound(self, now: float) -> list[Lease]:
        return [lease for lease in self.by_key.values()
                if lease.state == "bound" and lease.expires > now]

    # -- the lease file: "<expiry unix> <mac> <ip> <hostname|*> <client-id hex|*>" per line

    def dump(self, now: float) -> str:
        lines = []
        for lease in self.bound(now):
            lines.append(
                f"{int(lease.expires)} {lease.mac} {lease.ip} {lease.hostname or '*'} "
                f"{lease.client_id.hex() if lease.client_id else '*'}"
            )
        return "\n".join(lines) + ("\n" if lines else "")

    def load(self, text: str, now: float, source: str = "lease file") -> list[str]:
        """Read a dump back; returns one problem per bad line (file, line, what is wrong)."""
        problems = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                expiry_s, mac, ip_s, host, cid_s = line.split()
                expiry = float(expiry_s)
                ip = IPv4(ip_s)
                cid = None if cid_s == "*" else bytes.fromhex(cid_s)
                if not self.on_subnet(ip):
                    raise ValueError(f"{ip} is not on {self.network}")
            except ValueError as exc:
                problems.append(f"{source}, line {number}: {exc}")
                continue
            if expiry <= now:
                continue
            mac = mac.lower()
            chaddr = bytes.fromhex(mac.replace(":", ""))
            key = b"id:" + cid if cid else b"hw:\x01" + chaddr
            self.hold(key, mac, ip, expiry, "bound", None if host == "*" else host, cid)
        self.changed = False
        return problems


# --------------------------------------------------------------------------- decisions


@dataclass
class Decision:
    """What to do with one request: a reply (or none), and the event that says why."""

    reply: dhcp.DhcpMessage | None
    event: str
    fields: dict[str, Any]


class DhcpLogic:
    """The router's DHCP policy; pure apart from the lease table it owns."""

    def __init__(self, settings: RouterSettings) -> None:
        self.settings = settings
        iface = ipaddress.IPv4Interface(settings.address)
        self.server_ip = iface.ip
        self.network = iface.network
        hosts_first = int(self.network.network_address) + 1
        hosts_last = int(self.network.broadcast_address) - 1
        if settings.pool:
            first, last = IPv4(settings.pool[0]), IPv4(settings.pool[1])
            for ip in (first, last):
                if ip not in self.network:
                    raise ValueError(f"pool address {ip} is not on {self.network}")
            if int(first) > int(last):
                raise ValueError(f"pool {first}-{last}: start is after end")
        else:
            first = IPv4(min(hosts_last, hosts_first + 99))
            last = IPv4(min(hosts_last, hosts_first + 198))
        static = {}
        for mac, ip in settings.static.items():
            try:
                norm, addr = _norm_mac(mac), IPv4(ip)
            except ValueError as exc:
                raise ValueError(f"static lease {mac}={ip}: {exc}") from None
            if addr not in self.network:
                raise ValueError(f"static lease {mac}={ip}: not on {self.network}")
            static[norm] = addr
        self.leases = LeaseTable(self.network, self.server_ip, (first, last), static)
        self.gateway = IPv4(settings.gateway) if settings.gateway else self.server_ip
        self.dns = [IPv4(d) for d in settings.dns] if settings.dns else [self.server_ip]
        self.quirks = set(settings.quirks)
        self._precompute()

    # -- one request

    def handle(self, msg: dhcp.DhcpMessage, now: float, unicast: bool = False) -> Decision:
        """Decide on one decoded request. `unicast`: it came to our address, not broadcast."""
        mac = msg.mac
        base: dict[str, Any] = {"client": mac, "xid": f"{msg.xid:08x}"}
        if msg.op != dhcp.BOOTREQUEST:
            return Decision(None, "ignored", {**base, "reason": "not a BOOTREQUEST"})
        mtype = msg.message_type
        if mtype is None:
            return Decision(None, "ignored", {**base, "reason": "BOOTP (no DHCP message type)"})
        if not msg.giaddr.is_unspecified and msg.giaddr not in self.network:
            return Decision(None, "ignored", {**base, "reason": f"relay {msg.giaddr} off-subnet"})
        if "require-client-id" in self.quirks and Opt.CLIENT_ID not in msg.options:
            return Decision(None, "ignored", {**base, "reason": "no client identifier (quirk)"})
        key = client_key(msg)
        handler = {
            MessageType.DISCOVER: self._discover,
            MessageType.REQUEST: self._request,
            MessageType.DECLINE: self._decline,
            MessageType.RELEASE: self._release,
            MessageType.INFORM: self._inform,
        }.get(mtype)
        if handler is None:
            return Decision(None, "ignored", {**base, "reason": f"message type {mtype}"})
        return handler(msg, key, mac, now, unicast, base)

    def _requested(self, msg: dhcp.DhcpMessage) -> IPv4 | None:
        try:
            ip = msg.options.get(Opt.REQUESTED_IP)
        except WireError:
            return None
        return ip if isinstance(ip, IPv4) else None

    def _discover(self, msg: dhcp.DhcpMessage, key: bytes, mac: str, now: float,
                  unicast: bool, base: dict[str, Any]) -> Decision:
        ip = self.leases.pick(key, mac, self._requested(msg), now)
        if ip is None:
            return Decision(None, "pool-exhausted", base)
        lease = self.leases.by_key.get(key)
        if lease is None or lease.ip != ip or lease.expires <= now:
            self.leases.hold(key, mac, ip, now + self.settings.offer_hold, "offered",
                             client_id=msg.options.raw(Opt.CLIENT_ID))
        reply = self._reply(msg, MessageType.OFFER, ip)
        return Decision(reply, "offer", {**base, "ip": str(ip)})

    def _request(self, msg: dhcp.DhcpMessage, key: bytes, mac: str, now: float,
                 unicast: bool, base: dict[str, Any]) -> Decision:
        try:
            sid = msg.options.get(Opt.SERVER_ID)
        except WireError:
            sid = None
        requested = self._requested(msg)
        if sid is not None:
            state = "selecting"
            if sid != self.server_ip:
                # The client took another server's offer: forget ours.
                lease = self.leases.by_key.get(key)
                if lease is not None and lease.state == "offered":
                    self.leases.drop(key)
                return Decision(None, "other-server", {**base, "server": str(sid)})
            ip = requested or (None if msg.ciaddr.is_unspecified else msg.ciaddr)
        elif requested is not None and msg.ciaddr.is_unspecified:
            state = "init-reboot"
            ip = requested
        elif not msg.ciaddr.is_unspecified:
            state = "renewing" if unicast else "rebinding"
            ip = msg.ciaddr
        else:
            return Decision(None, "ignored", {**base, "reason": "REQUEST without an address"})
        base["state"] = state
        if ip is None:
            return self._nak(msg, base, "no requested address")
        lease = self.leases.by_key.get(key)
        if state == "init-reboot" and lease is not None and lease.ip != ip:
            return self._nak(msg, {**base, "ip": str(ip)},
                             f"client has {lease.ip}, not {ip}")
        if not self.leases.may_have(ip, key, mac, now):
            return self._nak(msg, {**base, "ip": str(ip)}, f"{ip} is not available to this client")
        try:
            hostname = msg.options.get(Opt.HOSTNAME)
        except WireError:
            hostname = None
        self.leases.hold(key, mac, ip, now + self.settings.lease_time, "bound",
                         hostname=hostname if isinstance(hostname, str) else None,
                         client_id=msg.options.raw(Opt.CLIENT_ID))
        reply = self._reply(msg, MessageType.ACK, ip)
        return Decision(reply, "ack", {**base, "ip": str(ip)})

    def _nak(self, msg: dhcp.DhcpMessage, fields: dict[str, Any], why: str) -> Decision:
        reply = dhcp.reply_to(msg, MessageType.NAK, server_id=self.server_ip)
        reply.options.set(Opt.MESSAGE, why)
        reply.broadcast = True
        return Decision(reply, "nak", {**fields, "reason": why})

    def _decline(self, msg: dhcp.DhcpMessage, key: bytes, mac: str, now: float,
                 unicast: bool, base: dict[str, Any]) -> Decision:
        ip = self._requested(msg)
        if ip is None:
            return Decision(None, "ignored", {**base, "reason": "DECLINE without option 50"})
        holder = self.leases.by_ip.get(int(ip))
        if holder is not None and holder.key != key:
            return Decision(None, "ignored", {**base, "reason": f"DECLINE of {ip}, not its own"})
        self.leases.decline(ip, now + self.settings.decline_hold)
        return Decision(None, "decline", {**base, "ip": str(ip)})

    def _release(self, msg: dhcp.DhcpMessage, key: bytes, mac: str, now: float,
                 unicast: bool, base: dict[str, Any]) -> Decision:
        lease = self.leases.by_key.get(key)
        if lease is None or lease.ip != msg.ciaddr:
            return Decision(None, "ignored",
                            {**base, "reason": f"RELEASE of {msg.ciaddr}, no such lease"})
        self.leases.drop(key)
        return Decision(None, "release", {**base, "ip": str(msg.ciaddr)})

    def _inform(self, msg: dhcp.DhcpMessage, key: bytes, mac: str, now: float,
                unicast: bool, base: dict[str, Any]) -> Decision:
        reply = self._reply(msg, MessageType.ACK, None)
        reply.ciaddr = msg.ciaddr
        return Decision(reply, "inform", {**base, "ip": str(msg.ciaddr)})

    def _reply(self, msg: dhcp.DhcpMessage, mtype: int, ip: IPv4 | None) -> dhcp.DhcpMessage:
        reply = dhcp.reply_to(msg, mtype, yiaddr=ip if ip is not None else ZERO)
        opts = reply.options
        # Raw bytes computed once: typed encoding per reply was most of the cost per packet.
        for code, raw in self._lease_opts if ip is not None else self._info_opts:
            opts.set(code, raw)
        s = self.settings
        if s.next_server is not None:
            reply.siaddr = IPv4(s.next_server)
        if s.boot_file is not None:
            reply.file = s.boot_file.encode()
            # The header field is what PXE firmware and GRUB read; option 67 only for a client
            # that lists it in option 55 (as dnsmasq does), so plain clients see no change.
            if Opt.BOOTFILE_NAME in _requested_codes(msg):
                opts.set(Opt.BOOTFILE_NAME, s.boot_file)
        return reply

    def _precompute(self) -> None:
        from pxelab.wire.options import encode_value

        lt = self.settings.lease_time
        common: list[tuple[int, Any]] = [
            (Opt.SERVER_ID, self.server_ip),
            (Opt.SUBNET_MASK, self.network.netmask),
            (Opt.ROUTER, [self.gateway]),
            (Opt.DNS, self.dns),
            (Opt.BROADCAST, self.network.broadcast_address),
        ]
        if self.settings.domain:
            common.append((Opt.DOMAIN_NAME, self.settings.domain))
        if "option60-pxeclient" in self.quirks:
            common.append((Opt.VENDOR_CLASS, b"PXEClient"))
        lease = [(Opt.LEASE_TIME, lt), (Opt.RENEWAL_TIME, lt // 2),
                 (Opt.REBINDING_TIME, lt * 7 // 8)]
        self._info_opts = [(int(c), encode_value(c, v)) for c, v in common]
        self._lease_opts = [self._info_opts[0]] + [
            (int(c), encode_value(c, v)) for c, v in lease] + self._info_opts[1:]


def _requested_codes(msg: dhcp.DhcpMessage) -> bytes:
    return msg.options.raw(Opt.PARAMETER_REQUEST_LIST) or b""


def _norm_mac(mac: str) -> str:
    raw = mac.strip().lower().replace("-", ":")
    parts = raw.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"{mac!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    bytes.fromhex("".join(parts))
    return raw


def destination(
    request: dhcp.DhcpMessage, reply: dhcp.DhcpMessage, broadcast_only: bool = False
) -> tuple[IPv4, int, bool]:
    """RFC 2131 4.1: where a reply goes -> (address, port, needs a static ARP entry)."""
    if not request.giaddr.is_unspecified:
        return request.giaddr, SERVER_PORT, False
    if reply.message_type == MessageType.NAK or broadcast_only:
        return BROADCAST, CLIENT_PORT, False
    if not request.ciaddr.is_unspecified:
        return request.ciaddr, CLIENT_PORT, False
    if request.broadcast or reply.yiaddr.is_unspecified:
        return BROADCAST, CLIENT_PORT, False
    # Unicast to an address the client does not answer ARP for yet: tell the kernel its MAC.
    return reply.yiaddr, CLIENT_PORT, True


# --------------------------------------------------------------------------- the service


class Router:
    """DHCP on 0.0.0.0:67 bound to the interface, plus router advertisements."""

    def __init__(self, settings: RouterSettings, events: EventLog | None = None) -> None:
        self.settings = settings
        self.events = events or EventLog()
        self.logic = DhcpLogic(settings)
        self.ra: RouterAdvertiser | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._save_handle: asyncio.TimerHandle | None = None
        self.stats: dict[str, int] = {}

    async def start(self) -> None:
        s = self.settings
        self._loop = asyncio.get_running_loop()
        if s.lease_file and os.path.exists(s.lease_file):
            text = Path(s.lease_file).read_text(encoding="utf-8", errors="replace")
            for problem in self.logic.leases.load(text, time.time(), s.lease_file):
                log.warning("%s", problem)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, s.interface.encode())
            sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            sock.bind(("0.0.0.0", s.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._on_readable)
        if s.ra:
            self.ra = RouterAdvertiser(
                RaSettings(interface=s.interface, prefix=s.ra_prefix, interval=s.ra_interval),
                self.events,
            )
            self.ra.start()
        self.events.emit("router", "start", interface=s.interface, address=s.address,
                         quirks=sorted(self.logic.quirks))
        log.info("router on %s (%s), pool %s-%s, RA %s", s.interface, s.address,
                 IPv4(self.logic.leases.first), IPv4(self.logic.leases.last),
                 "on" if s.ra else "off")

    def close(self) -> None:
        if self.ra is not None:
            self.ra.close()
            self.ra = None
        if self._sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        self.save_leases()
        self.events.emit("router", "stop", **self.stats)

    # -- receive

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(256):  # drain a burst, then let the loop run other work
            try:
                data, anc, _flags, addr = sock.recvmsg(4096, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("DHCP receive: %s", exc)
                return
            unicast = False
            for level, kind, value in anc:
                if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(value) >= 12:
                    unicast = value[8:12] == self.logic.server_ip.packed
            try:
                self._on_packet(data, addr, unicast)
            except Exception as exc:  # one packet must never stop the router
                self._count("error")
                log.exception("DHCP packet from %s could not be handled", addr)
                self.events.emit("router", "error", peer=f"{addr[0]}:{addr[1]}", error=str(exc))

    def _on_packet(self, data: bytes, addr: tuple[str, int], unicast: bool) -> None:
        try:
            msg = dhcp.decode(data)
        except WireError as exc:
            self._count("malformed")
            log.info("malformed DHCP packet from %s:%s: %s", addr[0], addr[1], exc)
            self.events.emit("router", "malformed", peer=f"{addr[0]}:{addr[1]}", error=str(exc))
            return
        mtype = msg.message_type
        if mtype is not None and self.events.enabled:
            name = MessageType(mtype).name.lower() if mtype in MessageType._value2member_map_ \
                else str(mtype)
            self.events.emit("router", name, client=msg.mac, xid=f"{msg.xid:08x}",
                             ciaddr=str(msg.ciaddr), requested=str(self.logic._requested(msg)))
        decision = self.logic.handle(msg, time.time(), unicast)
        self._count(decision.event)
        self.events.emit("router", decision.event, **decision.fields)
        if self.logic.leases.changed and self.settings.lease_file:
            self._schedule_save()
        if decision.reply is None:
            return
        delay = self.settings.reply_delay if "reply-delay" in self.logic.quirks else 0.0
        if delay > 0 and self._loop is not None:
            self._loop.call_later(delay, self._send, msg, decision.reply)
        else:
            self._send(msg, decision.reply)

    # -- send

    def _send(self, request: dhcp.DhcpMessage, reply: dhcp.DhcpMessage) -> None:
        sock = self._sock
        if sock is None:
            return
        dest, port, need_arp = destination(
            request, reply, "broadcast-only" in self.logic.quirks
        )
        if need_arp and not self._arp(dest, request.chaddr[:6]):
            dest = BROADCAST
        # Option 57 counts the whole IP datagram; encode() limits the DHCP payload alone.
        limit = min(request.max_reply_size(), 1500 - dhcp.UDP_IP_HEADERS)
        try:
            data = reply.encode(max_size=limit)
            sock.sendto(data, (str(dest), port))
        except (OSError, WireError) as exc:
            self._count("send-error")
            log.warning("reply to %s not sent: %s", dest, exc)

    def _arp(self, ip: IPv4, mac: bytes) -> bool:
        """A static ARP entry for an address the client does not answer ARP for yet."""
        sock = self._sock
        if sock is None or len(mac) != 6:
            return False
        pa = struct.pack("=H2s4s8x", socket.AF_INET, b"\0\0", ip.packed)
        ha = struct.pack("=H6s8x", _ARPHRD_ETHER, mac)
        netmask = b"\0" * 16
        dev = self.settings.interface.encode()[:15].ljust(16, b"\0")
        req = pa + ha + struct.pack("=i", _ATF_COM) + netmask + dev
        try:
            fcntl.ioctl(sock.fileno(), _SIOCSARP, req)
            return True
        except OSError as exc:
            log.debug("SIOCSARP %s: %s; broadcasting instead", ip, exc)
            return False

    # -- lease file

    def _schedule_save(self) -> None:
        if self._save_handle is None and self._loop is not None:
            # Batch writes: one rewrite per half second at most, not one per lease.
            self._save_handle = self._loop.call_later(0.5, self._save_now)

    def _save_now(self) -> None:
        self._save_handle = None
        self.save_leases()

    def save_leases(self) -> None:
        path = self.settings.lease_file
        if not path:
            return
        try:
            tmp = f"{path}.tmp"
            Path(tmp).write_text(self.logic.leases.dump(time.time()), encoding="utf-8")
            os.replace(tmp, path)
            self.logic.leases.changed = False
        except OSError as exc:
            log.warning("lease file %s not written: %s", path, exc)

    def _count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1


def run_router(settings: RouterSettings, events_path: str | None = None) -> int:
    """Run in the foreground until SIGTERM or SIGINT; returns the exit code (0)."""

    async def main() -> None:
        events = EventLog(events_path) if events_path else EventLog()
        router = Router(settings, events)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await router.start()
        try:
            await stop.wait()
        finally:
            router.close()
            events.close()

    asyncio.run(main())
    return 0
