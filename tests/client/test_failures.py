"""A broken chain makes `pxelab probe` exit non-zero and name the broken link."""

from __future__ import annotations

import re

import pytest

from tests.client.conftest import ROUTER_CONF, probe, pxe_segment

pytestmark = pytest.mark.lab


def test_no_dhcp_server() -> None:
    with pxe_segment(router=None, proxy=None) as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--timeout", "2.5")
    assert rc == 1 and not data["ok"]
    assert data["offers"] == []
    assert data["failure"]["link"] == "dhcp"
    assert data["failure"]["message"].startswith("no DHCP server answered")
    discovers = [e["event"] for e in data["timeline"] if e["event"].startswith("DISCOVER")]
    # iPXE's retry schedule (1, 2, 4, 8 s), cut short by --timeout.
    assert discovers[0].startswith("DISCOVER #1") and discovers[0].endswith("waits 1 s)")


@pytest.mark.parametrize("router", ["dnsmasq", "pxelab"])
def test_router_but_no_proxy(router: str) -> None:
    with pxe_segment(router=router, proxy=None) as seg:
        rc, data = probe(seg, "--profile", "pxe-2.0-rom", "--offer-wait", "0.5")
    assert rc == 1
    assert data["address"] == "192.168.10.21"  # the router's part worked
    assert [o["kind"] for o in data["offers"]] == ["dhcp"]
    assert data["failure"]["link"] == "proxy"
    assert data["failure"]["message"].startswith("no proxyDHCP offer: ")
    assert "192.168.10.1" in data["failure"]["message"]


@pytest.mark.parametrize("server", ["dnsmasq", "pxelab"])
def test_proxy_whose_boot_file_is_missing(server: str) -> None:
    with pxe_segment(
        router="dnsmasq" if server == "dnsmasq" else "pxelab", proxy=server, drop=("pxelinux.0",)
    ) as seg:
        rc, data = probe(seg, "--profile", "ipxe")
    assert rc == 1
    assert data["failure"]["link"] == "tftp"
    assert data["failure"]["message"].startswith(
        "boot file pxelinux.0 not found on 192.168.10.20")
    assert data["tftp"] == [data["tftp"][0]] and not data["tftp"][0]["found"]


def test_text_output_names_the_broken_link() -> None:
    import sys

    with pxe_segment(drop=("ldlinux.c32",)) as seg:
        proc = seg.client.run([sys.executable, "-m", "pxelab", "probe", "-i", "eth0",
                               "--profile", "ipxe"])
    assert proc.returncode == 1
    assert "FAILED at pxelinux: ldlinux.c32 not found on 192.168.10.20" in proc.stdout
    assert re.search(r"^  pxelinux\.0: \d+ bytes$", proc.stdout, re.MULTILINE)


def test_uefi_client_offered_a_bios_boot_file() -> None:
    # One dnsmasq as the LAN's DHCP server (no proxy) whose dhcp-boot names pxelinux.0 for
    # every client: a UEFI client downloads it and cannot start it.
    full = (ROUTER_CONF.replace("option:router,192.168.10.1", "option:router,192.168.10.20")
            + "enable-tftp\ntftp-root={tree}\ndhcp-boot=pxelinux.0\n")
    with pxe_segment(router=None, proxy_conf=full) as seg:
        rc, data = probe(seg, "--profile", "edk2-uefi-x64", "--offer-wait", "3",
                         "--until-complete")
    assert rc == 1 and data["failure"]["link"] == "nbp"
    assert data["failure"]["message"] == (
        "boot file pxelinux.0 is not an EFI image (a BIOS NBP?); a UEFI client (arch 7) "
        "cannot start it")
    assert data["tftp"][0]["found"] and data["pxelinux"]["search"] == []


def test_menu_item_without_a_boot_server() -> None:
    # A menu item of a type no server is listed for: the client discovers by broadcast
    # (43.6 = 2). The router ACKs that REQUEST too -- without "PXEClient" or 43.71, so the
    # client must not take it for the boot server's answer -- and nobody else answers.
    with pxe_segment(proxy_extra='pxe-service=X86PC, "Remote installer", 5\n') as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--pxe-item", "3")
    assert rc == 1
    assert data["proxy"]["pxe"]["discovery_control"] == 2
    assert data["failure"] == {"link": "boot-server", "message": (
        "no boot server answered discovery for type 5 (broadcast to port 67)")}
    events = [e["event"] for e in data["timeline"] if e["phase"] == "pxe"]
    assert "boot-server discovery (type 5) #1 to 255.255.255.255:67" in events
    assert any(e.startswith("ACK from 192.168.10.1:67 ignored: no option 60") for e in events)
