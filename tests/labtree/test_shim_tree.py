"""`[tftp] shim = true`: Debian's signed shim and network GRUB at the tree's root, as the
Secure Boot scenarios serve them."""

from __future__ import annotations

from pathlib import Path

from pxelab.boot import images
from pxelab.lab.scenario.model import load
from pxelab.lab.services import tftptree

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_shim_tree_holds_the_signed_chain(tmp_path: Path) -> None:
    root = tftptree.build_tree(tmp_path / "t", bios=False, shim=True)
    shim, grub = (root / "shimx64.efi").read_bytes(), (root / "grubx64.efi").read_bytes()
    assert images.pe_machine(shim) == "x64" and images.is_signed(shim)
    assert "shim" in images.sbat_components(shim)
    assert "grub" in images.sbat_components(grub) and images.is_signed(grub)
    assert (root / "shimx64.efi").stat().st_mode & 0o777 == 0o644
    assert not (root / "pxelinux.0").exists()


def test_secure_boot_scenarios_ask_for_it() -> None:
    for name in ("secure-boot", "secure-boot-pxe-router"):
        assert load(SCENARIOS / name).tftp.shim, name
    pxe_router = load(SCENARIOS / "secure-boot-pxe-router").router
    assert str(pxe_router.next_server) == "192.168.10.20"
    assert pxe_router.boot_file == "shimx64.efi"
    assert not load(SCENARIOS / "uefi-edk2").tftp.shim
