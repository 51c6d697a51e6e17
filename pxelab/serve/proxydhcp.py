"""The proxyDHCP service on asyncio: UDP 67 and 4011, answers decided by boot.policy.

Embeddable like the TFTP server: `ProxyDhcpServer(cfg, ...)`, `await start()`, `await stop()`
in the caller's loop. Each socket has a thread blocked in recvmsg (with IP_PKTINFO, so the
arrival interface and its address are known) that answers at once; only replies held back by
`dhcp-reply-delay` go through the event loop (call_later). The policy is pure and its caches
are plain dicts, so the two threads share it under the GIL.

Where replies go (dnsmasq 2.90, dhcp.c): on 67, relayed requests (giaddr) go to the relay on
port 67; replies with ciaddr to the client's address on 68; everything else is broadcast to
255.255.255.255:68 out of the arrival interface (proxy answers to address-less clients always
carry the broadcast flag). On 4011, replies go back to the request's source address and port
(or to ciaddr when the reply keeps one).

Log lines (`log_dhcp`) are dnsmasq's --log-dhcp lines, with "pxelab-dhcp:" where dnsmasq
writes "dnsmasq-dhcp:"; the basic "PXE(eth0) <mac> proxy" line is logged always, as dnsmasq
does. Events: `proxydhcp` offer / ack / ignored with client, arch, file, port, reason.
A packet never stops the server: a malformed one is counted (`stats["malformed"]`) and logged
(at most every 10 s); an unexpected exception while handling one is a pxelab bug, counted apart
(`stats["internal_error"]`) and logged with its traceback, and the next packet is served.
Requests are read by wire.dhcp.Request (the decoder's own reader); the reply bytes come from
wire.dhcp.ReplyTemplate, filled in by the policy's decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import struct
import threading
import time
from ipaddress import IPv4Address

from pxelab.boot.policy import Decision, Local, ProxyPolicy
from pxelab.config.model import ServerConfig
from pxelab.serve.events import EventLog
from pxelab.serve.ratelimit import ClientRateLimit
from pxelab.wire.dhcp import Request
from pxelab.wire.errors import WireError

log = logging.getLogger("pxelab.proxydhcp")

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_SIOCGIFADDR, _SIOCGIFNETMASK = 0x8915, 0x891B
_PKTINFO = struct.Struct("=I4s4s")
_ANC_SPACE = socket.CMSG_SPACE(_PKTINFO.size)
BROADCAST = "255.255.255.255"
_UNKNOWN = object()


def interface_address(name: str) -> tuple[IPv4Address, int] | None:
    """The primary IPv4 address and prefix length of an interface, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("256s", name.encode()[:15])
        addr = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, req)[20:24]
        mask = fcntl.ioctl(s.fileno(), _SIOCGIFNETMASK, req)[20:24]
    except OSError:
        return None
    finally:
        s.close()
    return IPv4Address(addr), bin(int.from_bytes(mask, "big")).count("1")


