"""The TFTP server's epoll thread: many transfers served from one thread.

Many transfers on one thread cost no lock hand-offs between them, and one epoll_wait serves every
socket that became ready at once. A transfer only needs `sock`, `on_packet`, `check_timeout`,
`client_gone`, `finish`, `path` and `addr`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import threading
import time
from typing import Any

log = logging.getLogger("pxelab.tftp")


class Reactor:
    """One epoll thread for the transfers beyond one thread per CPU."""

    SCAN = 0.05  # how often retransmission deadlines are checked

    def __init__(self) -> None:
        self.ep = select.epoll()
        self.table: dict[int, Any] = {}
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.ep.register(self.r, select.EPOLLIN)
        self.stopping = False
        self.thread = threading.Thread(target=self.run, name="tftp-reactor", daemon=True)
        self.thread.start()

    def add(self, t: Any) -> None:
        fd = t.sock.fileno()
        t.sock.setblocking(False)
        idle = not self.table
        self.table[fd] = t
        self.ep.register(fd, select.EPOLLIN)
        if idle:  # wake the thread so it starts checking deadlines again
            with contextlib.suppress(OSError):
                os.write(self.w, b"x")

    def remove(self, t: Any) -> None:
        fd = t.sock.fileno()
        if self.table.get(fd) is t:
            del self.table[fd]
            with contextlib.suppress(OSError, ValueError):
                self.ep.unregister(fd)

    def run(self) -> None:
        poll, table = self.ep.poll, self.table
        read, write, monotonic = os.read, os.write, time.monotonic
        get, wake = table.get, self.r
        next_scan = monotonic() + self.SCAN
        while not self.stopping:
            # Deadlines are only checked while there are transfers: idle, the thread sleeps.
            ready = poll(self.SCAN if table else None)
            now = monotonic()  # one clock read per batch: deadlines are in tenths of seconds
            for fd, _ in ready:
                t = get(fd)
                if t is None:
                    if fd == wake:
                        with contextlib.suppress(OSError):
                            read(wake, 4096)
                    continue
                try:
                    # read/write on the connected socket's descriptor: recv/send semantics,
                    # a little less work per call than the socket methods.
                    pkt = read(fd, 65536)
                    if pkt == t._want:
                        # Lockstep, the expected ACK: the next block is framed already.
                        try:  # noqa: SIM105 (a with-block costs more per packet)
                            write(fd, t._framed)
                        except (BlockingIOError, InterruptedError):
                            pass  # the retransmission timer resends it
                        t.sent_at = now
                        t.step()
                    else:
                        t.on_packet(pkt)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    t.client_gone()  # ICMP port unreachable: the client has gone away
                except Exception:
                    log.exception("transfer of %s to %s failed", t.path, t.addr[0])
                    t.finish("failed", reason="internal error")
            if now >= next_scan:
                next_scan = now + self.SCAN
                for t in list(table.values()):
                    try:
                        t.check_timeout()
                    except Exception:
                        log.exception("transfer of %s to %s failed", t.path, t.addr[0])
                        t.finish("failed", reason="internal error")
        for t in list(table.values()):
            t.finish("aborted", reason="server stopping")

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    def stop_sync(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.w, b"x")
        self.thread.join(5.0)
        self.ep.close()
        os.close(self.r)
        os.close(self.w)
