"""The scripted shim -> GRUB chain (profile shim-grub-x64) against real servers in namespaces.

What the client asks for is held against the real chain's log in this lab:
tests/vm/data/ovmf-secureboot-shim-grub.dnsmasq.log (OVMF with Microsoft's keys, Debian's
signed shim and network GRUB, full-DHCP dnsmasq; tests/captures/ovmf-secureboot-shim-grub.pcap
has the same run's RRQs with their options).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pxelab.client import profile
from pxelab.lab.services import tftptree
from tests.client.conftest import probe, pxe_segment

pytestmark = pytest.mark.root

DATA = Path(__file__).resolve().parents[1] / "vm" / "data"
CAPTURE_LOG = DATA / "ovmf-secureboot-shim-grub.dnsmasq.log"
SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
MAC = "52:54:00:15:30:01"
GRUB_CFG = """\
set default=1
set timeout=5
# A machine with a file of its own gets that menu instead (configfile replaces this one);
# for any other machine the file is not there and GRUB goes on with the lines below.
configfile $prefix/grub.cfg-$net_default_mac
menuentry "Debian test guest" {
  linux /images/vmlinuz console=ttyS0 pxelab=grub
  initrd /images/initrd.gz
}
menuentry "Rescue" --id rescue {
  linux /images/vmlinuz console=ttyS0 rescue
}
"""
OWN_CFG = """\
menuentry "Only for 52:54:00:15:30:01" {
  linux /images/vmlinuz console=ttyS0 own=1
}
"""
TFTP_ONLY = "port=0\nenable-tftp\ntftp-root={tree}\n"
PROXY = (
    "port=0\nenable-tftp\ntftp-root={tree}\ndhcp-range=192.168.10.20,proxy\n"
    'pxe-service=X86-64_EFI,"shim",shimx64.efi\n'
)
# A router that knows PXE (OpenWrt/pfSense next-server + filename): siaddr = the TFTP host.
PXE_ROUTER = "dhcp-boot=shimx64.efi,,192.168.10.20\n"


def captured_names() -> list[str]:
    """TFTP names the real chain asked for after the firmware's own download of shimx64.efi,
    up to the config (the kernel it then booted is the menu's business)."""
    text = CAPTURE_LOG.read_text()
    names = re.findall(r"(?:sent|file) /srv/tftp/(\S+?)(?: to | not found)", text)
    after = names[len(names) - names[::-1].index("shimx64.efi") :]
    return after[: after.index("grub/grub.cfg") + 1]


def _tree(seg, *, own: bool = False) -> None:
    for src in (SHIM, GRUB):
        if not src.exists():
            pytest.fail(f"{src} is missing: pxelab doctor --install")
    tftptree.place(seg.tree, "shimx64.efi", SHIM)
    tftptree.place(seg.tree, "grubx64.efi", GRUB)
    tftptree.place(seg.tree, "grub/grub.cfg", GRUB_CFG.encode())
    tftptree.place(seg.tree, "images/vmlinuz", tftptree.placeholder("vmlinuz"))
    tftptree.place(seg.tree, "images/initrd.gz", tftptree.placeholder("initrd"))
    if own:
        tftptree.place(seg.tree, f"grub/grub.cfg-{MAC}", OWN_CFG.encode())


def _names(data: dict) -> list[str]:
    """The probe's TFTP names after its own NBP download, leading '/' dropped as servers do."""
    names = [t["file"].lstrip("/") for t in data["tftp"]]
    return names[names.index("shimx64.efi") + 1 :]


def test_profile_dhcp_is_edk2s_and_shim_files_are_the_captures() -> None:
    p, edk2 = profile.load("shim-grub-x64"), profile.load("edk2-uefi-x64")
    assert p.dhcp == edk2.dhcp and p.tftp == edk2.tftp
    assert [*p.shim.files, p.shim.loader] == captured_names()[:4]


def test_router_with_next_server_reaches_grubs_menu_asking_what_real_grub_asks() -> None:
    with pxe_segment(router_extra=PXE_ROUTER, proxy="dnsmasq", proxy_conf=TFTP_ONLY,
                     client_mac=MAC) as seg:  # fmt: skip
        _tree(seg)
        rc, data = probe(seg, "--profile", "shim-grub-x64")
    assert rc == 0, data["failure"]
    assert data["reached"] == "menu"
    names, real = _names(data), captured_names()
    assert names[: len(real)] == real
    # then the configfile line's file, which the captured grub.cfg did not have
    assert names[len(real) :] == [f"grub/grub.cfg-{MAC}"]
    menu = data["menu"]
    assert menu["title"] == "GNU GRUB  version 2.06-13+deb12u2"
    assert [e["text"] for e in menu["entries"]] == ["Debian test guest", "Rescue"]
    assert menu["default"] == "Rescue"
    grub = data["grub"]
    assert grub["server"] == "192.168.10.20" and grub["prefix"] == "(tftp,192.168.10.20)/grub"
    assert grub["shim"]["loader"] == "grubx64.efi"
    # The per-MAC configfile was asked for (by its colon name) and is not there.
    assert grub["includes"] == [{"path": f"grub/grub.cfg-{MAC}", "found": False}]


def test_grub_rrqs_carry_grubs_options_and_leading_slash() -> None:
    with pxe_segment(router_extra=PXE_ROUTER, proxy="dnsmasq", proxy_conf=TFTP_ONLY,
                     client_mac=MAC) as seg:  # fmt: skip
        _tree(seg)
        rc, data = probe(seg, "--profile", "shim-grub-x64")
    assert rc == 0, data["failure"]
    by_name = {t["file"]: t for t in data["tftp"]}
    assert by_name["/grub/grub.cfg"]["options_sent"] == {"tsize": 0, "blksize": 1024}
    assert by_name["revocations_sku.efi"]["options_sent"] == {"blksize": 512}


def test_a_machine_with_its_own_file_gets_its_own_menu() -> None:
    with pxe_segment(router_extra=PXE_ROUTER, proxy="dnsmasq", proxy_conf=TFTP_ONLY,
                     client_mac=MAC) as seg:  # fmt: skip
        _tree(seg, own=True)
        rc, data = probe(seg, "--profile", "shim-grub-x64", "--select",
                         "Only for 52:54:00:15:30:01")  # fmt: skip
    assert rc == 0, data["failure"]
    assert [e["text"] for e in data["menu"]["entries"]] == ["Only for 52:54:00:15:30:01"]
    assert data["grub"]["includes"] == [{"path": f"grub/grub.cfg-{MAC}", "found": True}]
    assert data["grub"]["selected"]["cmdline"] == "BOOT_IMAGE=/images/vmlinuz console=ttyS0 own=1"
    assert data["reached"] == "kernel"


def test_select_loads_kernel_and_initrd_and_names_a_missing_one() -> None:
    with pxe_segment(router_extra=PXE_ROUTER, proxy="dnsmasq", proxy_conf=TFTP_ONLY,
                     client_mac=MAC) as seg:  # fmt: skip
        _tree(seg)
        rc, data = probe(seg, "--profile", "shim-grub-x64", "--select", "Debian test guest")
        assert rc == 0, data["failure"]
        files = data["grub"]["selected"]["files"]
        assert [(f["role"], f["path"], f["found"]) for f in files] == [
            ("kernel", "images/vmlinuz", True),
            ("initrd", "images/initrd.gz", True),
        ]
        (seg.tree / "images/initrd.gz").unlink()
        rc, data = probe(seg, "--profile", "shim-grub-x64", "--select", "Debian test guest")
    assert rc != 0
    assert data["failure"]["link"] == "grub"
    assert "images/initrd.gz" in data["failure"]["message"]
    assert "grub/grub.cfg:8" in data["failure"]["message"]


def test_behind_a_proxy_and_a_pxelab_router_grub_asks_for_nothing_and_stops() -> None:
    # pxelab router's ACK has siaddr 0 and no sname: GRUB has no TFTP device at all.
    with pxe_segment(router="pxelab", proxy="pxelab", proxy_conf=PROXY, client_mac=MAC) as seg:
        _tree(seg)
        rc, data = probe(seg, "--profile", "shim-grub-x64")
    assert rc != 0
    assert data["reached"] == "grub-prompt"
    assert data["failure"]["link"] == "grub"
    assert "grub>" in data["failure"]["message"] and "DHCPACK" in data["failure"]["message"]
    # shim ran (from the proxy's server), GRUB then made no request at all.
    assert _names(data) == captured_names()[:4]
    assert data["grub"]["server"] is None


def test_behind_a_proxy_and_a_dnsmasq_router_grub_asks_the_router() -> None:
    # dnsmasq puts its own address in siaddr: GRUB asks the router, which has no TFTP server
    # (captured: tests/captures/ovmf-grub-behind-proxy-dnsmasq-router.pcap).
    with pxe_segment(proxy="pxelab", proxy_conf=PROXY, client_mac=MAC) as seg:
        _tree(seg)
        rc, data = probe(seg, "--profile", "shim-grub-x64")
    assert rc != 0 and data["reached"] == "grub-prompt"
    assert data["grub"]["server"] == "192.168.10.1"
    assert "192.168.10.1" in data["failure"]["message"] and "40 times" in data["failure"]["message"]
    asked = [t for t in data["tftp"] if t["file"].startswith("/grub")]
    assert [(t["file"], t["server"]) for t in asked] == [
        ("/grub/x86_64-efi/command.lst", "192.168.10.1")
    ]
