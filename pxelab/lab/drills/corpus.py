"""Malformed packets on the wire: a corpus sent to a live proxy and TFTP server, batch by batch,
each batch followed by a valid client that must still be served correctly.

    python -m pxelab.lab.drills.corpus --server 192.168.10.20 --file pxelinux.0 --expect PATH

Run inside a lab namespace (it broadcasts DHCP on `--interface`). Batches: DHCP to 67
(broadcast and unicast) and 4011 — truncated, bad option lengths, overload that points at
itself, RFC 3396 chains that never end, option 60 without "PXEClient", oversized, zero-length,
random; TFTP to 69 — truncated, random, zero-length, oversized, every opcode, bad modes; and
junk into a live transfer's port, from the client's own socket and from a stranger's. After each
batch: a DISCOVER to 67 gets a proxy offer (option 60 PXEClient, option 43), a boot-server
request to 4011 gets an ACK naming the boot file, and the file comes byte-for-byte over TFTP.
Prints one JSON object: {"batches": [{"name", "sent", "dhcp_ok", "pxe_ok", "tftp_ok",
"problem"}], "sent", "survived"}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pxelab.wire import dhcp, pxe
from pxelab.wire import tftp as w

COOKIE = b"\x63\x82\x53\x63"
VENDOR = "PXEClient:Arch:00000:UNDI:002001"
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def discover(mac: str, xid: int, mtype: int = 1, ciaddr: str = "0.0.0.0",
             extra: list[tuple[int, bytes]] | None = None, vendor: str = VENDOR) -> bytes:
    opts: list[tuple[int, bytes]] = [(57, (1472).to_bytes(2, "big")), (93, b"\0\0"),
                                     (94, b"\x01\x02\x01"), (60, vendor.encode()),
                                     (55, bytes([1, 3, 43, 60, 66, 67])),
                                     (97, b"\0" + (bytes.fromhex(mac.replace(":", "")) * 3)[:16])]
    msg = dhcp.DhcpMessage(op=1, xid=xid, mac=mac, secs=4, ciaddr=ciaddr, message_type=mtype,
                           options=opts + (extra or []))
    return msg.encode()


# ----------------------------------------------------------------------------- the corpus


def dhcp_batches(rng: random.Random) -> Iterator[tuple[str, list[bytes]]]:
    good = discover("52:54:00:ee:00:01", 0x1234)
    head = good[:236]
    yield "dhcp truncated", [good[:n] for n in range(0, len(good), 7)]
    bad_len = []
    for code in (43, 53, 60, 93, 97, 52, 12):
        for length in (0, 1, 200, 255):
            bad_len.append(head + COOKIE + b"\x35\x01\x01" + bytes((code, length)) + b"\x01")
    yield "dhcp bad option lengths", bad_len
    selfref = bytearray(head)
    selfref[108:236] = (b"\x34\x01\x03" * 43)[:127] + b"\xff"
    selfref[44:108] = (b"\x34\x01\x03" * 22)[:63] + b"\xff"
    yield "dhcp overload points at itself", [
        bytes(selfref) + COOKIE + b"\x35\x01\x01\x34\x01\x03" + b"\x3c\x09PXEClient",
        bytes(selfref) + COOKIE + b"\x34\x01\x03",  # no end anywhere
        bytes(selfref) + COOKIE + b"\x34\x01\x01\x34\x01\x02\x34\x01\x03\xff",
    ]
    chains = []
    for code in (43, 60, 97, 175):
        for pieces, size in ((5, 255), (100, 10), (1400, 0)):
            body = (bytes((code, size)) + b"\x06" * size) * pieces
            chains.append(head + COOKIE + b"\x35\x01\x01" + body[:1400])  # no end option
    yield "dhcp RFC 3396 chains that never end", chains
    yield "dhcp option 60 without PXEClient", [
        discover("52:54:00:ee:00:02", 0x99, vendor=v)
        for v in ("MSFT 5.0", "PXEClien", "pxeclient:Arch:00000", "", "HW-Client:Arch:0")]
    yield "dhcp oversized", [good + b"\0" * 1200, good + b"\x2b\xff" + b"\x06" * 255 * 30,
                             rng.randbytes(8000)]
    yield "dhcp zero-length", [b""] * 20
    rand = [rng.randbytes(rng.randrange(1, 700)) for _ in range(40)]
    rand += [rng.randbytes(236) + COOKIE + rng.randbytes(rng.randrange(300)) for _ in range(40)]
    yield "dhcp random", rand


def tftp_batches(rng: random.Random, name: str) -> Iterator[tuple[str, list[bytes]]]:
    rrq = w.encode(w.Request(w.RRQ, name, "octet", {"blksize": "1432", "tsize": "0"}))
    yield "tftp truncated", [rrq[:n] for n in range(len(rrq))]
    yield "tftp zero-length and tiny", [b"", b"\0", b"\0\0", b"\xff\xff"] * 5
    yield "tftp every opcode", [bytes((0, op)) + rng.randbytes(rng.randrange(20))
                                for op in range(0, 12) for _ in range(3)]
    yield "tftp bad modes and options", [
        b"\0\x01" + name.encode() + b"\0" + mode + b"\0" + opts
        for mode in (b"", b"mail", b"OCTET" * 100, b"\xff\xfe")
        for opts in (b"", b"blksize\0", b"blksize\0-1\0", b"tsize\0" + b"9" * 300 + b"\0")]
    yield "tftp oversized", [rrq + b"x" * 1400, b"\0\x01" + b"A" * 9000 + b"\0octet\0"]
    yield "tftp random", [rng.randbytes(rng.randrange(1, 600)) for _ in range(60)]


def transfer_junk(rng: random.Random) -> list[bytes]:
    """Packets a live transfer's port gets from its own client (never an ERROR: that one
    rightly ends the transfer), the empty datagram among them."""
    return [b"", b"\0", b"\0\x04", b"\0\x04\0", w.encode_ack(60000), w.encode_data(7, b"x"),
            w.encode_oack({"blksize": "8"}), w.encode(w.Request(w.RRQ, "x", "octet")),
            b"\0\x09junk", *(b"\0\x04" + rng.randbytes(rng.randrange(0, 6))
                             for _ in range(10)), *(rng.randbytes(40) for _ in range(10))]


# ----------------------------------------------------------------------------- valid clients


class Prober:
    def __init__(self, server: str, iface: str, local: str, tftp_file: str, expect: bytes,
                 timeout: float = 4.0) -> None:
        self.server, self.iface, self.local = server, iface, local
        self.tftp_file, self.expect, self.timeout = tftp_file, expect, timeout
        self.rng = random.Random(os.getpid())

    def _sock(self, port: int = 0, broadcast: bool = False, bind: str = "") -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if broadcast:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.iface.encode())
        s.bind((bind, port))
        return s

    def send_dhcp(self, packets: list[bytes]) -> int:
        """Every packet to 67 (broadcast and unicast) and to 4011: the count sent."""
        n = 0
        with self._sock(68, broadcast=True) as s67, self._sock(bind=self.local) as s4011:
            for data in packets:
                for sock, dest in ((s67, ("255.255.255.255", 67)), (s67, (self.server, 67)),
                                   (s4011, (self.server, 4011))):
                    try:
                        sock.sendto(data, dest)
                        n += 1
                    except OSError:  # EMSGSIZE for a datagram over 64 KiB: not sent
                        pass
                time.sleep(0.001)
        return n

    def _answer(self, sock: socket.socket, xid: int, want: Callable[[dhcp.DhcpMessage], bool]
                ) -> dhcp.DhcpMessage | None:
        end = time.monotonic() + self.timeout
        while (left := end - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, src = sock.recvfrom(4096)
            if src[0] != self.server:
                continue  # the router's offer
            try:
                msg = dhcp.decode(data)
            except ValueError:
                continue
            if msg.xid == xid and want(msg):
                return msg
        return None

    def proxy_offer_ok(self) -> str:
        """"" when a DISCOVER to 67 gets a correct proxy offer, else what went wrong."""
        xid = self.rng.getrandbits(32)
        mac = "52:54:00:ee:10:%02x" % (xid & 0xFF)

        def proxy_offer(m: dhcp.DhcpMessage) -> bool:
            return m.op == 2 and m.message_type == dhcp.MessageType.OFFER

        with self._sock(68, broadcast=True) as s:
            for _ in range(3):  # a proxy busy logging a burst may miss one: ROMs resend too
                s.sendto(discover(mac, xid), ("255.255.255.255", 67))
                msg = self._answer(s, xid, proxy_offer)
                if msg is not None:
                    break
            else:
                return "no proxy offer on 67"
        if str(msg.vendor_class) != "PXEClient" or 43 not in msg.options:
            return f"offer without PXEClient/43: {msg!r}"[:300]
        if str(msg.yiaddr) != "0.0.0.0":
            return "the proxy offered an address"
        opts = msg.pxe_options()
        if not opts or not opts.menu:
            return "no PXE menu in the proxy offer"
        return ""

    def boot_server_ok(self) -> str:
        """"" when a boot-server request to 4011 gets an ACK with the boot file."""
        xid = self.rng.getrandbits(32)
        item = pxe.PxeOptions()
        item.boot_item = pxe.BootItem(0x8000, 0)
        data = discover("52:54:00:ee:20:01", xid, mtype=3, ciaddr=self.local,
                        extra=[(43, item.encode())])
        with self._sock(bind=self.local) as s:
            for _ in range(3):
                s.sendto(data, (self.server, 4011))
                msg = self._answer(s, xid, lambda m: m.op == 2)
                if msg is not None:
                    break
            else:
                return "no answer on 4011"
        if msg.message_type != dhcp.MessageType.ACK:
            return f"4011 answer is {msg.message_type}, not ACK"
        if not msg.file_name:
            return "4011 ACK names no boot file"
        return ""

    def tftp_ok(self, junk: list[bytes] | None = None, stranger: bool = False) -> str:
        """"" when the file comes byte-for-byte (with `junk` thrown into its transfer port)."""
        try:
            got = tftp_get(self.server, self.local, self.tftp_file, junk, stranger)
        except Exception as exc:  # any failure is the finding
            return f"TFTP failed: {exc!r}"[:300]
        if got != self.expect:
            return f"TFTP got {len(got)} bytes that differ from the file's {len(self.expect)}"
        return ""


def tftp_get(server: str, local: str, name: str, junk: list[bytes] | None = None,
             stranger: bool = False, timeout: float = 2.0, retries: int = 6) -> bytes:
    """A lockstep download that resends its last ACK on a timeout, as ROMs do. Once the
    transfer port is known, `junk` is thrown at it (from this socket or a stranger's)."""
    req = w.encode(w.Request(w.RRQ, name, "octet", {"blksize": "1432"}))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local, 0))
    s.settimeout(timeout)
    try:
        s.sendto(req, (server, 69))
        peer: tuple[str, int] | None = None
        out = bytearray()
        expect, blksize, last, misses = 1, 512, req, 0
        while True:
            try:
                raw, addr = s.recvfrom(70000)
            except TimeoutError:
                misses += 1
                if misses > retries:
                    raise
                s.sendto(last, peer or (server, 69))
                continue
            if peer is not None and addr != peer:
                continue
            pkt = w.decode(raw)
            if isinstance(pkt, w.Error):
                raise OSError(f"TFTP error {pkt.code}: {pkt.message}")
            if peer is None:
                peer = addr
                if junk:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                        other.bind((local, 0))
                        for data in junk:
                            (other if stranger else s).sendto(data, peer)
            if isinstance(pkt, w.OAck):
                blksize = int(pkt.options.get("blksize", 512))
                last = w.encode_ack(0)
                s.sendto(last, peer)
                continue
            if not isinstance(pkt, w.Data):
                continue
            if pkt.block == expect & 0xFFFF:
                out += pkt.payload
                expect += 1
                misses = 0
                last = w.encode_ack(pkt.block)
                s.sendto(last, peer)
                if len(pkt.payload) < blksize:
                    return bytes(out)
    finally:
        s.close()


