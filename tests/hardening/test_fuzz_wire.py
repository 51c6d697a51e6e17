"""Fuzzing what tests/wire does not yet cover: capture-seeded TFTP, every option value, hostile
DHCP layouts (overload pointing at itself, RFC 3396 chains without end) and option values cut
out of the real capture and mutated.

Only WireError subclasses may escape a decoder (tests.wire.refusals decides): any other
exception is a decoder bug and fails the test as it is, and so does the plain WireError that
the option-value safety net wraps around one. The example count is
`fuzz_examples()`: thousands in the normal run, the profile's count with `--hypothesis-profile
fuzz` (`nox -s fuzz`), or PXELAB_FUZZ_EXAMPLES.
"""

from __future__ import annotations

import os
import random
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from pxelab.wire import dhcp, options, pxe
from pxelab.wire import tftp as w
from pxelab.wire.errors import WireError
from tests.wire.conftest import _capture_dir, load_dhcp_payloads
from tests.wire.refusals import check_refusal

COOKIE = b"\x63\x82\x53\x63"
PXE_CODES = (43, 60, 77, 93, 94, 97, 175)


def fuzz_examples(short: int = 2000) -> int:
    """Cases per fuzz test: `short` in a normal run, more when a longer profile is loaded."""
    env = os.environ.get("PXELAB_FUZZ_EXAMPLES")
    if env:
        return int(env)
    return max(short, settings.default.max_examples)


def fuzz(short: int = 2000) -> settings:
    return settings(max_examples=fuzz_examples(short))


def check_error(exc: WireError) -> None:
    check_refusal(exc)


@cache
def tftp_payloads() -> list[bytes]:
    """Every UDP payload of the captures that is neither DHCP nor PXE: the TFTP exchange."""
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    out = []
    for pcap in sorted(_capture_dir().glob("*.pcap")):
        for pkt in rdpcap(str(pcap)):
            if UDP in pkt and not {pkt[UDP].sport, pkt[UDP].dport} & {67, 68, 4011}:
                out.append(bytes(pkt[UDP].payload))
    assert out, "the captures hold no TFTP packets"
    return out


@cache
def tftp_seeds() -> list[bytes]:
    """The captured packets (RRQs only: the captures hold the requests to port 69) and one of
    each packet the server side sends, so mutation starts from every opcode."""
    return [
        *tftp_payloads(),
        w.encode_data(1, bytes(range(256)) * 2),
        w.encode_data(0xFFFF, b"tail"),
        w.encode(w.Ack(7)),
        w.encode(w.Error(w.ERR_OPTION, "option negotiation failed")),
        w.encode(w.OAck({"blksize": "1432", "tsize": "26140", "windowsize": "4"})),
    ]


@cache
def dhcp_payloads() -> list[bytes]:
    return [data for _, _, data in load_dhcp_payloads()]


@cache
def capture_option_values() -> list[tuple[int, bytes]]:
    """(code, raw value) of every option of every captured DHCP packet."""
    out = []
    for data in dhcp_payloads():
        msg = dhcp.decode(data)
        out += msg.options.items()
    assert {c for c, _ in out} >= {43, 60, 93, 94, 97}, "capture lacks the PXE options"
    return out


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        op = rng.random()
        pos = rng.randrange(len(buf) + 1)
        if op < 0.45 and buf:
            buf[min(pos, len(buf) - 1)] = rng.choice((0, 1, 0x7F, 0xFF, rng.randrange(256)))
        elif op < 0.7:
            del buf[pos : pos + rng.randint(1, 8)]
        elif op < 0.9:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        else:  # repeat a slice: duplicate options, runaway strings
            a = rng.randrange(len(buf) + 1)
            buf[pos:pos] = buf[a : a + rng.randint(1, 40)] * rng.randint(1, 8)
    return bytes(buf)


# ----------------------------------------------------------------------------- TFTP


def exercise_tftp(raw: bytes) -> None:
    try:
        pkt = w.decode(raw)
    except WireError as exc:
        check_error(exc)
        return
    if isinstance(pkt, w.Request):
        limits = w.Limits(max_blksize=1468, max_windowsize=64, tsize=len(raw))
        neg = w.negotiate(pkt.options, limits, write=pkt.is_write)
        assert w.BLKSIZE_MIN <= neg.blksize <= 1468
        assert 1 <= neg.windowsize <= 64
    try:
        again = w.encode(pkt)
    except WireError as exc:  # e.g. a name that decodes but cannot be a C string again
        check_error(exc)
        return
    assert w.decode(again) == pkt


