"""PXE values carried in DHCP options (PXE 2.1, RFC 4578, RFC 3004, iPXE). Pure.

    from pxelab.wire import pxe

    vc = pxe.VendorClass.parse("PXEClient:Arch:00000:UNDI:002001")       # option 60
    vc.prefix, vc.arch, vc.undi_major, vc.undi_minor   # 'PXEClient', 0, 2, 1
    vc.is_pxe()                                        # True; is_pxe(("PXEClient", "HW-Client"))
    pxe.VendorClass.parse("MSFT 5.0").is_pxe()         # False, never an error

    opts = pxe.PxeOptions.decode(raw43)                # option 43 of a PXE client or server
    opts.discovery_control                             # 3 (first 43.6 if several; int | None)
    opts.boot_servers                  # [BootServer(type=32768, addresses=[...])]
    opts.menu                          # [MenuItem(type=32768, text='Boot from network'), ...]
    opts.prompt                                        # Prompt(timeout=3, text='Press F8 ...')
    opts.boot_item                                     # BootItem(type=32768, layer=0)
    opts.other                                         # [(code, raw bytes)] untyped ones
    opts.duplicates()                                  # codes sent more than once (dnsmasq's 43.6)
    opts.menu = [(0x8000, "Network"), (0, "Local disk")]   # setters take typed values
    opts.prompt = (3, "Press F8")                      # assigning None removes a sub-option
    raw43 = opts.encode()                              # always closed by sub-option 255

    pxe.client_arches(raw93)                           # [0]; encode_client_arches([7, 9])
    pxe.ClientNii.decode(raw94)                        # ClientNii(type=1, major=2, minor=1)
    u = pxe.ClientUuid.decode(raw97)                   # never raises: invalid values are kept
    u.valid, u.problem, u.uuid_bytes, u.pxelinux_name()  # '00547c59-2f92-db11-9fff-008064667faa'
    pxe.ClientUuid.from_smbios("597c5400-922f-11db-9fff-008064667faa")  # what QEMU -uuid sends
    pxe.UserClass.decode(raw77)                        # RFC 3004 list or the plain b"iPXE" form
    enc = pxe.EncapsulatedOptions.decode(raw175)       # iPXE's option 175, sub-options kept raw
    pxe.ipxe_info(enc)                                 # IpxeInfo(version='1.0.0', bus_id=...)

Every decoder raises only WireError subclasses; `offset` (the position of the value in the
whole packet) makes the reported byte offsets absolute.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import uuid as uuid_mod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from pxelab.wire.errors import BadLengthError, EncodeError, TruncatedError

IPv4 = ipaddress.IPv4Address

# Option 93 values worth a name (RFC 4578 + IANA; 7 and 9 both mean x86-64 EFI in practice).
ARCH_NAMES = {
    0: "x86 BIOS",
    1: "NEC/PC98",
    2: "Itanium",
    3: "DEC Alpha",
    4: "Arc x86",
    5: "Intel Lean Client",
    6: "x86 UEFI",
    7: "x64 UEFI",
    8: "EFI Xscale",
    9: "x64 UEFI",
    10: "ARM32 UEFI",
    11: "ARM64 UEFI",
    15: "x86 UEFI HTTP",
    16: "x64 UEFI HTTP",
    19: "ARM64 UEFI HTTP",
}


def arch_name(arch: int) -> str:
    """A readable name for an option 93 architecture type."""
    return ARCH_NAMES.get(arch, f"arch {arch}")


def text_of(data: bytes) -> str:
    """Bytes on the wire -> str without loss (undecodable bytes survive a round trip)."""
    return data.decode("utf-8", "surrogateescape")


def bytes_of(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class DiscoveryControl(enum.IntFlag):
    """Bits of PXE option 43.6. Unknown bits (0x2b sets bit 5) are kept."""

    NO_BROADCAST = 1
    NO_MULTICAST = 2
    ONLY_LISTED_SERVERS = 4
    BOOT_FILE_DIRECTLY = 8


class PxeTag(enum.IntEnum):
    MTFTP_IP = 1
    MTFTP_CPORT = 2
    MTFTP_SPORT = 3
    MTFTP_TMOUT = 4
    MTFTP_DELAY = 5
    DISCOVERY_CONTROL = 6
    DISCOVERY_MCAST_ADDR = 7
    BOOT_SERVERS = 8
    BOOT_MENU = 9
    MENU_PROMPT = 10
    MCAST_ADDRS_ALLOC = 11
    CREDENTIAL_TYPES = 12
    BOOT_ITEM = 71
    END = 255


# ---------------------------------------------------------------------------------------------
# Generic TLV sub-options (option 43, option 175)


@dataclass
class EncapsulatedOptions:
    """Sub-options in a DHCP option as an ordered list of (code, raw value); duplicates kept.

    Pad (0) is skipped and end (255) stops decoding; encode() writes end only if `end`.
    """

    entries: list[tuple[int, bytes]] = field(default_factory=list)
    end: bool = field(default=False, compare=False)

    @classmethod
    def decode(cls, data: bytes, offset: int = 0) -> EncapsulatedOptions:
        # No catch-all: an exception other than WireError is a decoder bug a fuzzer must see.
        return cls._decode(bytes(data), offset)

    @classmethod
    def _decode(cls, data: bytes, offset: int) -> EncapsulatedOptions:
        entries: list[tuple[int, bytes]] = []
        pos = 0
        saw_end = False
        n = len(data)
        while pos < n:
            code = data[pos]
            if code == 0:
                pos += 1
                continue
            if code == 255:
                saw_end = True
                break
            if pos + 1 >= n:
                raise TruncatedError(f"sub-option {code}: length byte missing", offset + pos)
            length = data[pos + 1]
            if pos + 2 + length > n:
                raise TruncatedError(
                    f"sub-option {code}: length {length} but only {n - pos - 2} bytes left",
                    offset + pos + 1,
                )
            entries.append((code, bytes(data[pos + 2 : pos + 2 + length])))
            pos += 2 + length
        obj = cls(entries=entries, end=saw_end)
        obj._validate(offset, data)
        return obj

    def _validate(self, offset: int, data: bytes) -> None:
        """Subclasses check typed sub-options here (with absolute offsets)."""

    def encode(self, end: bool | None = None) -> bytes:
        out = bytearray()
        for code, value in self.entries:
            if not 1 <= code <= 254:
                raise EncodeError(f"sub-option code {code} out of range 1..254")
            if len(value) > 255:
                raise EncodeError(f"sub-option {code}: {len(value)} bytes, at most 255 fit")
            out += bytes((code, len(value))) + value
        if self.end if end is None else end:
            out.append(255)
        return bytes(out)

    # dict-like helpers over the first occurrence of a code
    def __contains__(self, code: object) -> bool:
        return any(c == code for c, _ in self.entries)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def raw(self, code: int) -> bytes | None:
        for c, v in self.entries:
            if c == code:
                return v
        return None

    def set_raw(self, code: int, value: bytes | None) -> None:
        """Replace every occurrence of `code` by one (at the first one's place); None removes."""
        idx = next((i for i, (c, _) in enumerate(self.entries) if c == code), None)
        rest = [(c, v) for c, v in self.entries if c != code]
        if value is None:
            self.entries = rest
            return
        if idx is None:
            rest.append((code, bytes(value)))
        else:
            rest.insert(idx, (code, bytes(value)))
        self.entries = rest

    def duplicates(self) -> list[int]:
        seen: set[int] = set()
        dup: list[int] = []
        for c, _ in self.entries:
            if c in seen and c not in dup:
                dup.append(c)
            seen.add(c)
        return dup


# ---------------------------------------------------------------------------------------------
# Option 175: iPXE ("Etherboot") encapsulated options. Names from iPXE's include/ipxe/dhcp.h
# and features.h; 0x10..0x7f are feature markers (value: the feature's version byte).

IPXE_NAMES = {
    1: "priority",
    8: "keep-san",
    9: "skip-san-boot",
    0x10: "PXE extensions",
    0x11: "iSCSI",
    0x12: "AoE",
    0x13: "HTTP",
    0x14: "HTTPS",
    0x15: "TFTP",
    0x16: "FTP",
    0x17: "DNS",
    0x18: "bzImage",
    0x19: "Multiboot",
    0x1A: "SLAM",
    0x1B: "SRP",
    0x20: "NBI",
    0x21: "PXE",
    0x22: "ELF",
    0x23: "COMBOOT",
    0x24: "EFI",
    0x25: "FCoE",
    0x26: "VLAN",
    0x27: "menu",
    0x28: "SDI",
    0x29: "NFS",
    0x51: "scriptlet",
    0xB0: "no-pxedhcp",
    0xB1: "bus-id",
    0xBD: "bios-drive",
    0xEB: "version",
}


@dataclass(frozen=True)
class IpxeInfo:
    """What an iPXE client says about itself in option 175."""

    version: str | None
    bus_id: str | None
    features: list[str]


def ipxe_info(opts: EncapsulatedOptions) -> IpxeInfo:
    """Version ("1.0.0"), NIC ("pci 10ec:8139") and feature names from option 175."""
    ver = opts.raw(0xEB)
    version = ".".join(str(b) for b in ver) if ver else None
    bus = opts.raw(0xB1)
    bus_id = None
    if bus and bus[0] == 1 and len(bus) == 5:
        bus_id = f"pci {bus[1:3].hex()}:{bus[3:5].hex()}"
    elif bus:
        bus_id = bus.hex()
    features = [IPXE_NAMES.get(c, f"feature {c:#04x}") for c, _ in opts if 0x10 <= c <= 0x7F]
    return IpxeInfo(version, bus_id, features)


# ---------------------------------------------------------------------------------------------
# Option 43 for PXE


@dataclass(frozen=True)
class BootServer:
    """One entry of 43.8: a boot server type and its addresses."""

    type: int
    addresses: list[IPv4]


@dataclass(frozen=True)
class MenuItem:
    """One entry of 43.9: the boot server type it selects (0 = local boot) and its text."""

    type: int
    text: str


@dataclass(frozen=True)
class Prompt:
    """43.10: seconds to wait (0 = no wait, 255 = wait for a key) and the prompt text."""

    timeout: int
    text: str


@dataclass(frozen=True)
class BootItem:
    """43.71: the boot server type and layer a client asks for (or a server confirms)."""

    type: int
    layer: int


def _decode_boot_servers(v: bytes, off: int) -> list[BootServer]:
    out = []
    pos = 0
    while pos < len(v):
        if pos + 3 > len(v):
            raise TruncatedError("43.8 boot server entry: type and count need 3 bytes", off + pos)
        typ = int.from_bytes(v[pos : pos + 2], "big")
        count = v[pos + 2]
        end = pos + 3 + 4 * count
        if end > len(v):
            raise TruncatedError(
                f"43.8 boot server type {typ}: {count} addresses announced, "
                f"{(len(v) - pos - 3) // 4} present",
                off + pos + 2,
            )
        addrs = [IPv4(v[i : i + 4]) for i in range(pos + 3, end, 4)]
        out.append(BootServer(typ, addrs))
        pos = end
    return out


def _decode_menu(v: bytes, off: int) -> list[MenuItem]:
    out = []
    pos = 0
    while pos < len(v):
        if pos + 3 > len(v):
            raise TruncatedError("43.9 menu entry: type and length need 3 bytes", off + pos)
        typ = int.from_bytes(v[pos : pos + 2], "big")
        n = v[pos + 2]
        if pos + 3 + n > len(v):
            raise TruncatedError(
                f"43.9 menu entry type {typ}: text length {n}, {len(v) - pos - 3} bytes left",
                off + pos + 2,
            )
        out.append(MenuItem(typ, text_of(v[pos + 3 : pos + 3 + n])))
        pos += 3 + n
    return out


def _u16(value: int, what: str) -> bytes:
    if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise EncodeError(f"{what}: {value!r} is not a 16-bit unsigned integer")
    return value.to_bytes(2, "big")


def _u8(value: int, what: str) -> bytes:
    if not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise EncodeError(f"{what}: {value!r} is not an 8-bit unsigned integer")
    return bytes((value,))


def _ip(value: object, what: str) -> bytes:
    try:
        return IPv4(value).packed  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise EncodeError(f"{what}: {value!r} is not an IPv4 address") from exc


@dataclass
class PxeOptions(EncapsulatedOptions):
    """Option 43 of a PXE exchange. Typed views read the first occurrence of a sub-option;
    assigning one replaces every occurrence; assigning None removes it."""

    end: bool = field(default=True, compare=False)

    def _validate(self, offset: int, data: bytes) -> None:
        # Recompute each entry's position to report absolute offsets.
        pos = 0
        for code, value in self.entries:
            while data[pos] == 0:
                pos += 1
            voff = offset + pos + 2
            self._typed(code, value, voff)
            pos += 2 + len(value)

    @staticmethod
    def _typed(code: int, v: bytes, off: int) -> object:
        if code == 6:
            if len(v) != 1:
                raise BadLengthError(f"43.6 discovery control: length {len(v)}, expected 1", off)
            return v[0]
        if code == 8:
            return _decode_boot_servers(v, off)
        if code == 9:
            return _decode_menu(v, off)
        if code == 10:
            if len(v) < 1:
                raise BadLengthError("43.10 prompt: empty, expected timeout byte", off)
            return Prompt(v[0], text_of(v[1:]))
        if code == 71:
            if len(v) != 4:
                raise BadLengthError(f"43.71 boot item: length {len(v)}, expected 4", off)
            return BootItem(int.from_bytes(v[:2], "big"), int.from_bytes(v[2:], "big"))
        return v

    def _get(self, code: int) -> object:
        raw = self.raw(code)
        return None if raw is None else self._typed(code, raw, 0)

    TYPED: ClassVar[frozenset[int]] = frozenset({6, 8, 9, 10, 71})

    @property
    def discovery_control(self) -> int | None:
        return self._get(6)  # type: ignore[return-value]

    @discovery_control.setter
    def discovery_control(self, value: int | None) -> None:
        self.set_raw(6, None if value is None else _u8(int(value), "43.6 discovery control"))

    @property
    def boot_servers(self) -> list[BootServer] | None:
        return self._get(8)  # type: ignore[return-value]

    @boot_servers.setter
    def boot_servers(self, value: Iterable[BootServer] | None) -> None:
        if value is None:
            self.set_raw(8, None)
            return
        out = bytearray()
        for bs in value:
            addrs = list(bs.addresses)
            out += _u16(bs.type, "43.8 boot server type") + _u8(len(addrs), "43.8 count")
            for a in addrs:
                out += _ip(a, "43.8 address")
        self.set_raw(8, bytes(out))

    @property
    def menu(self) -> list[MenuItem] | None:
        return self._get(9)  # type: ignore[return-value]

    @menu.setter
    def menu(self, value: Iterable[MenuItem | tuple[int, str]] | None) -> None:
        if value is None:
            self.set_raw(9, None)
            return
        out = bytearray()
        for item in value:
            typ, text = (item.type, item.text) if isinstance(item, MenuItem) else item
            t = bytes_of(text)
            out += _u16(typ, "43.9 menu type") + _u8(len(t), "43.9 text length") + t
        self.set_raw(9, bytes(out))

    @property
    def prompt(self) -> Prompt | None:
        return self._get(10)  # type: ignore[return-value]

    @prompt.setter
    def prompt(self, value: Prompt | tuple[int, str] | None) -> None:
        if value is None:
            self.set_raw(10, None)
            return
        timeout, text = (value.timeout, value.text) if isinstance(value, Prompt) else value
        self.set_raw(10, _u8(timeout, "43.10 timeout") + bytes_of(text))

    @property
    def boot_item(self) -> BootItem | None:
        return self._get(71)  # type: ignore[return-value]

    @boot_item.setter
    def boot_item(self, value: BootItem | tuple[int, int] | None) -> None:
        if value is None:
            self.set_raw(71, None)
            return
        typ, layer = (value.type, value.layer) if isinstance(value, BootItem) else value
        self.set_raw(71, _u16(typ, "43.71 type") + _u16(layer, "43.71 layer"))

    @property
    def other(self) -> list[tuple[int, bytes]]:
        return [(c, v) for c, v in self.entries if c not in self.TYPED]

    def encode(self, end: bool | None = None) -> bytes:
        # PXE 2.1 requires the end tag in option 43 unless explicitly asked otherwise.
        return super().encode(True if end is None else end)


# ---------------------------------------------------------------------------------------------
# Option 60


_PXE_VC = re.compile(r"^([^:]*):Arch:([0-9]{5}):UNDI:([0-9]{3})([0-9]{3})")


@dataclass(frozen=True, eq=False)
class VendorClass:
    """Option 60. PXE form `<prefix>:Arch:<5 digits>:UNDI:<3 digits major><3 digits minor>`;
    any other text has prefix = the text before the first ':' and no arch/UNDI.

    Every field derives from `text`, so it compares equal to its text as str or bytes too:
    `msg.options.get(60) == "PXEClient"`.
    """

    text: str
    prefix: str
    arch: int | None = None
    undi_major: int | None = None
    undi_minor: int | None = None

    @classmethod
    def parse(cls, value: str | bytes) -> VendorClass:
        text = text_of(value) if isinstance(value, bytes | bytearray) else str(value)
        # Some firmware NUL-terminates strings; the NUL is not part of the class.
        clean = text.rstrip("\x00")
        m = _PXE_VC.match(clean)
        if m:
            return cls(text, m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)))
        return cls(text, clean.split(":", 1)[0])

    @classmethod
    def pxe(
        cls, arch: int, undi: tuple[int, int] = (2, 1), prefix: str = "PXEClient"
    ) -> VendorClass:
        if not 0 <= arch <= 99999 or not all(0 <= u <= 999 for u in undi):
            raise EncodeError(f"vendor class: arch {arch} / UNDI {undi} out of range")
        return cls.parse(f"{prefix}:Arch:{arch:05d}:UNDI:{undi[0]:03d}{undi[1]:03d}")

    def is_pxe(self, prefixes: Iterable[str] = ("PXEClient",)) -> bool:
        """True when the class starts with one of `prefixes` (dnsmasq compares the same way;
        its `dhcp-pxe-vendor` is the list)."""
        return any(p and self.text.startswith(p) for p in prefixes)

    def encode(self) -> bytes:
        return bytes_of(self.text)

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VendorClass):
            return self.text == other.text
        if isinstance(other, str):
            return self.text == other
        if isinstance(other, bytes):
            return self.encode() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)


