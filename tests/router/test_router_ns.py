"""The simulated router against real DHCP clients (udhcpc, dhclient, perfdhcp) and rdisc6."""

from __future__ import annotations

import ipaddress
import re
import sys

import pytest

from tests.conftest import require_tool
from tests.router.conftest import start_router

pytestmark = pytest.mark.lab

POOL = (ipaddress.IPv4Address("192.168.10.100"), ipaddress.IPv4Address("192.168.10.150"))


def in_pool(ip: str) -> bool:
    return POOL[0] <= ipaddress.IPv4Address(ip) <= POOL[1]


def test_udhcpc_gets_a_lease(router_lab):
    busybox = require_tool("busybox")
    pc = router_lab.lab.add_host("pc")
    out = pc.run([busybox, "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "eth0",
                  "-s", "/bin/true"], timeout=30)
    assert out.returncode == 0, out.stderr
    m = re.search(r"lease of (\S+) obtained from 192\.168\.10\.1", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    assert in_pool(m.group(1))
    acks = router_lab.events_named("ack")
    assert [a["ip"] for a in acks] == [m.group(1)]
    assert acks[0]["client"] == pc.mac
    assert acks[0]["state"] == "selecting"


def test_dhclient_gets_a_lease(router_lab):
    dhclient = require_tool("dhclient")
    pc = router_lab.lab.add_host("pc")
    t = router_lab.tmp
    out = pc.run([dhclient, "-sf", "/bin/true", "-1", "-v", "-pf", str(t / "dh.pid"),
                  "-lf", str(t / "dh.leases"), "eth0"], timeout=60)
    assert out.returncode == 0, out.stderr
    m = re.search(r"DHCPACK of (\S+) from 192\.168\.10\.1", out.stderr)
    assert m, out.stderr
    assert in_pool(m.group(1))
    assert f"bound to {m.group(1)}" in out.stderr
    assert (t / "dh.leases").read_text().count(m.group(1)) >= 1


def test_static_lease_gets_its_address(router_lab):
    busybox = require_tool("busybox")
    pc = router_lab.lab.add_host("st", mac="02:00:00:00:ab:0a")
    out = pc.run([busybox, "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "eth0",
                  "-s", "/bin/true"], timeout=30)
    assert out.returncode == 0, out.stderr
    assert "lease of 192.168.10.21 obtained" in out.stdout + out.stderr


def test_wrong_address_gets_a_nak(router_lab):
    """dhclient remembers 192.168.10.222 (outside the pool): INIT-REBOOT, NAK, then a new lease."""
    dhclient = require_tool("dhclient")
    pc = router_lab.lab.add_host("pc")
    t = router_lab.tmp
    (t / "dh.leases").write_text(
        'lease {\n  interface "eth0";\n  fixed-address 192.168.10.222;\n'
        "  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 192.168.10.1;\n"
        "  renew 4 2037/01/01 00:00:00;\n  rebind 4 2037/01/01 00:00:00;\n"
        "  expire 4 2037/01/01 00:00:00;\n}\n"
    )
    out = pc.run([dhclient, "-sf", "/bin/true", "-1", "-v", "-pf", str(t / "dh.pid"),
                  "-lf", str(t / "dh.leases"), "eth0"], timeout=60)
    assert "DHCPNAK from 192.168.10.1" in out.stderr, out.stderr
    naks = router_lab.events_named("nak")
    assert naks and naks[0]["ip"] == "192.168.10.222"
    assert naks[0]["state"] == "init-reboot"
    acks = router_lab.events_named("ack")
    assert acks and in_pool(acks[-1]["ip"])


def test_rdisc6_sees_an_advertisement_within_a_second(router_lab):
    rdisc6 = require_tool("rdisc6")
    pc = router_lab.lab.add_host("pc")
    out = pc.run([rdisc6, "-1", "-r", "1", "-w", "1000", "eth0"], timeout=10)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"Prefix\s+:\s+fd00:10::/64", out.stdout), out.stdout
    assert "Autonomous address conf.:          Yes" in out.stdout
    assert f"from {router_lab.rtr.link_local}" in out.stdout


def test_perfdhcp_500_exchanges_unique_addresses_no_nak(tmp_path):
    """Relayed through perfdhcp's own address (giaddr), as a relay agent would."""
    from pxelab.lab.network.topology import Lab
    from pxelab.serve.events import read_events

    perfdhcp = require_tool("perfdhcp")
    events = tmp_path / "router.jsonl"
    with Lab(subnet="10.10.0.0/16") as lab:
        rtr = lab.add_host("rtr", ipv4="10.10.0.1/16")
        pf = lab.add_host("pf", ipv4="10.10.0.2/16")
        start_router(lab, rtr, events, "--no-ra", subnet="10.10.0.1/16",
                     pool="10.10.1.0-10.10.40.255")
        out = pf.run([perfdhcp, "-4", "-l", "10.10.0.2", "-r", "100", "-n", "500", "-R", "500",
                      "-u", "-d", "5", "-W", "2000000", "10.10.0.1"], timeout=60)
    text = out.stdout
    assert out.returncode == 0, text + out.stderr
    for section in ("DISCOVER-OFFER", "REQUEST-ACK"):
        part = text.split(f"Statistics for: {section}")[1]
        assert re.search(r"received packets: 500\b", part), part
        assert re.search(r"non unique addresses: 0\b", part), part
    evs = read_events(events)
    acks = [e["ip"] for e in evs if e["event"] == "ack"]
    assert len(acks) == 500 and len(set(acks)) == 500
    assert not [e for e in evs if e["event"] == "nak"]


