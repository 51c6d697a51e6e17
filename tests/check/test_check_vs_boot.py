"""pxelab check's PXELINUX rules against PXELINUX 6.04 itself, booted in QEMU: which libraries
menu.c32 needs, and where relative kernel names are looked up.

QEMU's user-mode network (slirp) answers the ROM's DHCP and serves the tree over TFTP inside
the QEMU process: nothing leaves it, no namespace needed. The ROM is iPXE's rtl8139 (BIOS).
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

from pxelab.cli import main
from pxelab.lab.services.tftptree import SEED_DIR, seed_tree, write_dnsmasq_conf
from tests.conftest import require_tool

ROM = Path("/usr/lib/ipxe/qemu/pxe-rtl8139.rom")
# SeaBIOS's serial console moves the cursor (escapes, bare CRs) even inside a line of text
ESCAPES = re.compile(rb"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|c)|\r")
LIMIT_S = 120  # an upper bound for a hung boot, not a timing assertion


@pytest.fixture
def tree() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="pxelab-check-qemu-"))
    try:
        base.chmod(0o755)
        root = seed_tree(base / "tftpboot")
        # SeaBIOS copies the BIOS console to serial; a SERIAL line would make PXELINUX write
        # serial as well, and the two copies interleave character by character
        default = root / "pxelinux.cfg/default"
        default.write_text(
            "".join(x for x in default.read_text().splitlines(True) if not x.startswith("serial"))
        )
        write_dnsmasq_conf(SEED_DIR / "dnsmasq.conf", base / "dnsmasq.conf", root)
        yield root
    finally:
        shutil.rmtree(base, ignore_errors=True)


def boot_until(root: Path, markers: tuple[bytes, ...], nbp: str = "pxelinux.0") -> bytes:
    """Boot the tree; return the serial output (escapes removed) up to the first marker."""
    qemu = require_tool("qemu-system-x86_64")
    if not ROM.exists():
        pytest.fail(f"{ROM} is missing: run `pxelab doctor --install` (package ipxe-qemu)")
    proc = subprocess.Popen(
        [qemu, "-machine", "pc,graphics=off", "-display", "none", "-serial", "stdio",
         "-monitor", "none", "-m", "256", "-boot", "n",
         "-netdev", f"user,id=n0,tftp={root},bootfile={nbp}",
         "-device", f"rtl8139,netdev=n0,romfile={ROM}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out = b""
    deadline = time.monotonic() + LIMIT_S
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while time.monotonic() < deadline and not any(m in ESCAPES.sub(b"", out) for m in markers):
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        proc.kill()
        proc.wait()
    return ESCAPES.sub(b"", out)


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


@pytest.mark.qemu
def test_kernel_names_are_relative_to_the_nbp_directory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = Path(tempfile.mkdtemp(prefix="pxelab-check-qemu-"))
    try:
        base.chmod(0o755)
        root = base / "tftpboot"
        (root / "bios/pxelinux.cfg").mkdir(parents=True)
        (root / "images").mkdir()
        shutil.copy("/usr/lib/PXELINUX/pxelinux.0", root / "bios")
        shutil.copy("/usr/lib/syslinux/modules/bios/ldlinux.c32", root / "bios")
        (root / "bios/pxelinux.cfg/default").write_text(
            "default k\nprompt 0\nlabel k\n kernel images/vmlinuz\n"
        )
        (root / "images/vmlinuz").write_bytes(b"not a kernel" * 1000)
        for p in [root, *root.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        conf = base / "dnsmasq.conf"
        conf.write_text(
            f"port=0\nenable-tftp\ntftp-root={root}\ndhcp-range=10.0.2.2,proxy\n"
            "pxe-service=x86PC,Boot,bios/pxelinux\ndhcp-boot=bios/pxelinux.0\n"
        )
        # the kernel sits at the root: PXELINUX (working directory bios/) does not find it
        assert main(["check", "--dnsmasq-conf", str(conf)]) == 1
        out_text = capsys.readouterr().out
        assert f"kernel images/vmlinuz is missing ({root}/bios/images/vmlinuz)" in out_text
        out = boot_until(root, (b"No such file", b"Booting kernel failed"), "bios/pxelinux.0")
        assert b"Loading images/vmlinuz... failed: No such file" in out, out[-2000:]
        assert b"Booting kernel" not in out
        # under bios/ it is found (and then refused: it is not a kernel)
        (root / "bios/images").mkdir()
        shutil.move(root / "images/vmlinuz", root / "bios/images/vmlinuz")
        assert main(["check", "--dnsmasq-conf", str(conf)]) == 0, capsys.readouterr().out
        out = boot_until(root, (b"No such file", b"Booting kernel failed"), "bios/pxelinux.0")
        assert b"Loading images/vmlinuz... ok" in out, out[-2000:]
        assert b"Booting kernel failed" in out and b"No such file" not in out
    finally:
        shutil.rmtree(base, ignore_errors=True)
