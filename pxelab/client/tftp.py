"""TFTP as a boot ROM or PXELINUX does it: tftpy's client with the profile's options.

`fetch` downloads one file in full with tftpy and reports what happened as a `Fetch` record
(found or not, bytes, the size the server announced in tsize, the options it acknowledged).
`tsize_probe` is the size query some ROMs make first (EDK2: RRQ `tsize 0 blksize 1468`, read
the OACK, send ERROR 8; Intel PXE 2.x: RRQ `tsize 0`, ERROR 0 "TFTP Aborted"): tftpy cannot
stop a transfer after the OACK, so the probe is a few lines of plain UDP here.

tftpy quirks met and handled: it raises TftpFileNotFoundError only for ERROR 1 (other errors are
TftpException with the text); after an OACK it keeps only the acknowledged options, so with an
OACK that has tsize but no blksize it falls back to 512-byte blocks (correct per RFC 2347); it
silently accepts an OACK option the client never asked for -- PXELINUX would reject such an
OACK, so `fetch` reports unrequested options in `Fetch.unrequested` for the caller to judge; and
a retransmitted OACK (the server's timer ran out before our ACK 0 arrived, which happens on a
loaded machine) makes tftpy 0.8 abort with "Received unknown packet type" -- ROMs simply ACK
block 0 again, and `_tolerate_duplicate_oack` makes tftpy do the same.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fetch:
    file: str
    server: str
    found: bool
    bytes: int = 0
    tsize: int | None = None
    options_sent: dict[str, int] = field(default_factory=dict)
    options_acked: dict[str, str] = field(default_factory=dict)
    unrequested: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    data: bytes = b""

    @property
    def size_ok(self) -> bool:
        return self.tsize is None or self.tsize == self.bytes

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file, "server": self.server, "found": self.found, "bytes": self.bytes,
            "tsize": self.tsize, "size_ok": self.size_ok, "options_sent": self.options_sent,
            "options_acked": self.options_acked, "unrequested": self.unrequested,
            "error": self.error, "seconds": round(self.seconds, 3),
        }


def _tolerate_duplicate_oack() -> None:
    from tftpy import TftpPacketTypes, TftpStates

    expect = TftpStates.TftpStateExpectDAT
    if getattr(expect.handle, "_pxelab", False):
        return
    original = expect.handle

    def handle(self: Any, pkt: Any, raddress: Any, rport: Any) -> Any:
        if isinstance(pkt, TftpPacketTypes.TftpPacketOACK) and self.context.next_block == 1:
            self.sendACK(blocknumber=0)
            return self
        return original(self, pkt, raddress, rport)

    handle._pxelab = True  # type: ignore[attr-defined]
    expect.handle = handle


def fetch(server: str, name: str, *, blksize: int = 0, tsize: bool = False, port: int = 69,
          timeout: float = 4.0, retries: int = 3, localip: str = "") -> Fetch:
    """Download `name` in full. Never raises for protocol errors: the record says what failed."""
    import tftpy

    _tolerate_duplicate_oack()
    logging.getLogger("tftpy").setLevel(logging.CRITICAL)
    options: dict[str, int] = {}
    # Order as ROMs send it: tsize first (PXELINUX), blksize after.
    if tsize:
        options["tsize"] = 0
    if blksize:
        options["blksize"] = blksize
    out = Fetch(name, server, False, options_sent=dict(options))
    buf = io.BytesIO()
    client = tftpy.TftpClient(server, port, options=dict(options), localip=localip, flock=False)
    start = time.monotonic()
    try:
        client.download(name, buf, timeout=max(1, round(timeout)), retries=retries)
        out.found = True
    except tftpy.TftpFileNotFoundError:
        out.error = "file not found"
    except tftpy.TftpTimeout:
        out.error = f"no answer from {server}:{port}"
    except tftpy.TftpException as exc:
        out.error = str(exc)
    except OSError as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    out.seconds = time.monotonic() - start
    ctx = client.context
    if ctx is not None:
        acked = {str(k): str(v) for k, v in (ctx.options or {}).items()}
        out.options_acked = acked
        if "tsize" in acked:
            with contextlib.suppress(ValueError):
                out.tsize = int(acked["tsize"])
        out.unrequested = sorted(k for k in acked if k not in options)
        with contextlib.suppress(Exception):
            ctx.end()
    out.data = buf.getvalue() if out.found else b""
    out.bytes = len(out.data)
    return out


@dataclass
class Probe:
    file: str
    server: str
    answer: str  # "oack", "error", "data", "timeout"
    tsize: int | None = None
    options: dict[str, str] = field(default_factory=dict)
    error: str = ""

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "server": self.server, "answer": self.answer,
                "tsize": self.tsize, "options": self.options, "error": self.error}


def _options(data: bytes) -> dict[str, str]:
    parts = data.split(b"\0")
    return {parts[i].decode("latin-1").lower(): parts[i + 1].decode("latin-1")
            for i in range(0, len(parts) - 1, 2) if parts[i]}


def tsize_probe(server: str, name: str, *, blksize: int = 0, abort_code: int = 8,
                port: int = 69, timeout: float = 4.0, localip: str = "") -> Probe:
    """RRQ with tsize 0 (and blksize), read the answer, abort with ERROR `abort_code`."""
    rrq = b"\0\x01" + name.encode() + b"\0octet\0tsize\x000\0"
    if blksize:
        rrq += b"blksize\0" + str(blksize).encode() + b"\0"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((localip, 0))
        sock.settimeout(timeout)
        sock.sendto(rrq, (server, port))
        try:
            data, peer = sock.recvfrom(65536)
        except TimeoutError:
            return Probe(name, server, "timeout", error=f"no answer from {server}:{port}")
        opcode = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 0
        if opcode == 6:
            opts = _options(data[2:])
            msg = b"size probe done" if abort_code == 8 else b"TFTP Aborted"
            sock.sendto(struct.pack("!HH", 5, abort_code) + msg + b"\0", peer)
            tsize = int(opts["tsize"]) if opts.get("tsize", "").isdigit() else None
            return Probe(name, server, "oack", tsize, opts)
        if opcode == 5:
            code = struct.unpack("!H", data[2:4])[0] if len(data) >= 4 else 0
            text = data[4:].split(b"\0", 1)[0].decode("latin-1")
            return Probe(name, server, "error", error=f"ERROR {code}: {text}")
        if opcode == 3:
            # Server ignored the options: a ROM aborts the same way, without a size.
            sock.sendto(struct.pack("!HH", 5, abort_code) + b"\0", peer)
            return Probe(name, server, "data")
        return Probe(name, server, "error", error=f"unexpected opcode {opcode}")
    finally:
        sock.close()
