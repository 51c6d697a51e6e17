"""Every DHCP packet of the real captures decodes, re-encodes and decodes equal."""

from __future__ import annotations

import ipaddress

from pxelab.wire import dhcp, pxe
from pxelab.wire.dhcp import MessageType


def test_every_capture_packet_decodes_and_round_trips(dhcp_payloads):
    for name, index, data in dhcp_payloads:
        msg = dhcp.decode(data)
        again = dhcp.decode(msg.encode())
        assert again == msg, f"{name} packet {index}"
        assert not msg.options.problems(), f"{name} packet {index}: {msg.options.problems()}"


def test_capture_reencodes_byte_for_byte(dhcp_payloads):
    # dnsmasq and iPXE pad to what we pad to and order options as given: same bytes back.
    for name, index, data in dhcp_payloads:
        assert dhcp.decode(data).encode() == data, f"{name} packet {index}"


def _by_type(payloads):
    msgs = [dhcp.decode(d) for _, _, d in payloads]
    return msgs


def test_ipxe_discover_fields(dhcp_payloads):
    discover = next(m for m in _by_type(dhcp_payloads) if m.message_type == MessageType.DISCOVER)
    assert discover.op == dhcp.BOOTREQUEST
    assert discover.xid == 0x72E51D1A
    assert discover.secs == 4
    assert discover.mac == "00:80:64:71:ab:0a"
    vc = discover.options.get(60)
    assert (vc.prefix, vc.arch, vc.undi_major, vc.undi_minor) == ("PXEClient", 0, 2, 1)
    assert vc.is_pxe()
    assert discover.options.get(93) == [0]
    assert discover.options.get(94) == pxe.ClientNii(1, 2, 1)
    assert discover.options.get(57) == 1472
    assert discover.options.get(77) == pxe.UserClass((b"iPXE",), rfc3004=False)
    assert discover.options.get(61) == dhcp.ClientId(1, bytes.fromhex("00806471ab0a"))
    assert discover.options.get(55)[:4] == [1, 3, 6, 7]
    uuid = discover.options.get(97)
    assert uuid.valid
    assert uuid.pxelinux_name() == "00547c59-2f92-db11-9fff-008064667faa"
    ipxe = discover.options.get(175)
    assert ipxe.raw(177) is not None  # iPXE's bus id sub-option
    assert len(ipxe.encode()) == len(discover.options.raw(175))


def test_proxy_offer_pxe_options(dhcp_payloads):
    msgs = _by_type(dhcp_payloads)
    proxy = next(
        m
        for m in msgs
        if m.message_type == MessageType.OFFER and m.is_pxe() and m.yiaddr.packed == bytes(4)
    )
    assert proxy.file_name == "pxelinux.0"
    assert proxy.broadcast
    assert proxy.options.get(54) == ipaddress.IPv4Address("192.168.10.20")
    assert proxy.options.get(60).text == "PXEClient"
    opts = proxy.pxe_options()
    # dnsmasq's own 43.6 = 3, then the seed's "2b" read as 2: both kept, the first one wins.
    assert opts.discovery_control == 3
    assert opts.duplicates() == [6]
    assert [v for c, v in opts.entries if c == 6] == [b"\x03", b"\x02"]
    assert opts.boot_servers == [pxe.BootServer(0x8000, [ipaddress.IPv4Address("192.168.10.20")])]
    assert opts.menu == [
        pxe.MenuItem(0x8000, "Boot from network"),
        pxe.MenuItem(0, "Boot from local hard disk"),
    ]
    assert opts.prompt == pxe.Prompt(3, "Press F8 for boot menu")
    assert opts.encode() == proxy.options.raw(43)


def test_boot_server_request_and_ack(dhcp_payloads):
    msgs = _by_type(dhcp_payloads)
    req = next(m for m in msgs if m.message_type == MessageType.REQUEST and m.pxe_options())
    assert req.pxe_options().boot_item == pxe.BootItem(0x8000, 0)
    assert req.ciaddr == ipaddress.IPv4Address("192.168.10.136")
    ack = next(m for m in msgs if m.message_type == MessageType.ACK and m.pxe_options())
    assert ack.pxe_options().boot_item == pxe.BootItem(0x8000, 0)
    assert ack.file_name == "pxelinux.0"
    assert ack.siaddr == ipaddress.IPv4Address("192.168.10.20")


def test_typed_api_rebuilds_ipxe_discover_byte_for_byte(dhcp_payloads):
    # What iPXE sent, rebuilt from typed values only (the scripted client's way).
    sent = next(d for _, _, d in dhcp_payloads if dhcp.decode(d).message_type == 1)
    ipxe_175 = pxe.EncapsulatedOptions.decode(dhcp.decode(sent).options.raw(175))
    msg = dhcp.DhcpMessage(
        xid=0x72E51D1A,
        secs=4,
        mac="00:80:64:71:ab:0a",
        message_type=MessageType.DISCOVER,
        options=[
            (57, 1472),
            (93, [0]),
            (94, pxe.ClientNii(1, 2, 1)),
            (60, pxe.VendorClass.pxe(0, (2, 1))),
            (77, pxe.UserClass.of("iPXE")),
            (55, [1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, *range(128, 136), 175, 203]),
            (175, ipxe_175),
            (61, dhcp.ClientId.from_mac("00:80:64:71:ab:0a")),
            (97, pxe.ClientUuid.from_smbios("597c5400-922f-11db-9fff-008064667faa")),
        ],
    )
    assert msg.encode() == sent


def test_typed_api_rebuilds_dnsmasq_proxy_offer_byte_for_byte(dhcp_payloads):
    sent = next(
        d
        for _, _, d in dhcp_payloads
        if dhcp.decode(d).message_type == 2 and dhcp.decode(d).is_pxe()
    )
    discover = next(dhcp.decode(d) for _, _, d in dhcp_payloads if dhcp.decode(d).message_type == 1)
    offer = dhcp.reply_to(discover, MessageType.OFFER, server_id="192.168.10.20")
    offer.secs = discover.secs  # dnsmasq echoes secs
    offer.broadcast = True
    offer.file_name = "pxelinux.0"
    offer.options.set(60, "PXEClient")
    offer.options.set(97, discover.options.get(97))
    opts = pxe.PxeOptions()
    opts.discovery_control = 3
    opts.boot_servers = [pxe.BootServer(0x8000, ["192.168.10.20"])]
    opts.menu = [(0x8000, "Boot from network"), (0, "Boot from local hard disk")]
    opts.prompt = (3, "Press F8 for boot menu")
    opts.entries.append((6, b"\x02"))  # the seed's extra 43.6, after dnsmasq's own
    offer.set_pxe_options(opts)
    assert offer.encode() == sent
