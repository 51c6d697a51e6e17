"""DHCP option table (RFC 2132 and later): which options have a typed value, and its codec.

`decode_value(code, raw, offset)` turns an option's bytes into its typed value (raising a
WireError that names the option and the byte offset), `encode_value(code, value)` does the
reverse and also accepts raw bytes for any option. Options without an entry stay bytes.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pxelab.wire import pxe
from pxelab.wire.errors import BadLengthError, BadValueError, EncodeError, WireError

IPv4 = ipaddress.IPv4Address


class MessageType(enum.IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class Opt(enum.IntEnum):
    """Names for the option codes pxelab deals with (any code 1..254 may still be used)."""

    PAD = 0
    SUBNET_MASK = 1
    TIME_OFFSET = 2
    ROUTER = 3
    DNS = 6
    HOSTNAME = 12
    BOOT_FILE_SIZE = 13
    DOMAIN_NAME = 15
    ROOT_PATH = 17
    MTU = 26
    BROADCAST = 28
    NTP = 42
    VENDOR_SPECIFIC = 43
    REQUESTED_IP = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETER_REQUEST_LIST = 55
    MESSAGE = 56
    MAX_MESSAGE_SIZE = 57
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    VENDOR_CLASS = 60
    CLIENT_ID = 61
    TFTP_SERVER_NAME = 66
    BOOTFILE_NAME = 67
    USER_CLASS = 77
    CLIENT_FQDN = 81
    RELAY_AGENT_INFO = 82
    CLIENT_ARCH = 93
    CLIENT_NII = 94
    CLIENT_UUID = 97
    DOMAIN_SEARCH = 119
    CLASSLESS_ROUTES = 121
    TFTP_SERVER_ADDRESS = 150
    IPXE_ENCAP = 175
    PXELINUX_MAGIC = 208
    PXELINUX_CONFIG_FILE = 209
    PXELINUX_PATH_PREFIX = 210
    PXELINUX_REBOOT_TIME = 211
    END = 255


@dataclass(frozen=True)
class ClientId:
    """Option 61: a type byte (1 = Ethernet) and the identifier bytes."""

    type: int
    data: bytes

    @classmethod
    def from_mac(cls, mac: str | bytes) -> ClientId:
        return cls(1, mac_bytes(mac))

    @property
    def mac(self) -> str | None:
        return format_mac(self.data) if self.type == 1 and len(self.data) == 6 else None


def format_mac(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def mac_bytes(mac: str | bytes) -> bytes:
    if isinstance(mac, bytes | bytearray):
        return bytes(mac)
    text = mac.replace("-", ":").replace(".", "")
    try:
        if ":" in text:
            parts = text.split(":")
            if not all(1 <= len(p) <= 2 for p in parts):
                raise ValueError
            return bytes(int(p, 16) for p in parts)
        return bytes.fromhex(text)
    except ValueError as exc:
        raise EncodeError(f"{mac!r} is not a MAC address") from exc


# --- codecs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str
    decode: Callable[[bytes, int, str], object]
    encode: Callable[[object, str], bytes]


def _need(raw: bytes, n: int, off: int, what: str) -> None:
    if len(raw) != n:
        raise BadLengthError(f"{what}: length {len(raw)}, expected {n}", off)


def _dec_uint(n: int) -> Callable[[bytes, int, str], object]:
    def dec(raw: bytes, off: int, what: str) -> object:
        _need(raw, n, off, what)
        return int.from_bytes(raw, "big")

    return dec


def _enc_uint(n: int, signed: bool = False) -> Callable[[object, str], bytes]:
    def enc(value: object, what: str) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(f"{what}: {value!r} is not an integer")
        try:
            return value.to_bytes(n, "big", signed=signed)
        except OverflowError as exc:
            raise EncodeError(f"{what}: {value} does not fit in {n} bytes") from exc

    return enc


def _dec_i32(raw: bytes, off: int, what: str) -> object:
    _need(raw, 4, off, what)
    return int.from_bytes(raw, "big", signed=True)


def _dec_bool(raw: bytes, off: int, what: str) -> object:
    _need(raw, 1, off, what)
    if raw[0] > 1:
        raise BadValueError(f"{what}: {raw[0]} is not a boolean (0 or 1)", off)
    return bool(raw[0])


def _enc_bool(value: object, what: str) -> bytes:
    if not isinstance(value, bool | int) or value not in (0, 1):
        raise EncodeError(f"{what}: {value!r} is not a boolean")
    return bytes((int(value),))


def _dec_ip(raw: bytes, off: int, what: str) -> object:
    _need(raw, 4, off, what)
    return IPv4(raw)


def _enc_ip(value: object, what: str) -> bytes:
    try:
        return IPv4(value).packed  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise EncodeError(f"{what}: {value!r} is not an IPv4 address") from exc


def _dec_ips(raw: bytes, off: int, what: str) -> object:
    if not raw or len(raw) % 4:
        raise BadLengthError(f"{what}: length {len(raw)}, expected a multiple of 4", off)
    return [IPv4(raw[i : i + 4]) for i in range(0, len(raw), 4)]


def _enc_ips(value: object, what: str) -> bytes:
    if isinstance(value, str | bytes | IPv4):
        value = [value]
    if not isinstance(value, Iterable):
        raise EncodeError(f"{what}: {value!r} is not a list of IPv4 addresses")
    return b"".join(_enc_ip(v, what) for v in value)


def _dec_str(raw: bytes, off: int, what: str) -> object:
    # Trailing NULs are C string terminators some stacks add; the raw bytes keep them.
    return pxe.text_of(raw.rstrip(b"\x00"))


def _enc_str(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise EncodeError(f"{what}: {value!r} is not a string")
    return pxe.bytes_of(value)


def _dec_msgtype(raw: bytes, off: int, what: str) -> object:
    _need(raw, 1, off, what)
    try:
        return MessageType(raw[0])
    except ValueError:
        return raw[0]


def _dec_u8_list(raw: bytes, off: int, what: str) -> object:
    return list(raw)


def _enc_u8_list(value: object, what: str) -> bytes:
    if not isinstance(value, Iterable):
        raise EncodeError(f"{what}: {value!r} is not a list of codes")
    try:
        return bytes(int(v) for v in value)  # type: ignore[call-overload]
    except (ValueError, TypeError) as exc:
        raise EncodeError(f"{what}: {value!r} is not a list of 0..255") from exc


def _dec_client_id(raw: bytes, off: int, what: str) -> object:
    if not raw:
        raise BadLengthError(f"{what}: empty, expected a type byte", off)
    return ClientId(raw[0], bytes(raw[1:]))


def _enc_client_id(value: object, what: str) -> bytes:
    if not isinstance(value, ClientId):
        raise EncodeError(f"{what}: {value!r} is not a ClientId")
    return _enc_uint(1)(value.type, what) + value.data


def _dec_overload(raw: bytes, off: int, what: str) -> object:
    _need(raw, 1, off, what)
    if raw[0] not in (1, 2, 3):
        raise BadValueError(f"{what}: {raw[0]}, expected 1 (file), 2 (sname) or 3 (both)", off)
    return raw[0]


def _enc_obj(cls: type) -> Callable[[object, str], bytes]:
    def enc(value: object, what: str) -> bytes:
        if not isinstance(value, cls):
            raise EncodeError(f"{what}: {value!r} is not a {cls.__name__}")
        return value.encode()  # type: ignore[no-any-return]

    return enc


def _dec_vendor_class(raw: bytes, off: int, what: str) -> object:
    return pxe.VendorClass.parse(raw)


def _enc_vendor_class(value: object, what: str) -> bytes:
    if isinstance(value, str):
        return pxe.bytes_of(value)
    return _enc_obj(pxe.VendorClass)(value, what)


def _dec_arches(raw: bytes, off: int, what: str) -> object:
    return pxe.client_arches(raw, off)


def _enc_arches(value: object, what: str) -> bytes:
    if isinstance(value, int):
        value = [value]
    if not isinstance(value, Iterable):
        raise EncodeError(f"{what}: {value!r} is not a list of architectures")
    return pxe.encode_client_arches(value)  # type: ignore[arg-type]


U8 = Kind("u8", _dec_uint(1), _enc_uint(1))
U16 = Kind("u16", _dec_uint(2), _enc_uint(2))
U32 = Kind("u32", _dec_uint(4), _enc_uint(4))
I32 = Kind("i32", _dec_i32, _enc_uint(4, signed=True))
BOOL = Kind("bool", _dec_bool, _enc_bool)
IP = Kind("ip", _dec_ip, _enc_ip)
IPS = Kind("ips", _dec_ips, _enc_ips)
STR = Kind("str", _dec_str, _enc_str)
MSGTYPE = Kind("message type", _dec_msgtype, _enc_uint(1))
CODES = Kind("codes", _dec_u8_list, _enc_u8_list)
CLIENT_ID = Kind("client id", _dec_client_id, _enc_client_id)
OVERLOAD = Kind("overload", _dec_overload, _enc_uint(1))
VENDOR_CLASS = Kind("vendor class", _dec_vendor_class, _enc_vendor_class)
ARCHES = Kind("client arch", _dec_arches, _enc_arches)
NII = Kind("client NII", lambda r, o, w: pxe.ClientNii.decode(r, o), _enc_obj(pxe.ClientNii))
UUID = Kind("client UUID", lambda r, o, w: pxe.ClientUuid.decode(r, o), _enc_obj(pxe.ClientUuid))
USER_CLASS = Kind("user class", lambda r, o, w: pxe.UserClass.decode(r, o), _enc_obj(pxe.UserClass))
ENCAP = Kind(
    "encapsulated",
    lambda r, o, w: pxe.EncapsulatedOptions.decode(r, o),
    _enc_obj(pxe.EncapsulatedOptions),
)

# code -> (name, kind). Option 43 stays bytes here: its meaning depends on the vendor class
# (see DhcpMessage.pxe_options()).
TABLE: dict[int, tuple[str, Kind]] = {
    1: ("subnet mask", IP),
    2: ("time offset", I32),
    3: ("router", IPS),
    4: ("time server", IPS),
    5: ("name server", IPS),
    6: ("domain name server", IPS),
    7: ("log server", IPS),
    8: ("cookie server", IPS),
    9: ("LPR server", IPS),
    10: ("impress server", IPS),
    11: ("resource location server", IPS),
    12: ("host name", STR),
    13: ("boot file size", U16),
    14: ("merit dump file", STR),
    15: ("domain name", STR),
    16: ("swap server", IP),
    17: ("root path", STR),
    18: ("extensions path", STR),
    19: ("IP forwarding", BOOL),
    20: ("non-local source routing", BOOL),
    22: ("max datagram reassembly", U16),
    23: ("default IP TTL", U8),
    24: ("path MTU aging timeout", U32),
    26: ("interface MTU", U16),
    27: ("all subnets local", BOOL),
    28: ("broadcast address", IP),
    29: ("perform mask discovery", BOOL),
    30: ("mask supplier", BOOL),
    31: ("perform router discovery", BOOL),
    32: ("router solicitation address", IP),
    34: ("trailer encapsulation", BOOL),
    35: ("ARP cache timeout", U32),
    36: ("ethernet encapsulation", BOOL),
    37: ("TCP default TTL", U8),
    38: ("TCP keepalive interval", U32),
    39: ("TCP keepalive garbage", BOOL),
    40: ("NIS domain", STR),
    41: ("NIS servers", IPS),
    42: ("NTP servers", IPS),
    44: ("NetBIOS name servers", IPS),
    45: ("NetBIOS datagram distribution servers", IPS),
    46: ("NetBIOS node type", U8),
    47: ("NetBIOS scope", STR),
    48: ("X font servers", IPS),
    49: ("X display managers", IPS),
    50: ("requested IP address", IP),
    51: ("lease time", U32),
    52: ("option overload", OVERLOAD),
    53: ("DHCP message type", MSGTYPE),
    54: ("server identifier", IP),
    55: ("parameter request list", CODES),
    56: ("message", STR),
    57: ("maximum DHCP message size", U16),
    58: ("renewal time", U32),
    59: ("rebinding time", U32),
    60: ("vendor class identifier", VENDOR_CLASS),
    61: ("client identifier", CLIENT_ID),
    64: ("NIS+ domain", STR),
    65: ("NIS+ servers", IPS),
    66: ("TFTP server name", STR),
    67: ("bootfile name", STR),
    68: ("mobile IP home agent", IPS),
    69: ("SMTP servers", IPS),
    70: ("POP3 servers", IPS),
    71: ("NNTP servers", IPS),
    72: ("WWW servers", IPS),
    73: ("finger servers", IPS),
    74: ("IRC servers", IPS),
    75: ("StreetTalk servers", IPS),
    76: ("STDA servers", IPS),
    77: ("user class", USER_CLASS),
    93: ("client system architecture", ARCHES),
    94: ("client network interface identifier", NII),
    97: ("client machine identifier", UUID),
    116: ("auto-configure", U8),
    118: ("subnet selection", IP),
    150: ("TFTP server address", IPS),
    175: ("iPXE encapsulated options", ENCAP),
    209: ("PXELINUX config file", STR),
    210: ("PXELINUX path prefix", STR),
    211: ("PXELINUX reboot time", U32),
}


# Options kept as bytes that still deserve a name in messages and logs.
UNTYPED_NAMES = {
    43: "vendor specific",
    81: "client FQDN",
    82: "relay agent information",
    119: "domain search",
    121: "classless static routes",
    208: "PXELINUX magic",
    252: "WPAD",
}


def option_name(code: int) -> str:
    entry = TABLE.get(code)
    return entry[0] if entry else UNTYPED_NAMES.get(code, f"option {code}")


def describe(code: int) -> str:
    name = option_name(code)
    return f"option {code} ({name})" if name != f"option {code}" else name


def decode_value(code: int, raw: bytes, offset: int = 0) -> object:
    """Typed value of option `code` (bytes when the table has no type for it)."""
    entry = TABLE.get(code)
    if entry is None:
        return raw
    try:
        return entry[1].decode(raw, offset, describe(code))
    except WireError:
        raise
    except Exception as exc:  # a decoder bug must still reach the caller as a WireError
        raise WireError(f"{describe(code)}: undecodable ({type(exc).__name__}: {exc})") from exc


def encode_value(code: int, value: object) -> bytes:
    """Bytes of option `code` from a typed value, or from bytes as they are."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, pxe.EncapsulatedOptions):  # option 43 (PxeOptions), 175, ...
        return value.encode()
    entry = TABLE.get(code)
    if entry is None:
        raise EncodeError(f"{describe(code)} has no known type: give its value as bytes")
    return entry[1].encode(value, describe(code))
