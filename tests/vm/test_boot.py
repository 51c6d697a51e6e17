"""Real firmware against the seed's lab, under TCG: SeaBIOS+iPXE, OVMF, the Wyse-like machine."""

from __future__ import annotations

import re

import pytest

from pxelab.lab.machines.console import BootFailed
from pxelab.lab.machines.profile import load_profile, pxelinux_uuid_name
from pxelab.lab.machines.vm import VM
from tests.vm.conftest import SEED_ENTRIES

pytestmark = [pytest.mark.lab, pytest.mark.qemu]

# Under TCG on 2 shared cores: ~6 s to the BIOS menu and ~30 s to the UEFI one when idle.
MENU_TIMEOUT = 120
CMDLINE = re.compile(r"PXELAB-GUEST-CMDLINE: ([^\r\n]*)\r*\n")
CPU = re.compile(r"PXELAB-GUEST-CPU: ([^\r\n]*)\r*\n")


@pytest.mark.parametrize("proxy", ["pxelab", "dnsmasq"])
def test_pc_bios_reaches_the_seed_menu_and_moves_the_bar_with_real_keys(seed_lab, tmp_path, proxy):
    lab = seed_lab(proxy=proxy)
    with VM("pc-bios", lab=lab.lab, tap=lab.tap, workdir=tmp_path / "vm", accel="tcg") as vm:
        menu = vm.console.wait_for_menu(MENU_TIMEOUT, title="PXE Boot Menu")
        assert menu.title == "PXE Boot Menu"
        assert menu.entries == SEED_ENTRIES
        assert menu.highlighted == 0
        vm.console.wait_quiet(timeout=30)  # menu.c32 has drawn itself and reads keys
        vm.console.send_key("down")
        # The bar moves only when the key event arrives: wait for it there, on the screen
        # (the menu alone is already up, so waiting for it would prove nothing).
        moved = vm.console.wait_for_menu(30, highlighted=1)
        assert moved.highlighted_label == SEED_ENTRIES[1]
        vm.console.select(SEED_ENTRIES[1])
    served = "\n".join(lab.proxy_lines())
    assert "sent" in served and "pxelinux.0" in served


def test_a_missing_kernel_fails_fast_with_the_screen_and_the_log(seed_lab, tmp_path):
    lab = seed_lab()
    (lab.tree / "images/tc/vmlinuz").unlink()
    with VM("pc-bios", lab=lab.lab, tap=lab.tap, workdir=tmp_path / "vm", accel="tcg") as vm:
        vm.console.wait_for_menu(MENU_TIMEOUT)
        vm.console.select(SEED_ENTRIES[0])
        with pytest.raises(BootFailed) as info:
            vm.console.wait_for_text("PXELAB-GUEST-CMDLINE", timeout=120)
    message = str(info.value)
    assert "Loading images/tc/vmlinuz... failed" in message
    assert "PXELAB-GUEST-CMDLINE" in message
    assert str(vm.console_log) in message
    assert "|" in message  # the rendered screen, framed


def test_uefi_x64_reaches_the_menu_through_syslinux_efi(seed_lab, tmp_path):
    lab = seed_lab(efi64=True)
    with VM("uefi-x64", lab=lab.lab, tap=lab.tap, workdir=tmp_path / "vm", accel="tcg") as vm:
        menu = vm.console.wait_for_menu(240, title="PXE Boot Menu")
        assert menu.entries == SEED_ENTRIES
        assert menu.highlighted == 0
        # Its own copy of the variable store, not the system's template.
        assert (tmp_path / "vm" / "vm.OVMF_VARS.fd").exists()
    served = "\n".join(lab.proxy_lines())
    assert "efi64/syslinux.efi" in served
    assert "efi64/pxelinux.cfg/default" in served


def test_wyse_sx0_boots_the_specific_entry_into_the_guest(seed_lab, guest, tmp_path):
    lab = seed_lab(
        images={"images/wyseSx0/vmlinuz": guest["kernel-686"], "images/tc/core.gz": guest["initrd"]}
    )
    profile = load_profile("wyse-sx0")
    with VM(profile, lab=lab.lab, tap=lab.tap, workdir=tmp_path / "vm", accel="tcg") as vm:
        menu = vm.console.wait_for_menu(MENU_TIMEOUT, title="PXE Boot Menu")
        assert menu.entries == SEED_ENTRIES
        vm.console.select("Tiny Core on Wyse Sx0 (Specific)")
        # Up to the end of the line: a wait can wake with half a line in.
        cmdline = vm.console.wait_for_text(CMDLINE, 240).group(1)
        cpu = vm.console.wait_for_text(CPU, 30).group(1)
        vm.wait_exit(60)  # the guest powers itself off
    assert "pci=nobios ignore_loglevel pata_cs5536.msr=1" in cmdline
    assert "console=ttyS0" in cmdline
    assert "Geode" in cpu
    served = "\n".join(lab.proxy_lines())
    # PXELINUX asked for the seed's UUID file name first, as on the real S10.
    assert f"pxelinux.cfg/{pxelinux_uuid_name(profile.uuid)} not found" in served
    assert "pxelinux.cfg/597c5400-922f-11db-9fff-008064667faa not found" in served
    assert "pxelinux.cfg/01-00-80-64-71-ab-0a not found" in served
    assert "images/wyseSx0/vmlinuz" in served
