"""Impairments in user space, for kernels built without netem (CONFIG_NET_SCH_NETEM).

`Lab.impair()` uses the kernel's netem qdisc when it exists. Where it does not (this CI
machine's kernel has no sch_netem and no gact either), the impaired bridge port is cut out of
the bridge and this relay is put in its place: it reads frames from the port with a packet
socket and from a tap that takes the port's place on the bridge, and passes them on in both
directions with netem's semantics:

- loss: drop this share of frames (per cent);
- delay_ms / jitter_ms: hold each frame delay +- jitter (uniform);
- reorder: this share of frames goes at once, the rest is delayed (netem's "reorder");
- duplicate: send this share twice;
- corrupt: flip one random bit in this share;
- rate: serialise frames at this bit rate ("10mbit", "512kbit", "1gbit", bits per second).

Run by the lab as `python -m pxelab.lab.network.netem --port vpc --tap ipc [--loss 10 ...]` in the
bridge namespace; it prints "ready" once both sides are open and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import heapq
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 0x8
_AUX = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata

_RATE_UNITS = {"": 1, "bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9,
               "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9}


@dataclass
class Impairment:
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    rate: str | None = None

    def args(self) -> list[str]:
        out = []
        for name in ("loss", "delay_ms", "jitter_ms", "duplicate", "reorder", "corrupt"):
            value = getattr(self, name)
            if value:
                out += [f"--{name.replace('_', '-')}", str(value)]
        if self.rate:
            out += ["--rate", self.rate]
        return out


def parse_rate(text: str) -> float:
    """tc's rate syntax -> bits per second ("10mbit" -> 10e6)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _RATE_UNITS:
        raise ValueError(f"rate {text!r}: expected a number and bit/kbit/mbit/gbit (or bps...)")
    return float(m.group(1)) * _RATE_UNITS[m.group(2).lower()]


