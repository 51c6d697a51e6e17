"""`pxelab check` for a GRUB netboot tree: what pxelab/config/check.py does for PXELINUX.

For a boot file that is a GRUB netboot image (pxelab.boot.grub_search.KNOWN_IMAGES) it checks,
one finding per problem with file:line and a fix:
- the four `$prefix/<platform>/*.lst` lists GRUB asks for before its config;
- `$prefix/grub.cfg` (and the per-client names a searching GRUB tries first), read with
  pxelab.boot.grub_config, its `source`/`configfile` files read over the same tree;
- every entry's kernel and initrds, and whether the kernel is of the client's architecture
  (pxelab.boot.images reads the file's first bytes);
- per-client configs (`grub.cfg-01-<mac>`, `grub.cfg-<hex ip>`...): for a GRUB that searches
  them, each shadows grub.cfg for its client; for Debian's signed GRUB, which never asks for
  them, they are dead files;
- GRUB handed out by a proxyDHCP server. Seen in the lab (tests/vm/test_grub_boot.py, OVMF +
  Debian 12 grubnetx64.efi.signed): the firmware fetches grubx64.efi from the proxy's file,
  GRUB starts, asks the TFTP server for nothing more and stops at `grub>`. Why, in GRUB 2.06's
  source: grub-core/net/drivers/efi/efinet.c (grub_efi_net_config_real) hands
  grub_net_configure_by_dhcp_ack only `pxe_mode->dhcp_ack`, the PXE base code's copy of the
  DHCP server's ACK; it never reads the mode's ProxyOffer, where the boot server and file
  are. net/bootp.c then takes the TFTP device `tftp,<siaddr>` from that ACK: the router's has
  no server in it, so `$prefix` gets no device and every file open fails.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from pxelab.boot import grub_search, images
from pxelab.boot.grub_config import GrubConfig, GrubConfigError, netboot_env, parse_config
from pxelab.boot.grub_search import GrubBuild
from pxelab.config.model import ServerConfig

# check.py's Tree, Report, BootFile, ClientIdentity and checker: check.py imports this module,
# so they are not imported back (no import circle); duck-typed here.
Tree = Report = BootFile = ClientIdentity = _Checker = Any

SYSTEM_LISTS = "/usr/lib/grub/{platform}"  # grub-efi-amd64-bin and friends
_HEAD = 65536
_CLIENT_NAME = re.compile(r"grub\.cfg-(.+)")
PROXY_EVIDENCE = (
    "in the lab (OVMF + Debian 12 GRUB) GRUB loaded through proxyDHCP starts, asks the TFTP "
    "server for nothing and stops at 'grub>': GRUB 2.06 takes its TFTP server from the PXE "
    "DhcpAck (efinet.c reads pxe_mode->dhcp_ack, never the ProxyOffer), and the DHCP server's "
    "ACK names no server"
)


def build_of(bf: BootFile) -> GrubBuild | None:
    build = grub_search.build_for(bf.name)
    if build is None:
        return None
    platform = grub_search.PLATFORM_BY_ARCH.get(bf.arch) if bf.arch is not None else None
    if platform and platform != build.platform:
        from dataclasses import replace

        build = replace(build, platform=platform)
    return build


def client_arch(build: GrubBuild, arch: int | None) -> str:
    if arch is not None and arch in images.ARCH_OF_CLIENT:
        return images.ARCH_OF_CLIENT[arch]
    return {"x86_64-efi": "x64", "i386-efi": "ia32", "arm64-efi": "aa64", "i386-pc": "x86"}.get(
        build.platform, "x64"
    )


def _loader(tree: Tree):
    def load(name: str) -> str | None:
        return tree.read_text(name) if tree.local(name).is_file() else None

    return load


def read_config(tree: Tree, name: str, env: dict[str, str]) -> GrubConfig | GrubConfigError:
    text = tree.read_text(name) or ""
    try:
        return parse_config(text, str(tree.local(name)), loader=_loader(tree), env=env)
    except GrubConfigError as exc:
        return exc


def check_grub(checker: _Checker, bf: BootFile) -> None:
    """Every GRUB finding for one boot file; a summary line like PXELINUX's."""
    tree, report, cfg = checker.tree, checker.report, checker.cfg
    assert tree is not None
    build = build_of(bf)
    assert build is not None
    done = getattr(checker, "grub_done", set())
    checker.grub_done = done  # type: ignore[attr-defined]
    if (build, bf.name) in done:
        return
    done.add((build, bf.name))
    if cfg.ranges:
        report.error(
            bf.source,
            f"{bf.name} is GRUB, handed out by a proxyDHCP server (dhcp-range ...,proxy at "
            f"{cfg.ranges[0].source}): {PROXY_EVIDENCE}",
            "let the DHCP server that gives the address give the boot file and next-server "
            "(dnsmasq there: dhcp-boot=grubx64.efi,,<TFTP server address>), or hand proxy "
            "clients syslinux.efi or iPXE instead of GRUB",
        )
    _check_lists(tree, report, build, bf)
    default = posixpath.join(grub_search.prefix_dir(build), grub_search.CONFIG_NAME)
    if not tree.has(default, bf.source):
        report.error(
            bf.source,
            f"{default} is missing ({tree.local(default)}): {build} reads only that file and "
            "without it stops at the 'grub>' prompt",
            f"create {tree.local(default)} with a menuentry per kernel",
            key=tree.local(default),
        )
        return
    server = str(cfg.listen_addresses[0]) if cfg.listen_addresses else "SERVER"
    env = netboot_env(server, prefix=build.prefix, platform=build.platform)
    result = read_config(tree, default, env)
    if isinstance(result, GrubConfigError):
        report.error(
            f"{result.filename}:{result.line}",
            result.message,
            "correct the line (GRUB skips what it cannot parse)",
        )
        return
    arch = client_arch(build, bf.arch)
    check_entries(tree, report, result, arch)
    clients = _check_client_configs(tree, report, build, env, arch)
    titles = result.menu_titles()
    report.summary.append(
        f"{bf.name}: GRUB ({build}) {default} -> menu of {len(titles)} entr"
        f"{'y' if len(titles) == 1 else 'ies'}"
        + (f", {clients} client-specific config(s)" if clients else "")
    )


