"""One test per client quirk profile: the client does the odd thing, the server copes (with the
seed's configuration, or with the knob named in REFERENCE.md).

Servers: dnsmasq as the reference, and pxelab serve on the same dnsmasq.conf (`server`
parameter). Server-side evidence comes from dnsmasq's log or pxelab's JSON events.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from pxelab.lab.services import tftptree
from tests.client.conftest import SEED_UUID, probe, pxe_segment

pytestmark = pytest.mark.lab

EFI_SERVICE = 'pxe-service=X86-64_EFI, "Boot UEFI from network", efi64/syslinux.efi\n'
# A proxy for UEFI clients only: dnsmasq's port-67 offer then carries no option 43.
UEFI_ONLY = """port=0
log-dhcp
enable-tftp
tftp-root={tree}
dhcp-no-override
pxe-service=X86-64_EFI, "Boot UEFI from network", efi64/syslinux.efi
dhcp-range=192.168.10.20,proxy
"""
# Stop collecting offers once both kinds are in, but wait up to 3 s for a slow proxy (a
# loaded CI machine): fast and not timing-dependent.
FAST = ("--offer-wait", "3", "--until-complete")
SERVERS = pytest.mark.parametrize("server", ["dnsmasq", "pxelab"])


def segment(server: str, **kw: Any) -> Any:
    # The router is not what these tests are about: dnsmasq's is the cheapest to start
    # (test_probe_seed and test_failures run the pxelab router).
    return pxe_segment(router="dnsmasq", proxy=server, **kw)


def tftp_aborts(seg: Any, server: str) -> list[str]:
    """What the server recorded about transfers the client aborted (waits up to 10 s for a
    server that writes its log after the fact)."""
    from pxelab.serve.events import read_events

    deadline = time.monotonic() + 10
    while True:
        if server == "dnsmasq":
            found = [line for line in seg.proxy_lines()
                     if re.search(r"error \d+ .*received", line)]
        else:
            found = [f"{e['file']} {e['outcome']}" for e in read_events(seg.proxy_events)
                     if e.get("service") == "tftp" and e.get("outcome") == "aborted"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _proxy_offers(data: dict) -> list[dict]:
    return [o for o in data["offers"] if o["kind"] == "proxy"]


def _menu_labels(data: dict) -> list[str]:
    return [e["label"] for e in data["menu"]["entries"] if not e["hidden"]]


@SERVERS
def test_pxe_2_0_rom_probes_tsize_then_fetches_with_its_blksize(server: str) -> None:
    with segment(server) as seg:
        rc, data = probe(seg, "--profile", "pxe-2.0-rom", *FAST)
        aborts = tftp_aborts(seg, server)
        log = seg.proxy_lines()
    assert rc == 0, data["failure"]
    probe_ = data["tftp_probe"]
    assert probe_["answer"] == "oack" and probe_["tsize"] == data["tftp"][0]["bytes"]
    assert data["tftp"][0]["options_sent"] == {"blksize": 1456}
    assert data["tftp"][0]["options_acked"] == {"blksize": "1456"}
    # The server saw the aborted probe and still served the second RRQ in full.
    if server == "dnsmasq":
        assert len(aborts) == 1 and "error 0" in aborts[0]
    else:
        assert aborts == ["pxelinux.0 aborted"]
    assert any(line.endswith("/pxelinux.0 to 192.168.10.21") and "sent " in line for line in log)
    assert data["reached"] == "menu"


def test_ipxe_sends_user_class_and_175_and_pxelinux_options() -> None:
    with pxe_segment() as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--uuid", SEED_UUID)
        log = seg.proxy_lines()
    assert rc == 0, data["failure"]
    assert any("user class: iPXE" in line for line in log)
    nbp = data["tftp"][0]
    assert nbp["options_sent"] == {"tsize": 0, "blksize": 1432}
    assert nbp["tsize"] == nbp["bytes"]
    # Every PXELINUX RRQ: tsize 0 blksize 1408 (and there are some: all() of none is True).
    assert data["tftp"][1:], data["tftp"]
    assert all(f["options_sent"] == {"tsize": 0, "blksize": 1408} for f in data["tftp"][1:])
    # dnsmasq's 4011 answer is an ACK carrying 43.71 with the item the client asked for.
    assert data["boot_reply"]["options"]["43"]["boot_item"] == {"type": 0x8000, "layer": 0}


@SERVERS
def test_edk2_tsize_probe_error_8_then_second_rrq_served(server: str) -> None:
    with segment(server, proxy_extra=EFI_SERVICE, efi64=True) as seg:
        rc, data = probe(seg, "--profile", "edk2-uefi-x64", *FAST)
        aborts = tftp_aborts(seg, server)
    assert rc == 0, data["failure"]
    assert data["arch"] == 7
    # The proxy leaves 43 out for UEFI on port 67; EDK2 treats that as a BINL offer -> 4011.
    assert _proxy_offers(data), data["offers"]
    assert all("43" not in o["options"] for o in _proxy_offers(data))
    assert data["boot_path"].startswith("request to 192.168.10.20:4011")
    assert data["boot_file"] == "efi64/syslinux.efi"
    assert data["tftp_probe"]["answer"] == "oack"
    assert data["tftp_probe"]["options"]["blksize"] == "1468"
    if server == "dnsmasq":
        assert len(aborts) == 1 and "error 8" in aborts[0]
    else:
        assert aborts == ["efi64/syslinux.efi aborted"]
    assert data["tftp"][0]["found"] and data["tftp"][0]["bytes"] == data["tftp_probe"]["tsize"]
    assert data["pxelinux"]["core"] == "efi64/ldlinux.e64"
    assert data["menu"]["title"] == "PXE Boot Menu"


@SERVERS
def test_needs_option60_server_always_sends_it(server: str) -> None:
    with segment(server) as seg:
        rc, data = probe(seg, "--profile", "needs-option60", *FAST)
    assert rc == 0, data["failure"]
    offers = _proxy_offers(data)
    assert offers and all(o["options"]["60"] == "PXEClient" and "43" in o["options"]
                          for o in offers)
    assert all(o["ignored"] is None for o in offers)


@SERVERS
def test_misreads_overload_no_override_keeps_names_in_the_header(server: str) -> None:
    with segment(server) as seg:  # the seed's config has dhcp-no-override
        rc, data = probe(seg, "--profile", "misreads-overload", *FAST)
    assert rc == 0, data["failure"]
    assert data["offers"], data
    assert all("52" not in o["options"] for o in data["offers"])
    assert "52" not in data["boot_reply"]["options"]
    assert data["boot_file"] == "pxelinux.0"


@SERVERS
def test_uefi_that_needs_4011_ignores_the_port_67_offer(server: str) -> None:
    with segment(server, proxy_conf=UEFI_ONLY, efi64=True) as seg:
        rc, data = probe(seg, "--profile", "uefi-needs-4011", *FAST)
        log = seg.proxy_lines()
    assert rc == 0, data["failure"]
    assert data["boot_path"] == ("request to 192.168.10.20:4011 (this client ignores boot "
                                 "data in port-67 proxy offers)")
    assert data["boot_reply"]["file"] == "efi64/syslinux.efi"
    assert data["boot_reply"]["options"]["60"] == "PXEClient"
    assert any("vendor class: PXEClient:Arch:00007:UNDI:003010" in line for line in log)
    assert data["reached"] == "menu"


@SERVERS
def test_bootfile_junk_reader_gets_a_clean_name_from_a_padded_field(server: str) -> None:
    # Without dhcp-no-override too: dnsmasq still writes the name into the NUL-padded file
    # field of its PXE replies (never an unterminated option 67), so the C-string reader is safe.
    conf = (tftptree.SEED_DIR / "dnsmasq.conf").read_text()
    conf = conf.replace("dhcp-no-override", "").replace("/home/tftpboot", "{tree}")
    with segment(server, proxy_conf=conf) as seg:
        rc, data = probe(seg, "--profile", "bootfile-junk", *FAST)
    assert rc == 0, data["failure"]
    assert "67" not in data["boot_reply"]["options"]
    assert data["boot_file"] == "pxelinux.0"
    assert data["tftp"][0]["found"]


@pytest.mark.parametrize(
    ("mode", "server"),
    [
        ("missing", "dnsmasq"),
        ("zero", "dnsmasq"),
        ("ff", "dnsmasq"),
        ("missing", "pxelab"),
        ("ff", "pxelab"),
    ],
)
def test_invalid_option_97(mode: str, server: str) -> None:
    with segment(server) as seg:
        rc, data = probe(seg, "--profile", f"uuid-{mode}", "--uuid", SEED_UUID, *FAST)
    assert rc == 0, data["failure"]
    offer = _proxy_offers(data)[0]
    if mode == "missing":
        assert data["uuid"] is None and "97" not in offer["options"]
    else:
        # The proxy echoes whatever 97 it got.
        assert offer["options"]["97"] == "00" + ("00" if mode == "zero" else "ff") * 16
    # PXELINUX skips an absent or invalid UUID: the search starts at the MAC name.
    assert data["pxelinux"]["search"][0]["path"] == "pxelinux.cfg/01-00-80-64-71-ab-0a"
    assert len(data["pxelinux"]["search"]) == 10
    assert _menu_labels(data) == ["tc476", "tc476_wyse", "tc476_wyse_test"]


@SERVERS
def test_hw_client_needs_dhcp_pxe_vendor(server: str) -> None:
    with segment(server) as seg:
        rc, data = probe(seg, "--profile", "hw-client", *FAST)
    assert rc == 1 and data["failure"]["link"] == "proxy"
    assert data["failure"]["message"].startswith("no proxyDHCP offer")
    with segment(server, proxy_extra="dhcp-pxe-vendor=PXEClient,HW-Client\n") as seg:
        rc, data = probe(seg, "--profile", "hw-client", *FAST)
        log = seg.proxy_lines()
    assert rc == 0, data["failure"]
    assert any("vendor class: HW-Client:Arch:00000:UNDI:002001" in line for line in log)
    assert data["menu"]["title"] == "PXE Boot Menu"


@SERVERS
def test_ipxe_proxydhcprequest_when_the_proxy_offer_has_no_file_and_no_menu(server: str) -> None:
    # A UEFI-only proxy answers iPXE (as an x86-64 EFI build) on port 67 with neither a boot
    # file nor option 43: iPXE asks port 4011 (ProxyDHCPREQUEST) and boots what it is told.
    with segment(server, proxy_conf=UEFI_ONLY, efi64=True) as seg:
        rc, data = probe(seg, "--profile", "ipxe", "--arch", "7")
    assert rc == 0, data["failure"]
    proxy = _proxy_offers(data)[0]
    assert proxy["file"] == "" and "43" not in proxy["options"]
    assert data["boot_path"] == ("request to 192.168.10.20:4011 (proxy offer has no boot file "
                                 "and no menu)")
    assert any(e["event"].startswith("ProxyDHCPREQUEST #1") for e in data["timeline"])
    assert data["boot_file"] == "efi64/syslinux.efi" and data["reached"] == "menu"
