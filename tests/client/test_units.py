"""The client's pure parts: profiles as data, packets it writes (read back by scapy), and how it
reads replies -- including the way quirky ROMs misread them."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pxelab.client import packet, profile

# The shared capture, committed beside the proxy tests.
CAPTURE = (
    Path(__file__).resolve().parents[1] / "proxy/data/ipxe-bios-rtl8139-via-dnsmasq-proxy.pcap"
)


def test_every_shipped_profile_loads_and_says_what_it_is() -> None:
    names = profile.available()
    for required in ("pxe-2.0-rom", "ipxe", "edk2-uefi-x64", "needs-option60",
                     "misreads-overload", "uefi-needs-4011", "bootfile-junk", "uuid-missing",
                     "uuid-zero", "uuid-ff", "hw-client"):
        assert required in names
    for name in names:
        p = profile.load(name)
        assert p.description.strip(), name
    assert profile.load("pxe-2.0-rom").dhcp.vendor_class_for(0) == \
        "PXEClient:Arch:00000:UNDI:002000"
    assert profile.load("edk2-uefi-x64").dhcp.vendor_class_for(7) == \
        "PXEClient:Arch:00007:UNDI:003000"
    ipxe = profile.load("ipxe")
    assert ipxe.dhcp.retries == (1.0, 2.0, 4.0, 8.0) and ipxe.dhcp.user_class == "iPXE"
    assert profile.load("pxe-2.0-rom").dhcp.retries == (4.0, 8.0, 16.0, 32.0)


def test_profile_errors_name_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[dhcp]\nretrys = [1]\n")
    with pytest.raises(profile.ProfileError, match=r"bad.toml.*\[dhcp\].*retrys"):
        profile.load(str(bad))
    bad.write_text("[dhcp]\nuuid = 'sometimes'\n")
    with pytest.raises(profile.ProfileError, match="uuid"):
        profile.load(str(bad))
    with pytest.raises(profile.ProfileError, match="no client profile"):
        profile.load("no-such-rom")


def test_discover_bytes_read_back_by_scapy() -> None:
    from scapy.layers.dhcp import BOOTP, DHCP

    mac = bytes.fromhex("00806471ab0a")
    raw = packet.build(packet.DISCOVER, 0x1234, mac, [
        (93, b"\0\0"), (94, b"\x01\x02\x00"), (97, b"\0" + bytes(range(16))),
        (60, b"PXEClient:Arch:00000:UNDI:002000"), (55, bytes([1, 3, 43, 60, 66, 67]))])
    p = BOOTP(raw)
    assert p.xid == 0x1234 and p.chaddr[:6] == mac and p.flags == 0x8000
    opts = {o[0]: o[1] for o in p[DHCP].options if isinstance(o, tuple)}
    assert opts["message-type"] == 1
    assert opts["vendor_class_id"] == b"PXEClient:Arch:00000:UNDI:002000"
    assert opts["pxe_client_machine_identifier"] == b"\0" + bytes(range(16))


def _reply(options: bytes, file_: bytes = b"", sname: bytes = b"", yiaddr: str = "0.0.0.0"
           ) -> bytes:
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 2, 1, 6, 0, 7, 0, 0x8000, bytes(4),
                       packet.ip_bytes(yiaddr), bytes(4), bytes(4),
                       bytes.fromhex("00806471ab0a").ljust(16, b"\0"), sname, file_)
    return head + packet.MAGIC + options + b"\xff"


def test_overload_read_properly_and_misread() -> None:
    # Option 52 = 1: the file field holds options (here option 67 = "pxelinux.0").
    inner = bytes((67, 10)) + b"pxelinux.0" + b"\xff"
    raw = _reply(bytes((53, 1, 2, 52, 1, 1, 60, 9)) + b"PXEClient", file_=inner)
    good = packet.parse(raw)
    assert packet.boot_file(good) == "pxelinux.0"
    bad = packet.parse(raw, honour_overload=False)
    name = packet.boot_file(bad, honour_overload=False)
    assert name != "pxelinux.0" and name.startswith("C\npxelinux.0")


def test_option67_without_nul_picks_up_junk_when_read_as_c_string() -> None:
    raw = _reply(bytes((53, 1, 2, 67, 10)) + b"pxelinux.0" + bytes((54, 4, 192, 168, 10, 20)))
    rep = packet.parse(raw)
    assert packet.boot_file(rep) == "pxelinux.0"
    junk = packet.boot_file(rep, nul_terminated=True)
    assert junk.startswith("pxelinux.06\x04") and len(junk) > 10
    terminated = _reply(bytes((53, 1, 2, 67, 11)) + b"pxelinux.0\0" + bytes((54, 4, 1, 2, 3, 4)))
    assert packet.boot_file(packet.parse(terminated), nul_terminated=True) == "pxelinux.0"


def test_captured_dnsmasq_proxy_offer_pxe_options() -> None:
    from scapy.layers.dhcp import BOOTP
    from scapy.utils import rdpcap

    if not CAPTURE.exists():
        pytest.skip("shared capture not on this machine")
    offers = [bytes(p[BOOTP]) for p in rdpcap(str(CAPTURE))
              if BOOTP in p and p[BOOTP].op == 2 and p[BOOTP].yiaddr == "0.0.0.0"
              and p["UDP"].sport == 67]
    rep = packet.parse(offers[0])
    assert rep.vendor_class == "PXEClient" and rep.server_id == "192.168.10.20"
    pxe = packet.parse_pxe(rep.options[43])
    # dnsmasq's own 43.6 = 3 first, then the seed's "2b" read as 2: clients read the first.
    assert pxe.discovery_control == 3 and pxe.discovery_control_all == [3, 2]
    assert pxe.boot_servers == [(0x8000, ["192.168.10.20"])]
    assert pxe.menu == [(0x8000, "Boot from network"), (0, "Boot from local hard disk")]
    assert pxe.prompt == (3, "Press F8 for boot menu")


def test_reader_agrees_with_the_wire_decoder_on_captured_replies() -> None:
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    from pxelab.wire import dhcp

    if not CAPTURE.exists():
        pytest.skip("shared capture not on this machine")
    # The 4011 ACK too (scapy does not dissect port 4011 as BOOTP).
    replies = [bytes(p[UDP].payload) for p in rdpcap(str(CAPTURE))
               if UDP in p and p[UDP].sport in (67, 4011)]
    assert len(replies) == 4
    for raw in replies:
        mine, theirs = packet.parse(raw), dhcp.decode(raw)
        assert mine.xid == theirs.xid and mine.yiaddr == str(theirs.yiaddr)
        assert mine.siaddr == str(theirs.siaddr)
        assert mine.order == list(theirs.options)
        assert all(mine.options[c] == theirs.options.raw(c) for c in mine.order)
        assert packet.boot_file(mine) == (theirs.options.get(67) or theirs.file_name)


def test_offer_without_option60_is_ignored_only_by_a_rom_that_needs_it() -> None:
    from pxelab.client.dhcp import classify

    raw = _reply(bytes((53, 1, 2, 54, 4, 192, 168, 10, 20)), file_=b"pxelinux.0")
    rep = packet.parse(raw)
    assert classify(rep, needs_option60=False) == ("proxy", "")
    kind, why = classify(rep, needs_option60=True)
    assert kind == "proxy" and "option 60" in why
    with_60 = packet.parse(_reply(bytes((53, 1, 2, 60, 9)) + b"PXEClient", file_=b"x"))
    assert classify(with_60, needs_option60=True) == ("proxy", "")
    hw = packet.parse(_reply(bytes((53, 1, 2, 60, 9)) + b"HW-Client", file_=b"x"))
    assert classify(hw, True, own_class="HW-Client") == ("proxy", "")
