"""Boot file bytes: PE machine, bzImage, arm64 Image (pxelab.boot.images)."""

from __future__ import annotations

import glob
import struct

from hypothesis import given
from hypothesis import strategies as st

from pxelab.boot import images


def pe(machine: int) -> bytes:
    data = bytearray(0x200)
    data[:2] = b"MZ"
    struct.pack_into("<I", data, 0x3C, 0x80)
    data[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HH", data, 0x84, machine, 0)
    return bytes(data)


def test_pe_machines():
    assert images.pe_machine(pe(0x8664)) == "x64"
    assert images.pe_machine(pe(0xAA64)) == "aa64"
    assert images.pe_machine(pe(0x14C)) == "ia32"
    assert images.pe_machine(pe(0x1234)) == "pe-0x1234"
    assert images.pe_machine(b"\x7fELF" + bytes(100)) is None


def test_kernels():
    bz = bytearray(pe(0x8664)) + bytes(0x200)
    bz[0x202:0x206] = b"HdrS"
    assert images.kernel_arch(bytes(bz)) == "x86"  # an EFI-stub bzImage is x86 first
    arm = bytearray(pe(0xAA64))
    arm[0x38:0x3C] = b"ARM\x64"
    assert images.kernel_arch(bytes(arm)) == "aa64"
    assert images.kernel_arch(b"junk") is None
    assert images.runs_on("x86", "x64") and images.runs_on("x86", "x86")
    assert not images.runs_on("aa64", "x64") and not images.runs_on("x86", "aa64")


def test_installed_kernels_are_bzimages():
    for path in glob.glob("/boot/vmlinuz-*")[:2]:
        with open(path, "rb") as f:
            assert images.kernel_arch(f.read(4096)) == "x86"


@given(st.binary(max_size=600))
def test_junk_never_raises(data):
    images.pe_machine(data)
    images.kernel_arch(data)
    images.grub_modules(data)
    images.pe_sections(data)
