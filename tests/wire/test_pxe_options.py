"""PXE option values: 43 sub-options, 60, 77, 93, 94, 97, 175."""

from __future__ import annotations

import ipaddress
import uuid

import pytest

from pxelab.wire import pxe
from pxelab.wire.errors import BadLengthError, EncodeError, TruncatedError

IP = ipaddress.IPv4Address


# --- option 60 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prefix", "arch", "major", "minor", "is_pxe"),
    [
        ("PXEClient:Arch:00000:UNDI:002001", "PXEClient", 0, 2, 1, True),
        ("PXEClient:Arch:00007:UNDI:003010", "PXEClient", 7, 3, 10, True),
        ("PXEClient:Arch:00011:UNDI:003016", "PXEClient", 11, 3, 16, True),
        ("HW-Client:Arch:00000:UNDI:002001", "HW-Client", 0, 2, 1, False),
        ("PXEClient", "PXEClient", None, None, None, True),
        ("PXEClient\x00", "PXEClient", None, None, None, True),
        ("MSFT 5.0", "MSFT 5.0", None, None, None, False),
        ("udhcp 1.36.1", "udhcp 1.36.1", None, None, None, False),
        ("PXEClient:Arch:0000x:UNDI:002001", "PXEClient", None, None, None, True),
        ("", "", None, None, None, False),
    ],
)
def test_vendor_class_parse(text, prefix, arch, major, minor, is_pxe):
    vc = pxe.VendorClass.parse(text)
    assert (vc.prefix, vc.arch, vc.undi_major, vc.undi_minor) == (prefix, arch, major, minor)
    assert vc.is_pxe() is is_pxe
    assert vc.encode() == text.encode()
    assert pxe.VendorClass.parse(text.encode()) == vc


def test_vendor_class_other_prefixes_and_build():
    vc = pxe.VendorClass.parse("HW-Client:Arch:00000:UNDI:002001")
    assert vc.is_pxe(("PXEClient", "HW-Client"))
    built = pxe.VendorClass.pxe(7, (3, 10))
    assert built.text == "PXEClient:Arch:00007:UNDI:003010"
    assert str(built) == built.text
    with pytest.raises(EncodeError):
        pxe.VendorClass.pxe(100000)
    undecodable = pxe.VendorClass.parse(b"PXEClient\xff\xfe")
    assert undecodable.encode() == b"PXEClient\xff\xfe"  # bytes survive a round trip


# --- option 43 --------------------------------------------------------------------------------


def test_pxe_options_typed_round_trip():
    opts = pxe.PxeOptions()
    opts.discovery_control = pxe.DiscoveryControl.NO_MULTICAST | pxe.DiscoveryControl.NO_BROADCAST
    opts.boot_servers = [pxe.BootServer(0x8000, [IP("10.0.0.1"), IP("10.0.0.2")])]
    opts.menu = [(0x8000, "Network boot"), pxe.MenuItem(0, "Local disk")]
    opts.prompt = pxe.Prompt(10, "Press F8")
    opts.boot_item = (0x8000, 0)
    opts.set_raw(1, IP("224.0.1.2").packed)  # MTFTP address: kept raw
    data = opts.encode()
    assert data[-1] == 255
    assert data[:3] == bytes([6, 1, 3])
    back = pxe.PxeOptions.decode(data)
    assert back == opts
    assert back.discovery_control == 3
    assert back.boot_servers == [pxe.BootServer(0x8000, [IP("10.0.0.1"), IP("10.0.0.2")])]
    assert back.menu == [pxe.MenuItem(0x8000, "Network boot"), pxe.MenuItem(0, "Local disk")]
    assert back.prompt == pxe.Prompt(10, "Press F8")
    assert back.boot_item == pxe.BootItem(0x8000, 0)
    assert back.other == [(1, IP("224.0.1.2").packed)]
    back.menu = None
    assert back.menu is None and 9 not in back


