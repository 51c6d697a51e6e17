"""The router's DHCP policy (pure): every RFC 2131 state, leases, quirks, reply destinations."""

from __future__ import annotations

import ipaddress
import tracemalloc

import pytest

from pxelab.serve.router import (
    BROADCAST,
    DhcpLogic,
    LeaseTable,
    RouterSettings,
    destination,
)
from pxelab.wire import dhcp
from pxelab.wire.options import MessageType as MT
from pxelab.wire.options import Opt

IP = ipaddress.IPv4Address
SRV = "192.168.10.1"
MAC = "00:80:64:71:ab:0a"
NOW = 1_000_000.0


def logic(**kw) -> DhcpLogic:
    kw.setdefault("pool", ("192.168.10.100", "192.168.10.102"))
    return DhcpLogic(RouterSettings(interface="eth0", address=f"{SRV}/24", **kw))


def req(mtype, mac=MAC, options=(), **kw) -> dhcp.DhcpMessage:
    msg = dhcp.DhcpMessage(op=1, xid=0x1234, mac=mac, message_type=mtype, options=list(options),
                           **kw)
    return dhcp.decode(msg.encode())  # what the server really sees: bytes decoded


def dora(lg: DhcpLogic, mac=MAC, options=()) -> str:
    offer = lg.handle(req(MT.DISCOVER, mac, options), NOW)
    assert offer.event == "offer"
    ip = str(offer.reply.yiaddr)
    ack = lg.handle(req(MT.REQUEST, mac, [*options, (50, ip), (54, SRV)]), NOW)
    assert ack.event == "ack" and str(ack.reply.yiaddr) == ip
    assert ack.fields["state"] == "selecting"
    return ip


def test_offer_carries_home_router_options_and_no_pxe():
    lg = logic()
    pxe_discover = req(MT.DISCOVER, options=[(60, "PXEClient:Arch:00000:UNDI:002001"),
                                             (93, [0]), (97, b"\x00" + bytes(16))])
    d = lg.handle(pxe_discover, NOW)
    out = dhcp.decode(d.reply.encode())
    assert out.message_type == MT.OFFER
    assert out.yiaddr == IP("192.168.10.100")
    assert out.options.get(Opt.SERVER_ID) == IP(SRV)
    assert out.options.get(Opt.SUBNET_MASK) == IP("255.255.255.0")
    assert out.options.get(Opt.ROUTER) == [IP(SRV)]
    assert out.options.get(Opt.DNS) == [IP(SRV)]
    assert out.options.get(Opt.LEASE_TIME) == 43200
    for code in (43, 60, 66, 67, 93, 97):
        assert code not in out.options
    assert out.file == b"" and out.sname == b""


def test_quirk_option60_pxeclient():
    lg = logic(quirks={"option60-pxeclient"})
    d = lg.handle(req(MT.DISCOVER), NOW)
    assert dhcp.decode(d.reply.encode()).options.raw(60) == b"PXEClient"


def test_unknown_quirk_is_refused():
    with pytest.raises(ValueError, match="unknown quirk"):
        RouterSettings(interface="eth0", quirks={"nope"})


def test_require_client_id_quirk():
    lg = logic(quirks={"require-client-id"})
    assert lg.handle(req(MT.DISCOVER), NOW).reply is None
    d = lg.handle(req(MT.DISCOVER, options=[(61, b"\x01" + bytes.fromhex("00806471ab0a"))]), NOW)
    assert d.event == "offer"


def test_same_client_same_address_and_distinct_clients_distinct():
    lg = logic()
    a = dora(lg)
    assert lg.handle(req(MT.DISCOVER), NOW).reply.yiaddr == IP(a)
    b = dora(lg, mac="02:00:00:00:00:02")
    assert a != b


def test_pool_exhaustion_gives_no_offer():
    lg = logic()
    for i in range(3):
        dora(lg, mac=f"02:00:00:00:00:0{i}")
    d = lg.handle(req(MT.DISCOVER, mac="02:00:00:00:00:09"), NOW)
    assert d.reply is None and d.event == "pool-exhausted"
    # An expired lease frees its address again.
    d = lg.handle(req(MT.DISCOVER, mac="02:00:00:00:00:09"), NOW + 43201)
    assert d.event == "offer"


def test_static_lease_and_request_for_another_address_naks():
    lg = logic(static={"00:80:64:71:AB:0A": "192.168.10.21"})
    assert dora(lg) == "192.168.10.21"
    d = lg.handle(req(MT.REQUEST, options=[(50, "192.168.10.100")]), NOW)
    assert d.event == "nak" and d.reply.message_type == MT.NAK
    assert d.reply.broadcast
    # Nobody else gets the static address.
    assert lg.handle(req(MT.DISCOVER, mac="02:00:00:00:00:01",
                         options=[(50, "192.168.10.21")]), NOW).reply.yiaddr != IP("192.168.10.21")


def test_selecting_another_server_drops_our_offer():
    lg = logic()
    lg.handle(req(MT.DISCOVER), NOW)
    d = lg.handle(req(MT.REQUEST, options=[(50, "192.168.10.100"), (54, "192.168.10.2")]), NOW)
    assert d.reply is None and d.event == "other-server"
    assert not lg.leases.by_key


