"""DHCP the way a PXE ROM does it: from 0.0.0.0 on a raw interface, then PXE boot-server discovery.

`Link` is scapy's layer-2 socket on one interface (root or CAP_NET_RAW): frames go out with the
client's MAC as source and 0.0.0.0 -> 255.255.255.255, replies are read whatever their Ethernet
or IP destination (the socket is promiscuous, so unicast offers to a MAC other than the
interface's are seen too). `DhcpClient` runs DISCOVER -> offers -> REQUEST -> ACK with the
profile's retries and offer window, sorts offers by PXE 2.1's rules and, once the client has an
address, sends boot-server discovery (DHCPREQUEST with 43.71, to port 4011 or broadcast) or
iPXE's ProxyDHCPREQUEST. Replies to those are read on the same raw socket, matched by xid.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pxelab.client import packet
from pxelab.client.profile import Profile

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
PXE_PORT = 4011
# What iPXE puts in option 175 (captured), without its bus-id sub-option.
IPXE_175 = bytes.fromhex("130101110101100102")


class DhcpFailure(RuntimeError):
    """A DHCP step that did not get the answer it needs; the message names the broken link."""


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


class Link:
    """Raw send/receive of DHCP frames on one interface."""

    def __init__(self, iface: str, mac: bytes) -> None:
        import scapy.layers.inet
        import scapy.layers.l2  # noqa: F401 -- registers Ether, so received frames decode
        from scapy.arch.linux import L2Socket

        self.iface = iface
        self.mac = mac
        try:
            self.sock = L2Socket(iface=iface, promisc=True, filter="udp")
        except PermissionError:
            raise
        except Exception:  # no tcpdump/libpcap to compile the filter: read everything
            self.sock = L2Socket(iface=iface, promisc=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sock.close()

    def send(
        self,
        payload: bytes,
        *,
        src_ip: str = "0.0.0.0",
        dst_ip: str = "255.255.255.255",
        sport: int = 68,
        dport: int = 67,
        dst_mac: str = BROADCAST_MAC,
    ) -> None:
        from scapy.layers.inet import IP, UDP
        from scapy.layers.l2 import Ether
        from scapy.packet import Raw

        frame = (
            Ether(src=mac_text(self.mac), dst=dst_mac)
            / IP(src=src_ip, dst=dst_ip, ttl=64)
            / UDP(sport=sport, dport=dport)
            / Raw(payload)
        )
        self.sock.send(frame)

    def receive(self, deadline: float) -> tuple[str, int, bytes] | None:
        """The next UDP datagram that looks like a BOOTREPLY: (source ip, source port, payload)."""
        from scapy.layers.inet import IP, UDP

        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return None
            try:
                pkt = self.sock.recv()
            except Exception:
                continue
            if pkt is None or UDP not in pkt or IP not in pkt:
                continue
            payload = bytes(pkt[UDP].payload)
            if len(payload) < 240 or payload[0] != 2:
                continue
            return pkt[IP].src, int(pkt[UDP].sport), payload


@dataclass
class Offer:
    """One answer to a DISCOVER, classified as PXE 2.1 does."""

    server: str
    port: int
    reply: packet.Reply
    kind: str  # "dhcp" (address only), "dhcp+pxe" (address and PXE data), "proxy", "bootp"
    t: float
    ignored: str = ""  # why the client's profile ignores this offer's boot data, if it does

    @property
    def has_address(self) -> bool:
        return self.reply.yiaddr != "0.0.0.0"

    @property
    def is_pxe(self) -> bool:
        return self.kind in ("dhcp+pxe", "proxy")


def classify(
    rep: packet.Reply, needs_option60: bool, own_class: str = "PXEClient"
) -> tuple[str, str]:
    """(kind, ignored-reason) for an offer. `own_class` is the client's own vendor class name
    (a "HW-Client" ROM recognises "HW-Client" in option 60 as well as "PXEClient")."""
    pxe_class = rep.vendor_class.startswith(("PXEClient", own_class))
    has_addr = rep.yiaddr != "0.0.0.0"
    if 53 not in rep.options:
        return "bootp", ""
    boot_data = 43 in rep.options or 67 in rep.options or rep.file_field.strip(b"\0") != b""
    if has_addr:
        return ("dhcp+pxe" if pxe_class else "dhcp"), ""
    if pxe_class:
        return "proxy", ""
    if boot_data:
        # An address-less offer with boot data but no "PXEClient": lenient ROMs take it.
        if needs_option60:
            return "proxy", 'no option 60 "PXEClient": this ROM ignores the offer'
        return "proxy", ""
    return "dhcp", "offers no address and no boot data"


@dataclass
class DhcpResult:
    offers: list[Offer] = field(default_factory=list)
    address_offer: Offer | None = None
    boot_offer: Offer | None = None
    ack: packet.Reply | None = None
    ack_server: str | None = None


class DhcpClient:
    """One PXE client's DHCP conversation on a `Link`."""

    def __init__(
        self,
        link: Link,
        profile: Profile,
        *,
        arch: int,
        uuid: bytes | None,
        log: Callable[..., None],
        offer_wait: float | None = None,
        deadline: float | None = None,
        until_complete: bool | None = None,
    ) -> None:
        self.link = link
        self.profile = profile
        self.arch = arch
        self.uuid = uuid
        self.log = log
        self.offer_wait = profile.dhcp.offer_wait if offer_wait is None else offer_wait
        self.deadline = deadline
        self.until_complete = (
            profile.dhcp.stop_when_complete if until_complete is None else until_complete
        )
        self.xid = struct.unpack("!I", os.urandom(4))[0]
        self.started = time.monotonic()

    # -- what the client sends ----------------------------------------------------------------

    def pxe_options(self) -> list[tuple[int, bytes]]:
        d = self.profile.dhcp
        opts: list[tuple[int, bytes]] = [
            (57, struct.pack("!H", d.max_message_size)),
            (55, bytes(d.param_request_list)),
            (93, struct.pack("!H", self.arch)),
            (94, bytes((1, d.undi[0], d.undi[1]))),
        ]
        if self.uuid is not None:
            opts.append((97, b"\0" + self.uuid))
        opts.append((60, d.vendor_class_for(self.arch).encode()))
        if d.user_class:
            opts.append((77, d.user_class.encode()))
        if d.send_175:
            opts.append((175, IPXE_175))
            opts.append((61, b"\x01" + self.link.mac))
        return opts

    def _secs(self) -> int:
        return int(time.monotonic() - self.started)

    def _send(
        self,
        msg: int,
        extra: list[tuple[int, bytes]],
        *,
        ciaddr: str = "0.0.0.0",
        to_4011: bool = False,
    ) -> bytes:
        d = self.profile.dhcp
        opts = extra + self.pxe_options()
        if msg == packet.REQUEST and not to_4011 and d.request_max_message_size:
            opts = [
                (c, struct.pack("!H", d.request_max_message_size)) if c == 57 else (c, v)
                for c, v in opts
            ]
        order = d.pxe_option_order if to_4011 else d.option_order
        if order:
            rank = {code: i for i, code in enumerate(order)}
            opts = sorted(opts, key=lambda o: rank.get(o[0], len(rank)))
        secs = self._secs() if msg == packet.DISCOVER or d.request_secs else 0
        broadcast = d.pxe_broadcast_flag if to_4011 else d.broadcast_flag
        return packet.build(
            msg, self.xid, self.link.mac, opts, ciaddr=ciaddr, secs=secs, broadcast=broadcast
        )

    def _cap(self, t: float) -> float:
        return t if self.deadline is None else min(t, self.deadline)

    # -- DISCOVER / OFFER ---------------------------------------------------------------------

    def discover(self) -> list[Offer]:
        d = self.profile.dhcp
        offers: list[Offer] = []
        seen: set[tuple[str, bool]] = set()
        for attempt, timeout in enumerate(d.retries, 1):
            if self.deadline is not None and time.monotonic() >= self.deadline:
                break
            self.link.send(self._send(packet.DISCOVER, []))
            self.log(
                "dhcp", f"DISCOVER #{attempt} sent (xid {self.xid:#010x}, waits {timeout:g} s)"
            )
            end = self._cap(time.monotonic() + timeout)
            first: float | None = None
            while True:
                limit = end if first is None else min(end, self._cap(first + self.offer_wait))
                got = self.link.receive(limit)
                if got is None:
                    break
                src, sport, raw = got
                rep = self._parse(raw)
                if rep is None or rep.msg_type != packet.OFFER:
                    continue
                key = (src, rep.yiaddr != "0.0.0.0")  # a server's answer to a retransmission
                if key in seen:
                    continue
                seen.add(key)
                kind, ignored = classify(
                    rep, d.needs_option60, d.vendor_class_for(self.arch).split(":")[0]
                )
                offer = Offer(src, sport, rep, kind, time.monotonic() - self.started, ignored)
                offers.append(offer)
                what = f"yiaddr {rep.yiaddr}" if offer.has_address else "no address"
                self.log(
                    "dhcp",
                    f"OFFER from {src} ({kind}, {what}"
                    + (f", file {self.boot_file(rep)!r}" if self.boot_file(rep) else "")
                    + (f"; ignored: {ignored}" if ignored else "")
                    + ")",
                )
                if first is None:
                    first = time.monotonic()
                if self.until_complete and self._complete(offers):
                    break
            if any(o.has_address for o in offers):
                return offers
        return offers

    def _parse(self, raw: bytes) -> packet.Reply | None:
        try:
            rep = packet.parse(raw, honour_overload=self.profile.dhcp.honour_overload)
        except ValueError:
            return None
        if rep.xid != self.xid or rep.chaddr[:6] != self.link.mac:
            return None
        return rep

    @staticmethod
    def _complete(offers: list[Offer]) -> bool:
        if any(o.kind == "dhcp+pxe" for o in offers):
            return True
        return any(o.has_address for o in offers) and any(
            o.kind == "proxy" and not o.ignored for o in offers
        )

    def boot_file(self, rep: packet.Reply) -> str:
        d = self.profile.dhcp
        return packet.boot_file(
            rep, honour_overload=d.honour_overload, nul_terminated=d.bootfile_nul_terminated
        )

    @staticmethod
    def choose(offers: list[Offer]) -> tuple[Offer | None, Offer | None]:
        """PXE 2.1: (the offer to take the address from, the offer to take boot data from).

        An offer with both an address and PXE data serves for both; otherwise the first address
        offer and the first proxy offer the ROM does not ignore.
        """
        both = next((o for o in offers if o.kind == "dhcp+pxe"), None)
        if both is not None:
            return both, both
        address = next((o for o in offers if o.has_address), None)
        proxy = next((o for o in offers if o.kind == "proxy" and not o.ignored), None)
        return address, proxy

    # -- REQUEST / ACK ------------------------------------------------------------------------

    def request(self, offer: Offer) -> packet.Reply:
        rep = offer.reply
        server_id = rep.server_id or offer.server
        extra = [(50, packet.ip_bytes(rep.yiaddr)), (54, packet.ip_bytes(server_id))]
        for attempt, timeout in enumerate(self.profile.dhcp.retries, 1):
            if self.deadline is not None and time.monotonic() >= self.deadline:
                break
            self.link.send(self._send(packet.REQUEST, extra))
            self.log("dhcp", f"REQUEST #{attempt} for {rep.yiaddr} to server {server_id}")
            end = self._cap(time.monotonic() + timeout)
            while True:
                got = self.link.receive(end)
                if got is None:
                    break
                src, _sport, raw = got
                ans = self._parse(raw)
                if ans is None or ans.msg_type not in (packet.ACK, packet.NAK):
                    continue
                if ans.server_id not in (None, server_id):
                    continue  # another server's answer to our REQUEST (a proxy's, say)
                if ans.msg_type == packet.NAK:
                    msg = ans.options.get(56, b"").decode("latin-1")
                    raise DhcpFailure(
                        f"DHCP server {src} refused the address {rep.yiaddr} "
                        f"(NAK{': ' + msg if msg else ''})"
                    )
                self.log("dhcp", f"ACK from {src}: address {ans.yiaddr}")
                return ans
        raise DhcpFailure(f"no ACK from DHCP server {server_id} for {rep.yiaddr}")

    # -- after the address: port 4011 -----------------------------------------------------------

    def _not_a_boot_server_ack(self, ans: packet.Reply, item: tuple[int, int] | None) -> str:
        """Why a ROM would not take this ACK as the boot server's answer ("" if it would).

        PXE 2.1: the answer carries option 60 "PXEClient"; to a discovery request it also
        carries 43.71 with the boot server type that was asked for.
        """
        own = _own_classes(self.profile.dhcp.vendor_class_for(self.arch))
        if not ans.vendor_class.startswith(own):
            return 'no option 60 "PXEClient" (not a PXE boot server\'s answer)'
        if item is not None:
            pxe = packet.parse_pxe(ans.options.get(43, b""))
            if pxe.boot_item is None:
                return "no 43.71 boot item"
            if pxe.boot_item[0] != item[0]:
                return f"43.71 is type {pxe.boot_item[0]}, asked for type {item[0]}"
        return ""

    def pxe_request(
        self,
        client_ip: str,
        local_ip: str,
        server: str,
        *,
        item: tuple[int, int] | None,
        broadcast: bool = False,
        attempts: tuple[float, ...] = (1.0, 2.0, 3.0),
    ) -> tuple[str, packet.Reply] | None:
        """Boot-server discovery (item given) or iPXE's ProxyDHCPREQUEST (item None).

        Unicast to `server`:4011, or broadcast to port 67 when `broadcast`. Sent from a kernel
        UDP socket (the client now has its address), read back on the raw link by xid.
        """
        self.xid = struct.unpack("!I", os.urandom(4))[0]
        extra: list[tuple[int, bytes]] = []
        if item is not None:
            extra.append((43, packet.boot_item_option(*item)))
        raw = self._send(packet.REQUEST, extra, ciaddr=client_ip, to_4011=not broadcast)
        dest = ("255.255.255.255", 67) if broadcast else (server, PXE_PORT)
        what = (
            "boot-server discovery" + (f" (type {item[0]})" if item else "")
            if item is not None
            else "ProxyDHCPREQUEST"
        )
        port = 68 if broadcast else self.profile.dhcp.pxe_source_port
        sock = _udp_socket(self.link.iface, local_ip, broadcast, port)
        try:
            for attempt, timeout in enumerate(attempts, 1):
                sock.sendto(raw, dest)
                self.log("pxe", f"{what} #{attempt} to {dest[0]}:{dest[1]}")
                end = self._cap(time.monotonic() + timeout)
                while True:
                    got = self.link.receive(end)
                    if got is None:
                        break
                    src, sport, payload = got
                    ans = self._parse(payload)
                    if ans is None or ans.msg_type != packet.ACK:
                        continue
                    why = self._not_a_boot_server_ack(ans, item)
                    if why:
                        # e.g. the LAN's DHCP server ACKing a broadcast REQUEST with ciaddr
                        self.log("pxe", f"ACK from {src}:{sport} ignored: {why}")
                        continue
                    self.log(
                        "pxe",
                        f"ACK from {src}:{sport}"
                        + (f", file {self.boot_file(ans)!r}" if self.boot_file(ans) else ""),
                    )
                    return src, ans
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    break
        finally:
            sock.close()
        return None


def _own_classes(vendor_class: str) -> tuple[str, ...]:
    return ("PXEClient", vendor_class.split(":")[0])


def _udp_socket(iface: str, local_ip: str, broadcast: bool, port: int = 68) -> socket.socket:
    """A UDP socket on `local_ip` ("" = any), `port` if free (ROMs send from 68, EDK2 4011)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if broadcast:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    host = "" if broadcast else local_ip
    try:
        sock.bind((host, port))
    except OSError:
        sock.bind((host, 0))
    return sock
