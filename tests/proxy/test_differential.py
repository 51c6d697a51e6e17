"""Differential tests: the same requests to dnsmasq and to `pxelab serve`, each in a lab of
its own (server 192.168.10.20, client 192.168.10.50), with the same configuration file.

The replies must agree on everything the issue names (43 sub-options, file, sname, siaddr,
60, 97) and in fact byte for byte, and arrive from the same address and port. Deliberate
differences are listed in DIFFERENT_ON_PURPOSE with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pxelab.lab.network.userns import single_uid
from pxelab.wire import dhcp
from tests.conftest import require_tool
from tests.proxy.helpers import request

REPO = Path(__file__).resolve().parents[2]
SERVER, CLIENT = "192.168.10.20", "192.168.10.50"
CONF = """\
port=0
log-dhcp
dhcp-boot=pxelinux.0
dhcp-option=vendor:PXEClient,6,2b
dhcp-no-override
pxe-prompt="Press F8 for boot menu", 3
pxe-service=X86PC, "Boot from network", pxelinux
pxe-service=X86PC, "Boot from local hard disk", 0
pxe-service=X86-64_EFI, "UEFI boot", syslinux.efi
pxe-service=ARM64_EFI, "ARM64 UEFI boot", arm64/linux.efi
pxe-service=BC_EFI, "UEFI BC one", bootx64.efi
pxe-service=9, "UEFI BC two", grubx64.efi, 192.168.10.30
dhcp-pxe-vendor=PXEClient,HW-Client
dhcp-match=set:bc,option:client-arch,9
tag-if=set:bc-noipxe,tag:b*,tag:!ipxe
dhcp-boot=tag:bc-noipxe,bc/boot.efi,,192.168.10.30
dhcp-mac=set:wyse,00:80:64:*:*:*
dhcp-boot=tag:wyse,tag:!ipxe,wyse/pxelinux.0
dhcp-mac=set:blocked,52:54:00:00:00:0d
dhcp-ignore=tag:blocked
dhcp-match=set:ipxe,175
dhcp-boot=tag:ipxe,http://192.168.10.20/boot.ipxe
dhcp-vendorclass=set:http,HTTPClient
dhcp-option-force=tag:http,60,HTTPClient
dhcp-boot=tag:http,http://192.168.10.20:8080/efi64/snponly.efi
dhcp-range=192.168.10.20,proxy
"""
UEFI_VC = "PXEClient:Arch:00007:UNDI:003010"


def _edk2_captured(dport: int, arch: str = "x64") -> bytes:
    """Real EDK2 PXE requests from tests/captures/edk2-uefi-<arch>-pxelab-proxy.pcap (OVMF
    x86-64, AAVMF arm64): the DISCOVER to 67 as sent; the port-4011 REQUEST with ciaddr set to
    this lab's client address (the capture's was the router's lease in that run)."""
    from scapy.all import UDP, rdpcap

    path = REPO / "tests" / "captures" / f"edk2-uefi-{arch}-pxelab-proxy.pcap"
    for p in rdpcap(str(path)):
        raw = bytes(p[UDP].payload)
        if raw[0] == 1 and p[UDP].dport == dport:
            if dport == 4011:
                raw = raw[:12] + bytes(map(int, CLIENT.split("."))) + raw[16:]
            return raw
    raise AssertionError(f"{path}: no request to port {dport}")


def _edk2_http_discover() -> bytes:
    """Real OVMF UEFI HTTP Boot DISCOVER (HTTPClient:Arch:00016) from
    tests/captures/edk2-http-x64-pxelab-proxy.pcap."""
    from scapy.all import UDP, rdpcap

    for p in rdpcap(str(REPO / "tests" / "captures" / "edk2-http-x64-pxelab-proxy.pcap")):
        raw = bytes(p[UDP].payload)
        if raw[0] == 1 and dhcp.decode(raw).options.raw(60).startswith(b"HTTPClient"):
            return raw
    raise AssertionError("no HTTP Boot DISCOVER in the capture")