class Relay:
    """Two frame endpoints (packet socket on the port, the tap) and a timed queue between."""

    def __init__(self, port: str, tap: str, imp: Impairment, seed: int | None = None) -> None:
        self.imp = imp
        self.rng = random.Random(seed)
        self.rate_bps = parse_rate(imp.rate) if imp.rate else None
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((port, 0))
        ifindex = socket.if_nametoindex(port)
        mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
        self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        # A veth hands its frames over with the UDP/TCP checksum left to the NIC (checksum
        # offload): auxdata says so, and the relay completes it, or the receiver drops them.
        self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.sock.setblocking(False)
        self.tap = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(self.tap, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
        self.queue: list[tuple[float, int, int, bytes]] = []
        self.seq = 0
        self.busy_until = [0.0, 0.0]  # per direction, for the rate limit

    # direction 0: from the port (host) into the bridge (write to tap)
    # direction 1: from the bridge (tap) out to the port (send on the socket)

    def _schedule(self, direction: int, frame: bytes, now: float) -> None:
        imp, rng = self.imp, self.rng
        if imp.loss and rng.random() * 100 < imp.loss:
            return
        copies = 2 if imp.duplicate and rng.random() * 100 < imp.duplicate else 1
        for _ in range(copies):
            data = frame
            if imp.corrupt and rng.random() * 100 < imp.corrupt and data:
                i = rng.randrange(len(data))
                data = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
            at = now
            if self.rate_bps:
                start = max(now, self.busy_until[direction])
                self.busy_until[direction] = start + len(data) * 8 / self.rate_bps
                at = self.busy_until[direction]
            if imp.delay_ms and not (imp.reorder and rng.random() * 100 < imp.reorder):
                jitter = rng.uniform(-imp.jitter_ms, imp.jitter_ms) if imp.jitter_ms else 0.0
                at += max(0.0, imp.delay_ms + jitter) / 1000
            self.seq += 1
            heapq.heappush(self.queue, (at, self.seq, direction, data))

    def _emit(self, direction: int, data: bytes) -> None:
        try:
            if direction == 0:
                os.write(self.tap, data)
            else:
                self.sock.send(data)
        except OSError:
            pass  # a full queue or a port going down: the frame is lost, as on a wire

    def run(self, stop: list[bool]) -> None:
        while not stop[0]:
            now = time.monotonic()
            while self.queue and self.queue[0][0] <= now:
                _, _, direction, data = heapq.heappop(self.queue)
                self._emit(direction, data)
            timeout = max(0.0, self.queue[0][0] - now) if self.queue else 0.5
            try:
                ready, _, _ = select.select([self.sock, self.tap], [], [], timeout)
            except InterruptedError:
                continue
            now = time.monotonic()
            if self.sock in ready:
                for _ in range(64):
                    try:
                        frame, anc, _, addr = self.sock.recvmsg(65535, _ANC)
                    except (BlockingIOError, InterruptedError):
                        break
                    if addr[2] != PACKET_OUTGOING:  # not our own sends
                        if _checksum_not_ready(anc):
                            frame = complete_checksum(frame)
                        self._schedule(0, frame, now)
            if self.tap in ready:
                for _ in range(64):
                    try:
                        frame = os.read(self.tap, 65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    self._schedule(1, frame, now)


_ANC = socket.CMSG_SPACE(_AUX.size)


def _checksum_not_ready(anc: list[tuple[int, int, bytes]]) -> bool:
    for level, kind, data in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= 4:
            return bool(struct.unpack_from("=I", data)[0] & TP_STATUS_CSUMNOTREADY)
    return False


def _ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def complete_checksum(frame: bytes) -> bytes:
    """The frame with its UDP or TCP checksum computed in full (IPv4 or IPv6, no options
    beyond the IPv4 header length); any other frame comes back unchanged."""
    off = 14
    ethertype = struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
    if ethertype == 0x8100 and len(frame) >= 18:
        ethertype, off = struct.unpack_from("!H", frame, 16)[0], 18
    if ethertype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        total = struct.unpack_from("!H", frame, off + 2)[0]
        proto, l4 = frame[off + 9], off + ihl
        end = off + total
        pseudo = frame[off + 12 : off + 20] + struct.pack("!BBH", 0, proto, end - l4)
    elif ethertype == 0x86DD and len(frame) >= off + 40:
        proto, l4 = frame[off + 6], off + 40
        end = l4 + struct.unpack_from("!H", frame, off + 4)[0]
        pseudo = frame[off + 8 : off + 40] + struct.pack("!IxxxB", end - l4, proto)
    else:
        return frame
    field_at = {17: 6, 6: 16}.get(proto)
    if field_at is None or end > len(frame) or end - l4 < field_at + 2:
        return frame
    seg = bytearray(frame[l4:end])
    seg[field_at : field_at + 2] = b"\0\0"
    csum = ~_ones_sum(pseudo + bytes(seg)) & 0xFFFF
    if proto == 17 and csum == 0:
        csum = 0xFFFF
    seg[field_at : field_at + 2] = struct.pack("!H", csum)
    return frame[:l4] + bytes(seg) + frame[end:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pxelab.lab.network.netem")
    p.add_argument("--port", required=True)
    p.add_argument("--tap", required=True)
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--duplicate", type=float, default=0.0)
    p.add_argument("--reorder", type=float, default=0.0)
    p.add_argument("--corrupt", type=float, default=0.0)
    p.add_argument("--rate")
    p.add_argument("--seed", type=int)
    a = p.parse_args(argv)
    imp = Impairment(a.loss, a.delay_ms, a.jitter_ms, a.duplicate, a.reorder, a.corrupt, a.rate)
    relay = Relay(a.port, a.tap, imp, a.seed)
    stop = [False]

    def on_signal(signum: int, frame: object) -> None:
        stop[0] = True
        raise _Stop  # leave select() at once rather than at its next timeout

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("ready", flush=True)
    with contextlib.suppress(_Stop):
        relay.run(stop)
    return 0


class _Stop(Exception):
    pass


if __name__ == "__main__":
    sys.exit(main())
