"""The proxyDHCP reply policy as pure functions: config + request -> ignore (why) or a reply.

    policy = ProxyPolicy(cfg)                      # cfg: pxelab.boot.model.ServerConfig
    req = Request.from_bytes(data, port=67)        # WireError on malformed input
    d = policy.decide(req, Local(IPv4Address("192.168.10.20"), 24, "eth0"))
    d.reply          # bytes to send, or None
    d.reason         # why it was ignored ("not a PXE client", ...) when reply is None
    d.kind           # "offer" | "ack" | "ignored"
    d.arch, d.file, d.tags, d.delay, d.vendor, d.siaddr   # for events and --log-dhcp lines
    d = policy.decide_packet(data, 67, local)       # the same, with a cache of whole replies

Behaviour follows dnsmasq 2.90's proxy path (rfc2131.c: dhcp_reply, pxe_opts,
pxe_uefi_workaround, find_boot), checked field by field against a captured dnsmasq exchange:

- Only PXE clients: option 60 begins with a configured vendor class; nobody else, ever. No
  address is handed out: yiaddr is 0 (on port 4011 it repeats the client's own ciaddr, as
  dnsmasq does), no lease options.
- Port 67: DISCOVER -> OFFER, only with option 93 (dnsmasq's rule: no 93, no answer).
  dnsmasq ignores REQUESTs on 67; pxelab answers one (ACK) only when its option 54 names this
  server, which dnsmasq never does (deliberate: a client that selected the proxy's offer).
- Port 4011: REQUEST/INFORM with 43.71 (PXE boot server discovery) -> ACK with the file of
  the service of that type (basename + ".<layer>" if it has no dot) and 43.71 echoed; a type
  with no file (0 = local boot) gets no answer, as in dnsmasq: the client boots from disk.
  REQUEST (or DISCOVER) without 43.71 (iPXE's ProxyDHCPREQUEST) -> the proxy answer again.
- Reply options in dnsmasq's order: 53, 54 (own address), 60 (the matched vendor class), 97
  (echoed when the client sent at least 17 bytes), 43, then `dhcp-option-pxe` options
  (dnsmasq 2.92; plain `dhcp-option` lines are never sent by a proxy), then 82 for relays.
- 43: 6 discovery control (3; 2 when a service has no known server; 8 without menu), 8 boot
  servers, 9 menu (items that would pass 253 bytes drop the whole menu, as dnsmasq), 10
  prompt (configured, else "PXE" with timeout 0, or 255 for a choice), then the configured
  vendor sub-options, last line first (dnsmasq keeps them in a list it prepends to). A
  configured 43.6 is sent after the computed one (the seed's "2b" quirk; clients read the first).
- UEFI (arch >= 6) on port 67: no 43 (the client must come to 4011) and siaddr = own address;
  with exactly one UEFI service for that arch no boot file either (dnsmasq's "UEFI
  workaround"); on 4011 that one service's file and server go straight into the header.
- Boot file and siaddr in the header from the `dhcp-boot` entry chosen by tags (tagged entries
  first, last line first; then the last untagged one); the file name is NUL-terminated by the
  header field. dnsmasq never overloads file/sname in proxy replies, so `dhcp-no-override`
  changes nothing here.
- Service architecture match is exact (a service for CSA 7 is not offered to arch 9), as in
  dnsmasq.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from pxelab.boot.model import (
    DhcpOption,
    ProxyRange,
    ServerConfig,
    tags_match,
    tags_match_wild,
)
from pxelab.wire.dhcp import scan_options
from pxelab.wire.errors import BadValueError, TruncatedError

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
MAGIC = b"\x63\x82\x53\x63"
MIN_PACKET = 300
ZERO4 = b"\0\0\0\0"

_HEADER = struct.Struct("!BBBB4s2sH4s4s4s4s16s64s128s")
_REQ_HEADER = struct.Struct("!BBBB4s2sH4s4s4s4s16s")


@dataclass(frozen=True, eq=False)
class Local:
    """The server address a request arrived on: its interface address, prefix, and name.

    Compared by identity (it keys the reply cache): make one per interface and reuse it.
    """

    address: IPv4Address
    prefixlen: int = 24
    interface: str = ""

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(f"{self.address}/{self.prefixlen}", strict=False)


class Request:
    """The parts of a BOOTP/DHCP request the policy reads (raw bytes, no copies of big data)."""

    __slots__ = (
        "chaddr",
        "ciaddr",
        "cookie",
        "flags",
        "giaddr",
        "hlen",
        "hops",
        "htype",
        "op",
        "options",
        "port",
        "secs",
        "xid",
    )

    def __init__(
        self,
        port: int,
        op: int,
        htype: int,
        hlen: int,
        hops: int,
        xid: bytes,
        secs: bytes,
        flags: int,
        ciaddr: bytes,
        giaddr: bytes,
        chaddr: bytes,
        cookie: bool,
        options: dict[int, bytes],
    ) -> None:
        self.port = port
        self.op = op
        self.htype = htype
        self.hlen = hlen
        self.hops = hops
        self.xid = xid
        self.secs = secs
        self.flags = flags
        self.ciaddr = ciaddr
        self.giaddr = giaddr
        self.chaddr = chaddr
        self.cookie = cookie
        self.options = options

    @classmethod
    def from_bytes(cls, data: bytes, port: int = 67) -> Request:
        """Decode the header and options (RFC 3396 repeats joined; overloaded file/sname
        fields read). Raises WireError on a truncated packet or option."""
        if len(data) < 240:
            raise TruncatedError(f"DHCP message of {len(data)} bytes, the header needs 240", 0)
        (op, htype, hlen, hops, xid, secs, flags, ciaddr, _y, _s, giaddr,
         chaddr) = _REQ_HEADER.unpack_from(data, 0)  # fmt: skip
        cookie = data[236:240] == MAGIC
        options: dict[int, bytes] = {}
        if cookie:
            scan_options(data, 240, len(data), options)
            ov = options.get(52)
            if ov:
                if ov[0] & 1:
                    scan_options(data, 108, 236, options, where="file field")
                if ov[0] & 2:
                    scan_options(data, 44, 108, options, where="sname field")
        return cls(
            port, op, htype, hlen, hops, xid, secs, flags, ciaddr, giaddr, chaddr, cookie, options
        )

    @property
    def message_type(self) -> int:
        mt = self.options.get(53)
        return mt[0] if mt else 0

    @property
    def mac(self) -> str:
        return self.chaddr[: min(self.hlen, 16)].hex(":")

    @property
    def arch(self) -> int | None:
        raw = self.options.get(93)
        return int.from_bytes(raw[:2], "big") if raw and len(raw) >= 2 else None

    @property
    def xid_int(self) -> int:
        return int.from_bytes(self.xid, "big")


@dataclass(slots=True)
class Decision:
    kind: str  # "offer" | "ack" | "ignored"
    reply: bytes | None = None
    reason: str = ""
    arch: int | None = None
    file: str = ""
    siaddr: str = ""
    vendor: str = ""
    tags: tuple[str, ...] = ()
    delay: int = 0


Resolver = Callable[[str], IPv4Address | None]
Tagset = set[str] | frozenset[str]


def _no_resolver(name: str) -> IPv4Address | None:
    return None


@dataclass(slots=True)
class _Plan:
    """Everything of a reply that depends on (config, local address, client class), not on the
    client itself: cached, so the per-packet work is header packing and one join."""

    mtype: int
    siaddr: bytes
    sname: bytes
    file: bytes
    head_opts: bytes  # 53, 54, 60
    tail_opts: bytes  # 43 (and later options)
    file_name: str
    siaddr_text: str = ""
    vendor: str = ""
    delay: int = 0


class ProxyPolicy:
    """dnsmasq's proxy decisions over one `ServerConfig`. Thread-unsafe cache; pure otherwise."""

    def __init__(self, cfg: ServerConfig, resolve: Resolver = _no_resolver) -> None:
        self.cfg = cfg
        self.resolve = resolve
        # dnsmasq prepends dhcp-pxe-vendor entries: the last one given is tried first
        self._vendors = [v.encode() for v in reversed(cfg.vendor_classes)]
        self._vendor_opts = [
            o for o in reversed(cfg.options) if o.vendor is not None or o.vendor_pxe
        ]
        self._cache: dict[tuple, _Plan] = {}
        self._ranges: dict[tuple, ProxyRange | bool | None] = {}
        self._local_tags: dict[Local, frozenset[str]] = {}
        self._whole: dict[tuple, Decision] = {}
        # a reply depends on the MAC only through dhcp-mac rules
        self._mac_matters = any(r.kind == "mac" for r in cfg.tag_rules)
        self._sorted: dict[frozenset[str], tuple[str, ...]] = {}

    # ------------------------------------------------------------------ classification

    def pxe_vendor(self, req: Request) -> bytes | None:
        v60 = req.options.get(60)
        if v60 is None:
            return None
        for prefix in self._vendors:
            if v60.startswith(prefix):
                return prefix
        return None

    def tags_for(self, req: Request, local: Local) -> set[str]:
        tags: set[str] = {local.interface} if local.interface else set()
        opts = req.options
        for rule in self.cfg.tag_rules:
            if rule.kind == "mac":
                value = rule.value or b""
                if (
                    req.hlen == len(value)
                    and rule.option in (0, req.htype)
                    and _match_bytes(value, rule.mask, True, False, req.chaddr[: req.hlen])
                ):
                    tags.add(rule.tag)
                continue
            if rule.kind == "match":
                if rule.vi_encap is not None:
                    if _match_vi(rule.vi_encap, rule, opts.get(125)):
                        tags.add(rule.tag)
                    continue
                raw = opts.get(rule.option or 0)
                if raw is not None and _match_bytes(
                    rule.value, rule.mask, rule.is_hex, rule.is_string, raw
                ):
                    tags.add(rule.tag)
            else:
                raw = opts.get(77 if rule.kind == "userclass" else 60)
                if raw is None or rule.value is None:
                    continue
                if rule.kind == "userclass":
                    raw = _zero_counts(raw)
                if rule.value in raw:
                    tags.add(rule.tag)
        return self._tag_ifs(tags)

    def _tag_ifs(self, tags: set[str]) -> set[str]:
        """dnsmasq's run_tag_if: in file order, each rule sees what the earlier ones set."""
        for rule in self.cfg.tag_ifs:
            if tags_match_wild(rule.conditions, tags):
                tags.update(rule.sets)
        return tags

    def _range_for(self, req: Request, local: Local, tags: Tagset) -> ProxyRange | None:
        """dnsmasq's context choice: by giaddr (relayed) with the range's netmask or a
        classful guess; else ranges on the arrival interface's subnet; for a client with an
        address (ciaddr) on 4011, by ciaddr."""
        ranges = [r for r in self.cfg.ranges if tags_match(r.tags, tags)]
        if req.giaddr != ZERO4:
            addr = IPv4Address(req.giaddr)
            for r in ranges:
                if addr in _net(r, guess=True):
                    return r
            return None
        on_link = [r for r in ranges if r.address in _net(r, local=local)]
        if req.ciaddr != ZERO4 and req.port == 4011:
            addr = IPv4Address(req.ciaddr)
            for r in on_link:
                if addr in _net(r, local=local):
                    return r
            for r in ranges:
                if addr in _net(r, guess=True):
                    return r
            return None
        return on_link[0] if on_link else None

    # ------------------------------------------------------------------ the decision

    def decide_packet(self, data: bytes, port: int, local: Local) -> Decision:
        """decide(Request.from_bytes(data, port), local), remembering whole answers.

        Everything of a request a reply depends on, but xid, secs and chaddr, is its key: the
        options bytes, flags, ciaddr, giaddr, htype, hlen, hops (and chaddr when dhcp-mac
        rules exist). A request like one seen before gets the remembered reply with its own
        xid, secs and chaddr: the same bytes decide() would build. Raises WireError as
        Request.from_bytes does. Worth it only for repeated identical requests (retries, one
        firmware image without per-client options): clients' 61/97 make most keys unique,
        so the server itself calls decide().
        """
        if len(data) < 240:
            return self.decide(Request.from_bytes(data, port), local)
        key = (
            port,
            data[236:],
            data[0:4],
            data[10:16],
            data[24:28],
            local,
            data[28:44] if self._mac_matters else None,
        )
        hit = self._whole.get(key)
        if hit is not None:
            reply = hit.reply
            if reply is not None:
                reply = reply[:4] + data[4:10] + reply[10:28] + data[28:44] + reply[44:]
            return Decision(
                hit.kind,
                reply,
                hit.reason,
                hit.arch,
                hit.file,
                hit.siaddr,
                hit.vendor,
                hit.tags,
                hit.delay,
            )
        d = self.decide(Request.from_bytes(data, port), local)
        if len(self._whole) > 4096:
            self._whole.clear()
        self._whole[key] = d
        return d

    def decide(self, req: Request, local: Local) -> Decision:
        if req.op != 1:
            return Decision("ignored", reason="not a BOOTREQUEST")
        if req.hlen > 16 or (req.htype == 0 and req.hlen != 0):
            return Decision("ignored", reason="bad hardware address length")
        mtype = req.message_type
        if not req.cookie or mtype == 0:
            return Decision("ignored", reason="BOOTP request (a proxy answers only DHCP)")
        vendor = self.pxe_vendor(req)
        arch = req.arch
        if vendor is None:
            return Decision("ignored", reason="not a PXE client (no PXE vendor class)", arch=arch)
        if not self.cfg.ranges:
            return Decision("ignored", reason="no dhcp-range=ADDRESS,proxy configured", arch=arch)
        # dnsmasq: a ciaddr in a DISCOVER, or beside a requested address (50), is a client bug
        if mtype == DISCOVER or 50 in req.options:
            req.ciaddr = ZERO4
        if self.cfg.tag_rules or self.cfg.tag_ifs:
            tkey = frozenset(self.tags_for(req, local))
        else:  # the tags then depend on the interface only
            tkey = self._local_tags.get(local)
            if tkey is None:
                tkey = self._local_tags[local] = frozenset(self.tags_for(req, local))
        tags: frozenset[str] = tkey
        rkey = (req.giaddr, req.ciaddr if req.port == 4011 else ZERO4, local, tkey)
        rng = self._ranges.get(rkey, False)
        if rng is False:
            rng = self._range_for(req, local, tags)
            if len(self._ranges) > 4096:
                self._ranges.clear()
            self._ranges[rkey] = rng
        if rng is None:
            via = (
                IPv4Address(req.giaddr) if req.giaddr != ZERO4 else local.interface or local.address
            )
            return Decision(
                "ignored",
                reason=f"no proxy range for a request via {via}",
                arch=arch,
                tags=tuple(sorted(tags)),
            )
        assert isinstance(rng, ProxyRange)
        if rng.set_tag:
            tags = tkey = frozenset(self._tag_ifs(set(tkey) | {rng.set_tag}))
        frozen = self._sorted.get(tkey)
        if frozen is None:
            frozen = self._sorted[tkey] = tuple(sorted(tags))
        for rule in self.cfg.ignores:
            if tags_match(rule.tags, tags):
                return Decision(
                    "ignored",
                    reason=f"dhcp-ignore ({rule.source})",
                    arch=arch,
                    vendor=vendor.decode(),
                    tags=frozen,
                )
        if req.port == 4011 and mtype in (REQUEST, INFORM):
            item = _boot_item(req.options.get(43))
            if item is not None:
                return self._bootserver(req, local, vendor, item, tags, frozen, arch)
        if arch is None:
            return Decision(
                "ignored",
                reason="no client architecture (option 93)",
                vendor=vendor.decode(),
                tags=frozen,
            )
        if mtype == DISCOVER or (mtype == REQUEST and req.port == 4011):
            pass
        elif mtype == REQUEST and req.options.get(54) == local.address.packed:
            pass  # deliberate difference from dnsmasq: see the module docstring
        else:
            return Decision(
                "ignored",
                reason=_why_not(mtype, req.port),
                arch=arch,
                vendor=vendor.decode(),
                tags=frozen,
            )
        key = (req.port, mtype == DISCOVER, arch, tkey, vendor, local, req.options.get(60))
        plan = self._cache.get(key)
        if plan is None:
            plan = self._proxy_plan(req, local, vendor, arch, tags, mtype)
            plan.delay = self.delay_for(tags)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = plan
        # dnsmasq: a DISCOVER, or a client without an address, gets a broadcast answer
        if mtype == DISCOVER or req.ciaddr == ZERO4:
            flags, ciaddr = req.flags | 0x8000, ZERO4
        else:
            flags, ciaddr = req.flags, req.ciaddr
        reply = self._pack(req, plan, flags, ciaddr, ZERO4)
        return Decision(
            "offer" if plan.mtype == OFFER else "ack",
            reply,
            arch=arch,
            file=plan.file_name,
            siaddr=plan.siaddr_text,
            vendor=plan.vendor,
            tags=frozen,
            delay=plan.delay,
        )

    def delay_for(self, tags: Tagset) -> int:
        delays = self.cfg.reply_delays
        for d in reversed(delays):
            if d.tags and tags_match(d.tags, tags):
                return d.seconds
        for d in reversed(delays):
            if not d.tags:
                return d.seconds
        return 0

    # ------------------------------------------------------------------ building replies

    def _pack(self, req: Request, plan: _Plan, flags: int, ciaddr: bytes, yiaddr: bytes) -> bytes:
        head = _HEADER.pack(
            2,
            req.htype,
            req.hlen,
            req.hops,
            req.xid,
            req.secs,
            flags,
            ciaddr,
            yiaddr,
            plan.siaddr,
            req.giaddr,
            req.chaddr,
            plan.sname,
            plan.file,
        )
        parts = [head, MAGIC, plan.head_opts]
        uuid = req.options.get(97)
        if uuid is not None and len(uuid) >= 17:
            parts.append(b"\x61\x11" + uuid[:17])
        parts.append(plan.tail_opts)
        agent = req.options.get(82)
        if agent is not None and req.giaddr != ZERO4:
            parts.append(bytes((82, len(agent))) + agent)
        parts.append(b"\xff")
        out = b"".join(parts)
        if len(out) < MIN_PACKET:
            out += bytes(MIN_PACKET - len(out))
        return out

    def _find_boot(self, tags: Tagset):
        boots = self.cfg.boot
        for b in reversed(boots):
            if b.tags and tags_match(b.tags, tags):
                return b
        for b in reversed(boots):
            if not b.tags:
                return b
        return None

    def _uefi_single(self, arch: int, tags: Tagset):
        if arch < 6:
            return None
        found = None
        for s in self.cfg.services:
            if s.csa == arch and s.basename and tags_match(s.tags, tags):
                if found is not None:
                    return None
                found = s
        return found

    def _server_of(self, name: str | None, address: IPv4Address | None) -> bytes:
        if address is not None:
            return address.packed
        if name:
            ip = self.resolve(name)
            return ip.packed if ip is not None else ZERO4
        return ZERO4

    def _proxy_plan(
        self, req: Request, local: Local, vendor: bytes, arch: int, tags: Tagset, mtype: int
    ) -> _Plan:
        pxe_port = req.port == 4011
        siaddr, sname, file = ZERO4, b"", b""
        redirect = arch >= 6
        if redirect:
            siaddr = local.address.packed
        single = self._uefi_single(arch, tags)
        if single is not None and pxe_port:
            if single.server_name:
                siaddr = self._server_of(single.server_name, None)
                sname = single.server_name.encode()
            else:
                siaddr = (single.server_address or local.address).packed
                sname = str(IPv4Address(siaddr)).encode()
            base = single.basename or ""
            file = (base if "." in base else base + ".0").encode()
        boot = self._find_boot(tags)
        if single is None and boot is not None:
            if boot.server_address is not None:
                siaddr = boot.server_address.packed
            elif boot.server_host:
                siaddr = self._server_of(boot.server_host, None)
            if boot.file:
                file = boot.file.encode()[:127]
        reply_type = OFFER if mtype == DISCOVER else ACK
        head = (
            bytes((53, 1, reply_type))
            + b"\x36\x04"
            + local.address.packed
            + bytes((60, len(vendor)))
            + vendor
        )
        tail = b""
        v60 = req.options.get(60, b"")
        if (pxe_port and single is None) or not redirect:
            subs = self._pxe_subopts(arch, tags, local, v60)
            tail = _encap43(subs)
        tail += self._pxe_only_options(tags, local)
        return _Plan(
            reply_type,
            siaddr,
            sname[:63],
            file[:127],
            head,
            tail,
            file.decode(errors="replace"),
            str(IPv4Address(siaddr)),
            vendor.decode(),
        )

    def _pxe_only_options(self, tags: Tagset, local: Local) -> bytes:
        """dnsmasq's "dhcp-option-pxe ONLY" options (option_filter in PXE mode): per option
        number the last matching tagged line, else the last untagged one; sent last line
        first, an address 0.0.0.0 meaning this server."""
        lines = [
            o
            for o in reversed(self.cfg.options)
            if o.pxe_only and o.vendor is None and o.encap is None
        ]
        if not lines:
            return b""
        chosen: dict[int, DhcpOption] = {}
        for o in lines:
            if o.tags and tags_match(o.tags, tags) and o.number not in chosen:
                chosen[o.number] = o
        for o in lines:
            if not o.tags and o.number not in chosen:
                chosen[o.number] = o
        out = bytearray()
        for o in lines:
            if chosen.get(o.number) is not o:
                continue
            value = o.value
            if o.is_address:
                value = b"".join(
                    local.address.packed if value[i : i + 4] == ZERO4 else value[i : i + 4]
                    for i in range(0, len(value), 4)
                )
            out += bytes((o.number, len(value))) + value
        return bytes(out)

    def _configured_vendor(self, tags: Tagset, v60: bytes) -> list[tuple[int, bytes]]:
        out = []
        for o in self._vendor_opts:
            if not _vendor_match(o, v60, self._vendors):
                continue
            if not tags_match(o.tags, tags):
                continue
            out.append((o.number, o.value))
        return out

    def _pxe_subopts(
        self, arch: int, tags: Tagset, local: Local, v60: bytes
    ) -> list[tuple[int, bytes]]:
        configured = self._configured_vendor(tags, v60)
        discovery = 3
        menu, servers, items = bytearray(), bytearray(), 0
        for s in self.cfg.services:
            if s.csa != arch or not tags_match(s.tags, tags):
                continue
            text = s.text.encode()
            if len(menu) + len(text) + 3 >= 253:
                return configured  # dnsmasq: "PXE menu too large", no menu at all
            menu += struct.pack("!HB", s.type, len(text)) + text
            items += 1
            if s.basename:
                server = local.address.packed
            else:
                server = self._server_of(s.server_name, s.server_address)
            if server != ZERO4:
                if len(servers) + 3 + 4 >= 253:
                    return configured
                servers += struct.pack("!HB", s.type, 1) + server
            elif s.type != 0:
                discovery = 2
        has_prompt = any(n == 10 for n, _ in configured)
        out: list[tuple[int, bytes]] = []
        if items == 0:
            discovery = 8
        out.append((6, bytes((discovery,))))
        if not has_prompt:
            out.append((10, bytes((255 if items > 1 else 0,)) + b"PXE"))
        if items:
            if servers:
                out.append((8, bytes(servers)))
            out.append((9, bytes(menu)))
        return out + configured

    def _bootserver(
        self,
        req: Request,
        local: Local,
        vendor: bytes,
        item: bytes,
        tags: Tagset,
        frozen: tuple[str, ...],
        arch: int | None,
    ) -> Decision:
        kind, layer = struct.unpack("!HH", item[:4])
        if layer & 0x8000:
            return Decision(
                "ignored",
                reason="PXE BIS (layer with bit 15) not supported",
                arch=arch,
                tags=frozen,
            )
        service = next((s for s in self.cfg.services if s.type == kind), None)
        if service is None:
            return Decision(
                "ignored",
                reason=f"no pxe-service of boot server type {kind}",
                arch=arch,
                tags=frozen,
            )
        if not service.basename:
            return Decision(
                "ignored",
                reason=f"boot server type {kind} has no file "
                "(0 = local boot: the client boots from its disk)",
                arch=arch,
                tags=frozen,
            )
        ciaddr = IPv4Address(req.ciaddr)
        usable = [r for r in self.cfg.ranges if tags_match(r.tags, tags)]
        rng = next((r for r in usable if ciaddr in _net(r, local=local)), None) or next(
            (r for r in usable if ciaddr in _net(r, guess=True)), None
        )
        if rng is None:
            return Decision(
                "ignored",
                reason=f"client address {ciaddr} is in no proxy range",
                arch=arch,
                tags=frozen,
            )
        if service.server_name:
            siaddr = self._server_of(service.server_name, None)
        else:
            siaddr = (service.server_address or local.address).packed
        base = service.basename
        file = (base if "." in base else f"{base}.{layer}").encode()[:127]
        head = (
            bytes((53, 1, ACK))
            + b"\x36\x04"
            + local.address.packed
            + bytes((60, len(vendor)))
            + vendor
        )
        subs = [(71, bytes(item[:4])), *self._configured_vendor(tags, req.options.get(60, b""))]
        plan = _Plan(ACK, siaddr, b"", file, head, _encap43(subs), file.decode(errors="replace"))
        # dnsmasq: yiaddr repeats the client's address, ciaddr is cleared, flags unchanged
        reply = self._pack(req, plan, req.flags, ZERO4, req.ciaddr)
        return Decision(
            "ack",
            reply,
            arch=arch,
            file=plan.file_name,
            siaddr=str(IPv4Address(siaddr)),
            vendor=vendor.decode(),
            tags=frozen,
        )