def _check_lists(tree: Tree, report: Report, build: GrubBuild, bf: BootFile) -> None:
    missing = [n for n in grub_search.list_names(build) if not tree.has(n, bf.source)]
    if not missing:
        return
    dest = tree.local(posixpath.dirname(missing[0]))
    names = " ".join(posixpath.basename(n) for n in missing)
    msg = f"{build} asks for {', '.join(missing)} before its config and they are missing ({dest}/)"
    fix = (
        f"mkdir -p {dest} && cp "
        + " ".join(f"{SYSTEM_LISTS.format(platform=build.platform)}/{n}" for n in names.split())
        + f" {dest}/"
    )
    if build.searches_client_names:
        report.error(
            bf.source,
            msg + ": without command.lst normal mode cannot find the "
            "module of any command not built into the image",
            fix,
        )
    else:
        report.warning(
            bf.source,
            msg + ": the signed image has its modules built in, so it "
            "boots, but every boot logs four 'file not found'",
            fix,
        )


def check_entries(tree: Tree, report: Report, config: GrubConfig, arch: str) -> None:
    for e in config.all_entries():
        if e.linux is not None and e.linux.path is not None:
            where = f"{e.linux.filename}:{e.linux.line}"
            path = tree.local(e.linux.path)
            if not tree.has(e.linux.path, where):
                report.error(
                    where,
                    f"menuentry '{e.title}': kernel {e.linux.written} is missing ({path})",
                    f"put the kernel at {path} or correct the {e.linux_command} line",
                    key=path,
                )
            else:
                _check_arch(report, where, e.title, path, arch)
        for initrd in e.initrds:
            if initrd.path is None:
                continue
            where = f"{initrd.filename}:{initrd.line}"
            path = tree.local(initrd.path)
            if not tree.has(initrd.path, where):
                report.error(
                    where,
                    f"menuentry '{e.title}': initrd {initrd.written} is missing ({path})",
                    f"put the initrd at {path} or correct the initrd line",
                    key=path,
                )


