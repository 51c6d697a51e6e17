"""DHCP message codec: header fields, typed options, overload, RFC 3396, errors with offsets."""

from __future__ import annotations

import ipaddress

import pytest

from pxelab.wire import dhcp, pxe
from pxelab.wire.dhcp import MessageType
from pxelab.wire.errors import (
    BadLengthError,
    BadValueError,
    EncodeError,
    TruncatedError,
)

IP = ipaddress.IPv4Address
MAC = "00:80:64:71:ab:0a"


def header(**fields) -> bytes:
    """A BOOTP header built by hand (not by the codec under test)."""
    h = bytearray(236)
    h[0] = fields.get("op", 1)
    h[1], h[2] = 1, 6
    h[4:8] = fields.get("xid", 0x01020304).to_bytes(4, "big")
    h[28:34] = bytes.fromhex("00806471ab0a")
    sname = fields.get("sname", b"")
    file = fields.get("file", b"")
    h[44 : 44 + len(sname)] = sname
    h[108 : 108 + len(file)] = file
    return bytes(h)


COOKIE = b"\x63\x82\x53\x63"


def test_header_fields_by_hand():
    h = bytearray(header(op=2, xid=0xDEADBEEF))
    h[3] = 2  # hops
    h[8:10] = (7).to_bytes(2, "big")
    h[10:12] = (0x8000).to_bytes(2, "big")
    h[12:16] = bytes([10, 0, 0, 1])
    h[16:20] = bytes([10, 0, 0, 2])
    h[20:24] = bytes([10, 0, 0, 3])
    h[24:28] = bytes([10, 0, 0, 4])
    h[44:49] = b"srv\x00\x00"
    h[108:118] = b"pxelinux.0"
    data = bytes(h) + COOKIE + bytes([53, 1, 2, 255])
    msg = dhcp.decode(data)
    assert (msg.op, msg.htype, msg.hlen, msg.hops) == (2, 1, 6, 2)
    assert msg.xid == 0xDEADBEEF and msg.secs == 7
    assert msg.flags == 0x8000 and msg.broadcast
    assert [msg.ciaddr, msg.yiaddr, msg.siaddr, msg.giaddr] == [
        IP("10.0.0.1"),
        IP("10.0.0.2"),
        IP("10.0.0.3"),
        IP("10.0.0.4"),
    ]
    assert msg.chaddr == bytes.fromhex("00806471ab0a") + bytes(10)
    assert msg.mac == MAC
    assert msg.sname == b"srv" and msg.server_name == "srv"
    assert msg.file == b"pxelinux.0" and msg.file_name == "pxelinux.0"
    assert msg.message_type is MessageType.OFFER
    assert msg.is_dhcp
    assert msg.encode()[:240] == bytes(h) + COOKIE


def test_constructor_defaults_and_encoding():
    msg = dhcp.DhcpMessage(
        xid=0x1234,
        mac=MAC,
        message_type=MessageType.DISCOVER,
        options=[(93, [0]), (60, "PXEClient:Arch:00000:UNDI:002001")],
    )
    data = msg.encode()
    assert len(data) == 300  # BOOTP minimum
    assert data[0] == 1 and data[2] == 6
    assert data[240:243] == bytes([53, 1, 1])
    assert list(msg.options) == [53, 93, 60]
    back = dhcp.decode(data)
    assert back == msg
    assert back.options.get(60).arch == 0
    msg.broadcast = True
    assert msg.flags == 0x8000
    msg.broadcast = False
    assert msg.flags == 0
    msg.yiaddr = "192.168.10.9"
    assert msg.yiaddr == IP("192.168.10.9")
    assert len(dhcp.DhcpMessage(mac=MAC).encode(min_size=0)) == 241


def test_field_assignment_is_checked():
    msg = dhcp.DhcpMessage()
    with pytest.raises(EncodeError):
        msg.ciaddr = "300.1.1.1"
    with pytest.raises(EncodeError):
        msg.file = b"x" * 129
    with pytest.raises(EncodeError):
        msg.sname = "y" * 65
    with pytest.raises(EncodeError):
        msg.chaddr = bytes(17)
    msg.xid = 1 << 32
    with pytest.raises(EncodeError):
        msg.encode()