# ---------------------------------------------------------------------- helpers


def _why_not(mtype: int, port: int) -> str:
    names = {1: "DISCOVER", 3: "REQUEST", 4: "DECLINE", 7: "RELEASE", 8: "INFORM"}
    name = names.get(mtype, f"message type {mtype}")
    if mtype == REQUEST and port == 67:
        return "REQUEST on port 67 for another server (the proxy answers it on 4011)"
    return f"{name} on port {port} is not answered by a proxy"


def _boot_item(raw43: bytes | None) -> bytes | None:
    if not raw43:
        return None
    pos = 0
    while pos + 1 < len(raw43):
        code = raw43[pos]
        if code == 255:
            return None
        if code == 0:
            pos += 1
            continue
        length = raw43[pos + 1]
        if code == 71 and length >= 4 and pos + 2 + length <= len(raw43):
            return raw43[pos + 2 : pos + 2 + 4]
        pos += 2 + length
    return None


def _encap43(subs: list[tuple[int, bytes]]) -> bytes:
    """dnsmasq's do_encap_opts: sub-options packed into option 43, closed by 255; one that does
    not fit in 255 bytes starts another option 43."""
    out = bytearray()
    cur = bytearray()
    for code, value in subs:
        tlv = bytes((code, len(value))) + value
        if len(cur) + len(tlv) > 255:
            out += bytes((43, len(cur))) + cur
            cur = bytearray()
        cur += tlv
    if cur:
        if len(cur) + 1 > 255:
            out += bytes((43, len(cur))) + cur
            cur = bytearray()
        cur.append(255)
        out += bytes((43, len(cur))) + cur
    return bytes(out)


