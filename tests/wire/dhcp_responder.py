"""Run inside a lab namespace: a minimal DHCP server built on pxelab.wire.dhcp, whose OFFER/ACK
carry the options a client must read (54, 51) only in the overloaded file field, after a
300-byte option 227 split (RFC 3396) between the options field and the file field.

Prints "ready" once listening, then each request it receives as hex, one per line; exits
after sending an ACK or after 30 s. argv: server address, address to offer.
"""

import socket
import sys
import time

from pxelab.wire import dhcp
from pxelab.wire.dhcp import MessageType

SO_BINDTODEVICE = 25
LEASE = 4242
LONG_CODE = 227

server, offered = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, b"eth0\0")
sock.bind(("0.0.0.0", 67))
sock.settimeout(1)
print("ready", flush=True)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        data, _ = sock.recvfrom(65535)
    except TimeoutError:
        continue
    print(data.hex(), flush=True)
    req = dhcp.decode(data)
    kind = {MessageType.DISCOVER: MessageType.OFFER, MessageType.REQUEST: MessageType.ACK}.get(
        req.message_type
    )
    if kind is None:
        continue
    reply = dhcp.reply_to(req, kind, yiaddr=offered)
    # A 300-byte option first: split in two (RFC 3396), its second piece and everything after
    # it (what the client needs) land in the file field.
    reply.options.set(LONG_CODE, bytes([LONG_CODE]) * 300)
    reply.options.set(1, "255.255.255.0")
    reply.options.set(51, LEASE)
    reply.options.set(54, server)
    out = reply.encode()
    sent = dhcp.decode(out)
    # The test is only worth something if 51 and 54 really sit in file/sname.
    assert sent.overload and sent.options.offset(51) < 236 and sent.options.offset(54) < 236
    assert out[246:248] == bytes((LONG_CODE, 255)) and out[108] == LONG_CODE  # split over both
    sock.sendto(out, ("255.255.255.255", 68))
    if kind == MessageType.ACK:
        break
