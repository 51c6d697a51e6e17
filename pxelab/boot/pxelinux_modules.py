"""Which files a PXELINUX 6 tree needs beside the NBP and beside each COM32 module.

The library table is the DT_NEEDED list of the modules Debian ships (syslinux 6.04,
/usr/lib/syslinux/modules/bios/*.c32 read with `readelf -d`); ldlinux loads those
dependencies itself before it starts a module, from the working directory and PATH.
tests/boot/test_modules.py checks this table against the installed files.
"""

from __future__ import annotations

import posixpath

# NBP (basename) -> the core module PXELINUX loads right after it, from the same directory.
CORE_MODULE: dict[str, str] = {
    "pxelinux.0": "ldlinux.c32",
    "lpxelinux.0": "ldlinux.c32",
    "gpxelinux.0": "ldlinux.c32",
    "syslinux.efi": "ldlinux.e64",  # efi64; the efi32 build is told apart by firmware, see below
    "syslinux64.efi": "ldlinux.e64",
    "syslinux32.efi": "ldlinux.e32",
}

# module -> the libraries it names in DT_NEEDED (syslinux 6.04, same for bios and efi64 builds).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "cat.c32": (),
    "chain.c32": ("libutil.c32", "libcom32.c32"),
    "cmd.c32": ("libcom32.c32",),
    "cmenu.c32": ("libmenu.c32",),
    "config.c32": ("libcom32.c32",),
    "cptime.c32": ("libutil.c32",),
    "cpu.c32": ("libgpl.c32",),
    "cpuid.c32": (),
    "cpuidtest.c32": ("libgpl.c32",),
    "debug.c32": (),
    "dhcp.c32": ("libcom32.c32",),
    "dir.c32": (),
    "disk.c32": ("libgpl.c32",),
    "dmi.c32": ("libgpl.c32",),
    "dmitest.c32": ("libgpl.c32",),
    "elf.c32": ("libcom32.c32",),
    "ethersel.c32": ("libcom32.c32",),
    "gfxboot.c32": ("libcom32.c32",),
    "gpxecmd.c32": ("libcom32.c32",),
    "hdt.c32": ("libutil.c32", "libgpl.c32", "libcom32.c32", "libmenu.c32"),
    "hexdump.c32": ("libcom32.c32",),
    "host.c32": (),
    "ifcpu.c32": ("libutil.c32", "libgpl.c32", "libcom32.c32"),
    "ifcpu64.c32": ("libcom32.c32",),
    "ifmemdsk.c32": ("libcom32.c32",),
    "ifplop.c32": ("libcom32.c32",),
    "kbdmap.c32": ("libcom32.c32",),
    "kontron_wdt.c32": ("libcom32.c32",),
    "lfs.c32": (),
    "libcom32.c32": (),
    "libgpl.c32": (),
    "liblua.c32": (),
    "libmenu.c32": ("libutil.c32", "libcom32.c32"),
    "libutil.c32": (),
    "linux.c32": ("libcom32.c32",),
    "ls.c32": (),
    "lua.c32": ("liblua.c32", "libcom32.c32"),
    "mboot.c32": ("libcom32.c32",),
    "meminfo.c32": (),
    "menu.c32": ("libutil.c32",),
    "pci.c32": ("libcom32.c32",),
    "pcitest.c32": ("libcom32.c32",),
    "pmload.c32": ("libcom32.c32",),
    "poweroff.c32": (),
    "prdhcp.c32": ("libutil.c32", "libcom32.c32"),
    "pwd.c32": (),
    "pxechn.c32": ("libutil.c32", "libcom32.c32"),
    "reboot.c32": ("libcom32.c32",),
    "rosh.c32": ("libutil.c32", "libcom32.c32"),
    "sanboot.c32": ("libcom32.c32",),
    "sdi.c32": ("libcom32.c32",),
    "sysdump.c32": ("libcom32.c32",),
    "syslinux.c32": ("libcom32.c32",),
    "vesa.c32": ("libcom32.c32",),
    "vesainfo.c32": (),
    "vesamenu.c32": ("libutil.c32", "libcom32.c32"),
    "vpdtest.c32": ("libgpl.c32",),
    "whichsys.c32": ("libcom32.c32",),
    "zzjson.c32": ("libgpl.c32",),
}


def core_module(boot_file: str, arch: int | None = None) -> str | None:
    """The ldlinux file PXELINUX's NBP loads from its own directory, or None if not PXELINUX.

    `arch` (option 93) tells syslinux.efi's builds apart: 6 is IA32 EFI (ldlinux.e32).
    """
    base = posixpath.basename(boot_file).lower()
    core = CORE_MODULE.get(base)
    if core == "ldlinux.e64" and arch == 6:
        return "ldlinux.e32"
    return core


def with_libraries(module: str) -> list[str]:
    """`module` followed by every library it needs, depth first, each once.

    A name not in the table (a third-party module) is returned alone: nothing known about it.
    """
    out: list[str] = []

    def visit(name: str) -> None:
        key = posixpath.basename(name).lower()
        if key in (posixpath.basename(n).lower() for n in out):
            return
        out.append(name)
        for lib in LIBRARIES.get(key, ()):
            visit(lib)

    visit(module)
    return out