def _vendor_match(o: DhcpOption, v60: bytes, vendors: list[bytes]) -> bool:
    """dnsmasq's match_vendor_opts: the class text appears anywhere in the client's option 60."""
    if o.vendor_pxe:
        return any(v in v60 for v in vendors)
    return (o.vendor or "").encode() in v60


def _zero_counts(raw: bytes) -> bytes:
    """RFC 3004 user class: zero the length bytes when they add up (as dnsmasq does), so a
    substring match sees only the texts."""
    j = 0
    while j < len(raw):
        j += raw[j] + 1
    if j != len(raw):
        return raw
    out = bytearray(raw)
    j = 0
    while j < len(out):
        n = out[j]
        out[j] = 0
        j += n + 1
    return bytes(out)


def _match_bytes(
    value: bytes | None, mask: bytes | None, is_hex: bool, is_string: bool, raw: bytes
) -> bool:
    if not value:
        return True
    n = len(value)
    if n > len(raw):
        return False
    if is_hex:
        m = mask or b"\xff" * n
        return all((raw[i] & m[i]) == (value[i] & m[i]) for i in range(n))
    step = 1 if is_string else n
    return any(raw[i : i + n] == value for i in range(0, len(raw) - n + 1, step))


def _match_vi(enterprise: int, rule, raw: bytes | None) -> bool:
    if not raw:
        return False
    pos = 0
    while pos + 5 <= len(raw):
        ent = int.from_bytes(raw[pos : pos + 4], "big")
        length = raw[pos + 4]
        data = raw[pos + 5 : pos + 5 + length]
        if ent == enterprise:
            o2 = 0
            while o2 < len(data):
                elen = data[o2]
                piece = data[o2 + 1 : o2 + 1 + elen]
                if _match_bytes(rule.value, rule.mask, rule.is_hex, rule.is_string, piece):
                    return True
                o2 += elen + 1
        pos += 5 + length
    return False


def _net(r: ProxyRange, *, local: Local | None = None, guess: bool = False) -> IPv4Network:
    if r.netmask is not None:
        return IPv4Network(f"{r.address}/{r.netmask}", strict=False)
    if local is not None and r.address in local.network:
        return local.network
    if guess:
        first = r.address.packed[0]
        bits = 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else 32
        return IPv4Network(f"{r.address}/{bits}", strict=False)
    return IPv4Network(f"{r.address}/32")


__all__ = ["BadValueError", "Decision", "Local", "ProxyPolicy", "Request"]