@fuzz()
@given(st.integers(0, 2**64))
def test_fuzz_tftp_mutated_capture(seed: int) -> None:
    rng = random.Random(seed)
    exercise_tftp(mutate(rng, rng.choice(tftp_seeds())))


@fuzz()
@given(st.binary(max_size=600))
def test_fuzz_tftp_random_bytes(raw: bytes) -> None:
    exercise_tftp(raw)


def test_every_truncation_of_every_tftp_seed() -> None:
    # Random mutation rarely cuts a 516-byte DATA back to its header: here every prefix of
    # every seed is tried, so a missing length check fails at once.
    for raw in tftp_seeds():
        for n in range(min(len(raw), 80) + 1):
            exercise_tftp(raw[:n])
    assert {raw[:2] for raw in tftp_seeds()} == {bytes((0, op)) for op in (1, 3, 4, 5, 6)}


@fuzz(1000)
@given(st.integers(0, 2**64))
def test_fuzz_tftp_option_storms(seed: int) -> None:
    # Hundreds of options, repeated names, huge numbers, missing terminators.
    rng = random.Random(seed)
    parts = [rng.choice((b"\x00\x01", b"\x00\x02")), b"f" * rng.randrange(600), b"\0octet\0"]
    for _ in range(rng.randrange(400)):
        name = rng.choice((b"blksize", b"tsize", b"windowsize", b"timeout", b"BLKSIZE", b"x"))
        value = rng.choice((b"0", b"-1", b"9" * rng.randrange(40), rng.randbytes(3), b""))
        parts.append(name + b"\0" + value + b"\0")
    raw = b"".join(parts)
    if rng.random() < 0.3:
        raw = raw[: rng.randrange(len(raw))]
    exercise_tftp(raw)


# ----------------------------------------------------------------------------- option values


@fuzz()
@given(st.integers(1, 254), st.binary(max_size=260))
def test_fuzz_every_option_value(code: int, raw: bytes) -> None:
    try:
        value = options.decode_value(code, raw, 240)
    except WireError as exc:
        check_error(exc)
        assert exc.offset is None or exc.offset >= 240
        return
    try:
        again = options.encode_value(code, value)
    except WireError as exc:
        check_error(exc)
        return
    # A decoded value re-decodes to the same value (bytes may be normalised, never lost).
    assert options.decode_value(code, again) == value


def decode_pxe_value(code: int, raw: bytes) -> None:
    try:
        if code == 43:
            opts = pxe.PxeOptions.decode(raw, 300)
            _ = (opts.discovery_control, opts.boot_servers, opts.menu, opts.prompt,
                 opts.boot_item, opts.other, opts.duplicates())
            assert pxe.PxeOptions.decode(opts.encode()) == opts
        elif code == 175:
            enc = pxe.EncapsulatedOptions.decode(raw, 300)
            pxe.ipxe_info(enc)
            assert pxe.EncapsulatedOptions.decode(enc.encode()) == enc
        elif code == 60:
            vc = pxe.VendorClass.parse(raw)
            assert vc.encode() == raw
            vc.is_pxe(("PXEClient", "HW-Client", ""))
        elif code == 77:
            uc = pxe.UserClass.decode(raw, 300)
            assert uc.encode() == raw
            _ = (uc.names, b"iPXE" in uc)
        elif code == 93:
            arches = pxe.client_arches(raw, 300)
            assert pxe.encode_client_arches(arches) == raw
        elif code == 94:
            nii = pxe.ClientNii.decode(raw, 300)
            assert pxe.ClientNii.decode(nii.encode()) == nii
        elif code == 97:
            u = pxe.ClientUuid.decode(raw, 300)
            _ = (u.valid, u.problem, u.uuid, u.pxelinux_name(), u.smbios_uuid)
            assert u.encode() == raw
        options.decode_value(code, raw, 300)
    except WireError as exc:
        check_error(exc)
        assert exc.offset is None or exc.offset >= 300


@fuzz()
@given(st.integers(0, 2**64))
def test_fuzz_pxe_option_values_from_the_capture(seed: int) -> None:
    rng = random.Random(seed)
    code, raw = rng.choice([cv for cv in capture_option_values() if cv[0] in PXE_CODES])
    if rng.random() < 0.15:  # the value of another PXE option under this code
        raw = rng.choice(capture_option_values())[1]
    decode_pxe_value(code, mutate(rng, raw))