def test_init_reboot_states():
    lg = logic()
    ip = dora(lg)
    ok = lg.handle(req(MT.REQUEST, options=[(50, ip)]), NOW)
    assert ok.event == "ack" and ok.fields["state"] == "init-reboot"
    wrong = lg.handle(req(MT.REQUEST, options=[(50, "192.168.10.101")]), NOW)
    assert wrong.event == "nak"
    off_net = lg.handle(req(MT.REQUEST, mac="02:00:00:00:00:05",
                            options=[(50, "10.0.0.5")]), NOW)
    assert off_net.event == "nak"
    taken = lg.handle(req(MT.REQUEST, mac="02:00:00:00:00:06", options=[(50, ip)]), NOW)
    assert taken.event == "nak"


def test_renewing_and_rebinding():
    lg = logic()
    ip = dora(lg)
    renew = lg.handle(req(MT.REQUEST, ciaddr=ip), NOW + 100, unicast=True)
    assert renew.event == "ack" and renew.fields["state"] == "renewing"
    assert lg.leases.by_ip[int(IP(ip))].expires == NOW + 100 + 43200
    rebind = lg.handle(req(MT.REQUEST, ciaddr=ip), NOW + 200)
    assert rebind.event == "ack" and rebind.fields["state"] == "rebinding"
    other = lg.handle(req(MT.REQUEST, mac="02:00:00:00:00:07", ciaddr=ip), NOW + 200)
    assert other.event == "nak"


def test_release_and_decline():
    lg = logic()
    ip = dora(lg)
    assert lg.handle(req(MT.RELEASE, ciaddr=ip, options=[(54, SRV)]), NOW).event == "release"
    assert not lg.leases.bound(NOW)
    ip2 = dora(lg, mac="02:00:00:00:00:08")
    d = lg.handle(req(MT.DECLINE, mac="02:00:00:00:00:08", options=[(50, ip2), (54, SRV)]), NOW)
    assert d.event == "decline" and d.reply is None
    again = lg.handle(req(MT.DISCOVER, mac="02:00:00:00:00:08"), NOW)
    assert again.reply.yiaddr != IP(ip2)  # declined addresses rest for a while


def test_inform_gets_options_without_a_lease():
    lg = logic()
    d = lg.handle(req(MT.INFORM, ciaddr="192.168.10.77"), NOW)
    out = dhcp.decode(d.reply.encode())
    assert out.message_type == MT.ACK and out.yiaddr == IP("0.0.0.0")
    assert out.ciaddr == IP("192.168.10.77")
    assert Opt.LEASE_TIME not in out.options and out.options.get(Opt.ROUTER) == [IP(SRV)]
    assert destination(req(MT.INFORM, ciaddr="192.168.10.77"), d.reply) == (
        IP("192.168.10.77"), 68, False)


def test_never_crashes_on_odd_requests():
    lg = logic()
    assert lg.handle(req(None), NOW).event == "ignored"  # BOOTP
    reply_op = dhcp.decode(dhcp.DhcpMessage(op=2, xid=1, mac=MAC, message_type=MT.OFFER).encode())
    assert lg.handle(reply_op, NOW).event == "ignored"
    assert lg.handle(req(MT.REQUEST), NOW).event == "ignored"  # no address at all
    bad50 = req(MT.REQUEST, options=[(50, b"\x01\x02")])
    assert lg.handle(bad50, NOW).event == "ignored"


def test_destinations():
    lg = logic()
    d = lg.handle(req(MT.DISCOVER), NOW)
    assert destination(req(MT.DISCOVER), d.reply) == (IP("192.168.10.100"), 68, True)
    assert destination(req(MT.DISCOVER), d.reply, broadcast_only=True) == (BROADCAST, 68, False)
    bc = req(MT.DISCOVER, flags=0x8000)
    assert destination(bc, lg.handle(bc, NOW).reply)[0] == BROADCAST
    relayed = req(MT.DISCOVER, giaddr="192.168.10.2")
    assert destination(relayed, lg.handle(relayed, NOW).reply) == (IP("192.168.10.2"), 67, False)


def test_lease_file_round_trip():
    lg = logic()
    ip = dora(lg, options=[(61, b"\x01" + bytes.fromhex("00806471ab0a")), (12, "thin")])
    text = lg.leases.dump(NOW)
    assert ip in text and "thin" in text
    fresh = logic()
    assert fresh.leases.load(text + "garbage line\n", NOW, "leases.txt") == [
        "leases.txt, line 2: not enough values to unpack (expected 5, got 2)"
    ]
    d = fresh.handle(req(MT.DISCOVER, options=[(61, b"\x01" + bytes.fromhex("00806471ab0a"))]),
                     NOW)
    assert str(d.reply.yiaddr) == ip


def test_big_pool_costs_nothing():
    # A /8 pool holds 16 million addresses: the table must not list them, only the leases it
    # gives. Memory, not time, so the check does not depend on how busy the machine is.
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        table = LeaseTable(ipaddress.ip_network("10.0.0.0/8"), IP("10.0.0.1"),
                           (IP("10.0.0.2"), IP("10.255.255.254")), {})
        got = {table.pick(f"k{i}".encode(), f"02:00:00:00:{i // 256:02x}:{i % 256:02x}", None,
                          NOW) for i in range(3)}
        after = tracemalloc.take_snapshot()
        grown = sum(st.size_diff for st in after.compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert len(got) == 3
    assert grown < 64 * 1024, f"a /8 pool with 3 leases allocated {grown} bytes"
