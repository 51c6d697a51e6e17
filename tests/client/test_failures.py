"""A broken chain makes `pxelab probe` exit non-zero and name the broken link."""

from __future__ import annotations

import re

import pytest

from tests.client.conftest import probe, pxe_segment

pytestmark = pytest.mark.root


def test_no_dhcp_server() -> None:
    with pxe_segment(router=None, proxy=None) as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--timeout", "2.5")
    assert rc == 1 and not data["ok"]
    assert data["offers"] == []
    assert data["failure"]["link"] == "dhcp"
    assert data["failure"]["message"].startswith("no DHCP server answered")
    discovers = [e for e in data["timeline"] if e["event"].startswith("DISCOVER")]
    assert len(discovers) >= 2  # iPXE's 1 s then 2 s retries, cut by --timeout


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
