"""DHCP/BOOTP messages (RFC 2131/2132, RFC 3396 long options, option overload). Pure.

    from pxelab.wire import dhcp, pxe

    msg = dhcp.decode(data)                 # -> DhcpMessage; malformed input -> WireError
    msg.op, msg.htype, msg.hlen, msg.hops, msg.xid, msg.secs, msg.flags, msg.broadcast
    msg.ciaddr, msg.yiaddr, msg.siaddr, msg.giaddr      # ipaddress.IPv4Address
    msg.chaddr                              # 16 bytes;  msg.mac -> '00:80:64:71:ab:0a'
    msg.sname, msg.file                     # header bytes, trailing NULs stripped
    msg.file_name, msg.server_name          # the same as str, up to the first NUL
    msg.message_type                        # dhcp.MessageType.DISCOVER ... or None
    msg.options                             # ordered: options that came in file/sname
                                            # (overload) and RFC 3396 pieces already merged
    55 in msg.options                       # True
    msg.options.get(55)                     # [1, 3, 6, ...]   typed (see options.TABLE)
    msg.options.get(54)                     # IPv4Address('192.168.10.20')
    msg.options.get(60)                     # pxe.VendorClass(prefix='PXEClient', arch=0, ...)
                                            # (== "PXEClient:Arch:..." as str or bytes too)
    msg.options.get(97)                     # pxe.ClientUuid; get(93) -> [0]; get(77) -> UserClass
    msg.options.raw(43)                     # b'\\x06\\x01\\x03...' (bytes as sent) or None
    msg.pxe_options()                       # pxe.PxeOptions of option 43 if the vendor class
                                            # is a PXE one (prefixes=...), else None
    msg.options.set(67, "pxelinux.0")       # typed value or raw bytes; keeps the option's place
    msg.options.remove(43)
    for code in msg.options: ...            # codes in order; .items() -> (code, raw bytes)
    msg.overload                            # 0..3: where the decoded packet carried options

    offer = dhcp.reply_to(msg, dhcp.MessageType.OFFER, server_id="192.168.10.20")
    offer.file = b"pxelinux.0"
    offer.options.set(60, "PXEClient")
    data = offer.encode()                   # padded to 300 bytes (BOOTP minimum)
    data = offer.encode(allow_overload=False, max_size=msg.max_reply_size())  # no-override

    dhcp.DhcpMessage(op=1, xid=0x1234, mac="00:80:64:71:ab:0a",
                     message_type=dhcp.MessageType.DISCOVER, options=[(93, [0]), (60, "PXEClient")])

encode(): options longer than 255 bytes are split (RFC 3396). When the options do not fit in
`max_size` (default 548: a 576-byte datagram, which every client takes; a client's own limit
is request.max_reply_size()) and `allow_overload` is true, they go on in the `file`, then the
`sname` header field (option 52), moving a file or server name found there into option 67/66
if that room is needed (as dnsmasq does; its `dhcp-no-override` is allow_overload=False).
If they still do not fit: EncodeError.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pxelab.wire import pxe
from pxelab.wire.errors import EncodeError, TruncatedError, WireError
from pxelab.wire.options import (
    ClientId,
    MessageType,
    Opt,
    decode_value,
    describe,
    encode_value,
    format_mac,
    mac_bytes,
    option_name,
)

IPv4 = ipaddress.IPv4Address

MAGIC_COOKIE = b"\x63\x82\x53\x63"
HEADER_SIZE = 236  # fixed BOOTP header, before the magic cookie
OPTIONS_OFFSET = HEADER_SIZE + 4
SNAME_OFFSET, SNAME_SIZE = 44, 64
FILE_OFFSET, FILE_SIZE = 108, 128
BOOTREQUEST, BOOTREPLY = 1, 2
BROADCAST_FLAG = 0x8000
MIN_SIZE = 300  # RFC 1542: relay agents and old clients want at least a BOOTP-sized message
# RFC 2131: every client accepts an options field of 312 bytes: a 576-byte IP datagram.
DEFAULT_MAX_SIZE = HEADER_SIZE + 312
UDP_IP_HEADERS = 28

OVERLOAD_FILE, OVERLOAD_SNAME = 1, 2
# op htype hlen hops xid secs flags ciaddr yiaddr siaddr giaddr chaddr sname file
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")

__all__ = [
    "BOOTREPLY",
    "BOOTREQUEST",
    "ClientId",
    "DhcpMessage",
    "MessageType",
    "Opt",
    "Options",
    "ReplyTemplate",
    "Request",
    "decode",
    "encode_options",
    "encode_reply",
    "option_name",
    "reply_to",
    "reuse_reply",
    "scan_options",
    "tlv",
]


class Options:
    """Ordered DHCP options: code -> raw bytes (RFC 3396 pieces joined), typed on access.

    Typed access raises WireError (naming the option and its byte offset in the packet)
    when the bytes do not fit the option's type; raw() never does.
    """

    __slots__ = ("_items", "_offsets")

    def __init__(self, items: Iterable[tuple[int, Any]] | Mapping[int, Any] | None = None) -> None:
        self._items: dict[int, bytes] = {}
        self._offsets: dict[int, int] = {}
        if isinstance(items, Mapping):
            items = items.items()
        for code, value in items or ():
            self.set(code, value)

    # -- reading
    def __contains__(self, code: object) -> bool:
        return code in self._items

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, code: int) -> Any:
        if code not in self._items:
            raise KeyError(code)
        return self.get(code)

    def items(self) -> list[tuple[int, bytes]]:
        return list(self._items.items())

    def raw(self, code: int) -> bytes | None:
        return self._items.get(code)

    def get(self, code: int, default: Any = None) -> Any:
        raw = self._items.get(code)
        if raw is None:
            return default
        return decode_value(code, raw, self._offsets.get(code, 0))

    def offset(self, code: int) -> int | None:
        """Byte offset in the decoded packet where the option's first piece began."""
        return self._offsets.get(code)

    def problems(self) -> list[WireError]:
        """The typed-decoding errors of every option (empty when all are well formed)."""
        out = []
        for code in self._items:
            try:
                self.get(code)
            except WireError as exc:
                out.append(exc)
        return out

    # -- writing
    def set(self, code: int, value: Any) -> None:
        """Set an option from a typed value or bytes; an existing option keeps its place."""
        if not isinstance(code, int) or not 1 <= code <= 254:
            raise EncodeError(f"option code {code!r} out of range 1..254")
        if value is None:
            self.remove(code)
            return
        self._items[code] = encode_value(code, value)
        self._offsets.pop(code, None)

    def __setitem__(self, code: int, value: Any) -> None:
        self.set(code, value)

    def remove(self, code: int) -> None:
        self._items.pop(code, None)
        self._offsets.pop(code, None)

    __delitem__ = remove

    def move_to_front(self, code: int) -> None:
        if code in self._items:
            self._items = {code: self._items[code], **self._items}

    def copy(self) -> Options:
        new = Options()
        new._items = dict(self._items)
        new._offsets = dict(self._offsets)
        return new

    def _append_raw(self, code: int, raw: bytes, offset: int) -> None:
        if code in self._items:
            self._items[code] += raw  # RFC 3396: pieces of one option are concatenated
        else:
            self._items[code] = raw
            self._offsets[code] = offset

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Options):
            return NotImplemented
        return list(self._items.items()) == list(other._items.items())

    def __repr__(self) -> str:
        parts = []
        for code, raw in self._items.items():
            try:
                val: Any = self.get(code)
            except WireError:
                val = raw
            parts.append(f"{code}={val!r}")
        return f"Options({', '.join(parts)})"


