"""A TFTP download (tftpy, blksize 512) that holds still in the middle: at block HOLD it
creates MARK and waits (up to 4 s, inside the server's retry budget) for GO, so the test can
reload the server while this transfer is certainly in flight. Prints the bytes fetched.

    python -m tests.realnet.held_client SERVER FILE OUTPUT HOLD MARK GO
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import tftpy


def main(server: str, name: str, output: str, hold: int, mark: str, go: str) -> int:
    logging.getLogger("tftpy").setLevel(logging.WARNING)
    held = False

    def hook(pkt: object) -> None:
        nonlocal held
        if not held and getattr(pkt, "blocknumber", 0) == hold:
            held = True
            Path(mark).touch()
            deadline = time.monotonic() + 4.0
            while not Path(go).exists() and time.monotonic() < deadline:
                time.sleep(0.02)

    tftpy.TftpClient(server, 69).download(name, output, packethook=hook, timeout=5, retries=5)
    print(Path(output).stat().st_size)
    return 0 if held else 3


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], a[2], int(a[3]), a[4], a[5]))
