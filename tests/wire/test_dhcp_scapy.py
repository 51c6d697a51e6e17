"""Cross-check with scapy, an independent DHCP implementation: it decodes what we encode to
the same field values, and we decode what it encodes."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st
from scapy.fields import IPField
from scapy.layers.dhcp import BOOTP, DHCP, DHCPOptions

from pxelab.wire import dhcp
from pxelab.wire.options import TABLE
from tests.wire.strategies import examples, ips, u8, u16, u32

IP_ONE = [1, 28, 50, 54]
IP_LIST = [3, 6, 42]
INTS = {
    2: st.integers(-(2**31), 2**31 - 1),
    13: u16,
    19: st.integers(0, 1),
    23: u8,
    26: u16,
    51: u32,
    53: st.integers(1, 8),
    57: u16,
    58: u32,
    59: u32,
}
NAMED_BYTES = [12, 15, 43, 60, 61, 66, 67, 93, 94, 97]
# Codes neither side gives a type: both keep the bytes.
RAW = [
    c
    for c in range(1, 255)
    if c not in TABLE and c not in (43, 52) and (DHCPOptions.get(c) is None)
]


def scapy_name(code: int) -> str | int:
    entry = DHCPOptions.get(code)
    if entry is None:
        return code
    return entry if isinstance(entry, str) else entry.name


def value_strategy(code: int) -> st.SearchStrategy:
    if code in IP_ONE:
        return st.lists(ips, min_size=1, max_size=1)
    if code in IP_LIST:
        return st.lists(ips, min_size=1, max_size=4)
    if code in INTS:
        return INTS[code]
    if code == 55:
        return st.lists(u8, min_size=1, max_size=20)
    return st.binary(min_size=1, max_size=60)


@st.composite
def option_specs(draw) -> list[tuple[int, object]]:
    codes = draw(
        st.lists(
            st.sampled_from(IP_ONE + IP_LIST + sorted(INTS) + [55] + NAMED_BYTES + RAW),
            unique=True,
            max_size=12,
        )
    )
    return [(c, draw(value_strategy(c))) for c in codes]


headers = st.fixed_dictionaries(
    {
        "op": st.sampled_from([1, 2]),
        "htype": u8,
        "hlen": u8,
        "hops": u8,
        "xid": u32,
        "secs": u16,
        "flags": u16,
        "ciaddr": ips,
        "yiaddr": ips,
        "siaddr": ips,
        "giaddr": ips,
        "chaddr": st.binary(min_size=16, max_size=16),
        "sname": st.binary(max_size=64).map(lambda b: b.rstrip(b"\x00")),
        "file": st.binary(max_size=128).map(lambda b: b.rstrip(b"\x00")),
    }
)


def ours_value(code: int, value: object) -> object:
    if code in IP_ONE:
        return value[0]  # type: ignore[index]
    if code == 19:
        return bool(value)
    return value


def normalise_ours(msg: dhcp.DhcpMessage, code: int) -> object:
    kind = TABLE[code][1].name if code in TABLE else None
    if code in NAMED_BYTES or kind is None:
        return msg.options.raw(code)
    value = msg.options.get(code)
    if kind == "ip":
        return [value]
    if kind in ("u8", "u16", "u32", "i32", "bool", "message type") and code in INTS:
        return int(value)
    if kind in ("ips", "codes"):
        return list(value)
    return msg.options.raw(code)


def normalise_scapy(opt: tuple) -> tuple[int, object]:
    name, *values = opt
    if isinstance(name, int):
        return name, values[0]
    code = next(c for c in DHCPOptions if scapy_name(c) == name)
    field = DHCPOptions[code]
    if isinstance(values[0], bytes):
        return code, values[0]
    if isinstance(field, IPField):
        return code, [ipaddress.IPv4Address(v) for v in values]
    if code == 55:
        return code, list(values[0])
    if code == 2:  # scapy reads the time offset unsigned; RFC 2132 says signed
        return code, int.from_bytes(int(values[0]).to_bytes(4, "big"), "big", signed=True)
    return code, int(values[0])


def expected(code: int, value: object) -> object:
    if code in IP_ONE or code in IP_LIST:
        return list(value)  # type: ignore[call-overload]
    return value


@examples(100)  # scapy builds and parses slowly: fewer examples than the pure tests
@given(headers, option_specs())
def test_scapy_decodes_what_we_encode(head, specs):
    msg = dhcp.DhcpMessage(**head, options=[(c, ours_value(c, v)) for c, v in specs])
    pkt = BOOTP(msg.encode(max_size=None))
    for name in ("op", "htype", "hlen", "hops", "xid", "secs"):
        assert getattr(pkt, name) == head[name], name
    assert int(pkt.flags) == head["flags"]
    for name in ("ciaddr", "yiaddr", "siaddr", "giaddr"):
        assert ipaddress.IPv4Address(getattr(pkt, name)) == head[name], name
    assert pkt.chaddr == head["chaddr"]
    assert pkt.sname == head["sname"].ljust(64, b"\x00")
    assert pkt.file == head["file"].ljust(128, b"\x00")
    assert pkt.options == b"\x63\x82\x53\x63"
    theirs = [o for o in pkt[DHCP].options if o not in ("end", "pad")]
    assert [normalise_scapy(o) for o in theirs] == [(c, expected(c, v)) for c, v in specs]


@examples(100)
@given(headers, option_specs())
def test_we_decode_what_scapy_encodes(head, specs):
    opts = []
    for code, value in specs:
        name = scapy_name(code)
        if code in IP_ONE or code in IP_LIST:
            opts.append((name, *[str(v) for v in value]))  # type: ignore[attr-defined]
        elif code == 2:  # scapy packs the time offset unsigned
            opts.append((name, value % 2**32))
        else:
            opts.append((name, value))
    fields = {k: (str(v) if k.endswith("addr") and k != "chaddr" else v) for k, v in head.items()}
    data = bytes(BOOTP(**fields) / DHCP(options=[*opts, "end"]))
    msg = dhcp.decode(data)
    for name, value in head.items():
        assert getattr(msg, name) == value, name
    assert list(msg.options) == [c for c, _ in specs]
    for code, value in specs:
        assert normalise_ours(msg, code) == expected(code, value), code
    assert not msg.options.problems() or any(c in NAMED_BYTES for c, _ in specs)
    assert dhcp.decode(msg.encode()) == msg


def test_scapy_sees_our_overload_option():
    msg = dhcp.DhcpMessage(op=2, options=[(128 + i, bytes(20)) for i in range(16)])
    pkt = BOOTP(msg.encode())
    assert ("dhcp-option-overload", 1) in pkt[DHCP].options
