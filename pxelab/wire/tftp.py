"""TFTP packets (RFC 1350) and option negotiation (RFC 2347/2348/2349/7440).

Pure: bytes in, typed values out, and back. Filenames, modes and option strings are decoded as
latin-1 so any byte sequence survives a round trip; a server turns a filename back into the exact
bytes the client sent with `name.encode("latin-1")`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from pxelab.wire.errors import BadValueError, EncodeError, TruncatedError

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6
OPCODE_NAMES = {RRQ: "RRQ", WRQ: "WRQ", DATA: "DATA", ACK: "ACK", ERROR: "ERROR", OACK: "OACK"}

# RFC 1350 error codes, and 8 from RFC 2347.
ERR_UNDEFINED = 0
ERR_NOT_FOUND = 1
ERR_ACCESS = 2
ERR_DISK_FULL = 3
ERR_ILLEGAL_OP = 4
ERR_UNKNOWN_TID = 5
ERR_EXISTS = 6
ERR_NO_USER = 7
ERR_OPTION = 8

BLKSIZE_MIN, BLKSIZE_MAX = 8, 65464
TIMEOUT_MIN, TIMEOUT_MAX = 1, 255
WINDOWSIZE_MIN, WINDOWSIZE_MAX = 1, 65535
DEFAULT_BLKSIZE = 512

_HH = struct.Struct(">HH")
_H = struct.Struct(">H")
# An option value is a decimal number; longer digit strings are nonsense, not numbers to parse.
_MAX_DIGITS = 20


@dataclass(frozen=True)
class Request:
    """RRQ or WRQ. `options` keys are lower-case, in the order the client sent them."""

    opcode: int
    filename: str
    mode: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.opcode == WRQ


@dataclass(frozen=True)
class Data:
    block: int
    payload: bytes


@dataclass(frozen=True)
class Ack:
    block: int


@dataclass(frozen=True)
class Error:
    code: int
    message: str


@dataclass(frozen=True)
class OAck:
    options: dict[str, str] = field(default_factory=dict)


Packet = Request | Data | Ack | Error | OAck


# ---------------------------------------------------------------- decoding


def _strings(buf: bytes, start: int) -> list[tuple[str, int]]:
    """NUL-terminated latin-1 strings from `start` to the end, each with its offset."""
    out: list[tuple[str, int]] = []
    pos, end = start, len(buf)
    while pos < end:
        nul = buf.find(b"\0", pos)
        if nul < 0:
            raise TruncatedError("string not terminated by NUL", pos)
        out.append((buf[pos:nul].decode("latin-1"), pos))
        pos = nul + 1
    return out


def _options(strings: list[tuple[str, int]]) -> dict[str, str]:
    opts: dict[str, str] = {}
    i, n = 0, len(strings)
    while i < n:
        name, off = strings[i]
        if not name:
            # Trailing NULs are padding (some ROMs pad their requests); anything after is not.
            if all(not s for s, _ in strings[i:]):
                break
            raise BadValueError("empty option name", off)
        if i + 1 >= n:
            raise TruncatedError("option name without a value", off)
        # RFC 2347: names are case-insensitive; a repeated option keeps its first value.
        opts.setdefault(name.lower(), strings[i + 1][0])
        i += 2
    return opts


def decode(buf: bytes) -> Packet:
    """One TFTP packet. Malformed input raises a WireError subclass naming the problem.

    Nothing here turns another exception into a WireError: one escaping is a decoder bug, and
    the fuzzers must see it as one (servers guard each packet themselves).
    """
    buf = bytes(buf)
    if len(buf) < 2:
        raise TruncatedError("packet shorter than its opcode", len(buf))
    (op,) = _H.unpack_from(buf, 0)
    if op in (RRQ, WRQ):
        strings = _strings(buf, 2)
        if len(strings) < 2:
            raise TruncatedError("request without filename and mode", len(buf))
        (filename, _), (mode, moff) = strings[0], strings[1]
        if not mode:
            raise BadValueError("empty transfer mode", moff)
        opts = _options(strings[2:])
        return Request(op, filename, mode.lower(), opts)
    if op == DATA:
        if len(buf) < 4:
            raise TruncatedError("DATA without block number", len(buf))
        return Data(_H.unpack_from(buf, 2)[0], buf[4:])
    if op == ACK:
        if len(buf) < 4:
            raise TruncatedError("ACK without block number", len(buf))
        # Bytes after the block number are ignored: some firmware pads its ACKs.
        return Ack(_H.unpack_from(buf, 2)[0])
    if op == ERROR:
        if len(buf) < 4:
            raise TruncatedError("ERROR without error code", len(buf))
        code = _H.unpack_from(buf, 2)[0]
        nul = buf.find(b"\0", 4)
        if nul < 0:
            raise TruncatedError("error message not terminated by NUL", 4)
        return Error(code, buf[4:nul].decode("latin-1"))
    if op == OACK:
        return OAck(_options(_strings(buf, 2)))
    raise BadValueError(f"unknown opcode {op}", 0)


# ---------------------------------------------------------------- encoding


def _cstr(text: str, what: str) -> bytes:
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise EncodeError(f"{what} has characters outside latin-1") from None
    if b"\0" in raw:
        raise EncodeError(f"{what} contains NUL")
    return raw + b"\0"


def _encode_options(options: Mapping[str, str]) -> bytes:
    out = bytearray()
    for name, value in options.items():
        if not name:
            raise EncodeError("empty option name")
        out += _cstr(name, "option name") + _cstr(str(value), "option value")
    return bytes(out)


def encode_request(req: Request) -> bytes:
    if req.opcode not in (RRQ, WRQ):
        raise EncodeError(f"opcode {req.opcode} is not a request")
    if not req.mode:
        raise EncodeError("empty transfer mode")
    return (
        _H.pack(req.opcode)
        + _cstr(req.filename, "filename")
        + _cstr(req.mode, "mode")
        + _encode_options(req.options)
    )


def data_header(block: int) -> bytes:
    return _HH.pack(DATA, block & 0xFFFF)


def encode_data(block: int, payload: bytes) -> bytes:
    if not 0 <= block <= 0xFFFF:
        raise EncodeError(f"block number {block} does not fit 16 bits")
    return _HH.pack(DATA, block) + payload


def encode_ack(block: int) -> bytes:
    if not 0 <= block <= 0xFFFF:
        raise EncodeError(f"block number {block} does not fit 16 bits")
    return _HH.pack(ACK, block)


def encode_error(code: int, message: str = "") -> bytes:
    if not 0 <= code <= 0xFFFF:
        raise EncodeError(f"error code {code} does not fit 16 bits")
    return _HH.pack(ERROR, code) + _cstr(message, "error message")


def encode_oack(options: Mapping[str, str]) -> bytes:
    return _H.pack(OACK) + _encode_options(options)


def encode(packet: Packet) -> bytes:
    if isinstance(packet, Request):
        return encode_request(packet)
    if isinstance(packet, Data):
        return encode_data(packet.block, packet.payload)
    if isinstance(packet, Ack):
        return encode_ack(packet.block)
    if isinstance(packet, Error):
        return encode_error(packet.code, packet.message)
    if isinstance(packet, OAck):
        return encode_oack(packet.options)
    raise EncodeError(f"not a TFTP packet: {type(packet).__name__}")


# ---------------------------------------------------------------- negotiation


@dataclass(frozen=True)
class Limits:
    """What the server allows. `tsize` is the file size for a read (None: unknown, not offered)."""

    max_blksize: int = BLKSIZE_MAX
    max_windowsize: int = WINDOWSIZE_MAX
    tsize: int | None = None
    blksize_enabled: bool = True
    tsize_enabled: bool = True
    timeout_enabled: bool = True
    windowsize_enabled: bool = True


@dataclass(frozen=True)
class Negotiated:
    """The transfer parameters after negotiation; `oack` is exactly what the OACK carries."""

    oack: dict[str, str]
    blksize: int = DEFAULT_BLKSIZE
    timeout: int | None = None
    windowsize: int = 1
    tsize: int | None = None


def _number(value: str) -> int | None:
    value = value.strip()
    if not value or len(value) > _MAX_DIGITS or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def negotiate(client: Mapping[str, str], limits: Limits, *, write: bool = False) -> Negotiated:
    """The options to acknowledge: only ones the client asked for, each within its range.

    An option with an unusable value is left out (the client then uses the RFC 1350 default),
    as RFC 2347 allows; values above a limit are lowered to it.
    """
    oack: dict[str, str] = {}
    blksize, timeout, windowsize, tsize = DEFAULT_BLKSIZE, None, 1, None
    for raw_name, raw_value in client.items():
        name = raw_name.lower()
        if name in oack:
            continue
        n = _number(raw_value)
        if name == "blksize" and limits.blksize_enabled:
            if n is None or n < BLKSIZE_MIN:
                continue
            cap = max(BLKSIZE_MIN, min(limits.max_blksize, BLKSIZE_MAX))
            blksize = min(n, cap)
            oack[name] = str(blksize)
        elif name == "tsize" and limits.tsize_enabled:
            if n is None:
                continue
            if write:
                tsize = n
            elif limits.tsize is None:
                continue
            else:
                tsize = limits.tsize
            oack[name] = str(tsize)
        elif name == "timeout" and limits.timeout_enabled:
            if n is None or not TIMEOUT_MIN <= n <= TIMEOUT_MAX:
                continue
            timeout = n
            oack[name] = str(n)
        elif name == "windowsize" and limits.windowsize_enabled:
            if n is None or n < WINDOWSIZE_MIN:
                continue
            cap = max(WINDOWSIZE_MIN, min(limits.max_windowsize, WINDOWSIZE_MAX))
            windowsize = min(n, cap)
            oack[name] = str(windowsize)
    return Negotiated(oack, blksize, timeout, windowsize, tsize)
