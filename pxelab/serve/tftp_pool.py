"""The server's side of the TFTP worker processes (see tftp_worker.py for the other side)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import subprocess
import sys
import time
from typing import Any

from pxelab.wire import tftp as w

log = logging.getLogger("pxelab.tftp")


class Remote:
    """The server's record of a transfer that a worker process runs."""

    mode = "remote"
    threaded = False
    own_sock = True
    progressed = False  # unknown: a repeated request is not taken for a new one meanwhile

    def __init__(self, wid: int, worker: Worker, addr: tuple[str, int], file: str, path: str,
                 neg: w.Negotiated) -> None:
        self.wid = wid
        self.worker = worker
        self.addr = addr
        self.file = file
        self.path = path
        self.blksize = neg.blksize
        self.windowsize = neg.windowsize
        self.started = time.monotonic()
        self.bytes = 0
        self.done = False


class Worker:
    """One worker process (pxelab.serve.tftp_worker) and its channel."""

    def __init__(self, server: Any) -> None:
        self.server = server
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pxelab.serve.tftp_worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self.chan = ours
        self.jobs: dict[int, Remote] = {}
        self.alive = True

    def attach(self) -> None:
        self.chan.setblocking(False)
        self.server._loop.add_reader(self.chan.fileno(), self.readable)

    def submit(self, remote: Remote, job: dict[str, Any], fds: list[int]) -> None:
        socket.send_fds(self.chan, [json.dumps(job).encode()], fds)
        self.jobs[remote.wid] = remote

    def readable(self) -> None:
        while True:
            try:
                msg = self.chan.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                msg = b""
            if not msg:
                self.dead("worker process ended")
                return
            try:
                rep = json.loads(msg)
                remote = self.jobs.pop(rep["id"])
            except (ValueError, KeyError, TypeError):
                log.warning("bad report from a TFTP worker: %r", msg[:200])
                continue
            remote.bytes = int(rep.get("bytes") or 0)
            remote.done = True
            self.server._finished(remote, str(rep["outcome"]), dict(rep.get("extra") or {}))

    def dead(self, reason: str) -> None:
        if not self.alive:
            return
        self.alive = False
        with contextlib.suppress(ValueError, OSError):
            self.server._loop.remove_reader(self.chan.fileno())
        for remote in list(self.jobs.values()):
            remote.done = True
            self.server._finished(remote, "failed", {"reason": reason})
        self.jobs.clear()
        self.chan.close()

    async def stop(self) -> None:
        if self.alive:
            with contextlib.suppress(OSError):
                self.chan.setblocking(True)
                self.chan.send(b'{"stop": true}')
                self.chan.setblocking(False)
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except Exception:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
        if self.alive:
            self.readable()  # the reports it sent before it exited
            self.dead("server stopping")
