"""The dnsmasq.conf reader: a dnsmasq configuration, as it is, into a `ServerConfig`.

Lines are read the way dnsmasq 2.90 reads them (option.c: read_file, parse_dhcp_opt): `#`
after white space starts a comment, `"..."` quotes keep commas and spaces (with \\" \\t \\n
\\e \\b \\r \\\\ escapes), `name=value` allows spaces around `=`, arguments are split on commas
with the spaces around each comma removed.

Every line has an outcome: it is applied, or a `ConfigWarning` names file, line and option
(unsupported by pxelab, or not applicable to a proxy: DNS and address leasing), or a
`ConfigError` names file, line and what is wrong (an option dnsmasq does not know, a bad value).

Option values (`dhcp-option`, `dhcp-match`) are typed as dnsmasq types them: digits only are a
decimal number (1, 2 or 4 bytes by size, or by a trailing `b`/`s`/`i`), colon-separated hex
is bytes, dotted quads are addresses, anything else (or anything quoted) is a string.
UEFI HTTP Boot lines (`dhcp-vendorclass=set:http,HTTPClient`,
`dhcp-option-force=tag:http,60,HTTPClient`, `dhcp-boot=tag:http,http://...`) are read as
they are: the tag rule and the URL boot entry as any other, and the option-60 line without the
"not sent" warning, since pxelab's proxy answers HTTP Boot clients with 60 HTTPClient and the
URL (dnsmasq's proxy does not answer them: see pxelab/boot/policy.py).
Decision on the seed's `dhcp-option=vendor:PXEClient,6,2b`: dnsmasq reads "2b" as the decimal
2 with the byte-size suffix `b`, not as hex 0x2b, and sends its own computed 43.6 first and
this 43.6 = 2 after it. pxelab reads it the same way and sends the same bytes (clients read
the first 43.6, so the seed's clients behave as they did), and warns on that line with the
fix: `43` (decimal) for 0x2b, or `2b:00`-style colon hex for bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address
from pathlib import Path

from pxelab.config.model import (
    CSA_NAMES,
    HTTP_VENDOR_CLASS,
    BootEntry,
    ConfigError,
    DhcpOption,
    IgnoreRule,
    ProxyRange,
    PxePrompt,
    PxeService,
    ReplyDelay,
    ServerConfig,
    Source,
    TagIf,
    TagRule,
    mac_pattern,
)


def _words(text: str) -> list[str]:
    return text.split()


# Every option name dnsmasq 2.90 knows, with whether it takes an argument
# (0 never, 1 always, 2 optional): a name not here is an error, as in dnsmasq.
_KNOWN: dict[str, int] = dict(
    (n, int(a))
    for n, a in (
        item.rsplit(":", 1)
        for item in _words(
            "version:0 no-hosts:0 no-poll:0 help:0 no-daemon:0 log-queries:2 user:2 group:2 "
            "resolv-file:2 servers-file:1 mx-host:1 mx-target:1 cache-size:2 port:1 "
            "dhcp-leasefile:2 dhcp-lease:1 dhcp-host:1 dhcp-range:1 dhcp-option:1 dhcp-boot:1 "
            "domain:1 domain-suffix:1 interface:1 listen-address:1 local-service:2 bogus-priv:0 "
            "bogus-nxdomain:1 ignore-address:1 selfmx:0 filterwin2k:0 filter-A:0 filter-AAAA:0 "
            "filter-rr:1 pid-file:2 strict-order:0 server:1 rev-server:1 local:1 address:1 "
            "conf-file:2 conf-script:1 no-resolv:0 expand-hosts:0 localmx:0 local-ttl:1 "
            "no-negcache:0 no-round-robin:0 cache-rr:1 addn-hosts:1 hostsdir:1 query-port:1 "
            "except-interface:1 no-dhcp-interface:1 no-dhcpv4-interface:1 no-dhcpv6-interface:1 "
            "domain-needed:0 dhcp-lease-max:1 bind-interfaces:0 read-ethers:0 alias:1 "
            "dhcp-vendorclass:1 dhcp-userclass:1 dhcp-ignore:1 edns-packet-max:1 "
            "keep-in-foreground:0 dhcp-authoritative:0 srv-host:1 localise-queries:0 "
            "txt-record:1 caa-record:1 dns-rr:1 enable-dbus:2 enable-ubus:2 bootp-dynamic:2 "
            "dhcp-mac:1 no-ping:0 dhcp-script:1 conf-dir:1 log-facility:1 leasefile-ro:0 "
            "script-on-renewal:0 dns-forward-max:1 clear-on-reload:0 dhcp-ignore-names:2 "
            "enable-tftp:2 tftp-secure:0 tftp-no-fail:0 tftp-unique-root:2 tftp-root:1 "
            "tftp-max:1 tftp-mtu:1 tftp-lowercase:0 tftp-single-port:0 ptr-record:1 "
            "naptr-record:1 bridge-interface:1 shared-network:1 dhcp-option-force:1 "
            "tftp-no-blocksize:0 log-dhcp:0 log-async:2 dhcp-circuitid:1 dhcp-remoteid:1 "
            "dhcp-subscrid:1 dhcp-pxe-vendor:1 interface-name:1 dhcp-hostsfile:1 "
            "dhcp-optsfile:1 dhcp-hostsdir:1 dhcp-optsdir:1 dhcp-no-override:0 "
            "tftp-port-range:1 stop-dns-rebind:0 rebind-domain-ok:1 all-servers:0 dhcp-match:1 "
            "dhcp-name-match:1 dhcp-broadcast:2 neg-ttl:1 max-ttl:1 min-cache-ttl:1 "
            "max-cache-ttl:1 dhcp-alternate-port:2 dhcp-scriptuser:1 min-port:1 max-port:1 "
            "dhcp-fqdn:0 cname:1 pxe-prompt:1 pxe-service:1 test:0 tag-if:1 dhcp-proxy:2 "
            "dhcp-generate-names:2 rebind-localhost-ok:0 add-mac:2 strip-mac:0 add-subnet:2 "
            "strip-subnet:0 add-cpe-id:1 proxy-dnssec:0 dhcp-sequential-ip:0 conntrack:0 "
            "dhcp-client-update:0 dhcp-luascript:1 enable-ra:0 dhcp-duid:1 host-record:1 "
            "bind-dynamic:0 auth-zone:1 auth-server:1 auth-ttl:1 auth-soa:1 auth-sec-servers:1 "
            "auth-peer:1 ipset:1 nftset:1 connmark-allowlist-enable:2 connmark-allowlist:1 "
            "synth-domain:1 dnssec:0 trust-anchor:1 dnssec-debug:0 dnssec-check-unsigned:2 "
            "dnssec-no-timecheck:0 dnssec-timestamp:1 dnssec-limits:1 dhcp-relay:1 ra-param:1 "
            "quiet-dhcp:0 quiet-dhcp6:0 quiet-ra:0 dns-loop-detect:0 script-arp:0 dhcp-ttl:1 "
            "dhcp-reply-delay:1 dhcp-rapid-commit:0 dumpfile:1 dumpmask:1 dhcp-ignore-clid:0 "
            "dynamic-host:1 log-debug:0 umbrella:2 quiet-tftp:0 port-limit:1 fast-dns-retry:2 "
            "use-stale-cache:2 no-ident:0 max-tcp-connections:1 dhcp-option-pxe:1"
        )
    )
)

_DNS = set(
    _words(
    "no-hosts no-poll log-queries resolv-file servers-file mx-host mx-target cache-size domain "
    "domain-suffix local-service bogus-priv bogus-nxdomain ignore-address selfmx filterwin2k "
    "filter-A filter-AAAA filter-rr strict-order server rev-server local address no-resolv "
    "expand-hosts localmx local-ttl no-negcache no-round-robin cache-rr addn-hosts hostsdir "
    "query-port domain-needed alias edns-packet-max srv-host localise-queries txt-record "
    "caa-record dns-rr dns-forward-max clear-on-reload ptr-record naptr-record interface-name "
    "stop-dns-rebind rebind-domain-ok all-servers neg-ttl max-ttl min-cache-ttl max-cache-ttl "
    "min-port max-port cname rebind-localhost-ok add-mac strip-mac add-subnet strip-subnet "
    "add-cpe-id proxy-dnssec conntrack host-record auth-zone auth-server auth-ttl auth-soa "
    "auth-sec-servers auth-peer ipset nftset connmark-allowlist-enable connmark-allowlist "
    "synth-domain dnssec trust-anchor dnssec-debug dnssec-check-unsigned dnssec-no-timecheck "
    "dnssec-timestamp dnssec-limits dns-loop-detect umbrella port-limit fast-dns-retry "
    "use-stale-cache max-tcp-connections"
    )
)
_LEASING = set(
    _words(
    "dhcp-leasefile dhcp-lease dhcp-host dhcp-lease-max read-ethers dhcp-authoritative "
    "bootp-dynamic no-ping dhcp-script leasefile-ro script-on-renewal dhcp-ignore-names "
    "dhcp-hostsfile dhcp-hostsdir dhcp-optsfile dhcp-optsdir dhcp-generate-names "
    "dhcp-sequential-ip dhcp-client-update dhcp-luascript dhcp-scriptuser dhcp-fqdn dhcp-ttl "
    "dhcp-rapid-commit dhcp-ignore-clid script-arp dhcp-duid enable-ra ra-param quiet-ra "
    "dhcp-relay dynamic-host shared-network dhcp-proxy dhcp-alternate-port"
    )
)
_PROCESS = set(
    _words(
    "version help no-daemon user group pid-file keep-in-foreground log-facility log-async "
    "enable-dbus enable-ubus test log-debug quiet-dhcp quiet-dhcp6 quiet-tftp no-ident "
    "dumpfile dumpmask conf-script"
    )
)

# dnsmasq's DHCP option table: name -> (number, size flags). Sizes: low byte is a fixed length;
# the flags below say how a value is typed.
OT_ADDR_LIST, OT_RFC1035_NAME, OT_INTERNAL, OT_NAME, OT_CSTRING, OT_DEC, OT_TIME = (
    0x8000, 0x4000, 0x2000, 0x1000, 0x0800, 0x0400, 0x0200,
)
_A, _N, _I = OT_ADDR_LIST, OT_NAME, OT_INTERNAL
OPTION_TABLE: dict[str, tuple[int, int]] = {
    "netmask": (1, _A), "time-offset": (2, 4), "router": (3, _A), "dns-server": (6, _A),
    "log-server": (7, _A), "lpr-server": (9, _A), "hostname": (12, _I | _N),
    "boot-file-size": (13, 2 | OT_DEC), "domain-name": (15, _N), "swap-server": (16, _A),
    "root-path": (17, _N), "extension-path": (18, _N), "ip-forward-enable": (19, 1),
    "non-local-source-routing": (20, 1), "policy-filter": (21, _A),
    "max-datagram-reassembly": (22, 2 | OT_DEC), "default-ttl": (23, 1 | OT_DEC),
    "mtu": (26, 2 | OT_DEC), "all-subnets-local": (27, 1), "broadcast": (28, _I | _A),
    "router-discovery": (31, 1), "router-solicitation": (32, _A), "static-route": (33, _A),
    "trailer-encapsulation": (34, 1), "arp-timeout": (35, 4 | OT_DEC),
    "ethernet-encap": (36, 1), "tcp-ttl": (37, 1), "tcp-keepalive": (38, 4 | OT_DEC),
    "nis-domain": (40, _N), "nis-server": (41, _A), "ntp-server": (42, _A),
    "vendor-encap": (43, _I), "netbios-ns": (44, _A), "netbios-dd": (45, _A),
    "netbios-nodetype": (46, 1), "netbios-scope": (47, 0), "x-windows-fs": (48, _A),
    "x-windows-dm": (49, _A), "requested-address": (50, _I | _A),
    "lease-time": (51, _I | OT_TIME), "option-overload": (52, _I),
    "message-type": (53, _I | OT_DEC), "server-identifier": (54, _I | _A),
    "parameter-request": (55, _I), "message": (56, _I), "max-message-size": (57, _I),
    "T1": (58, OT_TIME), "T2": (59, OT_TIME), "vendor-class": (60, 0), "client-id": (61, _I),
    "nis+-domain": (64, _N), "nis+-server": (65, _A), "tftp-server": (66, _N),
    "bootfile-name": (67, _N), "mobile-ip-home": (68, _A), "smtp-server": (69, _A),
    "pop3-server": (70, _A), "nntp-server": (71, _A), "irc-server": (74, _A),
    "user-class": (77, 0), "rapid-commit": (80, 0), "FQDN": (81, _I), "agent-id": (82, _I),
    "client-arch": (93, 2 | OT_DEC), "client-interface-id": (94, 0),
    "client-machine-id": (97, 0), "posix-timezone": (100, _N), "tzdb-timezone": (101, _N),
    "ipv6-only": (108, 4 | OT_DEC), "subnet-select": (118, _I),
    "domain-search": (119, OT_RFC1035_NAME), "sip-server": (120, 0),
    "classless-static-route": (121, 0), "vendor-id-encap": (125, 0),
    "tftp-server-address": (150, _A), "server-ip-address": (255, _A),
}
_SIZE_BY_NUMBER = {num: size for num, size in OPTION_TABLE.values()}


@dataclass(frozen=True)
class Arg:
    """One comma-separated argument; `quoted` if any of it was inside quotes (dnsmasq then
    treats it as text, never as a number or address)."""

    text: str
    quoted: bool


# ---------------------------------------------------------------- line syntax

_ESCAPES = {"t": "\t", "n": "\n", "b": "\b", "r": "\r", "e": "\033", '"': '"', "\\": "\\"}


def split_line(line: str, source: Source) -> tuple[str, list[Arg] | None] | None:
    """(option name, arguments or None when there is no `=`), or None for a blank line."""
    chars: list[tuple[str, bool]] = []
    i, white = 0, True
    while i < len(line):
        c = line[i]
        if c == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in _ESCAPES:
                    chars.append((_ESCAPES[line[i + 1]], True))
                    i += 2
                    continue
                chars.append((line[i], True))
                i += 1
            if i >= len(line):
                raise ConfigError(source, 'missing "')
            i += 1
            white = False
            continue
        if c.isspace():
            chars.append((" ", False))
            white = True
        elif white and c == "#":
            break
        else:
            chars.append((c, False))
            white = False
        i += 1
    while chars and chars[0] == (" ", False):
        chars.pop(0)
    while chars and chars[-1] == (" ", False):
        chars.pop()
    if not chars:
        return None
    eq = next((k for k, (c, q) in enumerate(chars) if c == "=" and not q), None)
    if eq is None:
        return "".join(c for c, _ in chars), None
    name = "".join(c for c, _ in chars[:eq]).rstrip(" ")
    rest = chars[eq + 1 :]
    while rest and rest[0] == (" ", False):
        rest.pop(0)
    args: list[Arg] = []
    cur: list[tuple[str, bool]] = []
    for c, q in [*rest, (",", False)]:
        if c == "," and not q:
            while cur and cur[-1] == (" ", False):
                cur.pop()
            while cur and cur[0] == (" ", False):
                cur.pop(0)
            args.append(Arg("".join(x for x, _ in cur), any(qq for _, qq in cur)))
            cur = []
        else:
            cur.append((c, q))
    return name, args


def _join(args: list[Arg]) -> Arg:
    return Arg(",".join(a.text for a in args), any(a.quoted for a in args))


def _tags(args: list[Arg]) -> tuple[tuple[str, ...], list[Arg]]:
    """Leading `tag:`/`net:` arguments (dnsmasq's dhcp_tags)."""
    tags: list[str] = []
    while args and (args[0].text.startswith("tag:") or args[0].text.startswith("net:")):
        tags.append(args[0].text[4:])
        args = args[1:]
    return tuple(tags), args


def _int(text: str, source: Source, what: str, lo: int = 0, hi: int = 2**31 - 1) -> int:
    if not re.fullmatch(r"-?\d+", text.strip()):
        raise ConfigError(source, f"{what}: {text!r} is not a number")
    value = int(text)
    if not lo <= value <= hi:
        raise ConfigError(source, f"{what}: {value} is out of range {lo}..{hi}")
    return value


def _addr(text: str, source: Source, what: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except (AddressValueError, ValueError):
        raise ConfigError(source, f"{what}: {text!r} is not an IPv4 address") from None


def _is_addr(text: str) -> bool:
    try:
        IPv4Address(text)
    except (AddressValueError, ValueError):
        return False
    return True


# ---------------------------------------------------------------- option values


@dataclass(frozen=True)
class OptionValue:
    data: bytes
    is_string: bool = False
    is_hex: bool = False
    mask: bytes | None = None
    is_address: bool = False


def parse_value(
    value: Arg, size: int, source: Source, *, match: bool = False, encapsulated: bool = False
) -> OptionValue:
    """Type a dhcp-option value the way dnsmasq's parse_dhcp_opt does."""
    text = value.text
    if value.quoted:
        if size & OT_ADDR_LIST and not encapsulated:
            raise ConfigError(source, f"bad IP address {text!r}")
        return OptionValue(text.encode(), is_string=True)
    is_addr = is_hex = is_dec = True
    digs, dots, found_dig, lenchar = 1, 0, False, ""
    for k, c in enumerate(text):
        if c == ",":
            is_dec = is_hex = False
        elif c == ":":
            digs += 1
            is_dec = is_addr = False
        elif c == "/":
            is_dec = is_hex = False
            if k == 0:
                is_addr = False
        elif c == ".":
            is_dec = is_hex = False
            dots += 1
        elif c == "-":
            is_hex = is_addr = False
        elif c == " ":
            is_dec = is_hex = False
        elif not c.isdigit():
            is_addr = False
            if k == len(text) - 1 and is_dec and c in "bsi":
                lenchar = c
            else:
                is_dec = False
            if not (c in "abcdefABCDEF" or (c == "*" and match)):
                is_hex = False
        else:
            found_dig = True
    if not found_dig:
        is_dec = is_addr = False
    if not encapsulated:
        if size & OT_ADDR_LIST:
            if not is_addr or dots == 0:
                raise ConfigError(source, f"bad IP address {text!r}")
            is_dec = is_hex = False
        elif size & (OT_NAME | OT_RFC1035_NAME | OT_CSTRING):
            is_addr = is_dec = is_hex = False
        if found_dig and size & OT_TIME and text:
            factor = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
            mult = factor.get(text[-1].lower(), 1)
            number = text[:-1] if text[-1].lower() in factor else text
            seconds = _int(number, source, "time") * mult
            return OptionValue((seconds & 0xFFFFFFFF).to_bytes(4, "big"))
    if is_hex and digs > 1:
        data, mask = bytearray(), bytearray()
        for part in re.split(r"[:\- ]", text):
            if part == "*":
                data.append(0)
                mask.append(0)
                continue
            if "*" in part or not part:
                raise ConfigError(source, f"bad hex value {text!r}")
            padded = part if len(part) % 2 == 0 else part + "0"
            for j in range(0, len(padded), 2):
                data.append(int(padded[j : j + 2], 16))
                mask.append(0xFF)
        return OptionValue(bytes(data), is_hex=True, mask=bytes(mask))
    if is_dec:
        number = int(text[:-1] if lenchar else text)
        fixed = size & 0xFF if not encapsulated else 0
        length = fixed or (4 if number & 0xFFFF0000 else 2 if number & 0xFF00 else 1)
        length = {"b": 1, "s": 2, "i": 4}.get(lenchar, length)
        return OptionValue((number & ((1 << (8 * length)) - 1)).to_bytes(length, "big"))
    if is_addr:
        out = bytearray()
        plain = True
        for piece in text.split(","):
            addr, _, net = piece.partition("/")
            ip = _addr(addr.strip(), source, "address").packed
            if not net:
                out += ip
            else:
                plain = False
                bits = _int(net, source, "prefix length", 0, 32)
                out.append(bits)
                out += ip[: (bits + 7) // 8]
        return OptionValue(bytes(out), is_address=plain)
    return OptionValue(text.encode(), is_string=True)


# ---------------------------------------------------------------- the reader


class _Reader:
    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.depth = 0
        self.service_type = 0x8000  # dnsmasq numbers basename services from 32768, in order

    def read_file(self, path: Path, parent: Source | None = None) -> None:
        where = parent or Source(str(path), 0)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(where, f"cannot read {path}: no such file") from None
        except OSError as exc:
            raise ConfigError(where, f"cannot read {path}: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(where, f"{path} is not UTF-8 text ({exc.reason})") from None
        self.cfg.files.append(path)
        self.depth += 1
        if self.depth > 20:
            raise ConfigError(where, "conf-file nesting deeper than 20 (a loop?)")
        for number, line in enumerate(text.splitlines(), start=1):
            self.read_line(line, Source(str(path), number))
        self.depth -= 1

    def read_line(self, line: str, source: Source) -> None:
        parsed = split_line(line, source)
        if parsed is None:
            return
        name, args = parsed
        if name not in _KNOWN:
            raise ConfigError(source, f"bad option {name!r} (not a dnsmasq option)")
        has_arg = _KNOWN[name]
        if has_arg == 0 and args is not None:
            raise ConfigError(source, f"{name}: extraneous parameter")
        if has_arg == 1 and args is None:
            raise ConfigError(source, f"{name}: missing parameter")
        handler = getattr(self, "opt_" + name.replace("-", "_"), None)
        if handler is not None:
            handler(args or [], source, name)
        elif name in _DNS:
            self.cfg.warn(source, name, "not applicable: pxelab is a proxy and serves no DNS")
        elif name in _LEASING:
            self.cfg.warn(
                source, name, "not applicable: a proxy hands out no addresses or leases"
            )
        elif name in _PROCESS:
            self.cfg.warn(source, name, "ignored: process/logging option of dnsmasq itself")
        else:
            self.cfg.warn(source, name, "not supported by pxelab; this line has no effect")

    # ---- process, interfaces, logging

    def _set(self, setting: str, source: Source) -> None:
        self.cfg.sources[setting] = source

    def opt_port(self, args: list[Arg], source: Source, name: str) -> None:
        port = _int(args[0].text, source, name, 0, 65535)
        self.cfg.dns_port = port
        self._set("dns_port", source)
        if port != 0:
            self.cfg.warn(source, name, "pxelab serves no DNS; DNS port ignored")

    def opt_log_dhcp(self, args: list[Arg], source: Source, name: str) -> None:
        self.cfg.log_dhcp = True
        self._set("log_dhcp", source)

    def opt_interface(self, args: list[Arg], source: Source, name: str) -> None:
        for a in args:
            if not a.text:
                raise ConfigError(source, f"{name}: empty interface name")
            if "*" in a.text:
                self.cfg.warn(source, name, f"wildcard {a.text!r} is not supported")
                continue
            self.cfg.interfaces.append(a.text)
        self._set("interfaces", source)

    def opt_listen_address(self, args: list[Arg], source: Source, name: str) -> None:
        for a in args:
            if ":" in a.text:
                self.cfg.warn(source, name, f"IPv6 address {a.text} not applicable (DHCPv4)")
                continue
            self.cfg.listen_addresses.append(_addr(a.text, source, name))
        self._set("listen_addresses", source)

    def opt_bind_interfaces(self, args: list[Arg], source: Source, name: str) -> None:
        self.cfg.bind_interfaces = True
        self._set("bind_interfaces", source)

    opt_bind_dynamic = opt_bind_interfaces

    def opt_conf_file(self, args: list[Arg], source: Source, name: str) -> None:
        if not args or not args[0].text:
            self.cfg.warn(source, name, "no file named; nothing read")
            return
        self.read_file(Path(args[0].text), source)

    def opt_conf_dir(self, args: list[Arg], source: Source, name: str) -> None:
        directory = Path(args[0].text)
        skip = [a.text for a in args[1:] if not a.text.startswith("*")]
        only = [a.text[1:] for a in args[1:] if a.text.startswith("*")]
        try:
            entries = sorted(os.listdir(directory))
        except OSError as exc:
            raise ConfigError(source, f"{name}: cannot read directory {directory}: "
                              f"{exc.strerror}") from None
        for entry in entries:
            if entry.startswith(".") or entry.endswith("~") or (
                entry.startswith("#") and entry.endswith("#")
            ):
                continue
            if only and not any(entry.endswith(s) for s in only):
                continue
            if any(entry.endswith(s) for s in skip):
                continue
            path = directory / entry
            if path.is_file():
                self.read_file(path, source)

    # ---- TFTP

    def opt_enable_tftp(self, args: list[Arg], source: Source, name: str) -> None:
        self.cfg.tftp.enabled = True
        self._set("tftp.enabled", source)
        if args and any(a.text for a in args):
            self.cfg.warn(source, name, "per-interface TFTP is not supported; serving on all")

    def opt_tftp_root(self, args: list[Arg], source: Source, name: str) -> None:
        if not args[0].text:
            raise ConfigError(source, f"{name}: empty directory")
        self.cfg.tftp.root = Path(args[0].text)
        self._set("tftp.root", source)
        if len(args) > 1:
            self.cfg.warn(source, name, "per-interface TFTP roots are not supported; "
                          f"{args[0].text} serves every interface")

    def opt_tftp_no_blocksize(self, args: list[Arg], source: Source, name: str) -> None:
        self.cfg.tftp.no_blocksize = True
        self._set("tftp.no_blocksize", source)

    def opt_tftp_mtu(self, args: list[Arg], source: Source, name: str) -> None:
        self.cfg.tftp.mtu = _int(args[0].text, source, name, 1, 65535)
        self._set("tftp.mtu", source)

    def opt_tftp_max(self, args: list[Arg], source: Source, name: str) -> None:
        self.cfg.tftp.max_transfers = _int(args[0].text, source, name, 1)
        self._set("tftp.max_transfers", source)

    def opt_tftp_single_port(self, args: list[Arg], source: Source, name: str) -> None:
        self.cfg.tftp.single_port = True
        self._set("tftp.single_port", source)

    # ---- what the proxy sends

    def opt_dhcp_no_override(self, args: list[Arg], source: Source, name: str) -> None:
        self.cfg.no_override = True
        self._set("no_override", source)

    def opt_dhcp_boot(self, args: list[Arg], source: Source, name: str) -> None:
        tags, rest = _tags(args)
        if not rest or not rest[0].text:
            raise ConfigError(source, f"{name}: no boot file name")
        address = host = None
        if len(rest) > 2:
            third = _join(rest[2:]).text
            if _is_addr(third):
                address = IPv4Address(third)
            else:
                host = third
        self.cfg.boot.append(
            BootEntry(
                file=rest[0].text,
                server_name=rest[1].text or None if len(rest) > 1 else None,
                server_address=address,
                server_host=host,
                tags=tags,
                source=source,
            )
        )
        if host is not None:
            self.cfg.warn(source, name, f"server {host!r} is a name: pxelab looks it up in "
                          "/etc/hosts only when serving (as dnsmasq does)")

    def _dhcp_opt(self, args: list[Arg], source: Source, name: str, *, force: bool = False,
                  match: bool = False, pxe: bool = False) -> None:
        tags: list[str] = []
        vendor: str | None = None
        encap: int | None = None
        vi_encap: int | None = None
        number: int | None = None
        size = 0
        rest = list(args)
        while rest:
            a = rest.pop(0)
            t = a.text
            if t.isdigit():
                number = int(t)
                break
            if t.startswith("option:"):
                entry = OPTION_TABLE.get(t[7:]) or next(
                    (v for k, v in OPTION_TABLE.items() if k.lower() == t[7:].lower()), None
                )
                if entry is None:
                    raise ConfigError(source, f"{name}: unknown option name {t[7:]!r}")
                number, size = entry
                if size & OT_INTERNAL and not match:
                    raise ConfigError(source, f"{name}: option {t[7:]} is set by the server "
                                      "itself and cannot be configured")
                break
            if t.startswith("option6:"):
                self.cfg.warn(source, name, "DHCPv6 option: not applicable (pxelab is DHCPv4)")
                return
            if t.startswith("vendor:"):
                if match or encap is not None:
                    raise ConfigError(source, f"{name}: inappropriate vendor:")
                vendor = t[7:]
            elif t.startswith("encap:"):
                if match or vendor is not None:
                    raise ConfigError(source, f"{name}: inappropriate encap:")
                encap = _int(t[6:], source, name, 0, 255)
            elif t.startswith("vi-encap:"):
                vi_encap = _int(t[9:], source, name)
                if match:
                    break
            elif t.startswith(("tag:", "net:", "set:")):
                tags.append(t[4:])
            else:
                tags.append(t)
        if number is None and not (match and vi_encap is not None):
            raise ConfigError(source, f"{name}: bad dhcp-option (no option number)")
        encapsulated = vendor is not None or encap is not None or vi_encap is not None
        if size == 0 and not encapsulated and number is not None:
            size = _SIZE_BY_NUMBER.get(number, 0) & ~OT_DEC
        if number is not None and not 0 <= number <= 255:
            raise ConfigError(source, f"{name}: option number {number} is out of range 0..255")
        value = OptionValue(b"")
        if rest:
            value = parse_value(_join(rest), size, source, match=match,
                                encapsulated=encapsulated)
        limit = 253 if (vendor is not None or encap is not None) else 255
        if len(value.data) > limit:
            raise ConfigError(source, f"{name}: value is {len(value.data)} bytes, "
                              f"more than {limit}")
        if match:
            if len(tags) != 1:
                raise ConfigError(source, f"{name}: needs exactly one set:TAG")
            self.cfg.tag_rules.append(TagRule(
                kind="match", tag=tags[0], option=number, value=value.data or None,
                mask=value.mask, is_hex=value.is_hex, is_string=value.is_string,
                vi_encap=vi_encap, source=source,
            ))
            return
        if len(rest) == 1 and not rest[0].quoted and re.fullmatch(r"\d+b", rest[0].text):
            t = rest[0].text
            self.cfg.warn(source, name, (
                f"value {t!r} is the decimal {int(t[:-1])} with the one-byte suffix 'b' "
                f"(dnsmasq reads it so too), not hex 0x{t}; for 0x{t} write {int(t, 16)}"
            ))
        opt = DhcpOption(
            number=number or 0, value=value.data, vendor=vendor, encap=encap, force=force,
            is_string=value.is_string, tags=tuple(tags), source=source, pxe_only=pxe,
            is_address=value.is_address and not encapsulated,
        )
        self.cfg.options.append(opt)
        if pxe and (vendor is not None or encap is not None):
            self.cfg.warn(source, name, "vendor:/encap: options of dhcp-option-pxe are not "
                          "supported; use dhcp-option=vendor:... for option 43")
        elif vendor is None and not pxe and number == 60 and value.data.startswith(
                HTTP_VENDOR_CLASS.encode()):
            pass  # honoured: pxelab's answer to an HTTP Boot client carries 60 HTTPClient
        elif vendor is None and not pxe:
            self.cfg.warn(source, name, (
                "not sent: a proxy reply carries only option-43 (vendor:) sub-options, "
                "as in dnsmasq's proxy mode"
            ))

    def opt_dhcp_option(self, args: list[Arg], source: Source, name: str) -> None:
        self._dhcp_opt(args, source, name)

    def opt_dhcp_option_force(self, args: list[Arg], source: Source, name: str) -> None:
        self._dhcp_opt(args, source, name, force=True)

    def opt_dhcp_option_pxe(self, args: list[Arg], source: Source, name: str) -> None:
        self._dhcp_opt(args, source, name, pxe=True)

    def opt_dhcp_match(self, args: list[Arg], source: Source, name: str) -> None:
        self._dhcp_opt(args, source, name, match=True)

    def opt_pxe_prompt(self, args: list[Arg], source: Source, name: str) -> None:
        tags, rest = _tags(args)
        if not rest:
            raise ConfigError(source, f"{name}: no prompt text")
        timeout = 255
        if len(rest) > 1:
            if not re.fullmatch(r"\d+", rest[1].text):
                raise ConfigError(source, f"{name}: timeout {rest[1].text!r} is not a number")
            timeout = int(rest[1].text)
            if timeout > 255:
                raise ConfigError(source, f"{name}: timeout {timeout} is more than 255 s")
        text = rest[0].text
        if len(text.encode()) > 252:
            raise ConfigError(source, f"{name}: prompt longer than 252 bytes")
        self.cfg.add_prompt(PxePrompt(text=text, timeout=timeout, tags=tags, source=source))

    def opt_pxe_service(self, args: list[Arg], source: Source, name: str) -> None:
        tags, rest = _tags(args)
        if len(rest) < 2:
            raise ConfigError(source, f"{name}: needs CSA,MENU-TEXT[,BASENAME|TYPE][,SERVER]")
        csa_text = rest[0].text
        lower = [n.lower() for n in CSA_NAMES]
        if csa_text.lower() in lower:
            csa = lower.index(csa_text.lower())
        elif csa_text.isdigit():
            csa = int(csa_text)
        else:
            raise ConfigError(source, f"{name}: unknown client architecture {csa_text!r} "
                              f"(names: {', '.join(CSA_NAMES)}, or a number)")
        text = rest[1].text
        basename: str | None = None
        kind = 0
        address = server_name = None
        if len(rest) > 2:
            third = rest[2].text
            if third.isdigit():
                kind = int(third)
                if kind > 0xFFFF:
                    raise ConfigError(source, f"{name}: boot server type {kind} > 65535")
            else:
                if not third:
                    raise ConfigError(source, f"{name}: empty boot file basename")
                kind = self.service_type
                self.service_type += 1
                basename = third
            if len(rest) > 3:
                server = _join(rest[3:]).text
                if _is_addr(server):
                    address = IPv4Address(server)
                else:
                    server_name = server
        if len(text.encode()) > 250:
            raise ConfigError(source, f"{name}: menu text longer than 250 bytes")
        self.cfg.services.append(PxeService(
            csa=csa, text=text, type=kind, basename=basename, server_address=address,
            server_name=server_name, tags=tags, source=source,
        ))

    def opt_dhcp_range(self, args: list[Arg], source: Source, name: str) -> None:
        filters: list[str] = []
        set_tag: str | None = None
        rest = list(args)
        while len(rest) > 1 and re.search(r"[^ .:0-9a-fA-F]", rest[0].text):
            t = rest.pop(0).text
            if t.startswith(("tag:", "net:")):
                if t[4:]:
                    filters.append(t[4:])
            elif set_tag is not None:
                raise ConfigError(source, f"{name}: only one tag allowed")
            else:
                set_tag = t[4:] if t.startswith("set:") else t
        if len(rest) < 2:
            raise ConfigError(source, f"{name}: bad dhcp-range")
        if ":" in rest[0].text:
            self.cfg.warn(source, name, "DHCPv6 range: not applicable (pxelab is DHCPv4)")
            return
        start = _addr(rest[0].text, source, name)
        if rest[1].text != "proxy":
            if rest[1].text == "static" or _is_addr(rest[1].text):
                self.cfg.warn(source, name, (
                    "an address-leasing range: not applicable to a proxy "
                    "(use ADDRESS,proxy for proxyDHCP)"
                ))
                return
            raise ConfigError(source, f"{name}: bad dhcp-range ({rest[1].text!r} is neither "
                              "'proxy', 'static' nor an end address)")
        netmask = None
        if len(rest) > 2 and "." in rest[2].text:
            netmask = _addr(rest[2].text, source, f"{name} netmask")
            bits = int(netmask)
            if bits and (((~bits) & 0xFFFFFFFF) + 1) & (~bits & 0xFFFFFFFF):
                raise ConfigError(source, f"{name}: {netmask} is not a netmask")
            extra = rest[3:]
        else:
            extra = rest[2:]
        if extra:
            self.cfg.warn(source, name, "broadcast/lease time: not applicable to a proxy")
        self.cfg.ranges.append(ProxyRange(
            address=start, netmask=netmask, tags=tuple(filters), set_tag=set_tag, source=source
        ))

    def _class_rule(self, args: list[Arg], source: Source, name: str, kind: str) -> None:
        if len(args) < 2:
            raise ConfigError(source, f"{name}: needs set:TAG,TEXT")
        tag = args[0].text[4:] if args[0].text.startswith("set:") else args[0].text
        if len(args) > 2:
            if kind == "vendorclass" and args[1].text.startswith("enterprise:"):
                self.cfg.warn(source, name, "enterprise: (RFC 3925) classes are not supported")
                return
            raise ConfigError(source, f"{name}: too many arguments")
        if not args[1].text:
            raise ConfigError(source, f"{name}: empty class text")
        self.cfg.tag_rules.append(TagRule(kind=kind, tag=tag, value=args[1].text.encode(),
                                          is_string=True, source=source))

    def opt_dhcp_userclass(self, args: list[Arg], source: Source, name: str) -> None:
        self._class_rule(args, source, name, "userclass")

    def opt_dhcp_vendorclass(self, args: list[Arg], source: Source, name: str) -> None:
        self._class_rule(args, source, name, "vendorclass")

    def opt_dhcp_pxe_vendor(self, args: list[Arg], source: Source, name: str) -> None:
        if "vendor_classes" not in self.cfg.sources:
            self.cfg.vendor_classes = []
        for a in args:
            if not a.text:
                raise ConfigError(source, f"{name}: empty vendor class")
            self.cfg.vendor_classes.append(a.text)
        self._set("vendor_classes", source)

    def opt_dhcp_mac(self, args: list[Arg], source: Source, name: str) -> None:
        if len(args) != 2:
            raise ConfigError(source, f"{name}: needs set:TAG,[TYPE-]MAC")
        tag = args[0].text[4:] if args[0].text.startswith("set:") else args[0].text
        text = args[1].text
        htype = 0
        m = re.fullmatch(r"([0-9a-fA-F]{1,2})-(.*)", text)
        if m:
            htype, text = int(m.group(1), 16), m.group(2)
        try:
            data, mask = mac_pattern(text)
        except ValueError:
            raise ConfigError(source, f"{name}: bad hardware address {args[1].text!r}") from None
        self.cfg.tag_rules.append(TagRule(kind="mac", tag=tag, option=htype, value=data,
                                          mask=mask, is_hex=True, source=source))

    def opt_dhcp_ignore(self, args: list[Arg], source: Source, name: str) -> None:
        tags = tuple(a.text[4:] if a.text.startswith(("tag:", "net:")) else a.text
                     for a in args if a.text)
        if not tags:
            raise ConfigError(source, f"{name}: needs tag:TAG")
        self.cfg.ignores.append(IgnoreRule(tags=tags, source=source))

    def opt_tag_if(self, args: list[Arg], source: Source, name: str) -> None:
        sets: list[str] = []
        conds: list[str] = []
        for a in args:
            t = a.text
            if len(t) < 5 or not t.startswith(("set:", "tag:")):
                raise ConfigError(source, f"bad tag-if ({t!r} is neither set:TAG nor tag:TAG)")
            (sets if t.startswith("set:") else conds).append(t[4:])
        if not sets:
            raise ConfigError(source, "bad tag-if (no set:TAG)")
        self.cfg.tag_ifs.append(TagIf(sets=tuple(sets), conditions=tuple(conds), source=source))

    def opt_dhcp_reply_delay(self, args: list[Arg], source: Source, name: str) -> None:
        tags, rest = _tags(args)
        if len(rest) != 1:
            raise ConfigError(source, f"{name}: needs [tag:..,]SECONDS")
        self.cfg.reply_delays.append(
            ReplyDelay(seconds=_int(rest[0].text, source, name, 0, 60), tags=tags, source=source)
        )


def _finish(cfg: ServerConfig) -> None:
    """Whole-file remarks: where pxelab's answers will differ from dnsmasq's, say so."""
    if cfg.ranges and not cfg.services and not cfg.prompts:
        src = cfg.ranges[0].source
        cfg.warn(src, "dhcp-range", (
            "without pxe-service or pxe-prompt dnsmasq stays silent to PXE clients; "
            "pxelab answers them with the dhcp-boot file"
        ))
    if "vendor_classes" in cfg.sources and "PXEClient" not in cfg.vendor_classes:
        cfg.warn(cfg.sources["vendor_classes"], "dhcp-pxe-vendor", (
            "PXEClient is not listed: standard PXE clients get no answer (the list replaces "
            "the default, as in dnsmasq)"
        ))
    if not cfg.ranges:
        where = Source(str(cfg.files[0]), 0) if cfg.files else Source("<config>", 0)
        cfg.warn(where, "dhcp-range", (
            "no dhcp-range=ADDRESS,proxy line: the proxy answers nobody"
        ))


def read_dnsmasq_conf(path: str | Path) -> ServerConfig:
    """Read a dnsmasq configuration (and the conf-file/conf-dir files it names)."""
    cfg = ServerConfig()
    _Reader(cfg).read_file(Path(path))
    _finish(cfg)
    return cfg


def read_dnsmasq_text(text: str, name: str = "<text>") -> ServerConfig:
    """Read configuration lines from a string (tests, `--dnsmasq-conf -`)."""
    cfg = ServerConfig()
    reader = _Reader(cfg)
    cfg.files.append(Path(name))
    for number, line in enumerate(text.splitlines(), start=1):
        reader.read_line(line, Source(name, number))
    _finish(cfg)
    return cfg
