"""A raw-socket TFTP client for the tests that need to misbehave on purpose."""

from __future__ import annotations

import socket

from pxelab.wire import tftp as w


class RawClient:
    def __init__(self, port: int, timeout: float = 3.0) -> None:
        self.server = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout)
        self.peer: tuple[str, int] | None = None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rrq(self, name: str, options: dict[str, str] | None = None, mode: str = "octet") -> None:
        self.sock.sendto(w.encode(w.Request(w.RRQ, name, mode, options or {})), self.server)

    def wrq(self, name: str, options: dict[str, str] | None = None) -> None:
        self.sock.sendto(w.encode(w.Request(w.WRQ, name, "octet", options or {})), self.server)

    def recv(self) -> tuple[w.Packet, tuple[str, int]]:
        raw, addr = self.sock.recvfrom(70000)
        if self.peer is None:
            self.peer = addr
        return w.decode(raw), addr

    def send(self, packet: w.Packet) -> None:
        assert self.peer is not None
        self.sock.sendto(w.encode(packet), self.peer)

    def ack(self, block: int) -> None:
        self.send(w.Ack(block & 0xFFFF))

    def get(self, name: str, options: dict[str, str] | None = None, rrq_tries: int = 1) -> bytes:
        """A well-behaved download (windowsize honoured if asked).

        With rrq_tries > 1 the request is repeated, as firmware does, while nothing answers.
        """
        self.rrq(name, options)
        if rrq_tries > 1:
            timeout = self.sock.gettimeout()
            self.sock.settimeout(0.5)
            for _ in range(rrq_tries - 1):
                try:
                    self.sock.recvfrom(70000, socket.MSG_PEEK)
                    break
                except TimeoutError:
                    self.rrq(name, options)
            self.sock.settimeout(timeout)
        blksize, window = 512, 1
        out = bytearray()
        expect = 1
        while True:
            pkt, _ = self.recv()
            if isinstance(pkt, w.Error):
                raise FileNotFoundError(pkt.code, pkt.message)
            if isinstance(pkt, w.OAck):
                blksize = int(pkt.options.get("blksize", 512))
                window = int(pkt.options.get("windowsize", 1))
                self.ack(0)
                continue
            assert isinstance(pkt, w.Data)
            if pkt.block != expect & 0xFFFF:
                continue
            out += pkt.payload
            expect += 1
            last = len(pkt.payload) < blksize
            if last or (expect - 1) % window == 0:
                self.ack(pkt.block)
            if last:
                return bytes(out)
