"""Replay the real requests of the capture through the policy: every byte as dnsmasq sent it."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest
from scapy.all import UDP, rdpcap

from pxelab.boot.policy import Local, ProxyPolicy
from pxelab.config.dnsmasq import read_dnsmasq_conf
from pxelab.wire import dhcp
from pxelab.wire.dhcp import Request

HERE = Path(__file__).parent
SEED = HERE.parent / "config" / "data" / "seed-dnsmasq.conf"
PCAP = HERE / "data" / "ipxe-bios-rtl8139-via-dnsmasq-proxy.pcap"
PROXY = IPv4Address("192.168.10.20")


def _packets() -> list[tuple[str, int, int, bytes]]:
    out = []
    for p in rdpcap(str(PCAP)):
        if UDP in p and {p[UDP].sport, p[UDP].dport} & {67, 68, 4011}:
            out.append((p["IP"].src, p[UDP].sport, p[UDP].dport, bytes(p[UDP].payload)))
    return out


@pytest.fixture(scope="module")
def exchange() -> dict[str, bytes]:
    pk = _packets()
    discover = next(b for s, sp, dp, b in pk if dp == 67 and dhcp.decode(b).message_type == 1)
    request67 = next(b for s, sp, dp, b in pk if dp == 67 and dhcp.decode(b).message_type == 3)
    offer = next(b for s, sp, dp, b in pk if s == str(PROXY) and sp == 67)
    pxebs = next(b for s, sp, dp, b in pk if dp == 4011)
    ack = next(b for s, sp, dp, b in pk if sp == 4011)
    return {"discover": discover, "request67": request67, "offer": offer, "pxebs": pxebs,
            "ack": ack}


@pytest.fixture(scope="module")
def policy() -> ProxyPolicy:
    return ProxyPolicy(read_dnsmasq_conf(SEED))


LOCAL = Local(PROXY, 24, "eth0")


def _fields(data: bytes) -> dict:
    m = dhcp.decode(data)
    return {
        "op": m.op, "xid": m.xid, "secs": m.secs, "flags": m.flags, "ciaddr": m.ciaddr,
        "yiaddr": m.yiaddr, "siaddr": m.siaddr, "giaddr": m.giaddr, "chaddr": m.chaddr,
        "sname": m.sname, "file": m.file, "options": m.options.items(),
    }


def test_offer_matches_dnsmasq_field_by_field(policy: ProxyPolicy, exchange: dict) -> None:
    d = policy.decide(Request.from_bytes(exchange["discover"], 67), LOCAL)
    assert d.kind == "offer" and d.file == "pxelinux.0" and d.arch == 0
    assert _fields(d.reply) == _fields(exchange["offer"])
    assert d.reply == exchange["offer"]  # and byte for byte, padding included
    m = dhcp.decode(d.reply)
    assert m.yiaddr == IPv4Address("0.0.0.0") and m.broadcast
    pxe = m.pxe_options()
    assert pxe.discovery_control == 3 and pxe.duplicates() == [6]
    assert [(i.type, i.text) for i in pxe.menu] == [
        (0x8000, "Boot from network"), (0, "Boot from local hard disk")]
    assert pxe.prompt.timeout == 3 and pxe.prompt.text == "Press F8 for boot menu"


def test_pxebs_ack_matches_dnsmasq_field_by_field(policy: ProxyPolicy, exchange: dict) -> None:
    d = policy.decide(Request.from_bytes(exchange["pxebs"], 4011), LOCAL)
    assert d.kind == "ack" and d.file == "pxelinux.0"
    assert _fields(d.reply) == _fields(exchange["ack"])
    assert d.reply == exchange["ack"]
    m = dhcp.decode(d.reply)
    assert m.pxe_options().boot_item.type == 0x8000 and m.siaddr == PROXY


def test_request_to_the_router_is_not_answered(policy: ProxyPolicy, exchange: dict) -> None:
    d = policy.decide(Request.from_bytes(exchange["request67"], 67), LOCAL)
    assert d.reply is None and "port 67" in d.reason
