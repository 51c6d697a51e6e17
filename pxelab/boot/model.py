"""The server's typed configuration: what both the dnsmasq.conf reader and a TOML file produce.

One `ServerConfig` holds everything the proxyDHCP reply policy, the TFTP server, `pxelab check`
and the scenario runner need. Every entry remembers where it came from (`Source`: file, line),
so findings and errors can name the line to fix. Lists keep the order of the configuration file.

    ServerConfig
      vendor_classes   ["PXEClient"]   option-60 prefixes that make a client a PXE client
                                       (dnsmasq `dhcp-pxe-vendor`; a configured list replaces
                                       the default, as in dnsmasq)
      interfaces       ["eth0"]        `interface=`; empty = every interface
      listen_addresses [IPv4Address]   `listen-address=`
      bind_interfaces  bool
      dns_port         int | None      `port=` (0 = no DNS; pxelab never serves DNS)
      log_dhcp         bool            `log-dhcp`: dnsmasq-style per-packet log lines
      tftp             TftpSettings    enabled, root, no_blocksize, mtu, max_transfers,
                                       single_port, port, upload_dir (write requests land
                                       there; None: every write request is refused)
      http             HttpConfig      port (None: off), root (None: the TFTP root), listen
      boot             [BootEntry]     `dhcp-boot`: file, server_name, server_address /
                                       server_host, tags; a URL file (`http://...`) is also
                                       what UEFI HTTP Boot clients get
      http_boot        [HttpBootEntry] TOML `http_boot`: url, arch (None = any), tags
      options          [DhcpOption]    `dhcp-option(-force,-pxe)`: number, value bytes, vendor
                                       (option-43 encapsulation for that vendor class),
                                       encap, force, tags; each pxe-prompt is here too
                                       (43.10, vendor_pxe), in file order
      no_override      bool            `dhcp-no-override`: sname/file stay in the header
                                       (proxy replies never overload them anyway, as dnsmasq)
      prompts          [PxePrompt]     `pxe-prompt`: text, timeout (255 = wait), tags
      services         [PxeService]    `pxe-service`: csa (client arch), text, basename or
                                       path, type (0 = local boot), server_address /
                                       server_name, tags
      ranges           [ProxyRange]    `dhcp-range=ADDR,proxy[,MASK]`: address, netmask, tags
      tag_rules        [TagRule]       `dhcp-match` (option 60/77/93/175/...), `dhcp-userclass`,
                                       `dhcp-vendorclass`, `dhcp-mac`: which tag a request gets
      reply_delays     [ReplyDelay]    `dhcp-reply-delay`: seconds, tags
      tag_ifs          [TagIf]         `tag-if`: tags set from other tags
      ignores          [IgnoreRule]    `dhcp-ignore`: tags of clients never answered
      sources          {setting: Source} where each scalar setting was set
      files            [Path]          every file read (conf-file/conf-dir included)
      warnings         [ConfigWarning] lines read but not acted on (unsupported, or not
                                       applicable to a proxy: DNS, address leasing), each
                                       with file, line and option

Tags follow dnsmasq: a `Tags` tuple is a conjunction; "x" needs tag x, "!x" needs its absence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

DEFAULT_VENDOR_CLASS = "PXEClient"
# UEFI HTTP Boot clients send option 60 "HTTPClient:Arch:xxxxx:UNDI:003000"; EDK2 takes an offer
# as an HTTP offer when its option 60 begins with these 10 bytes (HttpBootDhcp4.c).
HTTP_VENDOR_CLASS = "HTTPClient"

# Client System Architecture names dnsmasq accepts in pxe-service, by number (PXE 2.1 / RFC 4578).
CSA_NAMES: tuple[str, ...] = (
    "x86PC", "PC98", "IA64_EFI", "Alpha", "Arc_x86", "Intel_Lean_Client",
    "IA32_EFI", "x86-64_EFI", "Xscale_EFI", "BC_EFI", "ARM32_EFI", "ARM64_EFI",
)

# HTTP Boot client architectures (option 93, IANA "Processor Architecture Types"), by the
# name a TOML `[http_boot]` table uses: the "boot from HTTP" twin of each UEFI architecture.
HTTP_ARCH_NAMES: dict[str, int] = {
    "ia32": 15, "x64": 16, "ebc": 17, "arm32": 18, "arm64": 19, "riscv32": 26, "riscv64": 28,
    "loongarch64": 40,
}

Tags = tuple[str, ...]


@dataclass(frozen=True)
class Source:
    """Where a setting was read: `file:line` (line 0 = not from a file, e.g. a default)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


NO_SOURCE = Source("<default>", 0)


