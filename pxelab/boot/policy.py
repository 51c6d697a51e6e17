"""The proxyDHCP reply policy as pure functions: config + request -> ignore (why) or a reply.

    policy = ProxyPolicy(cfg)                      # cfg: pxelab.boot.model.ServerConfig
    req = Request.from_bytes(data, port=67)        # pxelab.wire.dhcp's reader; WireError
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
- `{server}` in a URL boot file (`dhcp-boot=tag:ipxe,http://{server}:8080/boot.ipxe`, TOML
  `http_boot`) becomes the address the request came in on, so one configuration serves every
  interface; a TFTP file name (no `://`) is sent as written.

UEFI HTTP Boot (deliberate difference from dnsmasq): a client whose option 60 begins with
"HTTPClient" (EDK2's HTTPClient:Arch:00016:UNDI:003000) is answered on port 67 with a proxy
offer: yiaddr 0, options 53, 54, 60 "HTTPClient", 97 echoed, the boot URL in the file field
(option 67 as well when it is longer than the field's 127 bytes), no 43. What EDK2's
HttpBootDxe (NetworkPkg/HttpBootDxe/HttpBootDhcp4.c, HttpBootParseDhcp4Packet and
HttpBootSelectDhcpOffer) needs from such an offer, and so what this sends:
  - yiaddr 0 makes it a proxy offer; option 60 must begin with the 10 bytes "HTTPClient"
    (CompareMem of 10, so "HTTPClient" exactly is enough) or it is no HTTP offer at all, and a
    proxy offer that is no HTTP offer is dropped;
  - the URI comes from option 67 when present, else from the file field (unless overloaded);
    an HTTP offer without one is dropped, and so is one whose URI does not parse;
  - a URI whose host is an IPv4 address is HttpOfferTypeProxyIpUri, used together with the
    router's plain offer (DhcpOnly or DhcpDns): the router is never touched. A host name makes
    HttpOfferTypeProxyNameUri, used only when the router's offer carries DNS servers (6);
  - offers are collected for the whole first DHCP window (4 s), and the firmware then
    REQUESTs the router's offer only: the proxy is never asked again, on 67 or 4011;
  - a packet over 1472 bytes is ignored.
The URL is the TOML `http_boot` entry for the client's architecture (then the one for every
architecture), else the dhcp-boot entry chosen by tags as above among those whose file is a
URL (a TFTP file name would make EDK2 drop the offer). No URL configured: no answer.
dnsmasq 2.90 stays silent in proxy mode with the lines people write for HTTP Boot
(`dhcp-vendorclass=set:http,HTTPClient`, `dhcp-option-force=tag:http,60,HTTPClient`,
`dhcp-boot=tag:http,http://...`): its is_pxe_client() matches option 60 only against
dhcp-pxe-vendor (default "PXEClient"), so it never reaches its proxy code, and
`dhcp-option-force` lines are never sent by a proxy anyway. pxelab answers them, which is what
lets HTTP Boot work behind a router nobody may touch. (Measured in tests/proxy/
test_http_boot_lab.py: adding `dhcp-pxe-vendor=PXEClient,HTTPClient` does make dnsmasq's proxy
answer, with the same bytes as pxelab's offer; it still has no HTTP server for the URL.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from pxelab.boot.model import (
    HTTP_VENDOR_CLASS,
    DhcpOption,
    ProxyRange,
    ServerConfig,
    is_url,
    tags_match,
    tags_match_wild,
)
from pxelab.wire.dhcp import ReplyTemplate, Request, encode_options, reuse_reply, tlv
from pxelab.wire.errors import BadValueError
from pxelab.wire.pxe import (
    boot_item_of,
    boot_server_entry,
    encode_option43,
    find_boot_item,
    menu_entry,
    prompt_value,
)

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
ZERO4 = b"\0\0\0\0"
HTTP_CLIENT = HTTP_VENDOR_CLASS.encode()
SERVER_PLACEHOLDER = "{server}"


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
    client itself: cached, so the per-packet work is wire's ReplyTemplate.encode."""

    mtype: int
    template: ReplyTemplate  # 53, 54, 60 | (97) | 43 and dhcp-option-pxe | (82)
    file_name: str
    siaddr_text: str = ""
    vendor: str = ""
    delay: int = 0
    ignored: str = ""  # not "": no answer, and why (an HTTP Boot client without a URL)