def run(server: str, iface: str, local: str, tftp_file: str, expect: bytes, seed: int = 9
        ) -> dict:
    rng = random.Random(seed)
    prober = Prober(server, iface, local, tftp_file, expect)
    batches = []

    def check(name: str, sent: int, tftp_problem: str | None = None) -> None:
        problems = {"dhcp": prober.proxy_offer_ok(), "pxe": prober.boot_server_ok(),
                    "tftp": prober.tftp_ok() if tftp_problem is None else tftp_problem}
        batches.append({"name": name, "sent": sent, **{f"{k}_ok": not v
                                                       for k, v in problems.items()},
                        "problem": "; ".join(v for v in problems.values() if v)})

    for name, packets in dhcp_batches(rng):
        check(name, prober.send_dhcp(packets))
    for name, packets in tftp_batches(rng, tftp_file):
        with prober._sock(bind=local) as s:
            sent = 0
            for data in packets:
                try:
                    s.sendto(data, (server, 69))
                    sent += 1
                except OSError:
                    pass
        check(name, sent)
    junk = transfer_junk(rng)
    check("tftp junk into a live transfer (its own client)", len(junk), prober.tftp_ok(junk))
    check("tftp junk into a live transfer (a stranger)", len(junk),
          prober.tftp_ok(junk, stranger=True))
    return {"batches": batches, "sent": sum(b["sent"] for b in batches),
            "survived": all(b["dhcp_ok"] and b["pxe_ok"] and b["tftp_ok"] for b in batches)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pxelab.lab.drills.corpus", description=__doc__)
    p.add_argument("--server", required=True)
    p.add_argument("--interface", default="eth0")
    p.add_argument("--local", required=True, help="this host's address on the interface")
    p.add_argument("--file", required=True, help="a file on the TFTP server")
    p.add_argument("--expect", required=True, help="that file's local copy (to compare)")
    p.add_argument("--seed", type=int, default=9)
    a = p.parse_args(argv)
    out = run(a.server, a.interface, a.local, a.file, Path(a.expect).read_bytes(), a.seed)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