CASES = [
    # name, request bytes, destination, port, bound source port
    ("bios", request(arch=0), "255.255.255.255", 67, 68),
    ("uefi-x64", request(arch=7, vendor=UEFI_VC, mac="52:54:00:00:00:07"), "255.255.255.255",
     67, 68),
    ("ipxe", request(ipxe=True, mac="52:54:00:00:00:0a"), "255.255.255.255", 67, 68),
    ("non-pxe", request(vendor="MSFT 5.0", arch=None), "255.255.255.255", 67, 68),
    ("non-pxe-with-93", request(vendor="udhcp 1.36.1"), "255.255.255.255", 67, 68),
    ("relayed", request(giaddr=CLIENT, mac="52:54:00:00:00:0b"), SERVER, 67, 67),
    ("pxebs-4011", request(3, ciaddr=CLIENT, flags=0x8000, boot_item=(0x8000, 0)), SERVER,
     4011, 68),
    ("pxebs-local-boot", request(3, ciaddr=CLIENT, boot_item=(0, 0)), SERVER, 4011, 68),
    ("uefi-proxyrequest-4011", request(3, arch=7, vendor=UEFI_VC, ciaddr=CLIENT), SERVER,
     4011, 68),
    ("request-to-router", request(3, server_id="192.168.10.1"), "255.255.255.255", 67, 68),
    ("hw-client", request(vendor="HW-Client:Arch:00000", mac="52:54:00:00:00:0c"),
     "255.255.255.255", 67, 68),
    ("discover-no-93", request(arch=None), "255.255.255.255", 67, 68),
    ("uefi-bc-discover", request(arch=9, mac="52:54:00:00:00:09"), "255.255.255.255", 67, 68),
    ("uefi-bc-4011", request(3, arch=9, ciaddr=CLIENT), SERVER, 4011, 68),
    ("inform-pxebs-4011", request(8, ciaddr=CLIENT, boot_item=(0x8000, 3)), SERVER, 4011, 68),
    ("bios-proxyrequest-4011", request(3, ciaddr=CLIENT), SERVER, 4011, 68),
    ("request-to-proxy", request(3, server_id=SERVER), "255.255.255.255", 67, 68),
    ("ignored-mac", request(mac="52:54:00:00:00:0d"), "255.255.255.255", 67, 68),
    ("capture-discover", (Path(__file__).parent / "data" / "capture-discover.bin").read_bytes(),
     "255.255.255.255", 67, 68),
    ("edk2-capture-discover", _edk2_captured(67), "255.255.255.255", 67, 68),
    ("edk2-capture-4011", _edk2_captured(4011), SERVER, 4011, 4011),
    ("edk2-http-boot-discover", _edk2_http_discover(), "255.255.255.255", 67, 68),
    ("edk2-arm64-capture-discover", _edk2_captured(67, "arm64"), "255.255.255.255", 67, 68),
    ("edk2-arm64-capture-4011", _edk2_captured(4011, "arm64"), SERVER, 4011, 4011),
]
NO_ANSWER = ("non-pxe", "pxebs-local", "request-to", "discover-no-93", "ignored-mac")
# name -> why pxelab answers differently on purpose
DIFFERENT_ON_PURPOSE: dict[str, str] = {
    "request-to-proxy": (
        "a REQUEST on port 67 naming the proxy in option 54: dnsmasq never answers a REQUEST on "
        "67 in proxy mode; pxelab ACKs it like the offer, since the client chose the proxy"
    ),
    "edk2-http-boot-discover": (
        "UEFI HTTP Boot (option 60 HTTPClient): dnsmasq's proxy answers only a dhcp-pxe-vendor "
        "(PXEClient) and stays silent with the HTTP Boot lines people write; pxelab offers the "
        "URL with 60 HTTPClient, so HTTP Boot works behind a router nobody may touch (with "
        "dhcp-pxe-vendor=PXEClient,HTTPClient dnsmasq answers too: test_http_boot_lab.py)"
    ),
}
# what pxelab answers instead: (message type, file, option 60)
ANSWERED_ON_PURPOSE = {
    "request-to-proxy": (dhcp.MessageType.ACK, b"wyse/pxelinux.0", b"PXEClient"),
    "edk2-http-boot-discover": (dhcp.MessageType.OFFER,
                                b"http://192.168.10.20:8080/efi64/snponly.efi", b"HTTPClient"),
}