class ProxyPolicy:
    """dnsmasq's proxy decisions over one `ServerConfig`. Thread-unsafe cache; pure otherwise."""

    def __init__(self, cfg: ServerConfig, resolve: Resolver = _no_resolver) -> None:
        self.cfg = cfg
        self.resolve = resolve
        # dnsmasq prepends dhcp-pxe-vendor entries: the last one given is tried first
        self._vendors = [v.encode() for v in reversed(cfg.vendor_classes)]
        self._vendor_opts = [o for o in reversed(cfg.options) if o.vendor is not None
                             or o.vendor_pxe]
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
                if (req.hlen == len(value) and rule.option in (0, req.htype)
                        and _match_bytes(value, rule.mask, True, False, req.chaddr[:req.hlen])):
                    tags.add(rule.tag)
                continue
            if rule.kind == "match":
                if rule.vi_encap is not None:
                    if _match_vi(rule.vi_encap, rule, opts.get(125)):
                        tags.add(rule.tag)
                    continue
                raw = opts.get(rule.option or 0)
                if raw is not None and _match_bytes(rule.value, rule.mask, rule.is_hex,
                                                    rule.is_string, raw):
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
        key = (port, data[236:], data[0:4], data[10:16], data[24:28], local,
               data[28:44] if self._mac_matters else None)
        hit = self._whole.get(key)
        if hit is not None:
            reply = hit.reply
            if reply is not None:
                reply = reuse_reply(reply, data)
            return Decision(hit.kind, reply, hit.reason, hit.arch, hit.file, hit.siaddr,
                            hit.vendor, hit.tags, hit.delay)
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
        v60 = req.options.get(60)
        http = v60 is not None and v60[:10] == HTTP_CLIENT
        vendor = HTTP_CLIENT if http else self.pxe_vendor(req)
        arch = req.arch
        if vendor is None:
            return Decision("ignored", reason="not a PXE client (no PXE vendor class)",
                            arch=arch)
        if not self.cfg.ranges:
            return Decision("ignored", reason="no dhcp-range=ADDRESS,proxy configured",
                            arch=arch)
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
            via = (IPv4Address(req.giaddr) if req.giaddr != ZERO4
                   else local.interface or local.address)
            return Decision("ignored", reason=f"no proxy range for a request via {via}",
                            arch=arch, tags=tuple(sorted(tags)))
        assert isinstance(rng, ProxyRange)
        if rng.set_tag:
            tags = tkey = frozenset(self._tag_ifs(set(tkey) | {rng.set_tag}))
        frozen = self._sorted.get(tkey)
        if frozen is None:
            frozen = self._sorted[tkey] = tuple(sorted(tags))
        for rule in self.cfg.ignores:
            if tags_match(rule.tags, tags):
                return Decision("ignored", reason=f"dhcp-ignore ({rule.source})", arch=arch,
                                vendor=vendor.decode(), tags=frozen)
        if http and req.port == 4011:
            return Decision("ignored", reason="HTTP Boot client on port 4011 (HTTP Boot has "
                            "no boot server discovery)", arch=arch, vendor=vendor.decode(),
                            tags=frozen)
        if req.port == 4011 and mtype in (REQUEST, INFORM):
            item = find_boot_item(req.options.get(43))
            if item is not None:
                return self._bootserver(req, local, vendor, item, tags, frozen, arch)
        if arch is None:
            return Decision("ignored", reason="no client architecture (option 93)",
                            vendor=vendor.decode(), tags=frozen)
        if mtype == DISCOVER or (mtype == REQUEST and req.port == 4011):
            pass
        elif mtype == REQUEST and req.options.get(54) == local.address.packed:
            pass  # deliberate difference from dnsmasq: see the module docstring
        else:
            return Decision("ignored", reason=_why_not(mtype, req.port), arch=arch,
                            vendor=vendor.decode(), tags=frozen)
        key = (req.port, mtype == DISCOVER, arch, tkey, vendor, local, req.options.get(60))
        plan = self._cache.get(key)
        if plan is None:
            if http:
                plan = self._http_plan(local, arch, tags, mtype)
            else:
                plan = self._proxy_plan(req, local, vendor, arch, tags, mtype)
            plan.delay = self.delay_for(tags)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = plan
        if plan.ignored:
            return Decision("ignored", reason=plan.ignored, arch=arch, vendor=plan.vendor,
                            tags=frozen)
        # dnsmasq: a DISCOVER, or a client without an address, gets a broadcast answer
        if mtype == DISCOVER or req.ciaddr == ZERO4:
            flags, ciaddr = req.flags | 0x8000, ZERO4
        else:
            flags, ciaddr = req.flags, req.ciaddr
        reply = self._pack(req, plan, flags, ciaddr, ZERO4)
        return Decision(
            "offer" if plan.mtype == OFFER else "ack", reply, arch=arch, file=plan.file_name,
            siaddr=plan.siaddr_text, vendor=plan.vendor, tags=frozen, delay=plan.delay,
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

    @staticmethod
    def _pack(req: Request, plan: _Plan, flags: int, ciaddr: bytes, yiaddr: bytes) -> bytes:
        """The decision's per-client part: echo a client machine id of 17 bytes or more (its
        first 17, as dnsmasq) after 53/54/60, and a relay's agent options (82) last."""
        uuid = req.options.get(97)
        middle = tlv(97, uuid[:17]) if uuid is not None and len(uuid) >= 17 else b""
        agent = req.options.get(82)
        end = tlv(82, agent) if agent is not None and req.giaddr != ZERO4 else b""
        return plan.template.encode(req, flags, ciaddr, yiaddr, middle, end)  # positional: hot

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

    def _proxy_plan(self, req: Request, local: Local, vendor: bytes, arch: int, tags: Tagset,
                    mtype: int) -> _Plan:
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
                file = with_server(boot.file, local).encode()[:127]
        reply_type = OFFER if mtype == DISCOVER else ACK
        tail = b""
        v60 = req.options.get(60, b"")
        if (pxe_port and single is None) or not redirect:
            subs = self._pxe_subopts(arch, tags, local, v60)
            tail = encode_option43(subs)
        tail += encode_options(self._pxe_only_options(tags, local))
        template = ReplyTemplate(siaddr=siaddr, sname=sname[:63], file=file[:127],
                                 head=_head(reply_type, local, vendor), tail=tail)
        return _Plan(reply_type, template, file.decode(errors="replace"),
                     str(IPv4Address(siaddr)), vendor.decode())

    def http_url(self, arch: int, tags: Tagset) -> str | None:
        """The boot URL for an HTTP Boot client (`{server}` not yet replaced): the last TOML
        http_boot entry for its architecture, else the last for any architecture (each
        tag-matched), else the dhcp-boot entry chosen as _find_boot does among URL files."""
        for want in (arch, None):
            for e in reversed(self.cfg.http_boot):
                if e.arch == want and tags_match(e.tags, tags):
                    return e.url
        urls = [b for b in self.cfg.boot if is_url(b.file)]
        for b in reversed(urls):
            if b.tags and tags_match(b.tags, tags):
                return b.file
        for b in reversed(urls):
            if not b.tags:
                return b.file
        return None

    def _http_plan(self, local: Local, arch: int, tags: Tagset, mtype: int) -> _Plan:
        """The UEFI HTTP Boot proxy offer (see the module docstring for what EDK2 needs)."""
        vendor = HTTP_VENDOR_CLASS
        url = self.http_url(arch, tags)
        if url is None:
            return _Plan(0, ReplyTemplate(), "", vendor=vendor, ignored=(
                "HTTP Boot client, but no boot URL for it (dhcp-boot=tag:...,http://... "
                "or TOML http_boot)"))
        raw = with_server(url, local).encode()
        reply_type = OFFER if mtype == DISCOVER else ACK
        if len(raw) <= 127:
            file, tail = raw, b""
        else:  # EDK2 reads option 67 before the file field; it adds the NUL itself
            file, tail = b"", tlv(67, raw[:255])
        template = ReplyTemplate(siaddr=local.address.packed, file=file,
                                 head=_head(reply_type, local, HTTP_CLIENT), tail=tail)
        return _Plan(reply_type, template, raw.decode(errors="replace"),
                     str(local.address), vendor)

    def _pxe_only_options(self, tags: Tagset, local: Local) -> list[tuple[int, bytes]]:
        """dnsmasq's "dhcp-option-pxe ONLY" options (option_filter in PXE mode): per option
        number the last matching tagged line, else the last untagged one; sent last line
        first, an address 0.0.0.0 meaning this server."""
        lines = [o for o in reversed(self.cfg.options)
                 if o.pxe_only and o.vendor is None and o.encap is None]
        if not lines:
            return []
        chosen: dict[int, DhcpOption] = {}
        for o in lines:
            if o.tags and tags_match(o.tags, tags) and o.number not in chosen:
                chosen[o.number] = o
        for o in lines:
            if not o.tags and o.number not in chosen:
                chosen[o.number] = o
        out: list[tuple[int, bytes]] = []
        for o in lines:
            if chosen.get(o.number) is not o:
                continue
            value = o.value
            if o.is_address:
                value = b"".join(local.address.packed if value[i:i + 4] == ZERO4
                                 else value[i:i + 4] for i in range(0, len(value), 4))
            out.append((o.number, value))
        return out

    def _configured_vendor(self, tags: Tagset, v60: bytes) -> list[tuple[int, bytes]]:
        out = []
        for o in self._vendor_opts:
            if not _vendor_match(o, v60, self._vendors):
                continue
            if not tags_match(o.tags, tags):
                continue
            out.append((o.number, o.value))
        return out

    def _pxe_subopts(self, arch: int, tags: Tagset, local: Local,
                     v60: bytes) -> list[tuple[int, bytes]]:
        configured = self._configured_vendor(tags, v60)
        discovery = 3
        menu, servers, items = b"", b"", 0
        for s in self.cfg.services:
            if s.csa != arch or not tags_match(s.tags, tags):
                continue
            text = s.text.encode()
            if len(menu) + len(text) + 3 >= 253:
                return configured  # dnsmasq: "PXE menu too large", no menu at all
            menu += menu_entry(s.type, text)
            items += 1
            if s.basename:
                server = local.address.packed
            else:
                server = self._server_of(s.server_name, s.server_address)
            if server != ZERO4:
                if len(servers) + 3 + 4 >= 253:
                    return configured
                servers += boot_server_entry(s.type, server)
            elif s.type != 0:
                discovery = 2
        has_prompt = any(n == 10 for n, _ in configured)
        out: list[tuple[int, bytes]] = []
        if items == 0:
            discovery = 8
        out.append((6, bytes((discovery,))))
        if not has_prompt:
            out.append((10, prompt_value(255 if items > 1 else 0, b"PXE")))
        if items:
            if servers:
                out.append((8, servers))
            out.append((9, menu))
        return out + configured

    def _bootserver(self, req: Request, local: Local, vendor: bytes, item: bytes,
                    tags: Tagset, frozen: tuple[str, ...], arch: int | None) -> Decision:
        bi = boot_item_of(item)
        kind, layer = bi.type, bi.layer
        if layer & 0x8000:
            return Decision("ignored", reason="PXE BIS (layer with bit 15) not supported",
                            arch=arch, tags=frozen)
        service = next((s for s in self.cfg.services if s.type == kind), None)
        if service is None:
            return Decision("ignored", reason=f"no pxe-service of boot server type {kind}",
                            arch=arch, tags=frozen)
        if not service.basename:
            return Decision("ignored", reason=f"boot server type {kind} has no file "
                            "(0 = local boot: the client boots from its disk)",
                            arch=arch, tags=frozen)
        ciaddr = IPv4Address(req.ciaddr)
        usable = [r for r in self.cfg.ranges if tags_match(r.tags, tags)]
        rng = next((r for r in usable if ciaddr in _net(r, local=local)), None) or next(
            (r for r in usable if ciaddr in _net(r, guess=True)), None)
        if rng is None:
            return Decision("ignored", reason=f"client address {ciaddr} is in no proxy range",
                            arch=arch, tags=frozen)
        if service.server_name:
            siaddr = self._server_of(service.server_name, None)
        else:
            siaddr = (service.server_address or local.address).packed
        base = service.basename
        file = (base if "." in base else f"{base}.{layer}").encode()[:127]
        subs = [(71, bytes(item[:4])), *self._configured_vendor(tags, req.options.get(60, b""))]
        template = ReplyTemplate(siaddr=siaddr, file=file, head=_head(ACK, local, vendor),
                                 tail=encode_option43(subs))
        plan = _Plan(ACK, template, file.decode(errors="replace"))
        # dnsmasq: yiaddr repeats the client's address, ciaddr is cleared, flags unchanged
        reply = self._pack(req, plan, req.flags, ZERO4, req.ciaddr)
        return Decision("ack", reply, arch=arch, file=plan.file_name,
                        siaddr=str(IPv4Address(siaddr)), vendor=vendor.decode(), tags=frozen)


# ---------------------------------------------------------------------- helpers


def with_server(name: str, local: Local) -> str:
    """A URL boot file with `{server}` replaced by the address the request came in on."""
    if SERVER_PLACEHOLDER in name and "://" in name:
        return name.replace(SERVER_PLACEHOLDER, str(local.address))
    return name


def _why_not(mtype: int, port: int) -> str:
    names = {1: "DISCOVER", 3: "REQUEST", 4: "DECLINE", 7: "RELEASE", 8: "INFORM"}
    name = names.get(mtype, f"message type {mtype}")
    if mtype == REQUEST and port == 67:
        return "REQUEST on port 67 for another server (the proxy answers it on 4011)"
    return f"{name} on port {port} is not answered by a proxy"


def _head(reply_type: int, local: Local, vendor: bytes) -> list[tuple[int, bytes]]:
    """dnsmasq's first options: message type, server identifier, the matched vendor class."""
    return [(53, bytes((reply_type,))), (54, local.address.packed), (60, vendor)]


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


def _match_bytes(value: bytes | None, mask: bytes | None, is_hex: bool, is_string: bool,
                 raw: bytes) -> bool:
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


__all__ = ["BadValueError", "Decision", "Local", "ProxyPolicy", "with_server"]
