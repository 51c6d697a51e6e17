"""Which libraries menu.c32 really needs: PXELINUX 6.04 booted in QEMU, against pxelab check.

QEMU's user-mode network (slirp) answers the ROM's DHCP and serves the tree over TFTP inside
the QEMU process: nothing leaves it, no namespace needed. The ROM is iPXE's rtl8139 (BIOS).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.cli import main
from pxelab.lab.tftptree import SEED_DIR, seed_tree, write_dnsmasq_conf
from tests.conftest import require_tool

ROM = Path("/usr/lib/ipxe/qemu/pxe-rtl8139.rom")
LIMIT_S = 120  # an upper bound for a hung boot, not a timing assertion


@pytest.fixture
def tree() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="pxelab-check-qemu-"))
    try:
        base.chmod(0o755)
        root = seed_tree(base / "tftpboot")
        write_dnsmasq_conf(SEED_DIR / "dnsmasq.conf", base / "dnsmasq.conf", root)
        yield root
    finally:
        shutil.rmtree(base, ignore_errors=True)


def boot_until(root: Path, markers: tuple[bytes, ...]) -> bytes:
    """Boot the tree; return the serial output up to the first marker seen."""
    qemu = require_tool("qemu-system-x86_64")
    if not ROM.exists():
        pytest.fail(f"{ROM} is missing: run `pxelab doctor --install` (package ipxe-qemu)")
    proc = subprocess.Popen(
        [qemu, "-machine", "pc,graphics=off", "-display", "none", "-serial", "stdio",
         "-monitor", "none", "-m", "256", "-boot", "n",
         "-netdev", f"user,id=n0,tftp={root},bootfile=pxelinux.0",
         "-device", f"rtl8139,netdev=n0,romfile={ROM}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out = b""
    deadline = time.monotonic() + LIMIT_S
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while time.monotonic() < deadline and not any(m in out for m in markers):
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        proc.kill()
        proc.wait()
    return out


@pytest.mark.qemu
def test_menu_c32_runs_without_libcom32(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "libcom32.c32").unlink()
    assert main(["check", "--dnsmasq-conf", str(tree.parent / "dnsmasq.conf")]) == 0
    capsys.readouterr()
    out = boot_until(tree, (b"PXE Boot Menu", b"Failed to load"))
    assert b"PXE Boot Menu" in out, out[-2000:]


@pytest.mark.qemu
def test_menu_c32_fails_without_libutil(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "libutil.c32").unlink()
    assert main(["check", "--dnsmasq-conf", str(tree.parent / "dnsmasq.conf")]) == 1
    assert "libutil.c32 is missing: menu.c32 needs it" in capsys.readouterr().out
    out = boot_until(tree, (b"PXE Boot Menu", b"Failed to load libutil.c32"))
    assert b"Failed to load libutil.c32" in out, out[-2000:]
    assert b"PXE Boot Menu" not in out