# ---------------------------------------------------------------------------------------------
# Options 93, 94, 97


def client_arches(data: bytes, offset: int = 0) -> list[int]:
    """Option 93: a list of 16-bit architecture types."""
    if len(data) == 0 or len(data) % 2:
        raise BadLengthError(
            f"option 93 client architecture: length {len(data)}, expected a non-zero even length",
            offset,
        )
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def encode_client_arches(arches: Iterable[int]) -> bytes:
    return b"".join(_u16(a, "option 93 architecture") for a in arches)


@dataclass(frozen=True)
class ClientNii:
    """Option 94: network interface identifier (type 1 = UNDI, and its version)."""

    type: int
    major: int
    minor: int

    @classmethod
    def decode(cls, data: bytes, offset: int = 0) -> ClientNii:
        if len(data) != 3:
            raise BadLengthError(f"option 94 client NII: length {len(data)}, expected 3", offset)
        return cls(data[0], data[1], data[2])

    def encode(self) -> bytes:
        return _u8(self.type, "94 type") + _u8(self.major, "94 major") + _u8(self.minor, "94 minor")


@dataclass(frozen=True)
class ClientUuid:
    """Option 97: type 0 + 16 bytes. Never fatal: whatever came is kept in `raw`, and `valid`
    says whether it is a usable identifier (`problem` says why not)."""

    raw: bytes

    @classmethod
    def decode(cls, data: bytes, offset: int = 0) -> ClientUuid:
        return cls(bytes(data))

    @classmethod
    def from_smbios(cls, value: uuid_mod.UUID | str) -> ClientUuid:
        """What PC firmware sends for an SMBIOS (e.g. QEMU `-uuid`) UUID: SMBIOS 2.6 stores
        the first three fields little-endian, and the bytes go out as stored."""
        u = value if isinstance(value, uuid_mod.UUID) else uuid_mod.UUID(str(value))
        return cls(b"\x00" + u.bytes_le)

    @property
    def smbios_uuid(self) -> uuid_mod.UUID | None:
        """The SMBIOS UUID that makes firmware send these bytes (inverse of from_smbios)."""
        b = self.uuid_bytes
        return None if b is None else uuid_mod.UUID(bytes_le=b)

    @classmethod
    def from_uuid(cls, value: uuid_mod.UUID | str | bytes) -> ClientUuid:
        if isinstance(value, bytes):
            if len(value) != 16:
                raise EncodeError(f"option 97: {len(value)} bytes given, a UUID has 16")
            return cls(b"\x00" + value)
        u = value if isinstance(value, uuid_mod.UUID) else uuid_mod.UUID(str(value))
        return cls(b"\x00" + u.bytes)

    @property
    def type(self) -> int | None:
        return self.raw[0] if self.raw else None

    @property
    def problem(self) -> str | None:
        if len(self.raw) != 17:
            return f"length {len(self.raw)}, expected 17"
        if self.raw[0] != 0:
            return f"type {self.raw[0]}, expected 0"
        body = self.raw[1:]
        if body == b"\x00" * 16:
            return "all zeros"
        if body == b"\xff" * 16:
            return "all 0xFF"
        return None

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def uuid_bytes(self) -> bytes | None:
        """The 16 bytes as sent, when type 0 and the length is right (even if all-zero)."""
        if len(self.raw) == 17 and self.raw[0] == 0:
            return self.raw[1:]
        return None

    @property
    def uuid(self) -> uuid_mod.UUID | None:
        b = self.uuid_bytes
        return None if b is None else uuid_mod.UUID(bytes=b)

    def pxelinux_name(self) -> str | None:
        """The file name PXELINUX asks for: lower-case 8-4-4-4-12 of the bytes as sent; None
        when the UUID is invalid (PXELINUX then skips this name)."""
        if not self.valid:
            return None
        h = self.raw[1:].hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def encode(self) -> bytes:
        return self.raw


