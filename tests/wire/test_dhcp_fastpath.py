"""The proxy's fast path in wire: the one request reader and the reply template.

- Request.from_bytes (the reader under both `decode` and the proxy) gives what `decode` gives,
  on every packet of the captures and on hypothesis-built and random packets.
- ReplyTemplate.encode gives the bytes boot/policy.py packed itself before the encoder moved
  into wire (REFERENCE_PACK below is that packing, kept here as the yardstick). That the
  replies equal dnsmasq's is proved by tests/proxy/test_policy_capture.py and the
  differential tests; this file pins the encoder between them.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pxelab.wire import dhcp, pxe
from pxelab.wire.dhcp import Opt, ReplyTemplate, Request
from pxelab.wire.errors import WireError
from tests.wire.strategies import examples, messages

# The previous policy's own header struct and packing (boot/policy.py before issue 19).
_OLD_HEADER = struct.Struct("!BBBB4s2sH4s4s4s4s16s64s128s")


def REFERENCE_PACK(req: Request, siaddr: bytes, sname: bytes, file: bytes, head: bytes,
                   tail: bytes, flags: int, ciaddr: bytes, yiaddr: bytes) -> bytes:
    hdr = _OLD_HEADER.pack(2, req.htype, req.hlen, req.hops, req.xid, req.secs, flags, ciaddr,
                           yiaddr, siaddr, req.giaddr, req.chaddr, sname, file)
    parts = [hdr, b"\x63\x82\x53\x63", head]
    uuid = req.options.get(97)
    if uuid is not None and len(uuid) >= 17:
        parts.append(b"\x61\x11" + uuid[:17])
    parts.append(tail)
    agent = req.options.get(82)
    if agent is not None and req.giaddr != bytes(4):
        parts.append(bytes((82, len(agent))) + agent)
    parts.append(b"\xff")
    out = b"".join(parts)
    return out + bytes(max(0, 300 - len(out)))


def _agree(data: bytes) -> None:
    """decode(data) and Request.from_bytes(data) say the same, or both refuse."""
    try:
        msg = dhcp.decode(data)
    except WireError:
        with pytest.raises(WireError):
            Request.from_bytes(data, strict=True)
        return
    req = Request.from_bytes(data)
    assert (req.op, req.htype, req.hlen, req.hops, req.flags) == (
        msg.op, msg.htype, msg.hlen, msg.hops, msg.flags)
    assert int.from_bytes(req.xid, "big") == msg.xid
    assert int.from_bytes(req.secs, "big") == msg.secs
    assert (req.ciaddr, req.yiaddr, req.siaddr, req.giaddr) == (
        msg.ciaddr.packed, msg.yiaddr.packed, msg.siaddr.packed, msg.giaddr.packed)
    assert req.chaddr == msg.chaddr and req.mac == msg.mac
    assert req.cookie == msg.cookie and req.overload == msg.overload
    assert list(req.options.items()) == msg.options.items()
    assert req.message_type == (msg.message_type or 0)


def test_reader_agrees_with_decode_on_the_captures(dhcp_payloads) -> None:
    for _name, _index, data in dhcp_payloads:
        _agree(data)


@examples(300)
@given(messages())
def test_reader_agrees_with_decode_on_built_messages(msg: dhcp.DhcpMessage) -> None:
    _agree(msg.encode())


@examples(300)
@given(st.binary(min_size=0, max_size=400), st.binary(max_size=80))
def test_reader_agrees_with_decode_on_random_bytes(head: bytes, opts: bytes) -> None:
    # random headers, and random option areas behind a real cookie
    _agree(head)
    _agree(bytes(236) + b"\x63\x82\x53\x63" + opts)


def test_reader_is_the_decoders() -> None:
    """decode goes through Request.from_bytes: one reader, not two that agree today."""
    calls = []
    real = Request.from_bytes.__func__  # type: ignore[attr-defined]

    def spy(cls, data, *a, **kw):
        calls.append(len(data))
        return real(cls, data, *a, **kw)

    Request.from_bytes = classmethod(spy)  # type: ignore[method-assign]
    try:
        dhcp.decode(dhcp.DhcpMessage(message_type=1).encode())
    finally:
        Request.from_bytes = classmethod(real)  # type: ignore[method-assign]
    assert calls == [300]


def test_reader_agrees_on_overloaded_messages() -> None:
    """Options spread over file and sname (option 52): both readers join them, drop 52."""
    for extra in (290, 400):
        msg = dhcp.DhcpMessage(message_type=1, options=[(60, "PXEClient"), (77, b"u" * extra),
                                                        (97, bytes(17))])
        data = msg.encode()
        assert dhcp.decode(data).overload, "the message did not overload"
        _agree(data)
        assert Opt.OVERLOAD not in Request.from_bytes(data).options


def test_proxy_reads_52_as_dnsmasq_the_decoder_strictly() -> None:
    data = bytearray(dhcp.DhcpMessage(message_type=1, options=[(60, "PXEClient")]).encode())
    data[243:246] = b"\x34\x01\x05"  # option 52 = 5: not 1, 2 or 3
    data[246] = 255
    with pytest.raises(WireError):
        dhcp.decode(bytes(data))
    assert Request.from_bytes(bytes(data)).overload == 1  # dnsmasq: the bits, 5 & 3


requests = st.builds(
    lambda htype, hlen, hops, xid, secs, flags, gi, ch, uuid, agent: Request(
        67, 1, htype, hlen, hops, xid, secs, flags, bytes(4), gi, ch, True,
        {k: v for k, v in ((97, uuid), (82, agent)) if v is not None}),
    st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
    st.binary(min_size=4, max_size=4), st.binary(min_size=2, max_size=2),
    st.integers(0, 0xFFFF), st.sampled_from([bytes(4), b"\xc0\xa8\x0a\x01"]),
    st.binary(min_size=16, max_size=16),
    st.one_of(st.none(), st.binary(min_size=17, max_size=30), st.binary(max_size=16)),
    st.one_of(st.none(), st.binary(min_size=1, max_size=40)),
)
subopts = st.lists(st.tuples(st.integers(1, 254), st.binary(max_size=120)), max_size=5)


@examples(300)
@given(requests, st.binary(min_size=4, max_size=4), st.binary(max_size=63),
       st.binary(max_size=127), st.binary(min_size=1, max_size=40), subopts,
       st.integers(0, 0xFFFF), st.binary(min_size=4, max_size=4))
def test_template_bytes_equal_the_old_policy_packing(req, siaddr, sname, file, vendor, subs,
                                                     flags, yiaddr) -> None:
    head = [(53, b"\x02"), (54, b"\xc0\xa8\x0a\x14"), (60, vendor)]
    tail = pxe.encode_option43(subs)
    t = ReplyTemplate(siaddr=siaddr, sname=sname, file=file, head=head, tail=tail)
    uuid, agent = req.options.get(97), req.options.get(82)
    middle = dhcp.tlv(97, uuid[:17]) if uuid is not None and len(uuid) >= 17 else b""
    end = dhcp.tlv(82, agent) if agent is not None and req.giaddr != bytes(4) else b""
    got = t.encode(req, flags=flags, yiaddr=yiaddr, middle=middle, end=end)
    old_head = (b"\x35\x01\x02\x36\x04\xc0\xa8\x0a\x14" + bytes((60, len(vendor))) + vendor)
    assert got == REFERENCE_PACK(req, siaddr, sname, file, old_head, tail, flags, bytes(4),
                                 yiaddr)
    # and the reply reads back: 43 as the sub-options given (END closes each 43 piece)
    msg = dhcp.decode(got)
    assert msg.options.raw(60) == vendor and msg.file == file.rstrip(b"\0")
    if subs:
        raw43 = msg.options.raw(43)
        assert pxe.EncapsulatedOptions.decode(raw43).entries[: len(subs)] == subs


def test_reuse_reply_patches_only_xid_secs_chaddr() -> None:
    t = ReplyTemplate(head=[(53, b"\x02")])
    a = Request(xid=b"\0\0\0\1", secs=b"\0\5", chaddr=b"\x11" * 16)
    b = dhcp.DhcpMessage(xid=7, secs=9, chaddr=b"\x22" * 16, message_type=1).encode()
    reused = dhcp.reuse_reply(t.encode(a, flags=0x8000), b)
    fresh = t.encode(Request.from_bytes(b), flags=0x8000)
    assert reused == fresh


def test_option43_helpers() -> None:
    assert pxe.menu_entry(0x8000, b"net") == b"\x80\x00\x03net"
    assert pxe.boot_server_entry(1, b"\xc0\xa8\x0a\x14") == b"\x00\x01\x01\xc0\xa8\x0a\x14"
    assert pxe.prompt_value(255, b"PXE") == b"\xffPXE"
    raw = b"\x00\x06\x01\x03\x47\x04\x80\x00\x00\x00\xff"
    item = pxe.find_boot_item(raw)
    assert item == b"\x80\x00\x00\x00"
    assert pxe.boot_item_of(item) == pxe.BootItem(0x8000, 0)
    assert pxe.find_boot_item(b"\x47\x02\x80\x00") is None  # too short for type + layer
    # a sub-option that does not fit starts another 43, END only in the last
    two = pxe.encode_option43([(9, b"a" * 200), (8, b"b" * 100)])
    assert two[:2] == b"\x2b\xca" and two[204:206] == b"\x2b\x67" and two[-1] == 255