def _resolve_hosts(name: str) -> IPv4Address | None:
    """dnsmasq resolves pxe-service/dhcp-boot server names from /etc/hosts; so does pxelab."""
    try:
        with open("/etc/hosts", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                words = line.split("#", 1)[0].split()
                if len(words) >= 2 and name in words[1:]:
                    with contextlib.suppress(ValueError):
                        return IPv4Address(words[0])
    except OSError:
        return None
    return None


class ProxyDhcpServer:
    """The proxyDHCP service. `await start()`; `ports` are the bound (67, 4011) ports."""

    def __init__(
        self,
        cfg: ServerConfig,
        *,
        interface: str | None = None,
        listen: IPv4Address | str | None = None,
        events: EventLog | None = None,
        log_dhcp: bool | None = None,
        port: int = 67,
        pxe_port: int = 4011,
        client_port: int = 68,
        threaded: bool | None = None,
    ) -> None:
        self.cfg = cfg
        # PXELAB_PROXY_THREADS=0/1 picks the receive model (benchmarks compare the two)
        if threaded is None:
            threaded = os.environ.get("PXELAB_PROXY_THREADS", "1") != "0"
        self.threaded = threaded
        self.policy = ProxyPolicy(cfg, _resolve_hosts)
        self.interface = interface
        listens = list(cfg.listen_addresses)
        if listen is not None:
            listens = [IPv4Address(str(listen))]
        self.listen = set(listens)
        self.interfaces = {interface} if interface else set(cfg.interfaces)
        self.events = events or EventLog()
        self.log_dhcp = cfg.log_dhcp if log_dhcp is None else log_dhcp
        self.port, self.pxe_port, self.client_port = port, pxe_port, client_port
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._locals: dict[int, Local | None] = {}
        self._locals_at = 0.0
        self._local_objs: dict[tuple[IPv4Address, int, str], Local] = {}
        # malformed: the packet's fault (WireError); internal_error: pxelab's (a bug)
        self.stats = {"received": 0, "offer": 0, "ack": 0, "ignored": 0, "malformed": 0,
                      "internal_error": 0, "send_failed": 0, "rate_limited": 0}
        self.limit = ClientRateLimit()
        self._last_warn: dict[str, float] = {}
        # per-packet lines only with log-dhcp (dnsmasq logs the short line always; at
        # thousands of requests a second that is most of the cost, so pxelab asks first)
        self._log_on: bool | None = None
        self._events_on = self.events.enabled

    @property
    def ports(self) -> tuple[int, int]:
        return self._socks[0].getsockname()[1], self._socks[1].getsockname()[1]

    def _socket(self, address: str, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            if self.interface:
                s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.interface.encode())
            s.bind((address, port))
        except OSError:
            s.close()
            raise
        return s

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # 67 must be bound to the wildcard address to see broadcasts; 4011 is unicast only
        pxe_addr = str(next(iter(self.listen))) if len(self.listen) == 1 else "0.0.0.0"
        self._socks = [self._socket("0.0.0.0", self.port)]
        try:
            self._socks.append(self._socket(pxe_addr, self.pxe_port))
        except OSError:
            self._socks[0].close()
            self._socks = []
            raise
        self._stopping = False
        for sock, port in zip(self._socks, (67, 4011), strict=True):
            if self.threaded:
                t = threading.Thread(target=self._serve, args=(sock, port),
                                     name=f"proxydhcp-{port}", daemon=True)
                t.start()
                self._threads.append(t)
            else:
                sock.setblocking(False)
                self._loop.add_reader(sock.fileno(), self._readable, sock, port)
        for r in self.cfg.ranges:
            mask = f"/{r.netmask}" if r.netmask else ""
            log.info("DHCP, proxy on subnet %s%s", r.address, mask)

    async def stop(self) -> None:
        self._stopping = True
        for sock in self._socks:
            # wakes a thread blocked in recvmsg (Linux does so even though an unconnected
            # UDP socket answers ENOTCONN)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            await asyncio.to_thread(t.join, 5.0)
        self._threads = []
        for sock in self._socks:
            if not self.threaded and self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._socks = []

    async def __aenter__(self) -> ProxyDhcpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ receiving

    def _local(self, ifindex: int) -> Local | None:
        local = self._locals.get(ifindex, _UNKNOWN)
        if local is not _UNKNOWN:
            return local  # type: ignore[return-value]
        local = None
        try:
            name = socket.if_indextoname(ifindex)
        except OSError:
            name = ""
        found = interface_address(name) if name else None
        if found is not None:
            key = (found[0], found[1], name)
            # the same Local object while the address stays: it keys the policy's caches
            local = self._local_objs.get(key)
            if local is None:
                local = self._local_objs[key] = Local(found[0], found[1], name)
        self._locals[ifindex] = local
        return local

    def _readable(self, sock: socket.socket, port: int) -> None:
        """Event-loop receive model: drain what is queued, then give the loop back."""
        now = time.monotonic()
        if now - self._locals_at > 10.0:
            self._locals.clear()
            self._locals_at = now
        recvmsg, packet, unpack = sock.recvmsg, self._packet, _PKTINFO.unpack_from
        for _ in range(256):
            try:
                data, anc, _flags, src = recvmsg(4096, _ANC_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._warn("recv", f"receive error: {exc}")
                return
            ifindex = unpack(anc[0][2])[0] if anc else 0
            try:
                packet(sock, port, data, src, ifindex)
            except Exception as exc:  # never let one packet stop the server
                self._internal_error(src, exc)

    def _serve(self, sock: socket.socket, port: int) -> None:
        """One thread per socket, blocked in recvmsg: per packet one receive, one send, and
        no event-loop round trip (the loop's per-wake-up cost was most of the CPU).

        No cache of whole replies here: real clients (and perfdhcp) send per-client options
        (61 client id, 97 UUID), so a reply cache keyed on the request's bytes misses for
        every new client, and its churn cost more CPU than it saved (measured)."""
        recvmsg, packet, unpack = sock.recvmsg, self._packet, _PKTINFO.unpack_from
        monotonic = time.monotonic
        while not self._stopping:
            try:
                data, anc, _flags, src = recvmsg(4096, _ANC_SPACE)
            except InterruptedError:
                continue
            except OSError as exc:
                if self._stopping:
                    return
                self._warn("recv", f"receive error: {exc}")
                time.sleep(0.01)
                continue
            if not data:
                continue  # woken by stop(), or an empty datagram
            now = monotonic()
            if now - self._locals_at > 10.0:  # interface addresses change: look again
                self._locals.clear()
                self._locals_at = now
            # IP_PKTINFO is the only control message this socket asks for
            ifindex = unpack(anc[0][2])[0] if anc else 0
            try:
                packet(sock, port, data, src, ifindex)
            except Exception as exc:  # never let one packet stop the server
                self._internal_error(src, exc)

    def _packet(self, sock: socket.socket, port: int, data: bytes, src: tuple[str, int],
                ifindex: int) -> None:
        self.stats["received"] += 1
        # One client flooding must not starve the others: over its budget, a packet costs a
        # lookup, not a decode, a decision, log lines and a reply.
        key = data[28:44] if port != 4011 else data[28:44] + src[0].encode()
        if not self.limit.allow(key, time.monotonic()):
            self.stats["rate_limited"] += 1
            self._warn("rate", f"client {data[28:34].hex(':')} over {self.limit.rate:g} "
                       f"packets/s: {self.stats['rate_limited']} packets dropped so far")
            return
        local = self._local(ifindex)
        if local is None:
            self._warn("noaddr", f"DHCP packet received on interface {ifindex} which has no "
                       "address")
            return
        if self.interfaces and local.interface not in self.interfaces:
            return
        if self.listen and local.address not in self.listen:
            return
        if self._log_on is None:
            self._log_on = self.log_dhcp and log.isEnabledFor(logging.INFO)
        try:
            req = Request.from_bytes(data, port)
        except WireError as exc:
            self.stats["malformed"] += 1
            self._warn("malformed", f"malformed DHCP packet from {src[0]}:{src[1]}: {exc} "
                       f"({self.stats['malformed']} so far)")
            return
        d = self.policy.decide(req, local)
        self.stats[d.kind] += 1
        if self._log_on:
            self._log(req, d, local, port)
        if self._events_on:
            self.events.emit("proxydhcp", d.kind, client=req.mac, arch=d.arch, file=d.file,
                             port=port, reason=d.reason or None, xid=req.xid_int,
                             vendor=d.vendor or None, tags=list(d.tags),
                             siaddr=d.siaddr or None, server=str(local.address))
        if d.reply is None:
            return
        dest = self._destination(req.giaddr, d.reply, port, src)
        if d.delay and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.call_later, d.delay, self._send, sock,
                                            d.reply, dest, ifindex)
        else:
            self._send(sock, d.reply, dest, ifindex)

    def _destination(self, giaddr: bytes, reply: bytes, port: int,
                     src: tuple[str, int]) -> tuple[str, int]:
        ciaddr = reply[12:16]
        if port == 4011:
            if ciaddr != b"\0\0\0\0":
                return socket.inet_ntoa(ciaddr), src[1]
            if src[0] != "0.0.0.0":
                return src
            return BROADCAST, self.client_port
        if giaddr != b"\0\0\0\0":
            return socket.inet_ntoa(giaddr), self.port
        if ciaddr != b"\0\0\0\0":
            if src[0] == socket.inet_ntoa(ciaddr) and src[1]:
                return src
            return socket.inet_ntoa(ciaddr), self.client_port
        return BROADCAST, self.client_port

    def _send(self, sock: socket.socket, reply: bytes, dest: tuple[str, int],
              ifindex: int) -> None:
        try:
            if dest[0] == BROADCAST and ifindex and not self.interface:
                anc = [(socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.pack(ifindex, b"\0" * 4,
                                                                     b"\0" * 4))]
                sock.sendmsg([reply], anc, 0, dest)
            else:
                sock.sendto(reply, dest)
        except OSError as exc:
            self.stats["send_failed"] += 1
            self._warn("send", f"cannot send to {dest[0]}:{dest[1]}: {exc.strerror or exc}")

    # ------------------------------------------------------------ logging

    def _internal_error(self, src: tuple[str, int], exc: Exception) -> None:
        """A bug met while handling one packet: counted apart from malformed packets (which
        are the sender's fault), logged with its traceback at most every 10 s; the server
        goes on with the next packet."""
        self.stats["internal_error"] += 1
        now = time.monotonic()
        if now - self._last_warn.get("bug", -1e9) >= 10.0:
            self._last_warn["bug"] = now
            log.error("internal error on a packet from %s:%s (%d so far): %s: %s", src[0],
                      src[1], self.stats["internal_error"], type(exc).__name__, exc,
                      exc_info=exc)

    def _warn(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warn.get(key, -1e9) >= 10.0:
            self._last_warn[key] = now
            log.warning("%s", message)

    def _log(self, req: Request, d: Decision, local: Local, port: int) -> None:
        """dnsmasq's lines for a proxy exchange (log_packet, and with log-dhcp the details)."""
        xid = req.xid_int
        iface = local.interface
        lines: list[str] = []
        detail = self.log_dhcp
        if detail:
            v60 = req.options.get(60)
            if v60:
                lines.append(f"{xid} vendor class: {_sanitise(v60)}")
            v77 = req.options.get(77)
            if v77:
                lines.append(f"{xid} user class: {_sanitise(v77)}")
        pre = f"{xid} " if detail else ""
        if d.reply is None:
            if detail:
                lines.append(f"{xid} ignored: {d.reason}")
        elif port == 4011 and req.ciaddr != b"\0\0\0\0" and d.kind == "ack" and d.file and \
                req.options.get(43) and b"\x47\x04" in req.options.get(43, b""):
            lines.append(f"{pre}PXE({iface}) {IPv4Address(req.ciaddr)} {req.mac} {d.file}")
        else:
            lines.append(f"{pre}PXE({iface}) {req.mac} proxy")
        if detail and d.reply is not None:
            if d.tags:
                lines.append(f"{xid} tags: {', '.join(d.tags)}")
            if d.file:
                lines.append(f"{xid} bootfile name: {d.file}")
            if d.siaddr and d.siaddr != "0.0.0.0":
                lines.append(f"{xid} next server: {d.siaddr}")
            if d.reply[10] & 0x80 and d.reply[12:16] == b"\0\0\0\0":
                lines.append(f"{xid} broadcast response")
            lines.extend(f"{xid} {line}" for line in _sent_options(d.reply))
        for line in lines:
            log.info("%s", line)


def _sanitise(raw: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "." for b in raw)


_NAMES = {53: "message-type", 54: "server-identifier", 60: "vendor-class",
          97: "client-machine-id", 43: "vendor-encap", 82: "agent-id"}


def _sent_options(reply: bytes) -> list[str]:
    """`sent size:  1 option: 53 message-type  2` lines for each option of a reply."""
    out = []
    pos = 240
    while pos + 1 < len(reply) and reply[pos] != 255:
        code, length = reply[pos], reply[pos + 1]
        value = reply[pos + 2 : pos + 2 + length]
        if code == 53:
            text = str(value[0])
        elif code == 54:
            text = str(IPv4Address(value))
        elif code == 60:
            text = _sanitise(value)
        else:
            text = ":".join(f"{b:02x}" for b in value[:16]) + ("..." if length > 16 else "")
        out.append(f"sent size:{length:3d} option:{code:3d} {_NAMES.get(code, '')}  {text}")
        pos += 2 + length
    return out
