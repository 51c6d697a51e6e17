"""Building PXE requests with the wire codec's encoder (DhcpMessage), not the reader under test."""

from __future__ import annotations

from pxelab.wire import dhcp

UUID = bytes.fromhex("0000547c592f92db119fff008064667faa")


def request(
    mtype: int = 1,
    *,
    arch: int | None = 0,
    vendor: str | None = "PXEClient:Arch:00000:UNDI:002001",
    mac: str = "00:80:64:71:ab:0a",
    xid: int = 0x72E51D1A,
    user_class: bytes | None = None,
    ipxe: bool = False,
    uuid: bytes | None = UUID,
    ciaddr: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    flags: int = 0,
    boot_item: tuple[int, int] | None = None,
    server_id: str | None = None,
    extra: list[tuple[int, bytes]] | None = None,
) -> bytes:
    opts: list[tuple[int, bytes]] = [(57, (1472).to_bytes(2, "big"))]
    if arch is not None:
        opts.append((93, arch.to_bytes(2, "big")))
    opts.append((94, b"\x01\x02\x01"))
    if vendor is not None:
        opts.append((60, vendor.encode()))
    if user_class is not None:
        opts.append((77, user_class))
    if ipxe:
        opts.append((77, b"iPXE"))
        opts.append((175, bytes.fromhex("b105010000000000eb0301000117010119010112010113")))
    opts.append((55, bytes([1, 3, 6, 43, 60, 66, 67])))
    if uuid is not None:
        opts.append((97, uuid))
    if server_id is not None:
        opts.append((54, bytes(int(x) for x in server_id.split("."))))
    if boot_item is not None:
        t, layer = boot_item
        item = t.to_bytes(2, "big") + layer.to_bytes(2, "big")
        opts.append((43, bytes([71, 4]) + item + b"\xff"))
    opts += extra or []
    msg = dhcp.DhcpMessage(op=1, xid=xid, mac=mac, flags=flags, ciaddr=ciaddr, giaddr=giaddr,
                           secs=4, message_type=mtype, options=opts)
    return msg.encode()