def tags_match_wild(required: Tags, have: frozenset[str] | set[str]) -> bool:
    """As tags_match, but a tag ending in `*` matches any tag it begins (dnsmasq's tag-if)."""
    for tag in required:
        neg = tag.startswith("!")
        name = tag[1:] if neg else tag
        wild = name.endswith("*")
        found = any(h.startswith(name[:-1]) for h in have) if wild else name in have
        if found == neg:
            return False
    return True


def tags_match(required: Tags, have: frozenset[str] | set[str]) -> bool:
    """dnsmasq's match_netid with 'tag not needed': every plain tag present, no negated one."""
    for tag in required:
        if tag.startswith("!"):
            if tag[1:] in have:
                return False
        elif tag not in have:
            return False
    return True


@dataclass(frozen=True)
class ConfigWarning:
    """A line that was read but is not acted on, or is acted on in a surprising way."""

    source: Source
    option: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.option}: {self.message}"


@dataclass
class TftpSettings:
    enabled: bool = False
    root: Path | None = None
    no_blocksize: bool = False
    mtu: int | None = None
    max_transfers: int | None = None
    single_port: bool = False
    port: int = 69
    upload_dir: Path | None = None


@dataclass
class HttpConfig:
    """TOML `[http]`: the boot file HTTP server, off unless a port is given; its root is the
    TFTP root unless it has its own, its address the TFTP one unless it has its own."""

    port: int | None = None
    root: Path | None = None
    listen: str | None = None
    header_timeout: float | None = None  # seconds; None: the server's default


@dataclass(frozen=True)
class BootEntry:
    """`dhcp-boot=[tag:..,]FILE[,SERVER_NAME[,SERVER_ADDRESS|SERVER_HOST]]`."""

    file: str | None
    server_name: str | None = None
    server_address: IPv4Address | None = None
    server_host: str | None = None  # a name given where the address goes; resolved at serve time
    tags: Tags = ()
    source: Source = NO_SOURCE


def is_url(name: str | None) -> bool:
    """A boot file that is a URL (`http://...`, `https://...`), not a TFTP path."""
    return bool(name) and "://" in name  # type: ignore[operator]


@dataclass(frozen=True)
class HttpBootEntry:
    """TOML `http_boot = URL` (arch None: every HTTP Boot client) or `[http_boot]` ARCH = URL:
    the boot URL a UEFI HTTP Boot client gets. `{server}` in it is the address the request
    came in on."""

    url: str
    arch: int | None = None
    tags: Tags = ()
    source: Source = NO_SOURCE


@dataclass(frozen=True)
class DhcpOption:
    """`dhcp-option[-force]=[tag:..,][vendor:CLASS|encap:N,]NUMBER|option:NAME,VALUE`.

    `vendor` set: a sub-option of 43 sent to clients whose option 60 contains that text;
    `vendor_pxe`: sent to any configured PXE vendor class (how pxe-prompt is stored).
    `pxe_only`: a `dhcp-option-pxe` line, the only plain options a proxy reply carries (after
    43; per number the last matching tagged line wins, else the last untagged one).
    `is_address`: an address list, where 0.0.0.0 means "this server".
    """

    number: int
    value: bytes
    vendor: str | None = None
    vendor_pxe: bool = False
    encap: int | None = None
    force: bool = False
    is_string: bool = False
    tags: Tags = ()
    source: Source = NO_SOURCE
    pxe_only: bool = False
    is_address: bool = False


@dataclass(frozen=True)
class PxePrompt:
    """`pxe-prompt=[tag:..,]TEXT[,TIMEOUT]`: 43.10; timeout 255 (the default) waits for a key."""

    text: str
    timeout: int = 255
    tags: Tags = ()
    source: Source = NO_SOURCE


@dataclass(frozen=True)
class PxeService:
    """`pxe-service=[tag:..,]CSA,TEXT[,BASENAME|TYPE][,SERVER]`.

    `basename` None and `type` 0: boot from local disk. A basename without a dot gets
    ".<layer>" appended when sent (".0" for layer 0), as dnsmasq does.
    """

    csa: int
    text: str
    type: int
    basename: str | None = None
    server_address: IPv4Address | None = None
    server_name: str | None = None
    tags: Tags = ()
    source: Source = NO_SOURCE


@dataclass(frozen=True)
class ProxyRange:
    """`dhcp-range=[tag:..,][set:TAG,]ADDRESS,proxy[,NETMASK]`."""

    address: IPv4Address
    netmask: IPv4Address | None = None
    tags: Tags = ()
    set_tag: str | None = None
    source: Source = NO_SOURCE


