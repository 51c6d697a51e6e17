"""Watch files with inotify: proof that a server never opened or read them (canaries)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

IN_ACCESS, IN_OPEN = 0x1, 0x20


class Watch:
    """IN_OPEN | IN_ACCESS on each path; `events()` is how many bytes of events came since."""

    def __init__(self, *paths: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        for p in paths:
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(p), IN_OPEN | IN_ACCESS)
            assert wd >= 0, os.strerror(ctypes.get_errno())

    def events(self) -> int:
        try:
            return len(os.read(self.fd, 65536))
        except BlockingIOError:
            return 0

    def close(self) -> None:
        os.close(self.fd)
