"""Which files a GRUB 2 netboot image asks the TFTP server for, in order, before its menu.

Pure functions, the shape of pxelab.boot.pxelinux_search: the caller says who the client is
(MAC, IP, the option 97 UUID of the DHCP ACK) and which GRUB it runs, and gets back the TFTP
paths GRUB requests, relative to the TFTP root, as a server's log shows them.

Read from GRUB 2.06's source (tag grub-2.06; Debian 12 ships 2.06-13):

- `$prefix` is `(tftp,SERVER)` + the image's embedded prefix when that is a bare path
  (kern/main.c grub_set_prefix_and_root); SERVER is the DHCP ACK's siaddr
  (net/bootp.c grub_net_configure_by_dhcp_ack). GRUB puts the path in its RRQ with a leading
  '/' (net/tftp.c, only runs of '/' squeezed); servers take it from the root.
- Loading normal.mod reads four lists from `$prefix/<platform>/`: command.lst, fs.lst,
  crypto.lst, terminal.lst, in that order (normal/main.c read_lists), found or not.
- `normal` *without an argument* builds `$prefix/grub.cfg`, and on a tftp prefix first tries
  (net/net.c grub_net_search_config_file, per interface): `grub.cfg-<uuid>` when the ACK had a
  17-byte option 97 (lower-case hex in wire order, 8-4-4-4-12), `grub.cfg-01-<mac>` (lower
  case, dashes), `grub.cfg-<IP as %02X x4>` shortened one digit at a time, eight names; the
  first that opens wins, else `grub.cfg`. `feature_net_search_cfg=n` turns the search off.
- `normal FILE` goes straight to FILE (grub_enter_normal_mode(argv[0])): no search.

Debian's signed grubnetx64.efi.signed embeds the prefix `/grub` and the early config
`normal (memdisk)/grub.cfg` (read out of its PE `mods` section: module types 1 memdisk,
2 config, 3 prefix). That memdisk grub.cfg is

    if [ -e $prefix/x86_64-efi/grub.cfg ]; then source $prefix/x86_64-efi/grub.cfg
    else source $prefix/grub.cfg; fi

and `[ -e ]` on a tftp device asks the server nothing (commands/test.c lists the directory
through the net fs, whose dir() lists nothing), so it is always false over TFTP. Debian's GRUB
therefore never searches per-client names: every client reads `grub/grub.cfg`. A per-client
choice has to be made inside that grub.cfg (e.g. `source $prefix/grub.cfg-$net_default_mac`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from pxelab.boot.pxelinux_search import mac_bytes, uuid_bytes

LISTS = ("command.lst", "fs.lst", "crypto.lst", "terminal.lst")
CONFIG_NAME = "grub.cfg"

# GRUB's <cpu>-<platform> directory names, by DHCP option 93 client architecture.
PLATFORM_BY_ARCH: dict[int, str] = {
    0: "i386-pc",
    6: "i386-efi",
    7: "x86_64-efi",
    9: "x86_64-efi",
    10: "arm-efi",
    11: "arm64-efi",
}


@dataclass(frozen=True)
class GrubBuild:
    """What decides one GRUB image's netboot walk: its embedded prefix, its platform, and
    whether its early config runs `normal` bare (so it searches per-client names)."""

    name: str
    prefix: str  # embedded prefix path, e.g. "/grub"
    platform: str  # "x86_64-efi"
    searches_client_names: bool

    def __str__(self) -> str:
        return self.name


# Debian 12: grub-efi-amd64-signed 1+2.06+13 (grubnetx64.efi.signed), read from the image.
DEBIAN_12_X64 = GrubBuild("Debian 12 grubnetx64.efi.signed (2.06-13)", "/grub", "x86_64-efi", False)
# Upstream 2.06 built by grub-mknetdir (prefix /boot/grub) with no early config: `normal` bare.
UPSTREAM_X64 = GrubBuild("upstream GRUB 2.06 (grub-mknetdir)", "/boot/grub", "x86_64-efi", True)

# Boot file base names that are GRUB netboot images, and the build each is.
KNOWN_IMAGES: dict[str, GrubBuild] = {
    "grubnetx64.efi.signed": DEBIAN_12_X64,
    "grubnetx64.efi": DEBIAN_12_X64,
    "grubx64.efi": DEBIAN_12_X64,  # what shim loads; Debian's netboot tree renames it so
    "bootnetx64.efi": DEBIAN_12_X64,
    "core.efi": UPSTREAM_X64,  # grub-mknetdir's name
}


def is_grub_image(boot_file: str) -> bool:
    base = boot_file.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return base in KNOWN_IMAGES


def build_for(boot_file: str) -> GrubBuild | None:
    base = boot_file.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return KNOWN_IMAGES.get(base)


def prefix_dir(build: GrubBuild) -> str:
    """The prefix as a TFTP path from the root ("grub"): GRUB's leading '/' dropped."""
    return build.prefix.strip("/")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def list_names(build: GrubBuild) -> list[str]:
    """`$prefix/<platform>/{command,fs,crypto,terminal}.lst`, in the order normal.mod reads them."""
    return [_join(prefix_dir(build), build.platform, n) for n in LISTS]


