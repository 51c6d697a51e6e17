"""shim and GRUB emulated over TFTP: what a Secure Boot chain fetches after the firmware's NBP.

The knowledge is pxelab.boot (grub_search: the lists and config names, grub_config: the
menu); this module fetches in the real programs' order with their TFTP options, all taken from
a capture of the real chain in this lab (OVMF with Microsoft's keys, Debian 12 shim-signed and
grubnetx64.efi.signed, full-DHCP dnsmasq: tests/captures/ovmf-secureboot-shim-grub.pcap and
tests/vm/data/ovmf-secureboot-shim-grub.dnsmasq.log):

1. shim (recognised by the "shim" line of its `.sbat` section, as check_nbp does): from its own
   server and directory, `revocations_sku.efi`, `revocations_sbat.efi`,
   `shim_certificate_0.efi` (not found is fine), then its loader `grubx64.efi`;
2. GRUB (its `.sbat` says "grub", or a known GRUB image name): the server comes from the
   **DHCPACK only**. GRUB 2.06's efinet.c hands grub_net_configure_by_dhcp_ack the PXE base
   code's `dhcp_ack`, never its ProxyOffer; net/bootp.c then takes `tftp,<siaddr>`, else
   `tftp,<sname>`, else no device at all. Without one, `$prefix` has no device, nothing is
   fetched and GRUB stops at `grub>` (pxelab router: siaddr 0; scenarios/secure-boot). A
   dnsmasq router puts its own address in siaddr: GRUB then sends every request to the router,
   40 times each, and stops at `grub>` after about 160 s
   (tests/captures/ovmf-grub-behind-proxy-dnsmasq-router.pcap); the walk stops at the first
   unanswered name and says so. With a server that answers: the four lists, the config
   search (grub_search), the config read with its includes fetched as GRUB would;
3. on request, one entry's kernel and initrds (GRUB's RRQ: `/path octet blksize 1024 tsize 0`).

The menu is reported in the PXELINUX walk's shape (pxelinux.menu_json): title as GRUB draws it
(`GNU GRUB  version <the version in the image's .sbat>`), entries with `label` = `text` = the
title, `kind` "menuentry"/"submenu", `default` the title `set default` picks.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from pxelab.boot import grub_search, images
from pxelab.boot.grub_config import Entry, GrubConfig, GrubConfigError, netboot_env, parse_config
from pxelab.client import tftp
from pxelab.client.profile import Profile

# Why GRUB has no server behind a proxy: put in the failure, so a report says it.
DHCPACK_ONLY = (
    "GRUB takes its TFTP server from the DHCPACK only (GRUB 2.06 efinet.c configures the "
    "network from the PXE base code's dhcp_ack, never its ProxyOffer; bootp.c uses the ACK's "
    "siaddr, else its sname)"
)


class GrubFailure(RuntimeError):
    """A link of the shim -> GRUB chain that cannot be passed; `reached` says where it stopped."""

    def __init__(self, message: str, reached: str = "") -> None:
        super().__init__(message)
        self.reached = reached


def sbat(data: bytes) -> list[list[str]]:
    """The `.sbat` CSV of a PE image, one list of fields per line ([] when there is none)."""
    sec = next((s for s in images.pe_sections(data) if s.name == ".sbat"), None)
    if sec is None or sec.offset + sec.size > len(data):
        return []
    text = data[sec.offset : sec.offset + sec.size].split(b"\0", 1)[0]
    return [
        [f.strip() for f in line.split(",")]
        for line in text.decode("utf-8", "replace").splitlines()
        if line.strip()
    ]


def is_shim(data: bytes) -> bool:
    return any(fields[0] == "shim" for fields in sbat(data))


def is_grub(name: str, data: bytes) -> bool:
    return grub_search.is_grub_image(name) or any(f[0] == "grub" for f in sbat(data))


def grub_version(data: bytes) -> str | None:
    """The version GRUB prints in its menu heading: the vendor's line of .sbat (grub.debian:
    "2.06-13+deb12u2"), else upstream's ("2.06")."""
    lines = sbat(data)
    vendor = [f for f in lines if f[0].startswith("grub.") and len(f) > 4]
    upstream = [f for f in lines if f[0] == "grub" and len(f) > 4]
    pick = vendor[0] if vendor else upstream[0] if upstream else None
    return pick[4] if pick else None


def grub_server(siaddr: str, sname: str) -> str | None:
    """GRUB 2.06's TFTP device from one DHCPACK: siaddr, else the sname header field."""
    if siaddr and siaddr != "0.0.0.0":
        return siaddr
    return sname or None


