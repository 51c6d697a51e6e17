"""A minimal lockstep TFTP client over raw bytes, for sending what real clients never would."""

from __future__ import annotations

import socket

from pxelab.wire import tftp as w


def rrq_bytes(name: bytes, options: list[tuple[bytes, bytes]] = (), mode: bytes = b"octet"
              ) -> bytes:
    """An RRQ built by hand: any name bytes (NUL, 600 bytes, ...) and any number of options."""
    out = b"\x00\x01" + name + b"\x00" + mode + b"\x00"
    return out + b"".join(k + b"\x00" + v + b"\x00" for k, v in options)


class Client:
    def __init__(self, server: str, port: int = 69, timeout: float = 3.0,
                 bind: str = "") -> None:
        self.server = (server, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, 0))
        self.sock.settimeout(timeout)
        self.peer: tuple[str, int] | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send_raw(self, data: bytes, to: tuple[str, int] | None = None) -> None:
        self.sock.sendto(data, to or self.server)

    def first_reply(self, data: bytes) -> w.Packet:
        """Send one request and decode the server's first answer."""
        self.send_raw(data)
        raw, self.peer = self.sock.recvfrom(70000)
        return w.decode(raw)

    def get(self, name: str, options: dict[str, str] | None = None, retries: int = 5,
            on_first_data: object = None) -> bytes:
        """Download `name` in lockstep, resending the last ACK on a timeout (as ROMs do).
        `on_first_data(client)` runs once the transfer port is known (to disturb it)."""
        req = w.encode(w.Request(w.RRQ, name, "octet", options or {}))
        self.peer = None
        self.send_raw(req)
        out = bytearray()
        expect, blksize, last_ack, misses = 1, 512, None, 0
        while True:
            try:
                raw, addr = self.sock.recvfrom(70000)
            except TimeoutError:
                misses += 1
                if misses > retries:
                    raise
                self.sock.sendto(last_ack, self.peer) if last_ack and self.peer else \
                    self.send_raw(req)
                continue
            if self.peer is not None and addr != self.peer:
                continue
            pkt = w.decode(raw)
            if isinstance(pkt, w.Error):
                raise FileNotFoundError(pkt.code, pkt.message)
            if self.peer is None:
                self.peer = addr
                if on_first_data is not None:
                    on_first_data(self)  # type: ignore[operator]
            if isinstance(pkt, w.OAck):
                blksize = int(pkt.options.get("blksize", 512))
                last_ack = w.encode_ack(0)
                self.sock.sendto(last_ack, self.peer)
                continue
            assert isinstance(pkt, w.Data), pkt
            if pkt.block == expect & 0xFFFF:
                out += pkt.payload
                expect += 1
                misses = 0
            last_ack = w.encode_ack(pkt.block)
            self.sock.sendto(last_ack, self.peer)
            if pkt.block == (expect - 1) & 0xFFFF and len(pkt.payload) < blksize:
                return bytes(out)