@fuzz()
@given(st.sampled_from(PXE_CODES), st.binary(max_size=300))
def test_fuzz_pxe_option_values_random(code: int, raw: bytes) -> None:
    decode_pxe_value(code, raw)


# ----------------------------------------------------------------------------- hostile DHCP


def exercise_dhcp(data: bytes) -> None:
    for honour in (True, False):
        try:
            msg = dhcp.decode(data, honour_overload=honour)
        except WireError as exc:
            check_error(exc)
            continue
        for code in list(msg.options):
            try:
                msg.options.get(code)
            except WireError as exc:
                check_error(exc)
        try:
            msg.pxe_options(("PXEClient", ""))
        except WireError as exc:
            check_error(exc)
        msg.to_dict(("PXEClient", ""))
        assert dhcp.decode(msg.encode(max_size=None)) == msg


def hostile(rng: random.Random) -> bytes:
    """A BOOTREQUEST whose options are laid out to trip a decoder up."""
    base = bytearray(rng.choice(dhcp_payloads())[:236])
    kind = rng.randrange(6)
    opts = bytearray()
    if kind == 0:  # overload 3 with file/sname that announce overload again (self-reference)
        base[108:236] = (b"\x34\x01\x03" * 42 + b"\xff\xff")[:128]
        base[44:108] = (b"\x34\x01\x01" * 21 + b"\xff")[:64]
        opts += b"\x34\x01\x03"
    elif kind == 1:  # an RFC 3396 chain: the same option split over hundreds of pieces
        code = rng.choice((43, 60, 77, 97, 175, 12))
        for _ in range(rng.randrange(1, 400)):
            length = rng.choice((0, 1, 255))
            opts += bytes((code, length)) + b"\x01" * length
    elif kind == 2:  # a chain split between the options, file and sname, no end anywhere
        chunk = bytes((43, 60)) + rng.randbytes(60)
        base[44:108] = (chunk * 2)[:64]
        base[108:236] = (chunk * 3)[:128]
        opts += b"\x34\x01\x03" + chunk * rng.randrange(1, 20)
    elif kind == 3:  # lengths that run past the end
        opts += bytes((rng.randrange(1, 255), 255)) + rng.randbytes(rng.randrange(254))
    elif kind == 4:  # option 60 without "PXEClient" beside a PXE-looking 43
        opts += b"\x3c\x08MSFT 5.0" + b"\x2b\x06\x06\x01\x08\x47\x02\x80"
    else:  # oversized: thousands of option bytes
        opts += b"\x2b\xff" + rng.randbytes(255)
        opts *= rng.randrange(1, 40)
    return bytes(base) + COOKIE + bytes(opts)


@fuzz(600)
@given(st.integers(0, 2**64))
def test_fuzz_hostile_dhcp_layouts(seed: int) -> None:
    rng = random.Random(seed)
    data = hostile(rng)
    exercise_dhcp(data)
    exercise_dhcp(mutate(rng, data))


# ------------------------------------------------------------------------ the relay's checksums


@fuzz(300)
@given(st.binary(max_size=400), st.integers(0, 2**16 - 1), st.sampled_from([4, 6]),
       st.sampled_from(["udp", "tcp"]))
def test_fuzz_netem_relay_completes_checksums(payload: bytes, port: int, ip: int, l4: str
                                              ) -> None:
    """The impairment relay (lab.network.netem) completes the checksum a veth leaves to the NIC:
    scapy's own checksum is the reference; truncated or odd frames come back unchanged."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    from pxelab.lab.network.netem import complete_checksum

    net = IP(src="192.168.10.29", dst="192.168.10.20") if ip == 4 else IPv6(src="fd00::1",
                                                                           dst="fd00::2")
    seg = UDP(sport=port, dport=4011) if l4 == "udp" else TCP(sport=port, dport=80)
    # Explicit MACs: scapy would otherwise look the destination up (ARP) on this host.
    good = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / net / seg / payload)
    pkt = Ether(good)
    pkt[l4.upper()].chksum = port  # what a checksum-offloading veth leaves there
    broken = bytes(pkt)
    assert complete_checksum(broken) == good
    assert complete_checksum(broken[:20]) == broken[:20]