def menu_json(cfg: GrubConfig, version: str | None) -> dict[str, object]:
    shown = cfg.shown()
    default = cfg.default_entry()

    def entry(e: Entry) -> dict[str, object]:
        return {
            "label": e.title, "text": e.title, "hidden": False, "kind": e.kind,
            "kernel": e.linux.path if e.linux else None,
            "initrds": [r.path for r in e.initrds], "append": e.args,
            "where": f"{e.filename}:{e.line}", "conditional": e.conditional,
        }  # fmt: skip

    return {
        "title": f"GNU GRUB  version {version}" if version else "GNU GRUB",
        "entries": [entry(e) for e in shown.entries],
        "default": default.title if default else None,
        "prompt": None,
        "timeout": cfg.timeout_seconds,
        "ui": "grub",
        "file": shown.filename,
    }


@dataclass
class GrubResult:
    shim: dict[str, object] | None = None
    build: str = ""
    server: str | None = None
    prefix: str = ""
    search: list[dict[str, object]] = field(default_factory=list)
    config_file: str | None = None
    includes: list[dict[str, object]] = field(default_factory=list)
    menu: dict[str, object] | None = None
    selected: dict[str, object] | None = None
    config: GrubConfig | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "shim": self.shim, "build": self.build, "server": self.server,
            "prefix": self.prefix, "search": self.search, "config_file": self.config_file,
            "includes": self.includes, "selected": self.selected,
        }  # fmt: skip