def _run_lab(tmp_path: Path, which: str) -> dict[str, list[dict]]:
    from pxelab.lab.network.topology import Lab

    conf = tmp_path / f"{which}.conf"
    conf.write_text(CONF)
    cases = [
        {"name": n, "hex": data.hex(), "dest": dest, "port": port, "bind": bind,
         "wait": 1.0 if n.startswith(NO_ANSWER) else 3.0}
        for n, data, dest, port, bind in CASES
    ]
    case_file = tmp_path / f"{which}-cases.json"
    case_file.write_text(json.dumps(cases))
    with Lab() as lab:
        srv = lab.add_host("srv", ipv4=f"{SERVER}/24")
        cli = lab.add_host("cli", ipv4=f"{CLIENT}/24")
        if which == "dnsmasq":
            argv = [require_tool("dnsmasq"), "-k", "-9", f"--conf-file={conf}", "--pid-file",
                    "--log-facility=-"]
            if single_uid():  # rootless: no other uid or group to change to
                argv += ["--user=root", "--group="]
        else:
            argv = [sys.executable, "-m", "pxelab", "serve", "--user", "root",
                "--dnsmasq-conf", str(conf)]
        proc = srv.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _wait_listening(srv, proc)
        result = cli.run([sys.executable, "-m", "tests.proxy.udpprobe", str(case_file)],
                         cwd=str(REPO), timeout=60)
        assert result.returncode == 0, result.stderr
        srv.stop(proc)
    return {c["name"]: c["replies"] for c in json.loads(result.stdout)}


def _wait_listening(host, proc) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = host.run(["ss", "-uln"]).stdout
        if ":67 " in out and ":4011 " in out:
            return
        if proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stdout.read()}")
        time.sleep(0.1)
    pytest.fail("server did not listen on 67 and 4011")


@pytest.fixture(scope="module")
def replies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict]]]:
    tmp = tmp_path_factory.mktemp("diff")
    return {w: _run_lab(tmp, w) for w in ("dnsmasq", "pxelab")}


def _summary(reply: dict) -> dict:
    m = dhcp.decode(bytes.fromhex(reply["hex"]))
    return {
        "from": (reply["src"], reply["sport"]), "type": m.message_type, "flags": m.flags,
        "ciaddr": m.ciaddr, "yiaddr": m.yiaddr, "siaddr": m.siaddr, "giaddr": m.giaddr,
        "sname": m.sname, "file": m.file, "43": m.options.raw(43), "54": m.options.raw(54),
        "60": m.options.raw(60), "97": m.options.raw(97), "order": list(m.options),
    }


@pytest.mark.lab
@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_same_answer_as_dnsmasq(replies: dict, name: str) -> None:
    ours, theirs = replies["pxelab"][name], replies["dnsmasq"][name]
    if name in DIFFERENT_ON_PURPOSE:
        assert theirs == [], DIFFERENT_ON_PURPOSE[name]
        (reply,) = ours
        got = _summary(reply)
        assert (got["type"], got["file"], got["60"]) == ANSWERED_ON_PURPOSE[name]
        return
    assert [_summary(r) for r in ours] == [_summary(r) for r in theirs]
    assert [r["hex"] for r in ours] == [r["hex"] for r in theirs]
    expect_answer = not name.startswith(NO_ANSWER)
    assert bool(ours) == expect_answer
    if name.startswith("non-pxe"):
        assert ours == []  # never an answer to a non-PXE client
    if name == "edk2-arm64-capture-4011":
        # AAVMF's own request (option 93 = 11) is answered with the ARM64_EFI service's file.
        assert [_summary(r)["file"] for r in ours] == [b"arm64/linux.efi"]
