"""DHCP packets as a PXE ROM writes and reads them (client side only).

Requests are encoded by pxelab.wire.dhcp from raw option bytes (the client must be able to
send what odd ROMs send: no option 97, an all-FF UUID, a "HW-Client" vendor class). Replies are
read here, byte by byte, the way a ROM reads them -- including the ways broken ROMs misread them
(option overload ignored, option 67 copied as a C string), which a correct decoder cannot model.
tests/client/test_units.py checks this reader against pxelab.wire.dhcp.decode on real replies.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
MESSAGE_NAMES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK",
                 7: "RELEASE", 8: "INFORM"}
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")


def ip_bytes(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def ip_str(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def build(
    msg_type: int,
    xid: int,
    mac: bytes,
    options: list[tuple[int, bytes]],
    *,
    ciaddr: str = "0.0.0.0",
    secs: int = 0,
    broadcast: bool = True,
) -> bytes:
    """A BOOTREQUEST with option 53 first, then `options` (raw bytes, so a quirky ROM can send
    what a typed API would refuse) in the given order, then END; padded to 300 bytes.
    Encoded by pxelab.wire.dhcp (RFC 3396 splitting included); a request never overloads."""
    from pxelab.wire import dhcp

    msg = dhcp.DhcpMessage(op=dhcp.BOOTREQUEST, xid=xid, secs=min(secs, 0xFFFF),
                           flags=dhcp.BROADCAST_FLAG if broadcast else 0, ciaddr=ciaddr,
                           mac=mac, message_type=msg_type, options=options)
    return msg.encode(allow_overload=False, max_size=None)


def _walk(area: bytes, base: int, out: dict[int, bytes], spans: dict[int, tuple[int, int]],
          order: list[int]) -> None:
    i = 0
    while i < len(area):
        code = area[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(area):
            return
        length = area[i + 1]
        data = area[i + 2 : i + 2 + length]
        if code in out:
            out[code] += data  # RFC 3396 concatenation
        else:
            out[code] = data
            order.append(code)
            spans[code] = (base + i + 2, base + i + 2 + length)
        i += 2 + length


@dataclass
class Reply:
    """A DHCP/BOOTP reply as read from the wire (options already concatenated per RFC 3396)."""

    raw: bytes
    op: int
    xid: int
    flags: int
    ciaddr: str
    yiaddr: str
    siaddr: str
    giaddr: str
    chaddr: bytes
    sname_field: bytes
    file_field: bytes
    options: dict[int, bytes] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def msg_type(self) -> int:
        v = self.options.get(53, b"")
        return v[0] if v else 0

    @property
    def server_id(self) -> str | None:
        v = self.options.get(54)
        return ip_str(v[:4]) if v and len(v) >= 4 else None

    @property
    def vendor_class(self) -> str:
        return self.options.get(60, b"").decode("latin-1")

    @property
    def overload(self) -> int:
        v = self.options.get(52, b"")
        return v[0] if v else 0


def parse(raw: bytes, honour_overload: bool = True) -> Reply:
    """Read a reply. Raises ValueError when it is not a BOOTREPLY with a DHCP magic cookie."""
    if len(raw) < _HEADER.size + 4:
        raise ValueError(f"{len(raw)} bytes: too short for BOOTP")
    (op, _htype, hlen, _hops, xid, _secs, flags, ci, yi, si, gi, ch, sname,
     file_) = _HEADER.unpack_from(raw)
    if op != 2:
        raise ValueError(f"op {op}: not a BOOTREPLY")
    rep = Reply(raw, op, xid, flags, ip_str(ci), ip_str(yi), ip_str(si), ip_str(gi),
                ch[: min(hlen, 16)], sname, file_)
    if raw[_HEADER.size : _HEADER.size + 4] != MAGIC:
        return rep  # plain BOOTP: no options
    _walk(raw[_HEADER.size + 4 :], _HEADER.size + 4, rep.options, rep.spans, rep.order)
    if honour_overload:
        ov = rep.overload
        if ov & 1:
            _walk(file_, 108, rep.options, rep.spans, rep.order)
        if ov & 2:
            _walk(sname, 44, rep.options, rep.spans, rep.order)
    return rep


def c_string(data: bytes) -> str:
    return data.split(b"\0", 1)[0].decode("latin-1")


def boot_file(rep: Reply, *, honour_overload: bool = True, nul_terminated: bool = False) -> str:
    """The boot file name the way a ROM reads it.

    Option 67 wins over the header's file field. `nul_terminated` copies option 67 as a C
    string from the packet buffer (quirk: the name runs on past the option when the server did
    not end it with a NUL). Without `honour_overload` the file field is read as a name even
    when option 52 says it carries options.
    """
    if 67 in rep.options:
        if nul_terminated and 67 in rep.spans:
            start = rep.spans[67][0]
            end = rep.raw.find(b"\0", start)
            data = rep.raw[start : end if end >= 0 else len(rep.raw)]
            # Printable bytes only: a ROM copies them all, a log shows the junk escaped.
            return data.decode("latin-1")
        return c_string(rep.options[67])
    if honour_overload and rep.overload & 1:
        return ""
    return c_string(rep.file_field)


def server_name(rep: Reply, *, honour_overload: bool = True) -> str:
    if 66 in rep.options:
        return c_string(rep.options[66])
    if honour_overload and rep.overload & 2:
        return ""
    return c_string(rep.sname_field)


# --- PXE vendor options (43) ------------------------------------------------------------------


@dataclass
class PxeOptions:
    """Option 43 sub-options a ROM acts on (PXE 2.1 section 2.4)."""

    discovery_control: int | None = None  # 43.6, the first one (clients read the first)
    discovery_control_all: list[int] = field(default_factory=list)
    boot_servers: list[tuple[int, list[str]]] = field(default_factory=list)  # 43.8
    menu: list[tuple[int, str]] = field(default_factory=list)  # 43.9
    prompt: tuple[int, str] | None = None  # 43.10 (timeout seconds, text)
    boot_item: tuple[int, int] | None = None  # 43.71 (type, layer)
    multicast_address: str | None = None  # 43.7
    other: dict[int, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "discovery_control": self.discovery_control,
            "discovery_control_all": self.discovery_control_all,
            "boot_servers": [{"type": t, "addresses": a} for t, a in self.boot_servers],
            "menu": [{"type": t, "text": d} for t, d in self.menu],
            "prompt": None if self.prompt is None
            else {"timeout": self.prompt[0], "text": self.prompt[1]},
            "boot_item": None if self.boot_item is None
            else {"type": self.boot_item[0], "layer": self.boot_item[1]},
            "problems": self.problems,
        }


def parse_pxe(data: bytes) -> PxeOptions:
    """Option 43 as PXE sub-options; malformed pieces are noted in `problems`, not raised."""
    out = PxeOptions()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            i += 1
            continue
        if code == 255:
            break
        if i + 1 >= len(data) or i + 2 + data[i + 1] > len(data):
            out.problems.append(f"43.{code} runs past the end of option 43")
            break
        value = data[i + 2 : i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
        if code == 6 and value:
            out.discovery_control_all.append(value[0])
            if out.discovery_control is None:
                out.discovery_control = value[0]
        elif code == 7 and len(value) == 4:
            out.multicast_address = ip_str(value)
        elif code == 8:
            j = 0
            while j + 3 <= len(value):
                btype, count = struct.unpack_from("!HB", value, j)
                j += 3
                ips = [ip_str(value[j + 4 * k : j + 4 * k + 4]) for k in range(count)
                       if j + 4 * k + 4 <= len(value)]
                j += 4 * count
                out.boot_servers.append((btype, ips))
        elif code == 9:
            j = 0
            while j + 3 <= len(value):
                btype, n = struct.unpack_from("!HB", value, j)
                out.menu.append((btype, value[j + 3 : j + 3 + n].decode("latin-1")))
                j += 3 + n
        elif code == 10 and value:
            out.prompt = (value[0], value[1:].decode("latin-1"))
        elif code == 71 and len(value) >= 4:
            out.boot_item = struct.unpack("!HH", value[:4])
        else:
            out.other[code] = value
    return out


def boot_item_option(btype: int, layer: int = 0) -> bytes:
    """Option 43 holding only 43.71: the boot-server discovery request's item."""
    return bytes((71, 4)) + struct.pack("!HH", btype, layer) + b"\xff"
