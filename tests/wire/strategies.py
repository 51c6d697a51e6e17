"""Hypothesis strategies for DHCP messages and PXE option values (shared by the wire tests)."""

from __future__ import annotations

import ipaddress

from hypothesis import settings
from hypothesis import strategies as st

from pxelab.wire import dhcp, pxe


def examples(n: int) -> settings:
    """`n` examples in the normal run, the same ones every time (derandomized: a committed
    test must pass every run); a long profile (`nox -s fuzz`) explores at random instead."""
    profile = settings().max_examples
    return settings(max_examples=max(n, profile), derandomize=profile < 10_000)


ips = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
# Strings as options carry them: no trailing NUL (typed access strips it), no lone surrogates.
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)

vendor_classes = st.one_of(
    st.builds(
        lambda arch, major, minor, prefix: pxe.VendorClass.pxe(arch, (major, minor), prefix),
        st.integers(0, 99999),
        st.integers(0, 999),
        st.integers(0, 999),
        st.sampled_from(["PXEClient", "HW-Client", "Other"]),
    ),
    st.builds(pxe.VendorClass.parse, texts),
)

user_classes = st.one_of(
    st.builds(
        lambda names: pxe.UserClass(tuple(names), rfc3004=True),
        st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=4),
    ),
    st.builds(lambda b: pxe.UserClass((b,), rfc3004=False), st.binary(max_size=20)),
)

client_uuids = st.one_of(
    st.builds(lambda b: pxe.ClientUuid(b"\x00" + b), st.binary(min_size=16, max_size=16)),
    st.builds(pxe.ClientUuid, st.binary(max_size=20)),
)

encapsulated = st.builds(
    pxe.EncapsulatedOptions,
    st.lists(st.tuples(st.integers(1, 254), st.binary(max_size=30)), max_size=6),
)


@st.composite
def pxe_options(draw) -> pxe.PxeOptions:
    opts = pxe.PxeOptions()
    if draw(st.booleans()):
        opts.discovery_control = draw(u8)
    if draw(st.booleans()):
        opts.boot_servers = draw(
            st.lists(st.builds(pxe.BootServer, u16, st.lists(ips, max_size=3)), max_size=3)
        )
    if draw(st.booleans()):
        opts.menu = draw(
            st.lists(
                st.builds(pxe.MenuItem, u16, st.text(max_size=20, alphabet="abcXYZ 019-")),
                max_size=4,
            )
        )
    if draw(st.booleans()):
        opts.prompt = pxe.Prompt(draw(u8), draw(texts.filter(lambda t: len(t) < 60)))
    if draw(st.booleans()):
        opts.boot_item = pxe.BootItem(draw(u16), draw(u16))
    for code, raw in draw(
        st.lists(
            st.tuples(st.sampled_from([1, 2, 3, 4, 5, 7, 11, 12, 200]), st.binary(max_size=20)),
            max_size=3,
        )
    ):
        opts.entries.append((code, raw))
    return opts


# code -> strategy of a typed value that options.get(code) gives back equal.
TYPED: dict[int, st.SearchStrategy] = {
    1: ips,
    2: st.integers(-(2**31), 2**31 - 1),
    3: st.lists(ips, min_size=1, max_size=4),
    6: st.lists(ips, min_size=1, max_size=4),
    12: texts,
    13: u16,
    15: texts,
    19: st.booleans(),
    23: u8,
    26: u16,
    28: ips,
    42: st.lists(ips, min_size=1, max_size=3),
    50: ips,
    51: u32,
    53: st.sampled_from(list(dhcp.MessageType)),
    54: ips,
    55: st.lists(u8, max_size=30),
    57: u16,
    58: u32,
    59: u32,
    60: vendor_classes,
    61: st.builds(dhcp.ClientId, u8, st.binary(max_size=16)),
    66: texts,
    67: texts,
    93: st.lists(u16, min_size=1, max_size=4),
    94: st.builds(pxe.ClientNii, u8, u8, u8),
    97: client_uuids,
    150: st.lists(ips, min_size=1, max_size=3),
    175: encapsulated,
    209: texts,
    210: texts,
}

RAW_CODES = st.integers(1, 254).filter(lambda c: c not in TYPED and c not in (43, 52, 77))


@st.composite
def option_lists(draw, max_raw: int = 300) -> list[tuple[int, object]]:
    """Options with distinct codes, in a random order: typed ones and raw ones (some long)."""
    chosen: dict[int, object] = {}
    for code in draw(st.lists(st.sampled_from(sorted(TYPED)), unique=True, max_size=10)):
        chosen[code] = draw(TYPED[code])
    if draw(st.booleans()):
        chosen[43] = draw(pxe_options())
    if draw(st.booleans()):
        chosen[77] = draw(user_classes)
    for code in draw(st.lists(RAW_CODES, unique=True, max_size=4)):
        if code not in chosen:
            chosen[code] = draw(st.binary(max_size=max_raw))
    items = list(chosen.items())
    return draw(st.permutations(items)) if items else []


@st.composite
def messages(draw, *, with_names: bool = True, max_raw: int = 300) -> dhcp.DhcpMessage:
    return dhcp.DhcpMessage(
        op=draw(st.sampled_from([1, 2])),
        htype=draw(u8),
        hlen=draw(u8),
        hops=draw(u8),
        xid=draw(u32),
        secs=draw(u16),
        flags=draw(u16),
        ciaddr=draw(ips),
        yiaddr=draw(ips),
        siaddr=draw(ips),
        giaddr=draw(ips),
        chaddr=draw(st.binary(min_size=16, max_size=16)),
        sname=draw(st.binary(max_size=64)) if with_names else b"",
        file=draw(st.binary(max_size=128)) if with_names else b"",
        options=draw(option_lists(max_raw=max_raw)),
    )