def uuid_name(uuid: str | bytes | None) -> str | None:
    """The UUID as GRUB writes `net_<if>_clientuuid`: every 16 bytes in wire order, lower-case
    hex, dashes after bytes 4, 6, 8, 10. Unlike PXELINUX no validity test: an all-zero UUID is
    used as it is. None when there is none (GRUB reads it from the ACK, not the DISCOVER)."""
    raw = uuid_bytes(uuid)
    if raw is None:
        return None
    h = raw.hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def mac_name(mac: str | bytes) -> str:
    """`01-52-54-00-12-34-56`: "01-" then grub_net_hwaddr_to_str with ':' made '-'."""
    return "01-" + "-".join(f"{b:02x}" for b in mac_bytes(mac))


def ip_names(ip: str | ipaddress.IPv4Address) -> list[str]:
    """`C0A80A15`, `C0A80A1`, ... `C`: grub_config_search_through(config, suffix, 8, 1)."""
    full = f"{int(ipaddress.IPv4Address(str(ip))):08X}"
    return [full[:n] for n in range(8, 0, -1)]


def client_config_names(
    mac: str | bytes, ip: str | ipaddress.IPv4Address, uuid: str | bytes | None, build: GrubBuild
) -> list[str]:
    """The per-client grub.cfg names a searching GRUB tries before grub.cfg (empty for one
    that does not search)."""
    if not build.searches_client_names:
        return []
    base = _join(prefix_dir(build), CONFIG_NAME)
    suffixes: list[str] = []
    u = uuid_name(uuid)
    if u is not None:
        suffixes.append(u)
    suffixes.append(mac_name(mac))
    suffixes.extend(ip_names(ip))
    return [f"{base}-{s}" for s in suffixes]


def config_search(
    mac: str | bytes,
    ip: str | ipaddress.IPv4Address,
    uuid: str | bytes | None = None,
    *,
    build: GrubBuild = DEBIAN_12_X64,
) -> list[str]:
    """Every TFTP path GRUB requests up to its first config, first to last, when none of the
    per-client names exists: the four lists, the per-client names, then grub.cfg.

    `uuid`: option 97 *of the DHCP ACK* (16 bytes, the 17-byte payload, or text), None when the
    server sent none (dnsmasq as a full DHCP server does not).
    """
    return [
        *list_names(build),
        *client_config_names(mac, ip, uuid, build),
        _join(prefix_dir(build), CONFIG_NAME),
    ]


def walk(names: list[str], is_served: Callable[[str], bool]) -> tuple[list[str], str | None]:
    """The requests GRUB actually makes against a tree: `is_served(name) -> bool` answers for the
    tree. The lists are always asked for; the config search stops at the first file found.
    Returns (requested names, the config GRUB runs or None)."""
    asked: list[str] = []
    for name in names:
        asked.append(name)
        if not name.endswith(".lst") and is_served(name):
            return asked, name
    return asked, None
