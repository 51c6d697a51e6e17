"""Packet capture without tcpdump: an AF_PACKET socket on one interface, written as a pcap.

    python -m pxelab.lab.network.pcap -i br0 -w capture.pcap [-s SNAPLEN]

For the lab inside a user namespace that maps one uid (`userns`): Debian's tcpdump does not
start there. Run as uid 0 it drops to user `tcpdump` (not mapped), and `-Z root` still calls
initgroups(), which such a namespace denies (setgroups is "deny" in it). Seen:
`tcpdump: Couldn't change to 'root' uid=0 gid=0: Operation not permitted`.

What it writes is what `tcpdump -U -w` writes: a classic pcap (microsecond timestamps, Ethernet
link type), each packet flushed at once, the interface in promiscuous mode so a bridge shows
the frames it forwards between its ports. Like tcpdump it prints "listening on IFACE" on stderr
once the socket is bound, so the lab waits for it the same way. SIGTERM or SIGINT ends it
between two packets: the file is always whole.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
SO_TIMESTAMP = 29
LINKTYPE_ETHERNET = 1
# tcpdump's -s 0 means "the whole packet", which it writes as 262144 in the header.
DEFAULT_SNAPLEN = 262144
# Lab bursts (a TFTP transfer at full speed) must not overflow the socket while a write runs.
RCVBUF = 8 << 20
_TIMEVAL = struct.Struct("@ll")


def file_header(snaplen: int) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET)


def record(sec: int, usec: int, frame: bytes, wire_len: int) -> bytes:
    return struct.pack("<IIII", sec, usec, len(frame), wire_len) + frame


def open_socket(iface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.bind((iface, ETH_P_ALL))
    mreq = struct.pack("@iHH8s", socket.if_nametoindex(iface), PACKET_MR_PROMISC, 0, b"")
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    # the kernel's receive time, as tcpdump records it, not when this loop got round to it
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    return sock


def capture(sock: socket.socket, fd: int, snaplen: int) -> None:
    """Write every frame the socket receives to `fd` until a signal ends the loop."""
    os.write(fd, file_header(snaplen))
    ancsize = socket.CMSG_SPACE(_TIMEVAL.size)
    while True:
        # MSG_TRUNC: the return value is the frame's length on the wire even when it is cut.
        data, anc, _flags, _addr = sock.recvmsg(snaplen, ancsize, socket.MSG_TRUNC)
        wire_len = len(data)
        sec = usec = 0
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
                sec, usec = _TIMEVAL.unpack(value[: _TIMEVAL.size])
        os.write(fd, record(sec, usec, data[:snaplen], wire_len))


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pxelab.lab.network.pcap")
    parser.add_argument("-i", dest="iface", required=True, help="interface to capture on")
    parser.add_argument("-w", dest="path", required=True, help="pcap file to write")
    parser.add_argument("-s", dest="snaplen", type=int, default=0, help="0: whole packets")
    args = parser.parse_args(argv)
    snaplen = args.snaplen or DEFAULT_SNAPLEN
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    try:
        sock = open_socket(args.iface)
        fd = os.open(args.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        print(f"pxelab pcap: {args.iface}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 1
    print(f"listening on {args.iface}, link-type EN10MB (Ethernet), snapshot length "
          f"{snaplen} bytes", file=sys.stderr, flush=True)  # fmt: skip
    try:
        capture(sock, fd, snaplen)
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