def test_options_container():
    opts = dhcp.Options()
    opts.set(53, MessageType.OFFER)
    opts.set(54, "192.168.10.20")
    opts.set(3, ["192.168.10.1", IP("192.168.10.2")])
    opts.set(55, [1, 3, 6, 43])
    opts.set(61, dhcp.ClientId.from_mac(MAC))
    opts.set(12, "host")
    opts.set(200, b"\x01\x02")
    opts.set(51, 3600)
    assert list(opts) == [53, 54, 3, 55, 61, 12, 200, 51]
    assert opts.get(54) == IP("192.168.10.20")
    assert opts.get(3) == [IP("192.168.10.1"), IP("192.168.10.2")]
    assert opts.get(55) == [1, 3, 6, 43]
    assert opts.get(61).mac == MAC
    assert opts.get(12) == "host"
    assert opts.get(200) == b"\x01\x02"
    assert opts.raw(51) == (3600).to_bytes(4, "big")
    assert opts[53] is MessageType.OFFER
    assert 54 in opts and 99 not in opts
    assert opts.get(99) is None and opts.raw(99) is None
    opts.set(54, "10.0.0.1")  # keeps its place
    assert list(opts)[1] == 54
    opts.remove(54)
    opts.remove(54)  # removing twice is fine
    assert 54 not in opts
    with pytest.raises(EncodeError):
        opts.set(200, "not bytes")  # no type known for 200: bytes only
    with pytest.raises(EncodeError):
        opts.set(51, -1)
    with pytest.raises(EncodeError):
        opts.set(0, b"")
    with pytest.raises(EncodeError):
        opts.set(54, "nonsense")


def test_options_from_a_mapping_keep_its_order():
    opts = dhcp.Options({53: 2, 54: "10.0.0.1", 200: b"x"})
    assert list(opts) == [53, 54, 200]
    assert dhcp.DhcpMessage(options={60: "PXEClient"}).options.get(60) == "PXEClient"


def test_string_options_strip_nul_but_raw_keeps_it():
    msg = dhcp.DhcpMessage(options=[(67, b"pxelinux.0\x00")])
    back = dhcp.decode(msg.encode())
    assert back.options.get(67) == "pxelinux.0"
    assert back.options.raw(67) == b"pxelinux.0\x00"


def test_typed_errors_name_option_and_offset():
    data = header() + COOKIE + bytes([53, 1, 1, 54, 3, 1, 2, 3, 255])
    msg = dhcp.decode(data)  # lenient: the packet decodes, the option is still raw
    assert msg.options.raw(54) == b"\x01\x02\x03"
    with pytest.raises(BadLengthError) as exc:
        msg.options.get(54)
    assert exc.value.offset == 243
    assert "option 54" in str(exc.value) and "243" in str(exc.value)
    assert [e.offset for e in msg.options.problems()] == [243]


def test_bootp_without_cookie():
    vend = b"\x01\x02\x03" + bytes(61)
    data = header(file=b"boot") + vend
    msg = dhcp.decode(data)
    assert not msg.cookie and not msg.is_dhcp
    assert msg.vendor_area == b"\x01\x02\x03"
    assert len(msg.options) == 0 and msg.message_type is None
    assert msg.file == b"boot"
    assert msg.encode() == data
    assert dhcp.decode(header()).cookie is False  # header only
    msg.options.set(53, 1)
    with pytest.raises(EncodeError):
        msg.encode()


def test_reply_to():
    req = dhcp.DhcpMessage(
        xid=77, mac=MAC, flags=0x8000, giaddr="10.1.1.1", message_type=MessageType.DISCOVER
    )
    req.hops = 1
    rep = dhcp.reply_to(req, MessageType.OFFER, server_id="10.0.0.5", siaddr="10.0.0.5")
    assert rep.op == dhcp.BOOTREPLY and rep.xid == 77 and rep.chaddr == req.chaddr
    assert rep.broadcast and rep.giaddr == IP("10.1.1.1") and rep.hops == 0
    assert rep.message_type is MessageType.OFFER
    assert list(rep.options) == [53, 54]
    assert rep.options.get(54) == IP("10.0.0.5") and rep.siaddr == IP("10.0.0.5")


