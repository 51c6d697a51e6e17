"""config_search against PXELINUX 6.04 itself: booted in QEMU, which of two candidate config
files does it read? Each config SAYs its index; SeaBIOS copies the BIOS console to serial.
(No SERIAL directive: with one, PXELINUX writes serial itself too and the two copies of each
line interleave character by character, which breaks any text match.)

QEMU's user-mode network (slirp) answers DHCP (client 10.0.2.15) and serves TFTP inside the
QEMU process: nothing leaves it. iPXE (the rtl8139 ROM) sends QEMU's -uuid in option 97 with
the first three fields swapped (RFC 4578 / EFI order), so the UUID PXELINUX formats is that.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.boot.pxelinux import config_search
from tests.conftest import require_tool

ROM = Path("/usr/lib/ipxe/qemu/pxe-rtl8139.rom")
MAC = "00:80:64:71:ab:0a"
QEMU_UUID = "597c5400-922f-11db-9fff-008064667faa"
WIRE_UUID = bytes.fromhex("00547c592f92db119fff008064667faa")  # as iPXE puts it in option 97
# SeaBIOS's serial console moves the cursor (escapes, bare CRs) even inside a line of text
ESCAPES = re.compile(rb"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|c)|\r")
LIMIT_S = 120  # bound for a hung boot, not a timing assertion
PICKED = re.compile(rb"PXELAB-PICKED-(\d+)-END")


@pytest.fixture
def root() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="pxelab-search-qemu-"))
    try:
        (base / "pxelinux.cfg").mkdir()
        shutil.copy("/usr/lib/PXELINUX/pxelinux.0", base)
        shutil.copy("/usr/lib/syslinux/modules/bios/ldlinux.c32", base)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def picked(root: Path, *, uuid: str | None) -> int:
    qemu = require_tool("qemu-system-x86_64")
    if not ROM.exists():
        pytest.fail(f"{ROM} is missing: run `pxelab doctor --install` (package ipxe-qemu)")
    cmd = [qemu, "-machine", "pc,graphics=off", "-display", "none", "-serial", "stdio",
           "-monitor", "none", "-m", "256", "-boot", "n",
           "-netdev", f"user,id=n0,tftp={root},bootfile=pxelinux.0",
           "-device", f"rtl8139,netdev=n0,mac={MAC},romfile={ROM}"]  # fmt: skip
    if uuid:
        cmd += ["-uuid", uuid]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    out = b""
    deadline = time.monotonic() + LIMIT_S
    try:
        assert proc.stdout is not None
        while time.monotonic() < deadline and not PICKED.search(ESCAPES.sub(b"", out)):
            ready, _, _ = select.select([proc.stdout.fileno()], [], [], 1.0)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        proc.kill()
        proc.wait()
    text = ESCAPES.sub(b"", out)
    m = PICKED.search(text)
    assert m, text[-2000:]
    return int(m.group(1))


def offer(root: Path, names: list[str], indexes: tuple[int, ...]) -> None:
    for old in (root / "pxelinux.cfg").iterdir():
        old.unlink()
    for i in indexes:
        (root / names[i]).write_text(
            f"say PXELAB-PICKED-{i}-END\ndefault x\nprompt 0\nlabel x\n localboot 0\n"
        )


@pytest.mark.qemu
def test_pxelinux_tries_names_in_config_search_order(root: Path) -> None:
    names = config_search(MAC, "10.0.2.15", WIRE_UUID)
    assert names[0] == "pxelinux.cfg/00547c59-2f92-db11-9fff-008064667faa"
    assert names[1:3] == ["pxelinux.cfg/01-00-80-64-71-ab-0a", "pxelinux.cfg/0A00020F"]
    assert names[-2:] == ["pxelinux.cfg/0", "pxelinux.cfg/default"]
    # each pair: PXELINUX reads the one config_search puts first
    for pair in [(0, 1), (1, 2), (4, 5), (9, 10)]:
        offer(root, names, pair)
        assert picked(root, uuid=QEMU_UUID) == pair[0], (pair, names)


@pytest.mark.qemu
def test_no_uuid_name_without_a_uuid(root: Path) -> None:
    # without -uuid the SMBIOS UUID is all zeros: PXELINUX skips the UUID name altogether
    names = config_search(MAC, "10.0.2.15", WIRE_UUID)
    offer(root, names, (0, 1))
    assert picked(root, uuid=None) == 1