def _ip(value: Any, what: str) -> IPv4:
    try:
        return IPv4(value)
    except (ValueError, TypeError) as exc:
        raise EncodeError(f"{what}: {value!r} is not an IPv4 address") from exc


class _Field:
    """A header field normalised on assignment (so `msg.yiaddr = "10.0.0.5"` just works)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.__dict__[self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = self.convert(value)

    def convert(self, value: Any) -> Any:
        raise NotImplementedError


class _IpField(_Field):
    def convert(self, value: Any) -> IPv4:
        return value if type(value) is IPv4 else _ip(value, self.name)


class _BytesField(_Field):
    """chaddr (padded to 16 bytes) or sname/file (trailing NULs stripped; str accepted)."""

    def __init__(self, size: int, pad: bool) -> None:
        self.size = size
        self.pad = pad

    def convert(self, value: Any) -> bytes:
        if isinstance(value, str):
            value = pxe.bytes_of(value)
        if not isinstance(value, bytes | bytearray | memoryview):
            raise EncodeError(f"{self.name}: {value!r} is not bytes")
        value = bytes(value)
        if len(value) > self.size:
            raise EncodeError(f"{self.name}: {len(value)} bytes, the field holds {self.size}")
        return value.ljust(self.size, b"\x00") if self.pad else value.rstrip(b"\x00")


class DhcpMessage:
    """A BOOTP/DHCP message. Every header field is an attribute; options in `options`."""

    ciaddr = _IpField()
    yiaddr = _IpField()
    siaddr = _IpField()
    giaddr = _IpField()
    chaddr = _BytesField(16, pad=True)
    sname = _BytesField(SNAME_SIZE, pad=False)
    file = _BytesField(FILE_SIZE, pad=False)

    def __init__(
        self,
        *,
        op: int = BOOTREQUEST,
        htype: int = 1,
        hlen: int = 6,
        hops: int = 0,
        xid: int = 0,
        secs: int = 0,
        flags: int = 0,
        ciaddr: Any = "0.0.0.0",
        yiaddr: Any = "0.0.0.0",
        siaddr: Any = "0.0.0.0",
        giaddr: Any = "0.0.0.0",
        chaddr: bytes = b"",
        mac: str | bytes | None = None,
        sname: bytes | str = b"",
        file: bytes | str = b"",
        options: Options | Iterable[tuple[int, Any]] | Mapping[int, Any] | None = None,
        message_type: int | None = None,
        cookie: bool = True,
        vendor_area: bytes = b"",
        overload: int = 0,
    ) -> None:
        self.op = op
        self.htype = htype
        self.hlen = hlen
        self.hops = hops
        self.xid = xid
        self.secs = secs
        self.flags = flags
        self.ciaddr = ciaddr
        self.yiaddr = yiaddr
        self.siaddr = siaddr
        self.giaddr = giaddr
        if mac is not None:
            chaddr = mac_bytes(mac)
            self.hlen = len(chaddr)
        self.chaddr = chaddr
        self.sname = sname
        self.file = file
        self.options = options if isinstance(options, Options) else Options(options)
        if message_type is not None:
            self.options.set(Opt.MESSAGE_TYPE, int(message_type))
            self.options.move_to_front(Opt.MESSAGE_TYPE)
        # A message without the magic cookie is plain BOOTP: its 64-byte vendor area is kept.
        self.cookie = cookie
        self.vendor_area = vendor_area
        # Where the decoded packet carried options (1 file, 2 sname, 3 both); informative only.
        self.overload = overload

    # -- convenience views
    @property
    def broadcast(self) -> bool:
        return bool(self.flags & BROADCAST_FLAG)

    @broadcast.setter
    def broadcast(self, value: bool) -> None:
        self.flags = (self.flags | BROADCAST_FLAG) if value else (self.flags & ~BROADCAST_FLAG)

    @property
    def mac(self) -> str:
        return format_mac(self.chaddr[: min(self.hlen, 16)])

    @property
    def file_name(self) -> str:
        return pxe.text_of(self.file.split(b"\x00", 1)[0])

    @file_name.setter
    def file_name(self, value: str) -> None:
        self.file = pxe.bytes_of(value)

    @property
    def server_name(self) -> str:
        return pxe.text_of(self.sname.split(b"\x00", 1)[0])

    @server_name.setter
    def server_name(self, value: str) -> None:
        self.sname = pxe.bytes_of(value)

    @property
    def message_type(self) -> int | None:
        raw = self.options.raw(Opt.MESSAGE_TYPE)
        if raw is None or len(raw) != 1:
            return None
        try:
            return MessageType(raw[0])
        except ValueError:
            return raw[0]

    @message_type.setter
    def message_type(self, value: int | None) -> None:
        self.options.set(Opt.MESSAGE_TYPE, None if value is None else int(value))

    @property
    def is_dhcp(self) -> bool:
        return self.cookie and Opt.MESSAGE_TYPE in self.options

    @property
    def vendor_class(self) -> pxe.VendorClass | None:
        raw = self.options.raw(Opt.VENDOR_CLASS)
        return None if raw is None else pxe.VendorClass.parse(raw)

    def is_pxe(self, prefixes: Iterable[str] = ("PXEClient",)) -> bool:
        vc = self.vendor_class
        return vc is not None and vc.is_pxe(prefixes)

    def pxe_options(self, prefixes: Iterable[str] = ("PXEClient",)) -> pxe.PxeOptions | None:
        """Option 43 as PXE sub-options, when present and the vendor class is a PXE one."""
        raw = self.options.raw(Opt.VENDOR_SPECIFIC)
        if raw is None or not self.is_pxe(prefixes):
            return None
        start = self.options.offset(Opt.VENDOR_SPECIFIC)
        return pxe.PxeOptions.decode(raw, 0 if start is None else start + 2)

    def max_reply_size(self) -> int:
        """Largest DHCP payload the sender of this message accepts: its option 57 (a whole
        IP datagram) less the IP and UDP headers; never below the RFC 2131 minimum."""
        raw = self.options.raw(Opt.MAX_MESSAGE_SIZE)
        if raw is None or len(raw) != 2:
            return DEFAULT_MAX_SIZE
        return max(DEFAULT_MAX_SIZE, int.from_bytes(raw, "big") - UDP_IP_HEADERS)

    def set_pxe_options(self, opts: pxe.PxeOptions | None) -> None:
        self.options.set(Opt.VENDOR_SPECIFIC, None if opts is None else opts.encode())

    # -- comparison
    def _key(self) -> tuple[Any, ...]:
        return (
            self.op, self.htype, self.hlen, self.hops, self.xid, self.secs, self.flags,
            self.ciaddr, self.yiaddr, self.siaddr, self.giaddr, self.chaddr,
            self.sname, self.file, self.options, self.cookie,
            self.vendor_area if not self.cookie else b"",
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DhcpMessage):
            return NotImplemented
        return self._key() == other._key()

    def __repr__(self) -> str:
        mt = self.message_type
        name = mt.name if isinstance(mt, MessageType) else mt
        return (
            f"DhcpMessage(op={self.op}, type={name}, xid={self.xid:#010x}, mac={self.mac}, "
            f"ciaddr={self.ciaddr}, yiaddr={self.yiaddr}, siaddr={self.siaddr}, "
            f"giaddr={self.giaddr}, flags={self.flags:#06x}, sname={self.sname!r}, "
            f"file={self.file!r}, options={self.options!r})"
        )

    def to_dict(self, pxe_prefixes: Iterable[str] = ("PXEClient",)) -> dict[str, Any]:
        """A JSON-ready summary (logs, `pxelab probe` output): typed values where they decode,
        the bytes in hex always, and the error text where a typed decode fails."""
        mt = self.message_type
        out: dict[str, Any] = {
            "op": self.op,
            "htype": self.htype,
            "hlen": self.hlen,
            "hops": self.hops,
            "xid": f"{self.xid:#010x}",
            "secs": self.secs,
            "flags": self.flags,
            "broadcast": self.broadcast,
            "ciaddr": str(self.ciaddr),
            "yiaddr": str(self.yiaddr),
            "siaddr": str(self.siaddr),
            "giaddr": str(self.giaddr),
            "chaddr": self.chaddr.hex(),
            "mac": self.mac,
            "sname": self.server_name,
            "file": self.file_name,
            "message_type": mt.name if isinstance(mt, MessageType) else mt,
            "overload": self.overload,
            "options": [],
        }
        if not self.cookie:
            out["vendor_area"] = self.vendor_area.hex()
        for code, raw in self.options.items():
            entry: dict[str, Any] = {"code": code, "name": option_name(code), "hex": raw.hex()}
            try:
                value = self.options.get(code)
                if code == Opt.VENDOR_SPECIFIC and self.is_pxe(pxe_prefixes):
                    value = self.pxe_options(pxe_prefixes)
                if not isinstance(value, bytes):
                    entry["value"] = jsonable(value)
                if code == Opt.IPXE_ENCAP:
                    entry["ipxe"] = jsonable(pxe.ipxe_info(value))
            except WireError as exc:
                entry["error"] = str(exc)
            out["options"].append(entry)
        return out

    def copy(self) -> DhcpMessage:
        new = DhcpMessage.__new__(DhcpMessage)
        new.__dict__.update(self.__dict__)
        new.options = self.options.copy()
        return new

    # -- encoding
    def encode(
        self,
        *,
        allow_overload: bool = True,
        min_size: int = MIN_SIZE,
        max_size: int | None = DEFAULT_MAX_SIZE,
    ) -> bytes:
        """Bytes on the wire. max_size=None: no limit (never overload)."""
        sname, file = self.sname, self.file
        for what, value, size in (("sname", sname, SNAME_SIZE), ("file", file, FILE_SIZE)):
            if len(value) > size:
                raise EncodeError(f"{what}: {len(value)} bytes, the header field holds {size}")
        if not self.cookie:
            if len(self.options):
                raise EncodeError("a BOOTP message without the magic cookie carries no options")
            if len(self.vendor_area) > 64:
                raise EncodeError(f"BOOTP vendor area: {len(self.vendor_area)} bytes, max 64")
            body = self._header(sname, file) + self.vendor_area.ljust(64, b"\x00")
            return body.ljust(min_size, b"\x00")

        items = self.options.items()
        for code, _ in items:
            if code == Opt.OVERLOAD:
                raise EncodeError("option 52 (overload) is computed by encode(); remove it")
        flat = _tlvs(items)
        room = None if max_size is None else max_size - OPTIONS_OFFSET - 1
        if room is not None and room < 0:
            raise EncodeError(f"max_size {max_size} is smaller than the DHCP header")
        if room is None or len(flat) <= room:
            opts_area = flat + b"\xff"
        else:
            if not allow_overload:
                raise EncodeError(
                    f"options need {len(flat) + 1} bytes, {room + 1} fit in max_size {max_size} "
                    "and overload is off"
                )
            opts_area, file, sname, _flag = _overload(items, room, file, sname)
        hdr = self._header(sname, file)
        data = hdr + MAGIC_COOKIE + opts_area
        return data.ljust(min_size, b"\x00")

    def _header(self, sname: bytes, file: bytes) -> bytes:
        try:
            return _HEADER.pack(
                self.op, self.htype, self.hlen, self.hops, self.xid, self.secs, self.flags,
                self.ciaddr.packed, self.yiaddr.packed, self.siaddr.packed, self.giaddr.packed,
                self.chaddr, sname, file,
            )  # fmt: skip
        except struct.error as exc:
            raise EncodeError(f"header field out of range: {exc}") from exc


def jsonable(value: Any) -> Any:
    """Typed option values -> JSON types (addresses and text as str, bytes as hex)."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool | int | str | None):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, IPv4):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, pxe.ClientUuid):
        return {"hex": value.raw.hex(), "valid": value.valid, "problem": value.problem,
                "pxelinux_name": value.pxelinux_name()}  # fmt: skip
    if isinstance(value, pxe.PxeOptions):
        out = {
            name: jsonable(getattr(value, name))
            for name in ("discovery_control", "boot_servers", "menu", "prompt", "boot_item")
            if getattr(value, name) is not None
        }
        out["other"] = [[c, v.hex()] for c, v in value.other]
        if value.duplicates():
            out["duplicates"] = value.duplicates()
        return out
    if isinstance(value, pxe.EncapsulatedOptions):
        return [[c, v.hex()] for c, v in value.entries]
    if dataclasses.is_dataclass(value):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return repr(value)