def test_quirk_require_client_id(tmp_path):
    """require-client-id: a client without option 61 (dhclient by default) gets nothing."""
    from pxelab.lab.network.topology import Lab

    busybox = require_tool("busybox")
    events = tmp_path / "router.jsonl"
    with Lab() as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24")
        start_router(lab, rtr, events, "--no-ra", "--quirk", "require-client-id",
                     "--quirk", "option60-pxeclient")
        pc = lab.add_host("pc")
        # udhcpc sends option 61 unless -C: with it, it gets a lease; with -C, none.
        ok = pc.run([busybox, "udhcpc", "-f", "-q", "-n", "-t", "3", "-T", "1", "-i", "eth0",
                     "-s", "/bin/true"], timeout=30)
        assert ok.returncode == 0, ok.stderr
        none = pc.run([busybox, "udhcpc", "-C", "-f", "-q", "-n", "-t", "2", "-T", "1",
                       "-i", "eth0", "-s", "/bin/true"], timeout=30)
        assert none.returncode != 0
    from pxelab.serve.events import read_events

    ignored = [e for e in read_events(events) if e["event"] == "ignored"]
    assert ignored and "client identifier" in ignored[0]["reason"]


def test_garbage_does_not_stop_the_router_and_leases_reach_the_file(tmp_path):
    from pxelab.lab.network.topology import Lab
    from pxelab.serve.events import read_events

    busybox = require_tool("busybox")
    events, leases = tmp_path / "router.jsonl", tmp_path / "leases"
    with Lab() as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24")
        proc = start_router(lab, rtr, events, "--no-ra", "--lease-file", str(leases))
        pc = lab.add_host("pc", ipv4="192.168.10.9/24")
        junk = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                "s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1); "
                "[s.sendto(p, ('192.168.10.1', 67)) for p in "
                "(b'', b'\\x01', b'\\x01\\x01\\x06\\x00' + bytes(300), "
                "b'\\x01\\x01\\x06\\x00' + bytes(232) + b'\\x63\\x82\\x53\\x63\\x35\\x05\\x01', "
                "bytes(range(256)) * 2)]")
        assert pc.run([sys.executable, "-c", junk]).returncode == 0
        pc.run(["ip", "addr", "flush", "dev", "eth0"])
        out = pc.run([busybox, "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "eth0",
                      "-s", "/bin/true"], timeout=30)
        assert out.returncode == 0, out.stderr
        ip = re.search(r"lease of (\S+) obtained", out.stdout + out.stderr).group(1)
        assert rtr.stop(proc) == 0  # SIGTERM: a clean exit
    assert proc.returncode == 0
    assert f" {pc.mac} {ip} " in leases.read_text()
    evs = read_events(events)
    assert [e for e in evs if e["event"] in ("malformed", "ignored")]
    assert not [e for e in evs if e["event"] == "error"]
    assert evs[-1]["event"] == "stop"


PROBE = r"""
import json, sys, time
from scapy.all import BOOTP, DHCP, IP, UDP, Ether, conf, srp1
conf.verb = 0
conf.checkIPaddr = False  # the answer comes from the server, not from 255.255.255.255
mac = open("/sys/class/net/eth0/address").read().strip()
req = (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
       / UDP(sport=68, dport=67)
       / BOOTP(chaddr=bytes.fromhex(mac.replace(":", "")), xid=0x5a5a, flags=0)
       / DHCP(options=[("message-type", "discover"), ("vendor_class_id", b"PXEClient:Arch:00000"),
                       "end"]))
ans = srp1(req, iface="eth0", timeout=5)  # BOOTP answers match on xid
if ans is None:
    print(json.dumps(None)); sys.exit(0)
opts = {o[0]: (o[1].decode() if isinstance(o[1], bytes) else str(o[1]))
        for o in ans[DHCP].options if isinstance(o, tuple)}
# the delay from the packets' own timestamps (taken by the kernel as they were sent and
# received), not from this script's clock around srp1
print(json.dumps({"elapsed": float(ans.time) - float(req.sent_time), "dst": ans[IP].dst,
                  "eth_dst": ans[Ether].dst,
                  "yiaddr": ans[BOOTP].yiaddr, "options": opts}))
"""


def _probe(pc) -> dict | None:
    import json

    out = pc.run([sys.executable, "-c", PROBE], timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plain_router_sends_no_pxe_options_and_unicasts(router_lab):
    pc = router_lab.lab.add_host("pc")
    offer = _probe(pc)
    assert offer is not None
    assert "vendor_class_id" not in offer["options"]
    assert offer["eth_dst"] == pc.mac and offer["dst"] == offer["yiaddr"]
    for name in ("vendor_specific", "tftp_server_name", "boot-file-name"):
        assert name not in offer["options"]


def test_quirks_option60_broadcast_only_reply_delay(tmp_path):
    from pxelab.lab.network.topology import Lab

    with Lab() as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24")
        start_router(lab, rtr, tmp_path / "ev.jsonl", "--no-ra", "--quirk", "option60-pxeclient",
                     "--quirk", "broadcast-only", "--reply-delay", "0.5")
        offer = _probe(lab.add_host("pc"))
    assert offer is not None
    assert offer["options"]["vendor_class_id"] == "PXEClient"
    assert offer["dst"] == "255.255.255.255" and offer["eth_dst"] == "ff:ff:ff:ff:ff:ff"
    # the OFFER's timestamp at least the configured 0.5 s after the DISCOVER's (a lower bound
    # only: a slow machine makes it later, never earlier)
    assert offer["elapsed"] >= 0.5, offer
