"""`pxelab check` on a GRUB tree: each finding on a deliberately broken tree, and the walk."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.boot import grub_search
from pxelab.cli import main

GRUB_IMAGE = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
MAC = "52:54:00:15:00:01"
WHO = ["--mac", MAC, "--ip", "192.168.15.50", "--arch", "7"]
GRUB_CFG = """\
set timeout=5
set default=1
menuentry "Rescue" {
    linux /images/vmlinuz console=ttyS0 rescue
}
menuentry "Test" {
    linux /images/vmlinuz console=ttyS0
    initrd /images/initrd.gz
}
"""


def bzimage() -> bytes:
    data = bytearray(1024)
    data[0x202:0x206] = b"HdrS"
    return bytes(data)


@pytest.fixture
def grub_tree() -> Iterator[Path]:
    """A working Debian-GRUB tree in a world-readable directory, with full.conf (dnsmasq as
    the DHCP server itself) and proxy.conf (dnsmasq as a proxy) beside it."""
    if not GRUB_IMAGE.exists():
        pytest.fail(f"{GRUB_IMAGE} is missing: apt-get install grub-efi-amd64-signed")
    base = Path(tempfile.mkdtemp(prefix="pxelab-check-"))
    try:
        base.chmod(0o755)
        root = base / "tftp"
        (root / "grub" / "x86_64-efi").mkdir(parents=True)
        (root / "images").mkdir()
        shutil.copy(GRUB_IMAGE, root / "grubx64.efi")
        for name in grub_search.LISTS:
            (root / "grub" / "x86_64-efi" / name).write_text("")
        (root / "images" / "vmlinuz").write_bytes(bzimage())
        (root / "images" / "initrd.gz").write_bytes(b"\x1f\x8b")
        (root / "grub" / "grub.cfg").write_text(GRUB_CFG)
        for p in [root, *root.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        (base / "full.conf").write_text(
            "port=0\ndhcp-range=192.168.15.100,192.168.15.150,12h\n"
            f"dhcp-boot=grubx64.efi\nenable-tftp\ntftp-root={root}\n"
        )
        (base / "proxy.conf").write_text(
            "port=0\ndhcp-range=192.168.15.0,proxy\n"
            f'pxe-service=X86-64_EFI,"GRUB",grubx64.efi\nenable-tftp\ntftp-root={root}\n'
        )
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(capsys, base: Path, conf: str = "full.conf", *args: str) -> tuple[int, list[str]]:
    code = main(["check", "--dnsmasq-conf", str(base / conf), *args])
    return code, capsys.readouterr().out.splitlines()


def grub_findings(lines: list[str]) -> list[str]:
    # full.conf's address-leasing range draws the proxy reader's two warnings; not GRUB's.
    return [
        ln
        for ln in lines
        if (": error: " in ln or ": warning: " in ln) and ": warning: dhcp-range:" not in ln
    ]


def test_a_working_tree_passes_and_the_walk_matches_the_search(grub_tree, capsys):
    code, lines = run(capsys, grub_tree, "full.conf", *WHO)
    assert code == 0, lines
    assert grub_findings(lines) == []
    chain = lines[lines.index("client chain:") + 1 :]
    assert "  boot file: grubx64.efi (dhcp-boot, from the DHCP server itself)" in chain
    asked = [ln.strip().split(":")[0] for ln in chain if ln.startswith("    grub/")]
    assert asked == grub_search.config_search(MAC, "192.168.15.50")
    assert "  menu: default 'Test', timeout 5 s" in chain
    assert chain[chain.index("  menu: default 'Test', timeout 5 s") + 1 :][:2] == [
        "      Rescue",
        "    * Test",
    ]
    assert "menu of 2 entries" in lines[-1]


def test_a_missing_initrd_exits_1_and_names_the_grub_cfg_line(grub_tree, capsys):
    (grub_tree / "tftp/images/initrd.gz").unlink()
    code, lines = run(capsys, grub_tree)
    assert code == 1
    cfg = grub_tree / "tftp/grub/grub.cfg"
    (finding,) = grub_findings(lines)
    assert finding.startswith(f"{cfg}:8: error: menuentry 'Test': initrd /images/initrd.gz is ")
    assert "fix: put the initrd at" in finding


def test_a_missing_kernel_is_one_finding_naming_both_lines(grub_tree, capsys):
    (grub_tree / "tftp/images/vmlinuz").unlink()
    code, lines = run(capsys, grub_tree)
    assert code == 1
    cfg = grub_tree / "tftp/grub/grub.cfg"
    (finding,) = grub_findings(lines)
    assert finding.startswith(f"{cfg}:4: error: menuentry 'Rescue': kernel /images/vmlinuz")
    assert f"(also named at {cfg}:7)" in finding


def test_a_kernel_of_another_architecture(grub_tree, capsys):
    arm = bytearray(1024)
    arm[0x38:0x3C] = b"ARM\x64"
    (grub_tree / "tftp/images/vmlinuz").write_bytes(bytes(arm))
    code, lines = run(capsys, grub_tree)
    assert code == 1
    findings = grub_findings(lines)
    assert len(findings) == 2
    assert all("is an aa64 kernel; this GRUB runs on x64 clients" in f for f in findings)


def test_missing_module_lists(grub_tree, capsys):
    shutil.rmtree(grub_tree / "tftp/grub/x86_64-efi")
    code, lines = run(capsys, grub_tree)
    (finding,) = grub_findings(lines)
    # Debian's signed image has its modules built in: it boots, so a warning.
    assert code == 0
    assert ": warning: " in finding and "grub/x86_64-efi/command.lst" in finding
    assert "cp /usr/lib/grub/x86_64-efi/command.lst" in finding


def test_a_missing_grub_cfg(grub_tree, capsys):
    (grub_tree / "tftp/grub/grub.cfg").unlink()
    code, lines = run(capsys, grub_tree)
    assert code == 1
    assert "grub/grub.cfg is missing" in grub_findings(lines)[0]


def test_a_syntax_error_names_the_line(grub_tree, capsys):
    (grub_tree / "tftp/grub/grub.cfg").write_text('menuentry "x {\n linux /images/vmlinuz\n}\n')
    code, lines = run(capsys, grub_tree)
    assert code == 1
    (finding,) = grub_findings(lines)
    assert finding.startswith(f"{grub_tree / 'tftp/grub/grub.cfg'}:1: error: unterminated")


def test_a_per_mac_config_is_dead_for_debian_grub(grub_tree, capsys):
    per_mac = grub_tree / "tftp/grub" / f"grub.cfg-{grub_search.mac_name(MAC)}"
    per_mac.write_text(GRUB_CFG)
    code, lines = run(capsys, grub_tree)
    assert code == 0
    (finding,) = grub_findings(lines)
    assert finding.startswith(f"{per_mac}: warning: ")
    assert "never asks for" in finding and "net_default_mac" in finding


def test_a_per_mac_config_shadows_grub_cfg_for_a_searching_grub(grub_tree, capsys):
    root = grub_tree / "tftp"
    (root / "grubx64.efi").rename(root / "core.efi")  # grub-mknetdir's: searches, /boot/grub
    (root / "boot").mkdir()
    (root / "grub").rename(root / "boot/grub")
    conf = grub_tree / "full.conf"
    conf.write_text(conf.read_text().replace("grubx64.efi", "core.efi"))
    per_mac = root / "boot/grub" / f"grub.cfg-{grub_search.mac_name(MAC)}"
    per_mac.write_text('menuentry "Mine" { linux /images/nothere }\n')
    code, lines = run(capsys, grub_tree, "full.conf", *WHO)
    assert code == 1
    findings = grub_findings(lines)
    assert any(f.startswith(f"{per_mac}: warning: this file shadows grub.cfg") for f in findings)
    assert any(f.startswith(f"{per_mac}:1: error: menuentry 'Mine'") for f in findings)
    assert f"    boot/grub/grub.cfg-{grub_search.mac_name(MAC)}: found" in lines


def test_grub_behind_a_proxy_is_an_error_with_the_labs_evidence(grub_tree, capsys):
    code, lines = run(capsys, grub_tree, "proxy.conf", *WHO)
    assert code == 1
    (finding,) = grub_findings(lines)
    assert finding.startswith(f"{grub_tree / 'proxy.conf'}:3: error: grubx64.efi is GRUB")
    assert "asks the TFTP server for nothing and stops at 'grub>'" in finding
    assert "pxe_mode->dhcp_ack" in finding
    assert any(ln.startswith("  PROBLEM: served by a proxy") for ln in lines)
