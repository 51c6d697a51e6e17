"""Run inside a lab namespace: broadcast one DHCP message (hex in argv[1]) from port 68 on eth0
to port 67 and print the hex of the first reply; prints nothing if none comes in 5 s."""

import socket
import sys

SO_BINDTODEVICE = 25

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, b"eth0\0")
sock.bind(("0.0.0.0", 68))
sock.settimeout(5)
sock.sendto(bytes.fromhex(sys.argv[1]), ("255.255.255.255", 67))
try:
    data, _ = sock.recvfrom(65535)
    print(data.hex())
except TimeoutError:
    pass
