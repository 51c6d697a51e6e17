"""`pxelab check` for what an NBP *is*: the right program for the client that is offered it.

A UEFI firmware starts only a PE/COFF image of its own machine type; a BIOS PXE ROM jumps into
raw real-mode code at 0:7C00. Offer either the other's file and the client fails after the
download (OVMF: "Unsupported" / "Load Error"; a BIOS ROM hangs or reboots), so for each
`pxe-service` file, and each `dhcp-boot` file whose tags say which architecture asks
(`dhcp-match=set:TAG,option:client-arch,N`), this checks the file's first bytes
(pxelab.boot.images):

- a UEFI architecture's file must be a PE of that machine type: x64 (CSA 7, 9) 0x8664,
  AA64 (11) 0xAA64, IA32 (6) 0x14C, ARM32 (10) 0x1C2/0x1C4. Not a PE at all (pxelinux.0, a
  BIOS NBP) is an error, and so is a PE of another machine;
- a BIOS client's file (CSA 0, x86PC) must not be a PE: a UEFI program offered to BIOS clients
  is an error.

With the hint that clients run Secure Boot (`secure_boot = true` in pxelab's TOML
configuration, or `pxelab check --secure-boot`), a UEFI NBP without an Authenticode signature
(the PE security data directory empty) is a warning: the firmware downloads it and refuses to
start it. Measured in the lab (scenarios/secure-boot: OVMF with Microsoft's keys): syslinux.efi
ends with `BdsDxe: failed to load Boot0001 ... Access Denied`; Debian's signed shim is started.
Presence is what is checked, not whether the firmware trusts the signer.

Shim handed out by a proxyDHCP server, with a GRUB beside it as `grubx64.efi`: shim loads GRUB
from the same server and GRUB stops at `grub>`, for the reason check_grub gives for GRUB itself
(it reads only the DHCPACK, efinet.c). Seen in scenarios/secure-boot; a shim is recognised by
the "shim" component of its `.sbat` section.
"""

from __future__ import annotations

from typing import Any

from pxelab.boot import images

# check.py's checker and BootFile: check.py imports this module, so they are duck-typed here.
Checker = BootFile = Any

_HEAD = 65536  # the PE headers and data directories are in the first few hundred bytes
_WHOLE = 16 << 20  # shim's .sbat section is near its end: read images up to this size whole

# Client system architecture (option 93 / pxe-service CSA) -> the PE machines it starts.
# None: BIOS (raw real-mode code, never a PE).
UEFI_MACHINES: dict[int, tuple[str, str]] = {
    6: ("ia32", "0x14C"),
    7: ("x64", "0x8664"),
    9: ("x64", "0x8664"),
    10: ("arm", "0x1C2"),
    11: ("aa64", "0xAA64"),
}
BIOS_ARCH = 0
ARCH_NAMES = {0: "BIOS x86", 6: "IA32 UEFI", 7: "x64 UEFI", 9: "x64 UEFI", 10: "ARM32 UEFI",
              11: "ARM64 UEFI"}  # fmt: skip
# A fix names a file Debian ships for that architecture.
SUGGEST = {
    0: "pxelinux.0 (/usr/lib/PXELINUX/pxelinux.0)",
    6: "the efi32 syslinux.efi (/usr/lib/SYSLINUX.EFI/efi32/syslinux.efi)",
    7: "the efi64 syslinux.efi (/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi) or shimx64.efi",
    9: "the efi64 syslinux.efi (/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi) or shimx64.efi",
    10: "an ARM32 EFI program (grub-efi-arm's grubarm.efi)",
    11: "an ARM64 EFI program (grub-efi-arm64-signed's grubnetaa64.efi.signed)",
}
SIGNED_CHAIN = (
    "offer a signed chain: shimx64.efi (/usr/lib/shim/shimx64.efi.signed, package shim-signed) "
    "with grubx64.efi beside it (/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed), or "
    "sign the file with a key the clients trust (sbsign)"
)


