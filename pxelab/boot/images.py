"""What a boot file's bytes are: a PE/COFF EFI program (of which machine), an x86 bzImage, an
arm64 Image, and what a GRUB core image carries inside. Pure functions over bytes: the caller
reads the file (the first 64 KiB answer every question here except `grub_modules`).

- PE: "MZ" at 0, e_lfanew at 0x3c, "PE\\0\\0" there, then the COFF machine (u16):
  0x8664 x64, 0xAA64 AArch64, 0x14C IA32, 0x1C2/0x1C4 ARM (PE/COFF spec).
- bzImage: "HdrS" at 0x202 (Linux boot protocol, Documentation/x86/boot.rst). An x86 kernel
  built with the EFI stub is also a PE (machine x64 or IA32) -- `kernel_arch` prefers "HdrS".
- arm64 Image: magic "ARM\\x64" at 0x38 (Documentation/arm64/booting.rst); its EFI stub also
  makes it a PE with machine 0xAA64.
- GRUB core image: a PE whose section "mods" starts with the module-info header (magic
  "mimg", u32 pad, u64 offset, u64 size), then modules as (u32 type, u32 size incl. header):
  type 0 ELF module, 1 memdisk, 2 embedded config, 3 prefix (include/grub/kernel.h).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PE_MACHINES: dict[int, str] = {
    0x8664: "x64",
    0xAA64: "aa64",
    0x14C: "ia32",
    0x1C2: "arm",
    0x1C4: "arm",
}

# DHCP option 93 architecture -> the PE machine / kernel architecture it runs.
ARCH_OF_CLIENT: dict[int, str] = {0: "x86", 6: "ia32", 7: "x64", 9: "x64", 10: "arm", 11: "aa64"}


@dataclass(frozen=True)
class Section:
    name: str
    offset: int  # in the file
    size: int  # raw size in the file


def _pe_header(data: bytes) -> int | None:
    if len(data) < 0x40 or data[:2] != b"MZ":
        return None
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if pe + 24 > len(data) or data[pe : pe + 4] != b"PE\0\0":
        return None
    return pe


def pe_machine(data: bytes) -> str | None:
    """ "x64", "aa64", "ia32", "arm" for a PE image, "pe-0x...." for another machine, None when
    the bytes are not PE."""
    pe = _pe_header(data)
    if pe is None:
        return None
    machine = struct.unpack_from("<H", data, pe + 4)[0]
    return PE_MACHINES.get(machine, f"pe-{machine:#06x}")


def pe_sections(data: bytes) -> list[Section]:
    pe = _pe_header(data)
    if pe is None:
        return []
    (count,) = struct.unpack_from("<H", data, pe + 6)
    (opt_size,) = struct.unpack_from("<H", data, pe + 20)
    table = pe + 24 + opt_size
    out = []
    for i in range(count):
        at = table + 40 * i
        if at + 40 > len(data):
            break
        name, _vsize, _va, raw_size, raw_off = struct.unpack_from("<8sIIII", data, at)
        out.append(Section(name.rstrip(b"\0").decode("latin-1"), raw_off, raw_size))
    return out


def is_bzimage(data: bytes) -> bool:
    return len(data) >= 0x206 and data[0x202:0x206] == b"HdrS"


def is_arm64_image(data: bytes) -> bool:
    return len(data) >= 0x3C and data[0x38:0x3C] == b"ARM\x64"


def kernel_arch(data: bytes) -> str | None:
    """What a kernel file is for: "x86" (bzImage: runs on BIOS, ia32 and x64 machines; the
    boot loader decides), "aa64" (arm64 Image), else the PE machine, else None (not a kernel
    pxelab recognises: an ELF vmlinux, a compressed file, junk)."""
    if is_bzimage(data):
        return "x86"
    if is_arm64_image(data):
        return "aa64"
    machine = pe_machine(data)
    return machine if machine in ("x64", "ia32", "aa64", "arm") else None


def runs_on(kernel: str, client: str) -> bool:
    """Whether a kernel of architecture `kernel` (kernel_arch) boots on a client of `client`
    (ARCH_OF_CLIENT): a bzImage on any x86 client, else the same architecture."""
    if kernel == "x86":
        return client in ("x86", "ia32", "x64")
    return kernel == client


@dataclass(frozen=True)
class GrubModules:
    prefix: str | None
    config: str | None  # the embedded early config
    memdisk: bytes | None
    module_count: int


def grub_modules(data: bytes) -> GrubModules | None:
    """The prefix, early config and memdisk a GRUB core image embeds; None if it is not one."""
    mods = next((s for s in pe_sections(data) if s.name == "mods"), None)
    if mods is None or mods.offset + mods.size > len(data):
        return None
    m = data[mods.offset : mods.offset + mods.size]
    if len(m) < 24 or m[:4] != b"mimg":
        return None
    offset, size = struct.unpack_from("<QQ", m, 8)
    prefix = config = memdisk = None
    count = 0
    p = offset
    end = min(size, len(m))
    while p + 8 <= end:
        kind, length = struct.unpack_from("<II", m, p)
        if length < 8:
            break
        body = m[p + 8 : p + length]
        if kind == 0:
            count += 1
        elif kind == 1:
            memdisk = body
        elif kind == 2:
            config = body.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif kind == 3:
            prefix = body.split(b"\0", 1)[0].decode("utf-8", "replace")
        p += length
    return GrubModules(prefix, config, memdisk, count)


def pe_security_directory(data: bytes) -> tuple[int, int] | None:
    """The PE optional header's security (certificate table) data directory, entry 4, as
    (file offset, size): where an Authenticode signature lives (PE/COFF spec, "The Attribute
    Certificate Table"). (0, 0) for an unsigned image; None when the bytes are not PE or the
    header is cut short. The directory starts 96 bytes into a PE32 optional header (magic
    0x10B) and 112 into a PE32+ one (0x20B), after NumberOfRvaAndSizes."""
    pe = _pe_header(data)
    if pe is None:
        return None
    opt = pe + 24
    if opt + 2 > len(data):
        return None
    (magic,) = struct.unpack_from("<H", data, opt)
    if magic == 0x10B:
        count_at, dirs = opt + 92, opt + 96
    elif magic == 0x20B:
        count_at, dirs = opt + 108, opt + 112
    else:
        return None
    if dirs + 5 * 8 > len(data):
        return None
    (count,) = struct.unpack_from("<I", data, count_at)
    if count < 5:
        return (0, 0)
    offset, size = struct.unpack_from("<II", data, dirs + 4 * 8)
    return (offset, size)


def is_signed(data: bytes) -> bool | None:
    """Whether a PE image carries an Authenticode signature (a non-empty certificate table);
    None when the bytes are not PE. Presence only: whether a firmware trusts the signer is
    its key store's business."""
    sec = pe_security_directory(data)
    if sec is None:
        return None
    return sec[1] > 0


def sbat_components(data: bytes) -> list[str]:
    """The component names of a PE image's `.sbat` section (shim's SBAT CSV: one
    "component,generation,vendor,package,version,url" line each; the first is "sbat").
    shim's say "shim", GRUB's "grub"; [] for an image without the section (or cut short)."""
    sec = next((s for s in pe_sections(data) if s.name == ".sbat"), None)
    if sec is None or sec.offset + sec.size > len(data):
        return []
    text = data[sec.offset : sec.offset + sec.size].split(b"\0", 1)[0]
    names = []
    for line in text.decode("utf-8", "replace").splitlines():
        name = line.split(",", 1)[0].strip()
        if name and name != "sbat":
            names.append(name)
    return names