def test_max_reply_size():
    msg = dhcp.DhcpMessage()
    assert msg.max_reply_size() == 548
    msg.options.set(57, 1472)
    assert msg.max_reply_size() == 1444
    msg.options.set(57, 300)  # below the RFC minimum: the minimum wins
    assert msg.max_reply_size() == 548


def test_pxe_views_of_message():
    msg = dhcp.DhcpMessage(op=2, options=[(60, "PXEClient")])
    opts = pxe.PxeOptions()
    opts.discovery_control = 3
    opts.prompt = (5, "Press F8")
    msg.set_pxe_options(opts)
    assert msg.options.raw(43) == b"\x06\x01\x03\x0a\x09\x05Press F8\xff"
    back = dhcp.decode(msg.encode())
    assert back.pxe_options() == opts
    assert back.is_pxe()
    back.options.set(60, "HW-Client")
    assert back.pxe_options() is None  # not a PXE vendor class by default
    assert back.pxe_options(prefixes=("PXEClient", "HW-Client")) == opts
    msg.options.set(43, opts)  # PxeOptions objects are accepted as the value of 43 too
    assert msg.options.raw(43) == opts.encode()


def test_pxe_option_error_offset_is_absolute():
    # 43 holds 6 with length 2: the error points at the value of 43.6 in the packet.
    data = header(op=2) + COOKIE + bytes([60, 9]) + b"PXEClient" + bytes([43, 5, 6, 2, 1, 1, 255])
    msg = dhcp.decode(data)
    with pytest.raises(BadLengthError) as exc:
        msg.pxe_options()
    assert exc.value.offset == 240 + 11 + 2 + 2
    assert "43.6" in str(exc.value)


# --- overload ---------------------------------------------------------------------------------


def many_options(n: int, size: int = 20) -> list[tuple[int, bytes]]:
    return [(128 + i, bytes([i]) * size) for i in range(n)]


def test_overload_into_file_when_options_do_not_fit():
    msg = dhcp.DhcpMessage(op=2, message_type=MessageType.OFFER, options=many_options(16))
    data = msg.encode()  # 53 + 16 * 22 bytes > 308: the file field takes the rest
    assert len(data) <= 548
    assert data[240:246] == bytes([53, 1, 2, 52, 1, 1])  # overload right after 53
    assert data[108] >= 128  # an option code at the start of the file field
    back = dhcp.decode(data)
    assert back.overload == 1
    assert back.file == b""
    assert back == msg
    assert list(back.options) == list(msg.options)


def test_overload_both_fields_and_sname_order():
    msg = dhcp.DhcpMessage(op=2, options=many_options(20))
    data = msg.encode()
    back = dhcp.decode(data)
    assert back.overload == 3 and back.file == b"" and back.sname == b""
    assert back == msg


def test_overload_prefers_empty_sname_to_moving_the_file_name():
    msg = dhcp.DhcpMessage(op=2, file=b"pxelinux.0", options=many_options(14))
    back = dhcp.decode(msg.encode())
    assert back.overload == 2
    assert back.file == b"pxelinux.0" and 67 not in back.options
    assert back == msg


def test_overload_moves_file_name_to_option_67_when_needed():
    msg = dhcp.DhcpMessage(op=2, file=b"pxelinux.0", sname=b"srv", options=many_options(18))
    back = dhcp.decode(msg.encode())
    assert back.overload & 1
    assert back.file == b""
    assert back.options.get(67) == "pxelinux.0"
    for code, raw in msg.options.items():
        assert back.options.raw(code) == raw


def test_no_override_keeps_header_fields():
    msg = dhcp.DhcpMessage(op=2, file=b"pxelinux.0", sname=b"srv", options=many_options(5))
    data = msg.encode(allow_overload=False)
    assert data[108:118] == b"pxelinux.0" and data[44:47] == b"srv"
    assert 52 not in dhcp.decode(data).options
    big = dhcp.DhcpMessage(op=2, file=b"pxelinux.0", options=many_options(16))
    with pytest.raises(EncodeError) as exc:
        big.encode(allow_overload=False)
    assert "overload is off" in str(exc.value)
    # A larger limit (the client's option 57) lets it through without overload.
    assert dhcp.decode(big.encode(allow_overload=False, max_size=1444)) == big
    assert dhcp.decode(big.encode(max_size=None)).overload == 0