def arches_of(cfg: Any, bf: BootFile) -> set[int]:
    """Which client architectures get this file: the pxe-service CSA, or for dhcp-boot the
    architectures its tags stand for (`dhcp-match=set:TAG,option:client-arch,N`). Empty: any
    client may get it, so nothing can be said."""
    if bf.arch is not None:
        return {bf.arch}
    entry = next((b for b in cfg.boot if b.source == bf.source and b.file == bf.name), None)
    if entry is None:
        return set()
    out: set[int] = set()
    for tag in entry.tags:
        if tag.startswith("!"):
            continue
        for rule in cfg.tag_rules:
            if rule.kind == "match" and rule.option == 93 and rule.tag == tag and rule.value:
                out.add(int.from_bytes(rule.value, "big"))
    return out


def _shim_behind_proxy(checker: Checker, bf: BootFile, path: Any) -> None:
    import posixpath

    from pxelab.config.check_grub import PROXY_EVIDENCE

    cfg, report, tree = checker.cfg, checker.report, checker.tree
    if not cfg.ranges or path.stat().st_size > _WHOLE:
        return
    if "shim" not in images.sbat_components(path.read_bytes()):
        return
    grub = posixpath.join(posixpath.dirname(bf.name), "grubx64.efi")
    gpath = tree.local(grub)
    if not gpath.is_file() or gpath.stat().st_size > _WHOLE:
        return  # shim stops with its own message; a missing file is worth no guess here
    if "grub" not in images.sbat_components(gpath.read_bytes()):
        return  # something else named grubx64.efi (iPXE, a test program): not GRUB's case
    report.error(
        bf.source,
        f"{bf.name} is shim, handed out by a proxyDHCP server (dhcp-range ...,proxy at "
        f"{cfg.ranges[0].source}), and loads {grub} (GRUB) from the same server: "
        f"{PROXY_EVIDENCE} (scenarios/secure-boot: shim accepted, GRUB started, then 'grub>')",
        "let the router give the boot file and next-server (OpenWrt/pfSense next-server and "
        f"filename {bf.name}, dnsmasq: dhcp-boot={bf.name},,<TFTP server address>), as "
        "scenarios/secure-boot-pxe-router does",
    )


def check_nbp(checker: Checker, bf: BootFile) -> None:
    """Findings for one boot file that exists under the TFTP root."""
    cfg, report, tree = checker.cfg, checker.report, checker.tree
    arches = arches_of(cfg, bf)
    path = tree.local(bf.name)
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except OSError:
        return  # unreadable: Tree.has already reported it
    machine = images.pe_machine(head)
    for arch in sorted(arches):
        who = ARCH_NAMES.get(arch, f"architecture {arch}")
        if arch == BIOS_ARCH and machine is not None:
            report.error(
                bf.source,
                f"{bf.what} file {bf.name} is a UEFI program (PE, machine {machine}) offered to "
                f"{who} clients: a BIOS PXE ROM runs raw real-mode code and cannot start it",
                f"offer {SUGGEST[0]} to x86PC clients, and this file under its UEFI "
                "architecture (pxe-service=X86-64_EFI,...)",
            )
        elif arch in UEFI_MACHINES and machine is None:
            report.error(
                bf.source,
                f"{bf.what} file {bf.name} is not a PE image (a BIOS NBP) but is offered to "
                f"{who} clients: UEFI firmware starts only EFI programs",
                f"offer {SUGGEST[arch]} to {who} clients",
            )
        elif arch in UEFI_MACHINES and machine != UEFI_MACHINES[arch][0]:
            want, code = UEFI_MACHINES[arch]
            report.error(
                bf.source,
                f"{bf.what} file {bf.name} is a PE for machine {machine}, but {who} clients "
                f"start only {want} ({code}) images",
                f"offer {SUGGEST[arch]} to {who} clients",
            )
    if machine is not None:
        _shim_behind_proxy(checker, bf, path)
    if getattr(cfg, "secure_boot", False) and machine is not None:
        if arches and not any(a in UEFI_MACHINES for a in arches):
            return  # only BIOS clients get it (already an error above)
        if not images.is_signed(head):
            report.warning(
                bf.source,
                f"{bf.what} file {bf.name} has no Authenticode signature (its PE security "
                "directory is empty) and clients use Secure Boot: the firmware downloads it "
                "and refuses to start it (OVMF: 'Access Denied', scenarios/secure-boot)",
                SIGNED_CHAIN,
            )