@dataclass(frozen=True)
class TagRule:
    """What sets a tag on a request.

    kind "match": `dhcp-match=set:TAG,OPTION[,VALUE]` - the option is present (no value), or
    its value equals VALUE (hex with `*` wildcards: `mask` has 0 bytes there; left-anchored), or,
    for a number, one element of the option equals it; `vi_encap` for RFC 3925 classes.
    kind "userclass"/"vendorclass": `dhcp-userclass=set:TAG,TEXT` / `dhcp-vendorclass=...`:
    TEXT is a substring of option 77 / 60.
    kind "mac": `dhcp-mac=set:TAG,[TYPE-]MAC` with `*` for any byte: `value`/`mask` against
    chaddr, `option` holds the hardware type (0 = any).
    """

    kind: str
    tag: str
    option: int | None = None
    value: bytes | None = None
    mask: bytes | None = None
    is_hex: bool = False
    is_string: bool = False
    vi_encap: int | None = None
    source: Source = NO_SOURCE


def mac_pattern(text: str) -> tuple[bytes, bytes]:
    """A hardware address with `*` for any byte (`00:80:64:*:*:*`, `:` or `-` between bytes)
    -> (value, mask) for a kind "mac" TagRule. ValueError if it is not one (1..16 bytes)."""
    value, mask = bytearray(), bytearray()
    for part in text.replace("-", ":").split(":"):
        if part == "*":
            value.append(0)
            mask.append(0)
        elif 1 <= len(part) <= 2 and all(c in "0123456789abcdefABCDEF" for c in part):
            value.append(int(part, 16))
            mask.append(0xFF)
        else:
            raise ValueError(f"bad hardware address {text!r}")
    if len(value) > 16:
        raise ValueError(f"bad hardware address {text!r}")
    return bytes(value), bytes(mask)


@dataclass(frozen=True)
class TagIf:
    """`tag-if=set:A[,set:B][,tag:X[,tag:!Y]]`: when every tag: condition holds (a trailing `*`
    matches a prefix), the set: tags are added; rules run in file order, each seeing the
    tags the ones before it set."""

    sets: Tags
    conditions: Tags = ()
    source: Source = NO_SOURCE


@dataclass(frozen=True)
class IgnoreRule:
    """`dhcp-ignore=tag:A[,tag:!B]`: a client with all these tags gets no answer."""

    tags: Tags
    source: Source = NO_SOURCE


@dataclass(frozen=True)
class ReplyDelay:
    """`dhcp-reply-delay=[tag:..,]SECONDS`."""

    seconds: int
    tags: Tags = ()
    source: Source = NO_SOURCE


@dataclass
class ServerConfig:
    vendor_classes: list[str] = field(default_factory=lambda: [DEFAULT_VENDOR_CLASS])
    interfaces: list[str] = field(default_factory=list)
    listen_addresses: list[IPv4Address] = field(default_factory=list)
    bind_interfaces: bool = False
    dns_port: int | None = None
    log_dhcp: bool = False
    tftp: TftpSettings = field(default_factory=TftpSettings)
    http: HttpConfig = field(default_factory=HttpConfig)
    boot: list[BootEntry] = field(default_factory=list)
    http_boot: list[HttpBootEntry] = field(default_factory=list)
    options: list[DhcpOption] = field(default_factory=list)
    no_override: bool = False
    prompts: list[PxePrompt] = field(default_factory=list)
    services: list[PxeService] = field(default_factory=list)
    ranges: list[ProxyRange] = field(default_factory=list)
    tag_rules: list[TagRule] = field(default_factory=list)
    reply_delays: list[ReplyDelay] = field(default_factory=list)
    tag_ifs: list[TagIf] = field(default_factory=list)
    ignores: list[IgnoreRule] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    warnings: list[ConfigWarning] = field(default_factory=list)
    # A hint for `pxelab check` (TOML `secure_boot`, `check --secure-boot`): clients run Secure
    # Boot, so an unsigned NBP is worth a warning. The server's replies do not change.
    secure_boot: bool = False

    @property
    def pxe_enabled(self) -> bool:
        """Whether proxy PXE answers are on: with at least one proxy range.

        dnsmasq also needs a pxe-service or pxe-prompt line (its enable_pxe) and is silent
        without one; pxelab answers (dhcp-boot alone is a usable proxy) and the reader warns.
        """
        return bool(self.ranges)

    def source_of(self, setting: str) -> Source:
        return self.sources.get(setting, NO_SOURCE)

    def warn(self, source: Source, option: str, message: str) -> None:
        self.warnings.append(ConfigWarning(source, option, message))

    def add_prompt(self, prompt: PxePrompt) -> None:
        """A prompt is also option 43.10 for every PXE vendor class, in file order among the
        other vendor options (dnsmasq keeps them in one list; their order shows on the wire)."""
        self.prompts.append(prompt)
        value = bytes([prompt.timeout & 0xFF]) + prompt.text.encode()
        self.options.append(
            DhcpOption(10, value, vendor_pxe=True, tags=prompt.tags, source=prompt.source)
        )


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names file, line and what is wrong."""

    def __init__(self, source: Source, message: str) -> None:
        self.source = source
        self.reason = message
        super().__init__(f"{source}: {message}")