# ---------------------------------------------------------------------------------------------
# Option 77


@dataclass(frozen=True)
class UserClass:
    """Option 77. RFC 3004 sends length-prefixed classes; iPXE and many stacks send one plain
    string ("iPXE"). `rfc3004` says which form came, encode() writes the same form."""

    classes: tuple[bytes, ...]
    rfc3004: bool = False

    @classmethod
    def decode(cls, data: bytes, offset: int = 0) -> UserClass:
        data = bytes(data)
        parts: list[bytes] = []
        pos = 0
        ok = len(data) > 0
        while ok and pos < len(data):
            n = data[pos]
            if n == 0 or pos + 1 + n > len(data):
                ok = False
                break
            parts.append(data[pos + 1 : pos + 1 + n])
            pos += 1 + n
        if ok:
            return cls(tuple(parts), True)
        return cls((data,), False)

    @classmethod
    def of(cls, *names: str | bytes, rfc3004: bool = False) -> UserClass:
        return cls(tuple(bytes_of(n) if isinstance(n, str) else bytes(n) for n in names), rfc3004)

    @property
    def names(self) -> list[str]:
        return [text_of(c) for c in self.classes]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            name = bytes_of(name)
        return name in self.classes

    def encode(self) -> bytes:
        if not self.rfc3004:
            if len(self.classes) != 1:
                raise EncodeError("option 77 plain form holds exactly one class")
            return self.classes[0]
        out = bytearray()
        for c in self.classes:
            if not 1 <= len(c) <= 255:
                raise EncodeError(f"option 77: class of {len(c)} bytes, RFC 3004 allows 1..255")
            out += bytes((len(c),)) + c
        return bytes(out)