def test_too_many_options_even_with_overload():
    msg = dhcp.DhcpMessage(op=2, options=many_options(40))
    with pytest.raises(EncodeError):
        msg.encode()


def test_decode_hand_built_overload_with_split_option():
    # Option 12 starts in the options field and continues in file (RFC 3396), 15 is in sname.
    file = bytes([12, 3]) + b"def" + bytes([66, 4]) + b"tftp" + b"\xff"
    sname = bytes([15, 7]) + b"example" + b"\xff"
    data = (
        header(sname=sname, file=file)
        + COOKIE
        + bytes([53, 1, 5, 52, 1, 3, 12, 3])
        + b"abc"
        + b"\xff"
    )
    msg = dhcp.decode(data)
    assert msg.overload == 3
    assert list(msg.options) == [53, 12, 66, 15]
    assert msg.options.get(12) == "abcdef"
    assert msg.options.get(66) == "tftp"
    assert msg.options.get(15) == "example"
    assert msg.file == b"" and msg.sname == b""
    assert 52 not in msg.options
    assert dhcp.decode(msg.encode()) == msg


def test_bad_overload_value():
    data = header() + COOKIE + bytes([52, 1, 9, 255])
    with pytest.raises(BadValueError) as exc:
        dhcp.decode(data)
    assert exc.value.offset == 240


def test_overload_option_cannot_be_set_by_hand():
    msg = dhcp.DhcpMessage(options=[(52, 1)])
    with pytest.raises(EncodeError):
        msg.encode()


