"""The scripted EDK2 profiles against real EDK2 on the wire, byte for byte: `edk2-uefi-x64`
(OVMF 2022.11) and `edk2-arm64` (AAVMF 2022.11).

The captures in tests/captures/ were taken in this lab, filtered to DHCP and port 4011:

- edk2-uefi-x64-pxelab-proxy.pcap:  `vm/uefi-x64-edk2` (OVMF's own PXE on virtio-net, no iPXE)
  in scenarios/uefi-edk2 (pxelab router + `pxelab serve` proxy)
- edk2-uefi-x64-dnsmasq-proxy.pcap: scenarios/uefi-edk2-dnsmasq (the same with dnsmasq as proxy)
- edk2-uefi-x64-no-server.pcap:     the same VM on a NIC nobody answers (QEMU filter-dump), for
  the DISCOVER retry timing
- edk2-uefi-arm64-pxelab-proxy.pcap:  `vm/uefi-arm64` (AAVMF on virt, cortex-a57, virtio-net)
  in scenarios/uefi-arm64 (that client's packets only: chaddr 52:54:00:00:43:02)
- edk2-uefi-arm64-dnsmasq-proxy.pcap: scenarios/uefi-arm64-dnsmasq (dnsmasq as the proxy)
- edk2-uefi-arm64-no-server.pcap:     the same VM on a lab bridge with no server (tcpdump)

The later DHCP exchange in the proxy captures (option 55 = 1, 3, 6) is syslinux.efi's own, not
the firmware's; only the firmware's packets are compared.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pxelab.client import packet
from pxelab.client.dhcp import DhcpClient
from pxelab.client.profile import load
from pxelab.wire.dhcp import decode

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
# fmt: off
FIRMWARE_55 = bytes([1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51,
                     54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135])
# fmt: on


def _dhcp(name: str) -> list[tuple[float, int, int, bytes]]:
    """(time, source port, destination port, BOOTP payload) of each DHCP/4011 packet."""
    from scapy.all import UDP, rdpcap

    out = []
    for p in rdpcap(str(CAPTURES / name)):
        if UDP in p:
            out.append((float(p.time), p[UDP].sport, p[UDP].dport, bytes(p[UDP].payload)))
    return out


def _firmware_requests(name: str) -> list[tuple[float, int, int, bytes]]:
    """The firmware's own requests: option 55 is EDK2 PxeBc's list (not syslinux.efi's)."""
    reqs = []
    for t, sport, dport, raw in _dhcp(name):
        if raw[0] != 1:
            continue
        if decode(raw).options.raw(55) == FIRMWARE_55:
            reqs.append((t, sport, dport, raw))
    return reqs


# capture name part -> (scripted profile, option 93, option 60): one EDK2 PXE stack, two builds.
ARCHES = {
    "x64": ("edk2-uefi-x64", 7, b"PXEClient:Arch:00007:UNDI:003000"),
    "arm64": ("edk2-arm64", 11, b"PXEClient:Arch:00011:UNDI:003000"),
}


def _client(xid: int, mac: bytes, arch: str = "x64") -> DhcpClient:
    link = SimpleNamespace(mac=mac, iface="eth0")
    profile = load(ARCHES[arch][0])
    # The profile's own option 93, so a wrong `arch` in it fails the byte comparison.
    client = DhcpClient(link, profile, arch=profile.dhcp.arch, uuid=bytes(16),  # type: ignore[arg-type]
                        log=lambda *a: None)  # fmt: skip
    client.xid = xid
    client.started = time.monotonic()
    return client


@pytest.mark.parametrize("arch", list(ARCHES))
@pytest.mark.parametrize("proxy", ["pxelab", "dnsmasq"])
def test_requests_byte_for_byte(arch: str, proxy: str) -> None:
    reqs = _firmware_requests(f"edk2-uefi-{arch}-{proxy}-proxy.pcap")
    kinds = [(dport, decode(raw).message_type) for _t, _s, dport, raw in reqs]
    assert kinds == [(67, packet.DISCOVER), (67, packet.REQUEST), (4011, packet.REQUEST)]
    (_, _, _, discover), (_, _, _, request), (_, sport, _, to_4011) = reqs
    mac = discover[28:34]
    xid = struct.unpack("!I", discover[4:8])[0]
    client = _client(xid, mac, arch)
    assert client._send(packet.DISCOVER, []) == discover
    sent = decode(request).options
    extra = [(50, sent.raw(50)), (54, sent.raw(54))]
    # EDK2 sends the REQUEST ~4 s after the DISCOVER with secs 0: run the clock forward.
    client.started -= 4.6
    assert client._send(packet.REQUEST, extra) == request
    client.xid = struct.unpack("!I", to_4011[4:8])[0]
    ciaddr = packet.ip_str(to_4011[12:16])
    assert client._send(packet.REQUEST, [], ciaddr=ciaddr, to_4011=True) == to_4011
    assert sport == client.profile.dhcp.pxe_source_port == 4011


@pytest.mark.parametrize("arch", list(ARCHES))
def test_vendor_class_and_options(arch: str) -> None:
    discover = _firmware_requests(f"edk2-uefi-{arch}-pxelab-proxy.pcap")[0][3]
    opts = decode(discover).options
    profile, number, vendor_class = ARCHES[arch]
    assert opts.raw(60) == vendor_class
    assert opts.raw(93) == struct.pack("!H", number) and opts.raw(94) == b"\x01\x03\x00"
    assert opts.raw(57) == struct.pack("!H", 1472) and opts.raw(97) == bytes(17)
    assert load(profile).dhcp.arch == number


@pytest.mark.parametrize("arch", list(ARCHES))
def test_discover_retry_timing(arch: str) -> None:
    """No answer: DISCOVERs (same xid, secs counting) at the profile's cumulative retries."""
    reqs = [r for r in _firmware_requests(f"edk2-uefi-{arch}-no-server.pcap")
            if (decode(r[3]).options.raw(60) or b"").startswith(b"PXEClient")]  # fmt: skip
    t0 = reqs[0][0]
    offsets = [t - t0 for t, *_ in reqs]
    retries = load(ARCHES[arch][0]).dhcp.retries
    expected = [sum(retries[:i]) for i in range(len(offsets))]
    assert len(offsets) >= 4
    # TCG under load stretches the firmware's timer a little; 0.5 s is far below one step.
    assert offsets == pytest.approx(expected, abs=0.5)
    assert {r[3][4:8] for r in reqs} == {reqs[0][3][4:8]}
    assert [struct.unpack("!H", r[3][8:10])[0] for r in reqs] == [int(e) for e in expected]


def _replies(name: str) -> dict[str, bytes]:
    """The proxy's port-67 offer and its port-4011 ACK, with xid, ciaddr and chaddr zeroed: the
    runs had their own xids, their own client MACs (52:54:00:00:41:01/:02, 43:02/:04) and, in
    the 4011 ACK's ciaddr, the client's own lease echoed (ARM64: .101 in scenarios/uefi-arm64,
    where the x86-64 client took .100 first; .100 in the dnsmasq twin). The echo is checked."""
    out = {}
    requests = {raw[4:8]: raw for _t, _s, dport, raw in _dhcp(name) if raw[0] == 1}
    for _t, sport, _dport, raw in _dhcp(name):
        if raw[0] != 2 or packet.parse(raw).server_id != "192.168.10.20":
            continue
        if raw[4:8] in requests:
            assert raw[12:16] == requests[raw[4:8]][12:16], f"{name}: ciaddr not echoed"
        key = "offer" if sport == 67 else "ack-4011"
        out.setdefault(key, raw[:4] + bytes(4) + raw[8:12] + bytes(4) + raw[16:28] + bytes(16)
                       + raw[44:])  # fmt: skip
    return out


@pytest.mark.parametrize("arch", list(ARCHES))
def test_pxelab_replies_equal_dnsmasqs(arch: str) -> None:
    """To the same firmware, `pxelab serve` and dnsmasq (same dnsmasq.conf) answered the same
    bytes: the proxy offer (60, 54, 97, no 43: EDK2 then asks port 4011) and the 4011 ACK
    (the file for that architecture in the header: efi64/syslinux.efi, arm64/linux.efi)."""
    ours, theirs = (
        _replies(f"edk2-uefi-{arch}-pxelab-proxy.pcap"),
        _replies(f"edk2-uefi-{arch}-dnsmasq-proxy.pcap"),
    )
    assert set(ours) == {"offer", "ack-4011"}
    assert 43 not in packet.parse(ours["offer"]).options
    assert ours == theirs
