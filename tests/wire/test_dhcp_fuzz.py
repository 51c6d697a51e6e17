"""Fuzzing: random and mutated bytes make the DHCP/PXE decoders raise WireError or nothing.

Every error must be a WireError subclass with a byte offset (the plain WireError is only the
decoder's safety net for a bug, so seeing it fails the test too). Every message that decodes
must also re-encode and decode equal, and its typed views may only raise WireError.

Each hypothesis test runs 2,000 cases in the normal test run (the same ones every run);
`nox -s fuzz` (profile "fuzz") runs 100,000 random ones each.
"""

from __future__ import annotations

import contextlib
import json
import random

from hypothesis import given
from hypothesis import strategies as st

from pxelab.wire import dhcp, pxe
from pxelab.wire.errors import EncodeError, WireError
from tests.wire.conftest import load_dhcp_payloads
from tests.wire.refusals import check_refusal
from tests.wire.strategies import examples

PAYLOADS = [data for _, _, data in load_dhcp_payloads()]
COOKIE = b"\x63\x82\x53\x63"


def check_error(exc: WireError) -> None:
    check_refusal(exc)
    assert exc.offset is not None and exc.offset >= 0, exc
    assert f"(at byte {exc.offset})" in str(exc)


def exercise(data: bytes) -> dhcp.DhcpMessage | None:
    try:
        msg = dhcp.decode(data)
    except WireError as exc:
        check_error(exc)
        return None
    for code in msg.options:
        try:
            msg.options.get(code)
        except WireError as exc:
            check_error(exc)
    for prefixes in (("PXEClient",), ("",), ("HW-Client", "")):
        try:
            msg.pxe_options(prefixes)
        except WireError as exc:
            check_error(exc)
    msg.options.problems()
    _ = (msg.mac, msg.file_name, msg.server_name, msg.message_type, msg.vendor_class, repr(msg))
    json.dumps(msg.to_dict(("PXEClient", "")))
    again = dhcp.decode(msg.encode(max_size=None))
    assert again == msg
    # Too many options for 548 bytes even with overload is a clean refusal (EncodeError).
    with contextlib.suppress(EncodeError):
        small = dhcp.decode(msg.encode())
        # Overload may move the file/server name into options 67/66; nothing else changes.
        for code, raw in msg.options.items():
            assert small.options.raw(code) == raw
        assert small.file in (msg.file, b"") and small.sname in (msg.sname, b"")
        if small.file != msg.file:
            assert small.options.raw(67) == msg.file
        if small.sname != msg.sname:
            assert small.options.raw(66) == msg.sname
    return msg


@examples(2000)
@given(st.binary(max_size=700))
def test_random_bytes(data):
    exercise(data)


# The two generators below draw a seed and build the bytes with `random`: hypothesis's own
# generation of nested byte lists costs ~4 ms a case, this ~0.1 ms.


def random_options(rng: random.Random) -> bytes:
    out = bytearray()
    for _ in range(rng.randrange(12)):
        kind = rng.randrange(4)
        if kind == 0:
            out += rng.randbytes(rng.randrange(8))
        elif kind == 1:
            value = rng.randbytes(rng.choice((0, 1, 2, 4, 17, rng.randrange(300))))
            length = len(value) if rng.random() < 0.9 else rng.randrange(256)
            out += bytes((rng.randrange(256), length % 256)) + value
        elif kind == 2:
            out += rng.choice((b"\x34\x01\x01", b"\x34\x01\x03", b"\x35\x01\x01", b"\xff"))
        else:  # a PXE-looking 43 and 60
            sub = bytes((rng.choice((6, 8, 9, 10, 71, 255)), rng.randrange(8))) + rng.randbytes(6)
            out += b"\x3c\x09PXEClient" + bytes((43, len(sub))) + sub
    return bytes(out)


@examples(2000)
@given(st.integers(0, 2**64))
def test_random_options_behind_a_valid_cookie(seed):
    rng = random.Random(seed)
    head = bytearray(rng.randbytes(236))
    if rng.random() < 0.5:  # overloaded fields full of options
        head[44:108] = random_options(rng)[:64].ljust(64, b"\0")
        head[108:236] = random_options(rng)[:128].ljust(128, b"\0")
    exercise(bytes(head) + COOKIE + random_options(rng))


@examples(2000)
@given(st.integers(0, 2**64))
def test_mutated_capture_packets(seed):
    rng = random.Random(seed)
    buf = bytearray(rng.choice(PAYLOADS))
    for _ in range(rng.randrange(1, 7)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    if rng.random() < 0.3:
        del buf[rng.randrange(len(buf)) :]
    if rng.random() < 0.2:
        buf += rng.randbytes(rng.randrange(40))
    exercise(bytes(buf))


def test_every_truncation_and_byte_of_the_captures():
    # Deterministic sweep: each capture packet cut at every length and each byte set to
    # 0x00, 0x01, 0x7f and 0xff (~12,000 decodes).
    cases = 0
    for data in PAYLOADS:
        for n in range(len(data)):
            exercise(data[:n])
            cases += 1
        for pos in range(240, len(data)):
            for value in (0x00, 0x01, 0x7F, 0xFF):
                buf = bytearray(data)
                buf[pos] = value
                exercise(bytes(buf))
                cases += 1
    assert cases > 2000


@examples(2000)
@given(st.binary(max_size=300))
def test_pxe_value_decoders(data):
    for decoder in (
        pxe.PxeOptions.decode,
        pxe.EncapsulatedOptions.decode,
        pxe.client_arches,
        pxe.ClientNii.decode,
    ):
        try:
            value = decoder(data)
        except WireError as exc:
            check_error(exc)
            continue
        if isinstance(value, pxe.PxeOptions):
            again = pxe.PxeOptions.decode(value.encode())
            assert again == value
            _ = (value.discovery_control, value.boot_servers, value.menu, value.prompt)
            _ = (value.boot_item, value.other, value.duplicates())
    # These never fail: whatever came is kept.
    assert pxe.ClientUuid.decode(data).encode() == data
    assert pxe.UserClass.decode(data).encode() == data
    vc = pxe.VendorClass.parse(data)
    assert vc.encode() == data
    vc.is_pxe()
    uuid = pxe.ClientUuid.decode(data)
    _ = (uuid.valid, uuid.problem, uuid.uuid, uuid.pxelinux_name())
