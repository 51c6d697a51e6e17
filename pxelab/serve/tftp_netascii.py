"""netascii (RFC 764 line endings) for TFTP: converted while streaming, never read whole."""

from __future__ import annotations

import os

NETASCII_KEEP = 256  # converted blocks kept for resends (windows never exceed it)


class Netascii:
    """netascii conversion (LF -> CR LF, CR -> CR NUL), streamed; recent blocks kept for resends."""

    def __init__(self, fd: int, blksize: int) -> None:
        self.fd = fd
        self.blksize = blksize
        self.offset = 0
        self.pending = bytearray()
        self.blocks: dict[int, bytes] = {}
        self.made = 0
        self.eof = False
        self.total = 0

    def block(self, i: int) -> bytes:
        while self.made < i:
            while len(self.pending) < self.blksize and not self.eof:
                chunk = os.pread(self.fd, 65536, self.offset)
                if not chunk:
                    self.eof = True
                    break
                self.offset += len(chunk)
                self.pending += chunk.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")
            self.made += 1
            data = bytes(self.pending[: self.blksize])
            del self.pending[: self.blksize]
            self.blocks[self.made] = data
            self.total += len(data)
            for old in [k for k in self.blocks if k < self.made - NETASCII_KEEP]:
                del self.blocks[old]
        return self.blocks[i]

    def bytes_upto(self, i: int) -> int:
        return self.total - sum(len(self.blocks[k]) for k in self.blocks if k > i)


def netascii_size(fd: int) -> int:
    """The size of a file once converted to netascii (read in chunks, never whole)."""
    size, offset = 0, 0
    while chunk := os.pread(fd, 1 << 20, offset):
        offset += len(chunk)
        size += len(chunk) + chunk.count(b"\r") + chunk.count(b"\n")
    return size