def _check_arch(report: Report, where: str, title: str, path: Path, arch: str) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except OSError:
        return
    kernel = images.kernel_arch(head)
    if kernel is not None and not images.runs_on(kernel, arch):
        report.error(
            where,
            f"menuentry '{title}': kernel {path} is an {kernel} kernel; this "
            f"GRUB runs on {arch} clients, where it cannot boot",
            f"point the entry at a kernel built for {arch}",
        )


def _check_client_configs(
    tree: Tree, report: Report, build: GrubBuild, env: dict[str, str], arch: str
) -> int:
    directory = tree.local(grub_search.prefix_dir(build) + "/x").parent
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError:
        return 0
    count = 0
    for path in files:
        m = _CLIENT_NAME.fullmatch(path.name)
        if m is None:
            continue
        if not build.searches_client_names:
            suffix = m.group(1)
            mac = (
                suffix[3:].replace("-", ":")
                if re.fullmatch(r"01(-[0-9a-f]{2}){6}", suffix)
                else None
            )
            test = (
                f'"$net_default_mac" = {mac}'
                if mac
                else "<a test of $net_default_mac or $net_default_ip>"
            )
            report.warning(
                path,
                f"{build} never asks for {path.name}: its early config runs "
                "'normal (memdisk)/grub.cfg', which skips GRUB's per-client search, so every "
                "client reads grub.cfg",
                f"choose inside grub.cfg instead: if [ {test} ]; then "
                f"source $prefix/{path.name}; fi",
            )
            continue
        name = posixpath.join(grub_search.prefix_dir(build), path.name)
        report.warning(
            path,
            f"this file shadows grub.cfg for the client it names "
            f"({m.group(1)}): {build} takes it before grub.cfg, so that client "
            "never sees the default menu",
            "delete it if that client should get the default menu",
        )
        result = read_config(tree, name, env)
        if isinstance(result, GrubConfigError):
            report.error(f"{result.filename}:{result.line}", result.message, "correct the line")
        else:
            check_entries(tree, report, result, arch)
            count += 1
    return count


def grub_chain(
    cfg: ServerConfig, who: ClientIdentity, tree: Tree, boot_file: str, proxied: bool
) -> list[str]:
    """The walk of one client through GRUB, as check.client_chain prints PXELINUX's."""
    build = grub_search.build_for(boot_file)
    assert build is not None
    lines = [f"boot file is GRUB: {build}"]
    if proxied:
        lines.append(f"PROBLEM: served by a proxy; {PROXY_EVIDENCE}; the chain stops here")
        return lines
    if who.mac is None or who.ip is None:
        lines.append("GRUB config search: needs --mac and --ip to name the files it tries")
        return lines
    names = grub_search.config_search(who.mac, who.ip, None, build=build)
    asked, found = grub_search.walk(names, lambda n: tree.local(n).is_file())
    lines.append("GRUB asks for, in order:")
    lines += [f"  {n}: {'found' if tree.local(n).is_file() else 'not found'}" for n in asked]
    if found is None:
        lines.append("  no config: GRUB stops at the 'grub>' prompt")
        return lines
    server = str(cfg.listen_addresses[0]) if cfg.listen_addresses else "SERVER"
    env = netboot_env(server, prefix=build.prefix, mac=who.mac, ip=who.ip, platform=build.platform)
    result = read_config(tree, found, env)
    if isinstance(result, GrubConfigError):
        lines.append(f"config {found}: {result}")
        return lines
    default = result.default_entry()
    timeout = result.timeout_seconds
    lines.append(
        f"menu: default '{default.title if default else '-'}'"
        + (f", timeout {timeout} s" if timeout is not None else "")
    )
    for e in result.shown().entries:
        mark = "*" if e is default else " "
        lines.append(f"  {mark} {e.title}{' >' if e.kind == 'submenu' else ''}")
    return lines
