"""`pxelab probe` against the seed's setup (dnsmasq router + dnsmasq proxy) in namespaces."""

from __future__ import annotations

import re

import pytest

from tests.client.conftest import SEED_IP, SEED_UUID, probe, pxe_segment
from tests.seed import SEED_SEARCH

pytestmark = pytest.mark.lab

SEED_ENTRIES = [
    ("tc476", "Standard Tiny Core 4.7.6"),
    ("tc476_wyse", "Standard Tiny Core on Wyse Sx0"),
    ("tc476_wyse_test", "Tiny Core on Wyse Sx0 (Specific)"),
]


def _menu(data: dict) -> list[tuple[str, str]]:
    return [(e["label"], e["text"]) for e in data["menu"]["entries"] if not e["hidden"]]


@pytest.mark.parametrize("prof", ["pxe-2.0-rom", "ipxe"])
def test_seed_menu_and_search_order(prof: str) -> None:
    with pxe_segment() as seg:
        rc, data = probe(seg, "--profile", prof, "--uuid", SEED_UUID, "--offer-wait", "3",
                         "--until-complete")
        server_log = seg.proxy_lines()
    assert rc == 0, data["failure"]
    assert data["ok"] and data["reached"] == "menu"
    kinds = {(o["server"], o["kind"]) for o in data["offers"]}
    assert kinds == {("192.168.10.1", "dhcp"), ("192.168.10.20", "proxy")}
    assert data["address"] == SEED_IP
    assert data["proxy"]["prompt"] == "Press F8 for boot menu"
    assert data["proxy"]["menu"] == ["Boot from network", "Boot from local hard disk"]
    assert data["boot_file"] == "pxelinux.0" and data["boot_server"] == "192.168.10.20"
    assert data["tftp"][0]["file"] == "pxelinux.0" and data["tftp"][0]["found"]
    assert [s["path"] for s in data["pxelinux"]["search"]] == SEED_SEARCH
    assert [s["found"] for s in data["pxelinux"]["search"]] == [False] * 10 + [True]
    assert data["menu"]["title"] == "PXE Boot Menu"
    assert _menu(data) == SEED_ENTRIES
    assert data["menu"]["default"] == "tc476"
    # The server saw the same names, in the same order, as the seed's log shows.
    assert config_names_served(server_log)[: len(SEED_SEARCH)] == SEED_SEARCH


def config_names_served(log: list[str]) -> list[str]:
    """pxelinux.cfg/ names in a dnsmasq (or pxelab serve, same format) TFTP log, in order."""
    return [
        m.group(1)
        for line in log
        if (
            m := re.search(
                r"(?:dnsmasq|pxelab)-tftp(?:\[\d+\])?: (?:file|sent) "
                r"\S*?/tftpboot/(pxelinux\.cfg/\S+)",
                line,
            )
        )
    ]


def test_select_label_fetches_kernel_and_initrd_in_full() -> None:
    from pxelab.lab.services.tftptree import placeholder

    with pxe_segment() as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--select", "tc476_wyse_test")
    assert rc == 0, data["failure"]
    assert data["reached"] == "kernel"
    sel = data["pxelinux"]["selected"]
    assert sel["append"].endswith("pci=nobios ignore_loglevel pata_cs5536.msr=1")
    files = {(f["role"], f["path"]): f for f in sel["files"]}
    kernel = files[("kernel", "images/wyseSx0/vmlinuz")]
    initrd = files[("initrd", "images/tc/core.gz")]
    for f, name in ((kernel, "images/wyseSx0/vmlinuz"), (initrd, "images/tc/core.gz")):
        assert f["found"] and f["bytes"] == len(placeholder(name)) == f["tsize"]
        assert f["size_ok"]


@pytest.mark.parametrize("prof", ["pxe-2.0-rom", "ipxe"])
def test_seed_menu_with_pxelab_router_and_pxelab_serve(prof: str) -> None:
    # The profiles' own timing here: pxe-2.0-rom collects offers for its whole 4 s window.
    with pxe_segment(router="pxelab", proxy="pxelab") as seg:
        rc, data = probe(seg, "--profile", prof, "--uuid", SEED_UUID)
        server_log = seg.proxy_lines()
    assert rc == 0, data["failure"]
    assert config_names_served(server_log)[: len(SEED_SEARCH)] == SEED_SEARCH
    assert data["proxy"]["prompt"] == "Press F8 for boot menu"
    dhcp = [o for o in data["offers"] if o["kind"] == "dhcp"]
    assert [o["server"] for o in dhcp] == ["192.168.10.1"]
    assert "60" not in dhcp[0]["options"] and "43" not in dhcp[0]["options"]  # no PXE at all
    assert data["address"] == SEED_IP and data["router"] == "192.168.10.1"
    assert [s["path"] for s in data["pxelinux"]["search"]] == SEED_SEARCH
    assert data["menu"]["title"] == "PXE Boot Menu" and _menu(data) == SEED_ENTRIES


def test_mac_other_than_the_interfaces() -> None:
    # The probe speaks for another machine: frames leave with that MAC, chaddr is that MAC,
    # and the router's static lease for it applies.
    with pxe_segment(client_mac="02:00:00:00:00:42") as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--mac", "00:80:64:71:AB:0A",
                         "--uuid", SEED_UUID)
        left = seg.client.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
    assert rc == 0, data["failure"]
    assert any("put on eth0" in e["event"] for e in data["timeline"])
    assert left.strip() == ""  # the leased address the probe borrowed is gone again
    assert data["mac"] == "00:80:64:71:ab:0a" and data["address"] == SEED_IP
    assert [s["path"] for s in data["pxelinux"]["search"]] == SEED_SEARCH


@pytest.mark.parametrize("server", ["dnsmasq", "pxelab"])
def test_probe_from_a_host_that_already_has_an_address(server: str) -> None:
    # A person's machine on a real LAN: the probe leaves its address alone and uses it for
    # port 4011 and TFTP, while DHCP still speaks for the PXE client from 0.0.0.0.
    router = "dnsmasq" if server == "dnsmasq" else "pxelab"
    with pxe_segment(router=router, proxy=server, client_ipv4="192.168.10.50/24") as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--uuid", SEED_UUID)
        left = seg.client.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
    assert rc == 0, data["failure"]
    assert data["address"] == SEED_IP  # what the PXE client was given
    assert not any(e["phase"] == "net" for e in data["timeline"])
    assert "192.168.10.50/24" in left and SEED_IP not in left
    assert [s["path"] for s in data["pxelinux"]["search"]][-1] == "pxelinux.cfg/default"
    assert data["menu"]["title"] == "PXE Boot Menu"