__all__ = [
    "ARCH_NAMES",
    "IPXE_NAMES",
    "BootItem",
    "BootServer",
    "ClientNii",
    "ClientUuid",
    "DiscoveryControl",
    "EncapsulatedOptions",
    "IpxeInfo",
    "MenuItem",
    "Prompt",
    "PxeOptions",
    "PxeTag",
    "UserClass",
    "VendorClass",
    "arch_name",
    "client_arches",
    "encode_client_arches",
    "ipxe_info",
]


# -- option 43 for the proxy's replies: the fast encoders (plain bytes, no typed layer) -------


def menu_entry(type_: int, text: bytes) -> bytes:
    """One 43.9 entry: boot server type, text length, text."""
    return type_.to_bytes(2, "big") + bytes((len(text),)) + text


def boot_server_entry(type_: int, addresses: bytes) -> bytes:
    """One 43.8 entry: boot server type, address count, the packed IPv4 addresses."""
    return type_.to_bytes(2, "big") + bytes((len(addresses) // 4,)) + addresses


def prompt_value(timeout: int, text: bytes) -> bytes:
    """The value of 43.10: seconds (0 none, 255 wait for a key), then the prompt text."""
    return bytes((timeout,)) + text


def encode_option43(subs: Iterable[tuple[int, bytes]]) -> bytes:
    """Sub-options packed into option 43 and closed by END, as dnsmasq's do_encap_opts: a
    sub-option that does not fit in the current 255 bytes starts another option 43."""
    out = bytearray()
    cur = bytearray()
    for code, value in subs:
        item = bytes((code, len(value))) + value
        if len(cur) + len(item) > 255:
            out += bytes((43, len(cur))) + cur
            cur = bytearray()
        cur += item
    if cur:
        if len(cur) + 1 > 255:
            out += bytes((43, len(cur))) + cur
            cur = bytearray()
        cur.append(255)
        out += bytes((43, len(cur))) + cur
    return bytes(out)


def find_boot_item(raw43: bytes | None) -> bytes | None:
    """The 4 bytes of 43.71 (type, layer) in a client's option 43, or None: a walk that stops
    at END and ignores a 43.71 shorter than 4 bytes or running past the option."""
    if not raw43:
        return None
    pos = 0
    while pos + 1 < len(raw43):
        code = raw43[pos]
        if code == 255:
            return None
        if code == 0:
            pos += 1
            continue
        length = raw43[pos + 1]
        if code == 71 and length >= 4 and pos + 2 + length <= len(raw43):
            return raw43[pos + 2 : pos + 6]
        pos += 2 + length
    return None


def boot_item_of(item: bytes) -> BootItem:
    """The type and layer of the 4 bytes find_boot_item returns."""
    return BootItem(int.from_bytes(item[:2], "big"), int.from_bytes(item[2:4], "big"))
