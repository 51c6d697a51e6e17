"""The UEFI steps: expect_refused reads EDK2's refusal line; it needs a VM client."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxelab.lab.scenario.clients import REFUSED
from pxelab.lab.scenario.model import ScenarioError, load

REPO = Path(__file__).resolve().parents[2]
# As OVMF 2022.11 with Secure Boot printed it here for the unsigned syslinux.efi (CR CR LF).
SEEN = (
    b'BdsDxe: failed to load Boot0001 "UEFI PXEv4 (MAC:525400004201)" from PciRoot(0x0)/'
    b"Pci(0x2,0x0)/MAC(525400004201,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0): "
    b"Access Denied\r\r\n"
).decode()


def test_refusal_line_gives_the_reason() -> None:
    m = REFUSED.search("BdsDxe: loading Boot0001 ...\r\n" + SEEN)
    assert m is not None and m.group(1) == "Access Denied"


def test_secure_boot_scenario_uses_expect_refused() -> None:
    scn = load(REPO / "scenarios" / "secure-boot" / "scenario.toml")
    unsigned, signed = scn.clients
    assert unsigned.profile == signed.profile == "uefi-x64-secureboot"
    assert [s.action for s in unsigned.steps] == ["wait_for", "expect_refused"]
    # The signed chain: shim's own message, GRUB's banner, GRUB's prompt (behind the proxy).
    assert [s.value for s in signed.steps][-1] == "grub>"


def test_expect_refused_needs_a_vm(tmp_path: Path) -> None:
    (tmp_path / "scenario.toml").write_text(
        '[proxy]\ndnsmasq_conf = "d.conf"\n\n[[client]]\nname = "a"\n\n'
        '[[client.steps]]\nexpect_refused = "Access Denied"\n'
    )
    (tmp_path / "d.conf").write_text("port=0\ndhcp-range=192.168.10.20,proxy\n")
    with pytest.raises(ScenarioError, match="needs a VM client"):
        load(tmp_path / "scenario.toml")
