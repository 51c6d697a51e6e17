"""The scripted `edk2-http-x64` profile against real EDK2 UEFI HTTP Boot (OVMF 2022.11), byte for
byte.

The captures in tests/captures/ were taken in this lab from `vm/uefi-x64-http` (OVMF with only
its HTTPv4 stack, virtio-net, no iPXE), filtered to DHCP:

- edk2-http-x64-pxelab-proxy.pcap:  scenarios/uefi-http-boot (pxelab router + `pxelab serve`
  proxy): DISCOVER, the router's offer, pxelab's HTTP proxy offer, REQUEST to the router, ACK;
  then iPXE's own exchange (user class iPXE), which is not the firmware's
- edk2-http-x64-dnsmasq-proxy.pcap: scenarios/uefi-http-boot-dnsmasq (dnsmasq as the proxy):
  four DISCOVERs, only the router answering, then the firmware gives up
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


def _dhcp(name: str) -> list[tuple[float, int, int, bytes]]:
    from scapy.all import UDP, rdpcap

    return [
        (float(p.time), p[UDP].sport, p[UDP].dport, bytes(p[UDP].payload))
        for p in rdpcap(str(CAPTURES / name))
        if UDP in p
    ]


def _firmware(name: str) -> list[tuple[float, bytes]]:
    """The firmware's own requests: vendor class HTTPClient (iPXE's say PXEClient)."""
    return [
        (t, raw)
        for t, _s, _d, raw in _dhcp(name)
        if raw[0] == 1 and (decode(raw).options.raw(60) or b"").startswith(b"HTTPClient")
    ]


def _client(xid: int, mac: bytes) -> DhcpClient:
    link = SimpleNamespace(mac=mac, iface="eth0")
    client = DhcpClient(link, load("edk2-http-x64"), arch=16, uuid=bytes(16),  # type: ignore[arg-type]
                        log=lambda *a: None)  # fmt: skip
    client.xid = xid
    client.started = time.monotonic()
    return client


def test_discover_and_request_byte_for_byte() -> None:
    reqs = _firmware("edk2-http-x64-pxelab-proxy.pcap")
    assert [decode(raw).message_type for _t, raw in reqs] == [packet.DISCOVER, packet.REQUEST]
    (t0, discover), (t1, request) = reqs
    client = _client(struct.unpack("!I", discover[4:8])[0], discover[28:34])
    assert client._send(packet.DISCOVER, []) == discover
    sent = decode(request).options
    # the REQUEST names the router (54), never the proxy: the firmware took only the URL from it
    assert sent.raw(54) == bytes([192, 168, 10, 1])
    client.started -= t1 - t0
    assert client._send(packet.REQUEST, [(50, sent.raw(50)), (54, sent.raw(54))]) == request
    # the whole first window (4 s) was waited for, though both offers came at once
    assert t1 - t0 == pytest.approx(load("edk2-http-x64").dhcp.offer_wait, abs=0.5)


def test_what_pxelab_answered() -> None:
    offers = [
        decode(raw)
        for _t, sport, _d, raw in _dhcp("edk2-http-x64-pxelab-proxy.pcap")
        if raw[0] == 2 and (decode(raw).options.raw(60) or b"") == b"HTTPClient"
    ]
    (offer,) = offers
    assert str(offer.yiaddr) == "0.0.0.0" and offer.options.raw(54) == bytes([192, 168, 10, 20])
    assert offer.file == b"http://192.168.10.20:8080/efi64/snponly.efi"


def test_discover_retry_timing_without_an_http_offer() -> None:
    reqs = _firmware("edk2-http-x64-dnsmasq-proxy.pcap")
    assert {decode(raw).message_type for _t, raw in reqs} == {packet.DISCOVER}
    offsets = [t - reqs[0][0] for t, _raw in reqs]
    retries = load("edk2-http-x64").dhcp.retries
    assert offsets == pytest.approx([sum(retries[:i]) for i in range(len(reqs))], abs=0.5)
    assert {raw[4:8] for _t, raw in reqs} == {reqs[0][1][4:8]}
