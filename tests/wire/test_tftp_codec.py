"""TFTP packets and option negotiation: round trips, malformed input, negotiation table."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pxelab.wire import tftp as w
from pxelab.wire.errors import BadValueError, EncodeError, TruncatedError, WireError
from tests.wire.refusals import refusals_allowed
from tests.wire.strategies import examples

# latin-1 text without NUL: what a TFTP string can carry.
text = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), max_size=40)
nonempty = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), min_size=1,
                   max_size=20)
options = st.dictionaries(nonempty.map(str.lower), text, max_size=6)

requests = st.builds(w.Request, st.sampled_from([w.RRQ, w.WRQ]), text,
                     st.sampled_from(["octet", "netascii", "mail"]), options)
packets = st.one_of(
    requests,
    st.builds(w.Data, st.integers(0, 0xFFFF), st.binary(max_size=1500)),
    st.builds(w.Ack, st.integers(0, 0xFFFF)),
    st.builds(w.Error, st.integers(0, 0xFFFF), text),
    st.builds(w.OAck, options),
)


@given(packets)
def test_round_trip(packet: w.Packet) -> None:
    assert w.decode(w.encode(packet)) == packet


@given(packets)
def test_encoding_is_stable(packet: w.Packet) -> None:
    raw = w.encode(packet)
    assert w.encode(w.decode(raw)) == raw


def test_known_bytes() -> None:
    raw = b"\x00\x01pxelinux.0\x00octet\x00tsize\x000\x00blksize\x001432\x00"
    req = w.decode(raw)
    assert req == w.Request(w.RRQ, "pxelinux.0", "octet", {"tsize": "0", "blksize": "1432"})
    assert w.encode(req) == raw
    assert w.encode_data(0x1234, b"ab") == b"\x00\x03\x12\x34ab"
    assert w.encode_ack(65535) == b"\x00\x04\xff\xff"
    assert w.encode_error(1, "File not found") == b"\x00\x05\x00\x01File not found\x00"
    assert w.encode_oack({"blksize": "1432"}) == b"\x00\x06blksize\x001432\x00"


def test_option_names_case_insensitive_first_wins() -> None:
    req = w.decode(b"\x00\x01f\x00OCTET\x00BlkSize\x001024\x00blksize\x00512\x00")
    assert req.mode == "octet"
    assert req.options == {"blksize": "1024"}


def test_trailing_nul_padding_is_tolerated() -> None:
    req = w.decode(b"\x00\x01f\x00octet\x00tsize\x000\x00\x00\x00\x00")
    assert req.options == {"tsize": "0"}


def test_empty_option_value_is_kept() -> None:
    assert w.decode(b"\x00\x01f\x00octet\x00tsize\x00\x00").options == {"tsize": ""}


def test_ack_padding_ignored() -> None:
    assert w.decode(b"\x00\x04\x00\x07\x00\x00") == w.Ack(7)


@pytest.mark.parametrize(
    ("raw", "kind", "offset"),
    [
        (b"", TruncatedError, 0),
        (b"\x00", TruncatedError, 1),
        (b"\x00\x09", BadValueError, 0),
        (b"\x00\x01file", TruncatedError, 2),
        (b"\x00\x01file\x00", TruncatedError, 7),
        (b"\x00\x01file\x00\x00", BadValueError, 7),
        (b"\x00\x01file\x00octet\x00tsize\x00", TruncatedError, 13),
        (b"\x00\x01f\x00octet\x00tsize", TruncatedError, 10),
        (b"\x00\x01f\x00octet\x00\x00x\x00", BadValueError, 10),
        (b"\x00\x03\x00", TruncatedError, 3),
        (b"\x00\x04\x00", TruncatedError, 3),
        (b"\x00\x05\x00\x01oops", TruncatedError, 4),
        (b"\x00\x06blksize", TruncatedError, 2),
    ],
)
def test_malformed(raw: bytes, kind: type[WireError], offset: int) -> None:
    with pytest.raises(kind) as err:
        w.decode(raw)
    assert err.value.offset == offset
    assert f"at byte {offset}" in str(err.value)


def test_encode_errors() -> None:
    with pytest.raises(EncodeError):
        w.encode_ack(70000)
    with pytest.raises(EncodeError):
        w.encode_request(w.Request(w.RRQ, "a\0b", "octet"))
    with pytest.raises(EncodeError):
        w.encode_request(w.Request(w.RRQ, "\u20ac", "octet"))
    with pytest.raises(EncodeError):
        w.encode_request(w.Request(w.DATA, "f", "octet"))


@examples(3000)  # the active profile's count when larger (`nox -s fuzz`)
@given(st.binary(max_size=80))
def test_fuzz_random_bytes(raw: bytes) -> None:
    with refusals_allowed():  # a refusal passes, an internal error fails
        w.decode(raw)


def test_fuzz_mutated_requests() -> None:
    rng = random.Random(1350)
    seeds = [
        w.encode(w.Request(w.RRQ, "pxelinux.cfg/01-52-54-00-12-34-56", "octet",
                           {"tsize": "0", "blksize": "1432", "windowsize": "4"})),
        w.encode(w.OAck({"blksize": "1432", "tsize": "26140"})),
        w.encode(w.Error(8, "option negotiation failed")),
        w.encode_data(1, b"\x00" * 20),
    ]
    for _ in range(max(6000, settings().max_examples)):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(raw) + 1)
            if op < 0.4 and raw:
                raw[min(pos, len(raw) - 1)] = rng.randrange(256)
            elif op < 0.7:
                del raw[pos:pos + rng.randint(1, 6)]
            else:
                raw[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        with refusals_allowed():
            w.decode(bytes(raw))


# ---------------------------------------------------------------- negotiation

LIM = w.Limits(max_blksize=1468, max_windowsize=64, tsize=1000)


@pytest.mark.parametrize(
    ("client", "limits", "oack", "blksize", "windowsize"),
    [
        ({}, LIM, {}, 512, 1),
        ({"blksize": "1432"}, LIM, {"blksize": "1432"}, 1432, 1),
        ({"blksize": "65464"}, LIM, {"blksize": "1468"}, 1468, 1),
        ({"blksize": "70000"}, w.Limits(), {"blksize": "65464"}, 65464, 1),
        ({"blksize": "8"}, LIM, {"blksize": "8"}, 8, 1),
        ({"blksize": "7"}, LIM, {}, 512, 1),
        ({"blksize": "0"}, LIM, {}, 512, 1),
        ({"blksize": "abc"}, LIM, {}, 512, 1),
        ({"blksize": "-512"}, LIM, {}, 512, 1),
        ({"tsize": "0"}, LIM, {"tsize": "1000"}, 512, 1),
        ({"tsize": "0"}, w.Limits(tsize=None), {}, 512, 1),
        ({"timeout": "3"}, LIM, {"timeout": "3"}, 512, 1),
        ({"timeout": "0"}, LIM, {}, 512, 1),
        ({"timeout": "256"}, LIM, {}, 512, 1),
        ({"timeout": "255"}, LIM, {"timeout": "255"}, 512, 1),
        ({"windowsize": "16"}, LIM, {"windowsize": "16"}, 512, 16),
        ({"windowsize": "65535"}, LIM, {"windowsize": "64"}, 512, 64),
        ({"windowsize": "0"}, LIM, {}, 512, 1),
        ({"multicast": "", "foo": "1"}, LIM, {}, 512, 1),
        ({"BLKSIZE": "1024", "TSize": "0"}, LIM, {"blksize": "1024", "tsize": "1000"}, 1024, 1),
        ({"blksize": "1024"}, w.Limits(blksize_enabled=False, tsize=5), {}, 512, 1),
        ({"windowsize": "8"}, w.Limits(windowsize_enabled=False), {}, 512, 1),
        ({"tsize": "0"}, w.Limits(tsize_enabled=False, tsize=9), {}, 512, 1),
    ],
)
def test_negotiation_table(client: dict[str, str], limits: w.Limits, oack: dict[str, str],
                           blksize: int, windowsize: int) -> None:
    neg = w.negotiate(client, limits)
    assert neg.oack == oack
    assert neg.blksize == blksize
    assert neg.windowsize == windowsize


def test_negotiation_keeps_client_order_and_write_tsize() -> None:
    neg = w.negotiate({"tsize": "4096", "blksize": "1024"}, w.Limits(), write=True)
    assert list(neg.oack.items()) == [("tsize", "4096"), ("blksize", "1024")]
    assert neg.tsize == 4096


@given(st.dictionaries(st.sampled_from(["blksize", "tsize", "timeout", "windowsize", "x",
                                        "BlkSize"]), st.text(max_size=8)),
       st.integers(8, 65464), st.integers(1, 65535), st.none() | st.integers(0, 2**40))
def test_negotiation_never_adds_or_exceeds(client: dict[str, str], max_blk: int, max_win: int,
                                          tsize: int | None) -> None:
    neg = w.negotiate(client, w.Limits(max_blksize=max_blk, max_windowsize=max_win, tsize=tsize))
    asked = {k.lower() for k in client}
    assert set(neg.oack) <= asked
    if "blksize" in neg.oack:
        assert 8 <= int(neg.oack["blksize"]) <= max_blk
    if "windowsize" in neg.oack:
        assert 1 <= int(neg.oack["windowsize"]) <= max_win
    if "timeout" in neg.oack:
        assert 1 <= int(neg.oack["timeout"]) <= 255
    if "tsize" in neg.oack:
        assert int(neg.oack["tsize"]) == tsize