def _tlvs(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Options as TLVs; values over 255 bytes become several TLVs of one code (RFC 3396)."""
    out = bytearray()
    for code, raw in items:
        if not raw:
            out += bytes((code, 0))
        for i in range(0, len(raw), 255):
            piece = raw[i : i + 255]
            out += bytes((code, len(piece))) + piece
    return bytes(out)


def _overload(
    items: list[tuple[int, bytes]], room: int, file: bytes, sname: bytes
) -> tuple[bytes, bytes, bytes, int]:
    """Spread options over the options field, then file, then sname (RFC 2131 4.1, RFC 3396).

    Order is kept (so decoding joins the pieces back in order). First each option (or each
    255-byte piece of a long one) goes whole into the field where it fits, as clients without
    RFC 3396 need; only if that wastes too much room are options split at field boundaries.
    """
    items = list(items)
    moved_file = moved_sname = False
    if file and not any(c == Opt.BOOTFILE_NAME for c, _ in items):
        moved_file = True
    if sname and not any(c == Opt.TFTP_SERVER_NAME for c, _ in items):
        moved_sname = True

    def attempt(use_file: bool, use_sname: bool, split: bool) -> list[bytearray] | None:
        todo = list(items)
        if use_file and file:
            todo.append((int(Opt.BOOTFILE_NAME), file))
        if use_sname and sname:
            todo.append((int(Opt.TFTP_SERVER_NAME), sname))
        caps = [room - 3]  # option 52 takes 3 bytes of the options field
        if use_file:
            caps.append(FILE_SIZE - 1)
        if use_sname:
            caps.append(SNAME_SIZE - 1)
        if caps[0] < 0:
            return None
        areas = [bytearray() for _ in caps]
        a = 0
        for code, raw in todo:
            rest = raw
            first = True
            while first or rest:
                chunk = rest[:255]
                left = caps[a] - len(areas[a])
                if 2 + len(chunk) > left:
                    if split and left >= 3:
                        chunk = chunk[: left - 2]  # RFC 3396: the rest goes on in the next field
                    else:
                        a += 1
                        if a >= len(caps):
                            return None
                        continue
                areas[a] += bytes((code, len(chunk))) + chunk
                rest = rest[len(chunk) :]
                first = False
        return areas

    # Prefer using only the empty header fields; move the file/sname names out only if needed.
    plans = []
    for use_file in (False, True):
        for use_sname in (False, True):
            if not (use_file or use_sname):
                continue
            if (use_file and file and not moved_file) or (use_sname and sname and not moved_sname):
                continue
            cost = (bool(use_file and file), bool(use_sname and sname), use_sname, use_file)
            plans.append((cost, use_file, use_sname))
    tries = [(split, p) for split in (False, True) for p in sorted(plans)]
    for split, (_, use_file, use_sname) in tries:
        areas = attempt(use_file, use_sname, split)
        if areas is None:
            continue
        flag = (OVERLOAD_FILE if use_file else 0) | (OVERLOAD_SNAME if use_sname else 0)
        first = bytes(areas[0])
        # Option 52 goes right after a leading message type: some ROMs look for 53 first.
        lead = 3 if first[:2] == bytes((Opt.MESSAGE_TYPE, 1)) else 0
        opts = first[:lead] + bytes((Opt.OVERLOAD, 1, flag)) + first[lead:] + b"\xff"
        i = 1
        new_file, new_sname = file, sname
        if use_file:
            new_file = (bytes(areas[i]) + b"\xff").ljust(FILE_SIZE, b"\x00")
            i += 1
        if use_sname:
            new_sname = (bytes(areas[i]) + b"\xff").ljust(SNAME_SIZE, b"\x00")
        return opts, new_file, new_sname, flag
    total = len(_tlvs(items)) + 1
    raise EncodeError(
        f"options need {total} bytes: more than fit in the options field ({room + 1}), "
        "file and sname together"
    )


# -- decoding ----------------------------------------------------------------------------------


def scan_options(data: bytes, start: int, end: int, into: dict[int, bytes],
                 offsets: dict[int, int] | None = None, where: str = "options field") -> None:
    """Walk the options in data[start:end] into `into` (code -> raw bytes; RFC 3396 pieces
    of one option joined in order), stopping at END (255). `offsets` gets where each option's
    first piece began. Raises TruncatedError naming the option and the byte.

    The one option walker, under the one request reader (Request.from_bytes).
    """
    pos = start
    while pos < end:
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            return
        if pos + 1 >= end:
            raise TruncatedError(f"{describe(code)} in {where}: length byte missing", pos)
        length = data[pos + 1]
        nxt = pos + 2 + length
        if nxt > end:
            raise TruncatedError(
                f"{describe(code)} in {where}: length {length} but {end - pos - 2} bytes left",
                pos + 1,
            )
        if code in into:
            into[code] += data[pos + 2 : nxt]
        else:
            into[code] = data[pos + 2 : nxt]
            if offsets is not None:
                offsets[code] = pos
        pos = nxt


def _parse_options(data: bytes, start: int, end: int, into: Options, where: str) -> None:
    scan_options(data, start, end, into._items, into._offsets, where)


# op htype hlen hops xid secs flags ciaddr yiaddr siaddr giaddr chaddr: sname/file are sliced
# only by the full decoder, which wants them; the proxy never reads them.
_REQ_HEADER = struct.Struct("!BBBB4s2sH4s4s4s4s16s")
_ZERO4 = bytes(4)


class Request:
    """A BOOTP/DHCP message read once, raw: header fields as bytes/ints, options code -> raw
    bytes (RFC 3396 pieces joined, overloaded file/sname fields read, option 52 taken out
    into `overload`). The one request reader: `decode` builds its DhcpMessage from it, and the
    proxy's hot path uses it as it is (no typed layer, no copies of the packet).
    """

    __slots__ = ("chaddr", "ciaddr", "cookie", "data", "flags", "giaddr", "hlen", "hops",
                 "htype", "offsets", "op", "options", "overload", "port", "secs", "siaddr",
                 "xid", "yiaddr")

    def __init__(self, port: int = 67, op: int = BOOTREQUEST, htype: int = 1, hlen: int = 6,
                 hops: int = 0, xid: bytes = _ZERO4, secs: bytes = b"\0\0", flags: int = 0,
                 ciaddr: bytes = _ZERO4, giaddr: bytes = _ZERO4, chaddr: bytes = bytes(16),
                 cookie: bool = True, options: dict[int, bytes] | None = None, *,
                 yiaddr: bytes = _ZERO4, siaddr: bytes = _ZERO4, data: bytes = b"",
                 offsets: dict[int, int] | None = None, overload: int = 0) -> None:
        self.port = port
        self.op = op
        self.htype = htype
        self.hlen = hlen
        self.hops = hops
        self.xid = xid
        self.secs = secs
        self.flags = flags
        self.ciaddr = ciaddr
        self.yiaddr = yiaddr
        self.siaddr = siaddr
        self.giaddr = giaddr
        self.chaddr = chaddr
        self.cookie = cookie
        self.options = {} if options is None else options
        self.offsets = offsets
        self.overload = overload
        self.data = data

    @classmethod
    def from_bytes(cls, data: bytes, port: int = 67, *, honour_overload: bool = True,
                   offsets: dict[int, int] | None = None,
                   strict: bool = False) -> Request:
        """Read a message; WireError on a truncated header, cookie or option. `offsets`
        gets where each option began. strict=True also rejects an option 52 that is not
        1, 2 or 3 (as `decode` does); the proxy reads its bits as dnsmasq does."""
        n = len(data)
        if n < HEADER_SIZE:
            raise TruncatedError(
                f"DHCP message of {n} bytes, the BOOTP header needs {HEADER_SIZE}", n)
        (op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi,
         chaddr) = _REQ_HEADER.unpack_from(data)  # fmt: skip
        # slots set here, not through __init__'s keywords: this runs once per packet
        req = cls.__new__(cls)
        req.port, req.op, req.htype, req.hlen, req.hops = port, op, htype, hlen, hops
        req.xid, req.secs, req.flags, req.ciaddr, req.yiaddr = xid, secs, flags, ci, yi
        req.siaddr, req.giaddr, req.chaddr, req.data, req.offsets = si, gi, chaddr, data, offsets
        req.cookie, req.overload = True, 0
        req.options = {}
        if data[HEADER_SIZE:OPTIONS_OFFSET] != MAGIC_COOKIE:
            tail = data[HEADER_SIZE:]
            if n >= OPTIONS_OFFSET or not tail or not MAGIC_COOKIE.startswith(tail):
                req.cookie = False  # plain BOOTP (RFC 951): no options
                return req
            raise TruncatedError("DHCP magic cookie cut short", n)
        options = req.options
        scan_options(data, OPTIONS_OFFSET, n, options, offsets)
        raw52 = options.pop(Opt.OVERLOAD, None)
        if raw52 is None:
            return req
        if strict:
            off = offsets.pop(Opt.OVERLOAD, OPTIONS_OFFSET) if offsets else OPTIONS_OFFSET
            overload = int(decode_value(Opt.OVERLOAD, raw52, off))  # type: ignore[call-overload]
        else:
            overload = (raw52[0] & 3) if raw52 else 0
            if offsets:
                offsets.pop(Opt.OVERLOAD, None)
        req.overload = overload
        if not honour_overload:
            return req
        # RFC 3396: the options field first, then file, then sname.
        if overload & OVERLOAD_FILE:
            scan_options(data, FILE_OFFSET, FILE_OFFSET + FILE_SIZE, options, offsets,
                         "file field")
        if overload & OVERLOAD_SNAME:
            scan_options(data, SNAME_OFFSET, SNAME_OFFSET + SNAME_SIZE, options, offsets,
                         "sname field")
        # Option 52 inside file/sname means nothing (RFC 2131): drop it.
        options.pop(Opt.OVERLOAD, None)
        if offsets:
            offsets.pop(Opt.OVERLOAD, None)
        return req

    @property
    def message_type(self) -> int:
        mt = self.options.get(Opt.MESSAGE_TYPE)
        return mt[0] if mt else 0

    @property
    def mac(self) -> str:
        return self.chaddr[: min(self.hlen, 16)].hex(":")

    @property
    def arch(self) -> int | None:
        raw = self.options.get(Opt.CLIENT_ARCH)
        return int.from_bytes(raw[:2], "big") if raw and len(raw) >= 2 else None

    @property
    def xid_int(self) -> int:
        return int.from_bytes(self.xid, "big")


# -- the replies' fast encoder --------------------------------------------------------------

# op htype hlen hops xid secs flags ciaddr yiaddr siaddr giaddr chaddr
_REPLY_HEAD = struct.Struct("!BBBB4s2sH4s4s4s4s16s")


def encode_options(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Options as TLVs in the order given, no END; a value over 255 bytes becomes several
    TLVs of one code (RFC 3396)."""
    return _tlvs(items)


class ReplyTemplate:
    """A BOOTREPLY with everything that does not depend on the client encoded once: siaddr,
    sname, file, the magic cookie and two runs of options. `encode` adds the request's header
    fields (htype, hlen, hops, xid, secs, giaddr, chaddr), the flags/ciaddr/yiaddr asked for,
    options between the two runs (`middle`) and after them (`end`), END and padding to 300.
    """

    __slots__ = ("_fixed", "head", "siaddr", "tail")

    def __init__(self, *, siaddr: bytes = _ZERO4, sname: bytes = b"", file: bytes = b"",
                 head: Iterable[tuple[int, bytes]] = (), tail: bytes | Iterable = b"") -> None:
        if len(sname) > SNAME_SIZE - 1 or len(file) > FILE_SIZE - 1:
            raise EncodeError("sname/file longer than the header field (less its NUL)")
        self.siaddr = siaddr
        self.head = encode_options(head)
        self.tail = tail if isinstance(tail, bytes) else encode_options(tail)
        self._fixed = (sname.ljust(SNAME_SIZE, b"\0") + file.ljust(FILE_SIZE, b"\0")
                       + MAGIC_COOKIE + self.head)

    def encode(self, req: Request, flags: int, ciaddr: bytes = _ZERO4,
               yiaddr: bytes = _ZERO4, middle: bytes = b"", end: bytes = b"") -> bytes:
        out = b"".join((
            _REPLY_HEAD.pack(BOOTREPLY, req.htype, req.hlen, req.hops, req.xid, req.secs, flags,
                             ciaddr, yiaddr, self.siaddr, req.giaddr, req.chaddr),
            self._fixed, middle, self.tail, end, b"\xff",
        ))
        if len(out) < MIN_SIZE:
            out += bytes(MIN_SIZE - len(out))
        return out


def encode_reply(template: ReplyTemplate, req: Request, **fields: Any) -> bytes:
    """template.encode(req, **fields): the reply bytes for one request."""
    return template.encode(req, **fields)


def tlv(code: int, value: bytes) -> bytes:
    """One option of up to 255 bytes, for the per-request options of ReplyTemplate.encode."""
    return bytes((code, len(value))) + value


def reuse_reply(reply: bytes, data: bytes) -> bytes:
    """A reply encoded for one request, made the reply to another that differs from it only
    in xid, secs and chaddr: those three are copied from the new request `data`."""
    return reply[:4] + data[4:10] + reply[10:28] + data[28:44] + reply[44:]


def decode(data: bytes, *, honour_overload: bool = True) -> DhcpMessage:
    """Decode a BOOTP/DHCP message; raises only WireError (and subclasses).

    honour_overload=False reads the packet as a ROM that ignores option 52 does: `file` and
    `sname` stay the raw header bytes and their options are not read (`overload` still says
    what option 52 announced). Another exception escaping is a decoder bug, left as it is so a
    fuzzer sees it (servers guard each packet themselves).
    """
    return _decode(bytes(data), honour_overload)


def _decode(data: bytes, honour_overload: bool = True) -> DhcpMessage:
    opts = Options()
    req = Request.from_bytes(data, honour_overload=honour_overload, offsets=opts._offsets,
                             strict=True)
    opts._items = req.options
    msg = DhcpMessage.__new__(DhcpMessage)
    # Straight into __dict__: the field setters' checks cannot fail on unpacked values.
    msg.__dict__.update(
        op=req.op, htype=req.htype, hlen=req.hlen, hops=req.hops,
        xid=int.from_bytes(req.xid, "big"), secs=int.from_bytes(req.secs, "big"),
        flags=req.flags, ciaddr=IPv4(req.ciaddr), yiaddr=IPv4(req.yiaddr),
        siaddr=IPv4(req.siaddr), giaddr=IPv4(req.giaddr), chaddr=req.chaddr,
        options=opts, overload=req.overload, vendor_area=b"", cookie=req.cookie,
    )  # fmt: skip
    sname_raw = data[SNAME_OFFSET : SNAME_OFFSET + SNAME_SIZE]
    file_raw = data[FILE_OFFSET : FILE_OFFSET + FILE_SIZE]
    if not req.cookie:
        # Plain BOOTP (RFC 951): no options, keep the vendor area as it came.
        msg.vendor_area = data[HEADER_SIZE : HEADER_SIZE + 64].rstrip(b"\x00")
        msg.sname, msg.file = sname_raw.rstrip(b"\x00"), file_raw.rstrip(b"\x00")
        return msg
    overload = req.overload if honour_overload else 0
    msg.sname = b"" if overload & OVERLOAD_SNAME else sname_raw.rstrip(b"\x00")
    msg.file = b"" if overload & OVERLOAD_FILE else file_raw.rstrip(b"\x00")
    return msg


def reply_to(
    request: DhcpMessage,
    message_type: int | None = None,
    *,
    server_id: Any = None,
    yiaddr: Any = "0.0.0.0",
    siaddr: Any = "0.0.0.0",
) -> DhcpMessage:
    """A reply skeleton per RFC 2131 table 3: xid, flags, giaddr, chaddr, htype/hlen copied,
    hops and secs 0, option 53 first (then 54 if `server_id`). ciaddr stays 0: an ACK may
    copy the request's (RFC 2131), dnsmasq's PXE ACK on port 4011 does not; the caller picks."""
    reply = DhcpMessage(
        op=BOOTREPLY,
        htype=request.htype,
        hlen=request.hlen,
        xid=request.xid,
        flags=request.flags,
        giaddr=request.giaddr,
        chaddr=request.chaddr,
        yiaddr=yiaddr,
        siaddr=siaddr,
        message_type=message_type,
    )
    if server_id is not None:
        reply.options.set(Opt.SERVER_ID, server_id)
    return reply
