"""Property tests: DHCP messages and PXE option values survive encode -> decode."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pxelab.wire import dhcp, pxe
from pxelab.wire.errors import EncodeError
from tests.wire.strategies import (
    TYPED,
    client_uuids,
    examples,
    messages,
    pxe_options,
    user_classes,
    vendor_classes,
)


@examples(200)
@given(messages())
def test_message_round_trip_without_size_limit(msg):
    data = msg.encode(max_size=None)
    back = dhcp.decode(data)
    assert back == msg
    assert back.overload == 0
    assert list(back.options) == list(msg.options)
    for code in back.options:
        if code in TYPED:
            assert back.options.get(code) == msg.options.get(code)
    # And the bytes are stable: encoding the decoded message gives the same bytes.
    assert back.encode(max_size=None) == data


@examples(200)
@given(messages(with_names=False, max_raw=120), st.sampled_from([300, 400, 548, 1000]))
def test_message_round_trip_with_overload(msg, max_size):
    try:
        data = msg.encode(max_size=max_size)
    except EncodeError as exc:
        # Only when the options (nearly) exceed every field together: splitting at the two
        # field boundaries costs at most 2 header bytes and 2 unusable bytes each.
        room = (max_size - 240 - 1 - 3) + 127 + 63
        need = len(dhcp.DhcpMessage(options=msg.options).encode(max_size=None)) - 240
        assert need > room - 8
        assert "options need" in str(exc)
        return
    assert len(data) <= max(max_size, 300)
    back = dhcp.decode(data)
    assert back == msg
    assert list(back.options) == list(msg.options)


@examples(200)
@given(messages(max_raw=120))
def test_message_round_trip_no_override(msg):
    try:
        data = msg.encode(allow_overload=False)
    except EncodeError:
        assert len(msg.encode(max_size=None)) > 548
        return
    back = dhcp.decode(data)
    assert back == msg
    assert back.file == msg.file and back.sname == msg.sname and back.overload == 0


@examples(200)
@given(messages(max_raw=120), st.sampled_from([300, 360, 420]))
def test_overload_moves_names_but_loses_nothing(msg, max_size):
    try:
        back = dhcp.decode(msg.encode(max_size=max_size))
    except EncodeError:
        # Justified only when the message really overflows: what fits without overload must
        # never be refused with it.
        assert len(msg.encode(max_size=None)) > max_size
        return
    for code, raw in msg.options.items():
        assert back.options.raw(code) == raw
    if back.file != msg.file:
        assert back.file == b"" and back.options.raw(67) == msg.file
    if back.sname != msg.sname:
        assert back.sname == b"" and back.options.raw(66) == msg.sname


@examples(200)
@given(pxe_options())
def test_pxe_options_round_trip(opts):
    data = opts.encode()
    back = pxe.PxeOptions.decode(data)
    assert back == opts
    assert back.encode() == data
    for name in ("discovery_control", "boot_servers", "menu", "prompt", "boot_item"):
        assert getattr(back, name) == getattr(opts, name)
    assert back.other == opts.other


@examples(200)
@given(vendor_classes)
def test_vendor_class_round_trip(vc):
    assert pxe.VendorClass.parse(vc.encode()) == vc


@examples(200)
@given(
    st.integers(0, 99999),
    st.integers(0, 999),
    st.integers(0, 999),
    st.sampled_from(["PXEClient", "HW-Client"]),
)
def test_vendor_class_pxe_fields(arch, major, minor, prefix):
    vc = pxe.VendorClass.parse(pxe.VendorClass.pxe(arch, (major, minor), prefix).encode())
    assert (vc.prefix, vc.arch, vc.undi_major, vc.undi_minor) == (prefix, arch, major, minor)
    assert vc.is_pxe((prefix,))


@examples(200)
@given(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=8))
def test_client_arch_round_trip(arches):
    assert pxe.client_arches(pxe.encode_client_arches(arches)) == arches


@examples(200)
@given(client_uuids)
def test_client_uuid_round_trip(u):
    back = pxe.ClientUuid.decode(u.encode())
    assert back == u
    body = u.raw[1:]
    expect = len(u.raw) == 17 and u.raw[0] == 0 and body not in (bytes(16), b"\xff" * 16)
    assert back.valid is expect
    if expect:
        name = back.pxelinux_name()
        assert name.replace("-", "") == body.hex()
        assert [len(p) for p in name.split("-")] == [8, 4, 4, 4, 12]


@examples(200)
@given(user_classes)
def test_user_class_round_trip(uc):
    data = uc.encode()
    back = pxe.UserClass.decode(data)
    assert back.encode() == data
    if uc.rfc3004:
        assert back == uc


@examples(200)
@given(st.binary(max_size=40))
def test_user_class_any_bytes_survive(data):
    assert pxe.UserClass.decode(data).encode() == data