class Chain:
    """shim (when the NBP is shim), then GRUB, fetched from real servers."""

    def __init__(self, profile: Profile, record: Callable[[tftp.Fetch], None],
                 log: Callable[..., None], localip: str = "") -> None:  # fmt: skip
        self.profile = profile
        self.record = record
        self.log = log
        self.localip = localip
        self.result = GrubResult()  # filled as the run goes, so a failure keeps what it did

    def _get(self, server: str, path: str, blksize: int, tsize: bool, who: str) -> tftp.Fetch:
        t = self.profile.tftp
        got = tftp.fetch(server, path, blksize=blksize, tsize=tsize, timeout=t.timeout,
                         retries=t.retries, localip=self.localip)  # fmt: skip
        self.record(got)
        state = f"{got.bytes} bytes" if got.found else f"not found ({got.error})"
        self.log(who, f"RRQ {path} from {server}: {state}")
        return got

    def shim(self, server: str, nbp: str) -> tuple[str, bytes]:
        """shim's own requests, from its server and directory; returns (loader path, bytes)."""
        s = self.profile.shim
        directory = posixpath.dirname(nbp.replace("\\", "/"))
        files = []
        for name in (*s.files, s.loader):
            path = posixpath.join(directory, name) if directory else name
            got = self._get(server, path, s.blksize, s.tsize, "shim")
            files.append({"path": path, "found": got.found, "bytes": got.bytes})
            if name == s.loader:
                self.result.shim = {"server": server, "files": files, "loader": path}
                if not got.found:
                    raise GrubFailure(f"shim's loader {path} not found on {server} "
                                      f"({got.error}): shim has nothing to start")  # fmt: skip
                return path, got.data
        raise AssertionError("unreachable")

    def grub(self, *, image: str, data: bytes, siaddr: str, sname: str, ack_server: str,
             mac: bytes, ip: str, uuid: bytes | None, arch: int,
             select: str | None = None) -> GrubResult:  # fmt: skip
        res = self.result
        build = grub_search.build_for(image) or grub_search.DEBIAN_12_X64
        platform = grub_search.PLATFORM_BY_ARCH.get(arch)
        if platform and platform != build.platform:
            from dataclasses import replace

            build = replace(build, platform=platform)
        res.build = str(build)
        server = grub_server(siaddr, sname)
        res.server = server
        if server is None:
            self.log("grub", "GRUB started; the DHCPACK names no server: grub>")
            raise GrubFailure(
                f"GRUB started, then stops at 'grub>' without a TFTP request: {DHCPACK_ONLY}, "
                f"and the DHCPACK from {ack_server} has no siaddr and no sname",
                reached="grub-prompt",
            )
        res.prefix = f"(tftp,{server}){build.prefix}"
        g = self.profile.grub
        # GRUB's RRQs carry the path with a leading '/' (net/tftp.c), as captured.
        names = grub_search.config_search(mac, ip, uuid, build=build)

        texts: dict[str, str] = {}
        found = None
        for name in names:
            got = self._get(server, "/" + name, g.blksize, g.tsize, "grub")
            res.search.append({"path": name, "found": got.found})
            if not got.found and got.error.startswith("no answer"):
                raise GrubFailure(
                    f"GRUB sends its requests to {server} (the DHCPACK's "
                    f"{'siaddr' if server == siaddr else 'sname'}; {DHCPACK_ONLY}), and "
                    f"{server} does not answer TFTP ({got.error}): real GRUB tries each of "
                    f"its {len(names)} names 40 times (about 32 s each in the lab, "
                    "tests/captures/ovmf-grub-behind-proxy-dnsmasq-router.pcap) and stops at "
                    "'grub>'",
                    reached="grub-prompt",
                )
            if got.found and not name.endswith(".lst"):  # the lists are asked for, found or not
                texts[name], found = got.data.decode("utf-8", "replace"), name
                break
        if found is None:
            raise GrubFailure(f"no GRUB config on {server}: tried {', '.join(names[4:])}; "
                              "GRUB stops at 'grub>'", reached="grub-prompt")  # fmt: skip
        res.config_file = found

        def loader(path: str) -> str | None:
            got = self._get(server, "/" + path, g.blksize, g.tsize, "grub")
            res.includes.append({"path": path, "found": got.found})
            return got.data.decode("utf-8", "replace") if got.found else None

        mac_text = ":".join(f"{b:02x}" for b in mac)
        env = netboot_env(server, prefix=build.prefix, mac=mac_text, ip=ip,
                          platform=build.platform)  # fmt: skip
        try:
            cfg = parse_config(texts[found], found, loader=loader, env=env)
        except GrubConfigError as exc:
            raise GrubFailure(f"GRUB cannot parse {exc}", reached="grub-prompt") from None
        res.config = cfg
        if not cfg.shown().entries:
            raise GrubFailure(f"{found} defines no menuentry: GRUB shows no menu",
                              reached="grub-prompt")  # fmt: skip
        res.menu = menu_json(cfg, grub_version(data))
        self.log("menu", f"GRUB menu from {cfg.shown().filename}: "
                 + ", ".join(cfg.menu_titles()))  # fmt: skip
        if select is not None:
            res.selected = self._boot(cfg, server, select)
        return res

    def _boot(self, cfg: GrubConfig, server: str, title: str) -> dict[str, object]:
        entry = next((e for e in cfg.shown().entries if title in (e.title, e.entry_id)), None)
        if entry is None:
            raise GrubFailure(f"no GRUB menu entry {title!r} in {cfg.shown().filename} "
                              f"(entries: {', '.join(cfg.menu_titles())})")  # fmt: skip
        if entry.linux is None:
            raise GrubFailure(f"menu entry {title!r} ({entry.filename}:{entry.line}) loads "
                              "no kernel (no linux line)")  # fmt: skip
        g = self.profile.grub
        # linux.c puts BOOT_IMAGE=<the path as given> before the arguments.
        cmdline = f"BOOT_IMAGE={entry.linux.expanded} {entry.args}".rstrip()
        out: dict[str, object] = {
            "label": entry.title,
            "kind": entry.kind,
            "append": entry.args,
            "cmdline": cmdline,
            "files": [],
        }
        files: list[dict[str, object]] = out["files"]  # type: ignore[assignment]
        for role, ref in [("kernel", entry.linux), *(("initrd", r) for r in entry.initrds)]:
            if ref.path is None:
                raise GrubFailure(f"{role} {ref.written!r} of {title!r} ({ref.filename}:"
                                  f"{ref.line}) is not on the TFTP tree")  # fmt: skip
            got = self._get(server, "/" + ref.path, g.blksize, g.tsize, "grub")
            files.append(
                {
                    "role": role,
                    "path": ref.path,
                    "found": got.found,
                    "bytes": got.bytes,
                    "tsize": got.tsize,
                    "size_ok": got.size_ok,
                }
            )
            if not got.found:
                raise GrubFailure(
                    f"{role} {ref.path} of {title!r} not found on {server} "
                    f"({ref.filename}:{ref.line}): GRUB says 'file not found'"
                )
            if not got.size_ok:
                raise GrubFailure(f"{role} {ref.path}: got {got.bytes} bytes, tsize said "
                                  f"{got.tsize}")  # fmt: skip
        self.log("grub", f"entry {title!r}: loaded {len(files)} file(s), command line "
                 f"{entry.args!r}")  # fmt: skip
        return out
