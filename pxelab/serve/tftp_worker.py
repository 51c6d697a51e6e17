"""TFTP transfer workers: child processes that run transfers, so many at once use every CPU.

The server keeps everything that decides (request parsing, path rules, negotiation, logs and
events); a worker only moves blocks. The server hands a worker the transfer's connected socket
and the opened file over a Unix socket (SCM_RIGHTS) with the negotiated parameters as JSON;
the worker answers with one JSON report per transfer when it ends. A worker exits when told to,
or when the server's end of the channel closes (the server died).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from typing import Any

from pxelab.serve.tftp import TftpSettings, _Read, _Transfer
from pxelab.serve.tftp_reactor import Reactor
from pxelab.wire import tftp as w


class WorkerHost:
    """Stands in for TftpServer inside a worker: the transfers report through the channel."""

    def __init__(self, chan: socket.socket) -> None:
        self.chan = chan
        self.lock = threading.Lock()
        self.settings = TftpSettings(root="/")
        self._loop = None
        self._loop_thread = None
        self._reactor = Reactor()
        self.active: set[_Transfer] = set()

    def _done(self, t: _Transfer, outcome: str, extra: dict[str, Any]) -> None:
        self.active.discard(t)
        report = {"id": t.wid, "outcome": outcome, "bytes": t.bytes, "extra": extra}  # type: ignore[attr-defined]
        with self.lock, contextlib.suppress(OSError):
            self.chan.send(json.dumps(report).encode())

    def start(self, job: dict[str, Any], fds: list[int]) -> None:
        sock = socket.socket(fileno=fds[0])
        self.settings.timeout = job["timeout"]
        self.settings.retries = job["retries"]
        neg = w.Negotiated(job["oack"], job["blksize"], job["neg_timeout"], job["windowsize"],
                           job["tsize"])
        # Every transfer here shares the one epoll thread: threads of their own contended for
        # the interpreter lock (measured: 9.3 against 6.1 ms of CPU per MiB, 16 at once), and
        # the server keeps the threaded, lowest-latency transfer itself.
        mode = "reactor"
        oack = bytes.fromhex(job["oack_raw"]) if job["oack_raw"] else None
        addr = (job["addr"][0], job["addr"][1])
        t = _Read.__new__(_Read)
        t.wid = job["id"]  # type: ignore[attr-defined]
        self.active.add(t)
        _Read.__init__(t, self, addr, sock, True, job["file"], job["path"], neg, mode,
                       fd=fds[1], size=job["size"], netascii=job["netascii"], oack=oack)

    def stop(self) -> None:
        self._reactor.stop_sync()  # it ends the transfers it still runs


def main(fd: int) -> int:
    chan = socket.socket(fileno=fd)
    host = WorkerHost(chan)
    try:
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(chan, 65536, 4)
            except InterruptedError:
                continue
            if not msg:
                break
            job = json.loads(msg)
            if job.get("stop"):
                break
            try:
                host.start(job, fds)
            except Exception as exc:  # one bad job must not end the others
                for f in fds:
                    with contextlib.suppress(OSError):
                        os.close(f)
                report = {"id": job.get("id"), "outcome": "failed", "bytes": 0,
                          "extra": {"reason": f"worker: {exc}"}}
                with host.lock:
                    chan.send(json.dumps(report).encode())
    finally:
        host.stop()
        chan.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