def test_pxe_options_duplicates_first_wins_and_setter_replaces_all():
    data = bytes([6, 1, 3, 8, 0, 6, 1, 2, 255])  # dnsmasq's 43.6=3 then the seed's 2
    opts = pxe.PxeOptions.decode(data)
    assert opts.discovery_control == 3
    assert opts.duplicates() == [6]
    assert opts.boot_servers == []
    assert opts.encode() == data
    opts.discovery_control = 0x2B
    assert opts.entries == [(6, b"\x2b"), (8, b"")]
    assert pxe.DiscoveryControl(0x2B) & pxe.DiscoveryControl.BOOT_FILE_DIRECTLY


def test_pxe_options_pad_and_missing_end():
    opts = pxe.PxeOptions.decode(bytes([0, 0, 6, 1, 8]))
    assert opts.discovery_control == 8
    assert opts.encode() == bytes([6, 1, 8, 255])
    assert opts.encode(end=False) == bytes([6, 1, 8])
    assert pxe.PxeOptions.decode(b"") == pxe.PxeOptions()


@pytest.mark.parametrize(
    ("data", "error", "offset", "words"),
    [
        (bytes([6, 2, 1, 1]), BadLengthError, 2, "43.6"),
        (bytes([6]), TruncatedError, 0, "length byte"),
        (bytes([9, 9, 0, 1]), TruncatedError, 1, "length 9"),
        (bytes([8, 7, 0x80, 0, 2, 10, 0, 0, 1]), TruncatedError, 4, "2 addresses"),
        (bytes([8, 2, 0x80, 0]), TruncatedError, 2, "43.8"),
        (bytes([9, 4, 0x80, 0, 5, 65]), TruncatedError, 4, "43.9"),
        (bytes([10, 0]), BadLengthError, 2, "43.10"),
        (bytes([71, 3, 0x80, 0, 0]), BadLengthError, 2, "43.71"),
    ],
)
def test_pxe_options_errors(data, error, offset, words):
    with pytest.raises(error) as exc:
        pxe.PxeOptions.decode(data, offset=100)
    assert exc.value.offset == 100 + offset
    assert words in str(exc.value)


def test_pxe_options_encode_errors():
    opts = pxe.PxeOptions()
    with pytest.raises(EncodeError):
        opts.menu = [(0x10000, "x")]
    with pytest.raises(EncodeError):
        opts.prompt = (256, "x")
    with pytest.raises(EncodeError):
        opts.boot_servers = [pxe.BootServer(1, ["not an ip"])]
    opts.set_raw(9, b"x" * 256)
    with pytest.raises(EncodeError):
        opts.encode()


# --- options 93, 94, 97 -----------------------------------------------------------------------


def test_client_arches():
    assert pxe.client_arches(b"\x00\x00") == [0]
    assert pxe.client_arches(b"\x00\x07\x00\x09") == [7, 9]
    assert pxe.encode_client_arches([7, 9]) == b"\x00\x07\x00\x09"
    with pytest.raises(BadLengthError) as exc:
        pxe.client_arches(b"\x00", offset=300)
    assert exc.value.offset == 300
    with pytest.raises(BadLengthError):
        pxe.client_arches(b"")
    with pytest.raises(EncodeError):
        pxe.encode_client_arches([70000])


def test_client_nii():
    nii = pxe.ClientNii.decode(b"\x01\x02\x01")
    assert (nii.type, nii.major, nii.minor) == (1, 2, 1)
    assert nii.encode() == b"\x01\x02\x01"
    with pytest.raises(BadLengthError):
        pxe.ClientNii.decode(b"\x01\x02")


def test_client_uuid_valid_and_pxelinux_name():
    raw = bytes.fromhex("0000547c592f92db119fff008064667faa")
    u = pxe.ClientUuid.decode(raw)
    assert u.valid and u.problem is None and u.type == 0
    # As sent, not byte-swapped: this is the name PXELINUX asked for in the capture.
    assert u.pxelinux_name() == "00547c59-2f92-db11-9fff-008064667faa"
    assert u.uuid_bytes == raw[1:]
    assert u.uuid == uuid.UUID("00547c59-2f92-db11-9fff-008064667faa")
    assert u.encode() == raw
    assert pxe.ClientUuid.from_uuid("00547c59-2f92-db11-9fff-008064667faa") == u
    assert pxe.ClientUuid.from_uuid(raw[1:]) == u


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "length 0"),
        (b"\x00" * 17, "all zeros"),
        (b"\x00" + b"\xff" * 16, "all 0xFF"),
        (b"\x00" * 16, "length 16"),
        (b"\x01" + b"\x12" * 16, "type 1"),
        (b"\x00" + b"\x12" * 20, "length 21"),
    ],
)
def test_client_uuid_invalid_is_kept_not_fatal(raw, problem):
    u = pxe.ClientUuid.decode(raw)
    assert not u.valid
    assert problem in u.problem
    assert u.pxelinux_name() is None
    assert u.encode() == raw


