"""The Debian packages the lab needs, in one place: what is present, what is missing.

Presence is read from dpkg's database when there is one, and from the file each package is
needed for otherwise, so the answer is right on a machine where files came another way.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Requirement:
    package: str
    path: str  # a file the package provides, that pxelab uses
    feature: str  # what is off without it


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("iproute2", "/usr/sbin/ip", "lab networks (tc netem impairments)"),
    Requirement("tcpdump", "/usr/bin/tcpdump", "packet capture of a lab to pcap"),
    Requirement(
        "qemu-system-x86", "/usr/bin/qemu-system-x86_64", "QEMU boots (pc-bios, uefi-x64, wyse-sx0)"
    ),
    Requirement("ipxe-qemu", "/usr/lib/ipxe/qemu/pxe-rtl8139.rom", "iPXE option ROMs for QEMU"),
    Requirement("ipxe", "/usr/lib/ipxe/snponly.efi", "iPXE for UEFI HTTP Boot (uefi-http-boot)"),
    Requirement("ovmf", "/usr/share/OVMF/OVMF_CODE_4M.fd", "UEFI boots (uefi-x64, uefi-x64-edk2)"),
    Requirement("qemu-system-arm", "/usr/bin/qemu-system-aarch64", "ARM64 UEFI boots (uefi-arm64)"),
    Requirement("qemu-efi-aarch64", "/usr/share/AAVMF/AAVMF_CODE.fd", "AAVMF for uefi-arm64"),
    Requirement(
        "shim-signed", "/usr/lib/shim/shimx64.efi.signed", "Secure Boot scenarios (signed shim)"
    ),
    Requirement(
        "grub-efi-amd64-signed",
        "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
        "Secure Boot scenarios (signed network GRUB behind shim)",
    ),
    Requirement("pxelinux", "/usr/lib/PXELINUX/pxelinux.0", "PXELINUX in lab TFTP trees"),
    Requirement(
        "syslinux-common",
        "/usr/lib/syslinux/modules/bios/ldlinux.c32",
        "PXELINUX modules (menu.c32)",
    ),
    Requirement(
        "syslinux-efi",
        "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi",
        "syslinux.efi for UEFI scenarios",
    ),
    Requirement(
        "grub-efi-amd64-signed",
        "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
        "Debian's signed GRUB netboot image (GRUB checks and UEFI GRUB boots)",
    ),
    Requirement("dnsmasq", "/usr/sbin/dnsmasq", "dnsmasq as the reference proxy and router"),
    Requirement("busybox-static", "/bin/busybox", "udhcpc tests and the test guest's initramfs"),
    Requirement("isc-dhcp-client", "/sbin/dhclient", "router tests with ISC dhclient"),
    Requirement("ndisc6", "/usr/bin/rdisc6", "router advertisement tests"),
    Requirement("atftp", "/usr/bin/atftp", "TFTP interoperability tests and benchmarks"),
    Requirement("tftp-hpa", "/usr/bin/tftp", "TFTP interoperability tests"),
    Requirement("tftpd-hpa", "/usr/sbin/in.tftpd", "TFTP benchmark peer"),
    Requirement("kea-admin", "/usr/sbin/perfdhcp", "DHCP load tests and benchmarks (perfdhcp)"),
    Requirement("curl", "/usr/bin/curl", "TFTP interoperability tests"),
    Requirement("cpio", "/usr/bin/cpio", "building the test guest's initramfs"),
    Requirement("systemd", "/usr/bin/systemd-analyze", "checking the systemd unit"),
    Requirement("chromium", "/usr/bin/chromium", "the report's browser test (headless Chromium)"),
    Requirement(
        "fonts-dejavu-core",
        "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
        "a monospace font for the console pictures in reports",
    ),
)


def _dpkg_installed(packages: list[str]) -> set[str] | None:
    if shutil.which("dpkg-query") is None:
        return None
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    found = set()
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("ii"):
            found.add(parts[0])
    return found


def missing(requirements: tuple[Requirement, ...] = REQUIREMENTS) -> list[Requirement]:
    """Requirements not satisfied here: not installed per dpkg, or their file is absent."""
    installed = _dpkg_installed([r.package for r in requirements])
    out = []
    for r in requirements:
        present = Path(r.path).exists() or (installed is not None and r.package in installed)
        if not present:
            out.append(r)
    return out


def apt_command(packages: list[str]) -> list[str]:
    return ["apt-get", "install", "-y", "--no-install-recommends", *packages]


def install(packages: list[str]) -> int:
    """apt-get update, then install; returns apt's exit code."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    update = subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
    if update.returncode != 0:
        return update.returncode
    return subprocess.run(apt_command(packages), env=env, check=False).returncode


def is_root() -> bool:
    return os.geteuid() == 0


def rootless_line() -> str:
    """One line: whether `pxelab lab` can run as an ordinary user here (issue 17)."""
    from pxelab.lab.network.userns import refusal

    problem = refusal()
    if problem:
        return f"rootless lab: refused: {problem}"
    return "rootless lab: ok (as a user, pxelab lab runs in namespaces of its own)"


def report(*, install: bool = False) -> int:
    """What `pxelab doctor` prints: each package, then what is missing and how to get it."""
    for req in REQUIREMENTS:
        state = "missing" if req in missing((req,)) else "ok"
        print(f"{state:8} {req.package:18} {req.feature}")
    print(rootless_line())
    lacking = missing()
    if not lacking:
        print("all present")
        return 0
    names = [r.package for r in lacking]
    if install:
        if not is_root():
            print("pxelab doctor: --install needs root; run as root:")
            print("  " + shlex.join(["apt-get", "update"]))
            print("  " + shlex.join(apt_command(names)))
            return 1
        rc = install(names)
        still = missing()
        if rc != 0 or still:
            print(
                f"pxelab doctor: apt-get exited {rc}; still missing: "
                + " ".join(r.package for r in still)
            )
            return 1
        print(f"installed: {' '.join(names)}; all present")
        return 0
    print(f"missing {len(names)}: {' '.join(names)}")
    print(f"to install (as root, after apt-get update): {shlex.join(apt_command(names))}")
    print("features off until then:")
    for r in lacking:
        print(f"  - {r.feature}")
    return 1