# --- RFC 3396 long options --------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 254, 255, 256, 510, 511, 600])
def test_long_option_split_and_joined(size):
    value = bytes(i % 251 for i in range(size))
    msg = dhcp.DhcpMessage(op=2, options=[(53, 2), (43, value), (54, "10.0.0.1")])
    data = msg.encode(max_size=None)
    # Walk the TLVs by hand: 43 appears ceil(size / 255) times in a row, each <= 255 bytes.
    pos, pieces = 240, []
    while data[pos] != 255:
        code, length = data[pos], data[pos + 1]
        if code == 43:
            pieces.append(length)
        pos += 2 + length
    assert pieces == ([255] * (size // 255) + ([size % 255] if size % 255 else [])) or (
        size == 0 and pieces == [0]
    )
    back = dhcp.decode(data)
    assert back.options.raw(43) == value
    assert list(back.options) == [53, 43, 54]


def test_long_option_split_over_overload_fields():
    msg = dhcp.DhcpMessage(op=2, options=[(53, 2), (77, b"u" * 400)])
    data = msg.encode()  # 548 bytes: 400 + headers do not fit in the options field alone
    back = dhcp.decode(data)
    assert back.overload != 0
    assert back.options.raw(77) == b"u" * 400


def test_decode_concatenates_repeated_option():
    data = header() + COOKIE + bytes([12, 2]) + b"ab" + bytes([3, 4, 1, 1, 1, 1, 12, 1]) + b"c"
    msg = dhcp.decode(data)
    assert msg.options.get(12) == "abc"
    assert list(msg.options) == [12, 3]


# --- malformed input --------------------------------------------------------------------------


def test_truncated_header():
    with pytest.raises(TruncatedError) as exc:
        dhcp.decode(b"\x01" * 100)
    assert exc.value.offset == 100
    assert "header" in str(exc.value)


def test_truncated_cookie():
    with pytest.raises(TruncatedError):
        dhcp.decode(header() + COOKIE[:2])


def test_option_length_past_end():
    data = header() + COOKIE + bytes([53, 1, 1, 12, 10]) + b"ab"
    with pytest.raises(TruncatedError) as exc:
        dhcp.decode(data)
    assert exc.value.offset == 244
    assert "option 12" in str(exc.value)
    assert "(at byte 244)" in str(exc.value)


def test_option_length_byte_missing():
    with pytest.raises(TruncatedError) as exc:
        dhcp.decode(header() + COOKIE + bytes([53]))
    assert exc.value.offset == 240


def test_option_past_end_of_file_field():
    file = bytes(126) + bytes([12, 5])  # says 5 bytes, the field ends
    data = header(file=file) + COOKIE + bytes([52, 1, 1, 255])
    with pytest.raises(TruncatedError) as exc:
        dhcp.decode(data)
    assert exc.value.offset == 108 + 127
    assert "file field" in str(exc.value)


def test_padding_and_missing_end_are_accepted():
    data = header() + COOKIE + bytes([0, 0, 53, 1, 3, 0])  # no end option
    assert dhcp.decode(data).message_type is MessageType.REQUEST
    data = header() + COOKIE + bytes([53, 1, 3, 255]) + b"junk after end"
    assert list(dhcp.decode(data).options) == [53]


def test_non_bytes_input_is_a_caller_bug_not_a_refusal():
    # Text is not a packet off the wire: a TypeError for the caller, never a WireError that a
    # server would log as a malformed packet (and a fuzzer would count as refused).
    with pytest.raises(TypeError):
        dhcp.decode("text")  # type: ignore[arg-type]


def test_decode_ignoring_overload_like_a_confused_rom():
    msg = dhcp.DhcpMessage(op=2, options=many_options(16))
    data = msg.encode()
    rom = dhcp.decode(data, honour_overload=False)
    assert rom.overload == 1
    assert rom.file == data[108:236].rstrip(b"\x00")  # the options bytes, read as a name
    assert 52 not in rom.options and len(rom.options) < len(msg.options)


def test_to_dict_is_json_ready(dhcp_payloads):
    import json

    for _, _, data in dhcp_payloads:
        summary = dhcp.decode(data).to_dict()
        json.dumps(summary)
    proxy = next(
        dhcp.decode(d).to_dict()
        for _, _, d in dhcp_payloads
        if dhcp.decode(d).pxe_options() and dhcp.decode(d).message_type == MessageType.OFFER
    )
    assert proxy["message_type"] == "OFFER" and proxy["file"] == "pxelinux.0"
    o43 = next(o for o in proxy["options"] if o["code"] == 43)
    assert o43["name"] == "vendor specific"
    assert o43["value"]["discovery_control"] == 3 and o43["value"]["duplicates"] == [6]
    assert o43["value"]["prompt"] == {"timeout": 3, "text": "Press F8 for boot menu"}
    o97 = next(o for o in proxy["options"] if o["code"] == 97)
    assert o97["value"]["pxelinux_name"] == "00547c59-2f92-db11-9fff-008064667faa"
    discover = next(
        dhcp.decode(d).to_dict() for _, _, d in dhcp_payloads if dhcp.decode(d).message_type == 1
    )
    o175 = next(o for o in discover["options"] if o["code"] == 175)
    assert o175["ipxe"]["version"] == "1.0.0"
    bad = dhcp.decode(header() + COOKIE + bytes([54, 3, 1, 2, 3, 255])).to_dict()
    assert "length 3" in bad["options"][0]["error"] and bad["options"][0]["hex"] == "010203"


def test_overload_splits_short_options_only_when_whole_ones_do_not_fit():
    # 4 options of 60 bytes (62 with header) and max_size 300: options field 56, file 127,
    # sname 63 = 246 bytes for 248 -> no room either way.
    opts = [(200 + i, bytes([i]) * 60) for i in range(4)]
    with pytest.raises(EncodeError):
        dhcp.DhcpMessage(op=2, options=opts).encode(max_size=300)
    # 3 of them and a 40-byte one (228 bytes) fit only if some are split at field ends.
    msg = dhcp.DhcpMessage(op=2, options=[*opts[:3], (210, b"z" * 40)])
    data = msg.encode(max_size=300)
    back = dhcp.decode(data)
    assert back == msg and back.overload == 3
    # The first option could not start whole in the options field: it was split.
    assert data[243] == 200 and data[244] < 60
    # Whole placement when it works: the same options with max_size 320 split nothing.
    data = msg.encode(max_size=320)
    assert dhcp.decode(data) == msg
    codes = []
    for field in (data[240:], data[108:236], data[44:108]):
        pos = 0
        while field[pos] != 255:
            codes.append(field[pos])
            pos += 2 + field[pos + 1]
    assert sorted(codes) == [52, 200, 201, 202, 210]  # each option exactly once