# --- option 77 --------------------------------------------------------------------------------


def test_user_class_plain_ipxe():
    uc = pxe.UserClass.decode(b"iPXE")
    assert not uc.rfc3004 and uc.classes == (b"iPXE",)
    assert "iPXE" in uc and uc.names == ["iPXE"]
    assert uc.encode() == b"iPXE"


def test_user_class_rfc3004_list():
    raw = b"\x04iPXE\x03foo"
    uc = pxe.UserClass.decode(raw)
    assert uc.rfc3004 and uc.classes == (b"iPXE", b"foo")
    assert b"foo" in uc
    assert uc.encode() == raw
    assert pxe.UserClass.of("a", "bc", rfc3004=True).encode() == b"\x01a\x02bc"
    with pytest.raises(EncodeError):
        pxe.UserClass.of("a", "b").encode()  # the plain form holds one class
    with pytest.raises(EncodeError):
        pxe.UserClass.of("", rfc3004=True).encode()


def test_user_class_empty():
    uc = pxe.UserClass.decode(b"")
    assert uc.encode() == b""


# --- option 175 -------------------------------------------------------------------------------


def test_ipxe_encapsulated():
    raw = bytes([177, 5, 1, 0x10, 0xEC, 0x81, 0x39, 235, 3, 1, 0, 0, 16, 1, 2])
    enc = pxe.EncapsulatedOptions.decode(raw)
    assert enc.raw(177) == bytes([1, 0x10, 0xEC, 0x81, 0x39])
    assert enc.raw(16) == b"\x02"
    assert [c for c, _ in enc] == [177, 235, 16]
    assert enc.encode() == raw
    assert len(enc) == 3
    with pytest.raises(TruncatedError) as exc:
        pxe.EncapsulatedOptions.decode(bytes([1, 5, 0]), offset=50)
    assert exc.value.offset == 51


def test_client_uuid_from_smbios_matches_qemu_and_pxelinux():
    # QEMU -uuid 597c5400-... made PXELINUX ask for 00547c59-... (REFERENCE.md, measured).
    u = pxe.ClientUuid.from_smbios("597c5400-922f-11db-9fff-008064667faa")
    assert u.pxelinux_name() == "00547c59-2f92-db11-9fff-008064667faa"
    assert u.smbios_uuid == uuid.UUID("597c5400-922f-11db-9fff-008064667faa")
    assert pxe.ClientUuid.decode(b"").smbios_uuid is None


def test_arch_names():
    assert pxe.arch_name(0) == "x86 BIOS"
    assert pxe.arch_name(7) == pxe.arch_name(9) == "x64 UEFI"
    assert pxe.arch_name(4242) == "arch 4242"


def test_vendor_class_compares_with_its_text():
    vc = pxe.VendorClass.parse("PXEClient")
    assert vc == "PXEClient" and vc == b"PXEClient" and vc != "HW-Client"
    assert vc == pxe.VendorClass.parse(b"PXEClient")
    assert len({vc, pxe.VendorClass.parse("PXEClient")}) == 1


def test_ipxe_info_of_the_captured_client(dhcp_payloads):
    from pxelab.wire import dhcp

    discover = next(dhcp.decode(d) for _, _, d in dhcp_payloads if dhcp.decode(d).message_type == 1)
    info = pxe.ipxe_info(discover.options.get(175))
    assert info.version == "1.0.0"  # Debian's ipxe-qemu 1.0.0+git-20190125
    assert info.bus_id == "pci 10ec:8139"  # the RTL8139 QEMU emulates
    assert {"PXE", "TFTP", "HTTP", "DNS", "bzImage", "iSCSI"} <= set(info.features)
    assert pxe.ipxe_info(pxe.EncapsulatedOptions()) == pxe.IpxeInfo(None, None, [])
