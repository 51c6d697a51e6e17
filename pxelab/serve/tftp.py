"""The TFTP server (RFC 1350, 2347, 2348, 2349, 7440) on asyncio.

Embeddable: `TftpServer` runs in the caller's event loop (no loop creation, no signal handling),
so `pxelab serve` can run it beside the proxyDHCP service. Sockets are plain non-blocking
sockets watched with `loop.add_reader`: per packet the hot path is one recv, one pread and one
send, with no per-packet futures or timers (each transfer has one timer, re-armed lazily).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pxelab.serve.containment import DEFAULT_MAX_NAME, Refused, Root, printable, printable_path
from pxelab.serve.events import EventLog
from pxelab.serve.tftp_busypoll import BusyPoll
from pxelab.serve.tftp_netascii import NETASCII_KEEP, Netascii, netascii_size
from pxelab.serve.tftp_pool import Remote, Worker
from pxelab.serve.tftp_reactor import Reactor
from pxelab.wire import tftp as w
from pxelab.wire.errors import WireError

log = logging.getLogger("pxelab.tftp")

_IP_MTU = getattr(socket, "IP_MTU", 14)
_DATA_HDR = struct.Struct(">HH")
_ACK_OP, _ERR_OP = 4, 5
_UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
_CHUNK = 128 * 1024  # read-ahead per transfer
_GSO_MAX = 65000  # payload bytes per segmented send (a datagram's 64 KiB minus headers)


@dataclass
class TftpSettings:
    root: str | os.PathLike[str]
    listen: str = "0.0.0.0"
    port: int = 69
    max_blksize: int = w.BLKSIZE_MAX
    mtu: int | None = None  # known link MTU; blksize is clamped to mtu - 32
    interface: str | None = None  # its MTU is read from sysfs when `mtu` is not given
    single_port: bool = False
    max_transfers: int = 256
    timeout: float = 1.0  # retransmission timeout when the client does not negotiate one
    retries: int = 5
    max_windowsize: int = 64
    upload_dir: str | os.PathLike[str] | None = None
    no_blocksize: bool = False  # dnsmasq's tftp-no-blocksize
    max_name: int = DEFAULT_MAX_NAME
    # Transfers that get a thread of their own (lowest latency); the rest share one epoll
    # thread per process. One: a second thread would only contend for the interpreter lock
    # with the first, where a worker process runs in parallel.
    transfer_threads: int = 1
    # Worker processes for the transfers beyond those threads, so they use every CPU (started
    # together when first needed). None: one per CPU on a machine with more than one.
    workers: int | None = None
    # Longest busy poll for the next ACK of a threaded lockstep transfer, in microseconds
    # (tftp_busypoll.py); 0 turns it off. Measured on 2 cores with the server and the client
    # pinned apart, the server's CPU counted by cgroup (benchmarks/tftp.py): 2.2-2.6x the
    # speed for no more CPU per MiB than without it (14.4 against 15.4 ms at blksize 1468).
    busy_poll_us: int = 50


def _interface_mtu(name: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{name}/mtu").read_text().strip())
    except (OSError, ValueError):
        return None


class _Transfer:
    """State shared by reads and writes: client address, socket, retransmission timer.

    `mode` says what drives it: "loop" (the asyncio loop: single-port mode and uploads),
    "thread" (its own thread blocked in recv: the lowest latency per packet) or "reactor" (the
    server's epoll thread, shared by the transfers beyond one thread per CPU).
    """

    # The lockstep fast path (reads only): the ACK expected next and the DATA packet it
    # releases, framed ahead of time. None: every packet takes the general path.
    _want: bytes | None = None
    _framed: bytes = b""
    poll: BusyPoll | None = None  # set while a threaded lockstep read busy-polls

    def __init__(self, server: TftpServer, addr: tuple[str, int], sock: socket.socket,
                 own_sock: bool, file: str, path: str, neg: w.Negotiated,
                 mode: str = "loop") -> None:
        self.server = server
        self.mode = mode
        self.threaded = mode == "thread"
        self.loop = server._loop
        self.addr = addr
        self.sock = sock
        self.own_sock = own_sock
        self.file = file
        self.path = path
        self.neg = neg
        self.blksize = neg.blksize
        self.windowsize = neg.windowsize
        self.timeout = float(neg.timeout) if neg.timeout else server.settings.timeout
        self.retries = 0
        # set by wake(): only then does an empty read mean "stop", not an empty datagram
        self.stopping = False
        self.started = time.monotonic()
        self.sent_at = self.started
        self.bytes = 0
        self.done = False
        self.progressed = False
        self._timer: asyncio.TimerHandle | None = None
        self.send = sock.send if own_sock else self._sendto
        self._thread: threading.Thread | None = None
        if mode == "thread":
            # A blocking socket whose recv gives up after the retransmission timeout: one
            # syscall per packet, and the thread wakes straight from the kernel.
            sec = int(self.timeout)
            tv = struct.pack("ll", sec, int((self.timeout - sec) * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
            sock.setblocking(True)
        elif mode == "loop" and own_sock:
            self.loop.add_reader(sock.fileno(), self._readable)

    def _sendto(self, data: bytes) -> int:
        return self.sock.sendto(data, self.addr)

    def arm(self) -> None:
        if self.done:
            return
        if self.mode == "thread":
            self._thread = threading.Thread(target=self._drive, name=f"tftp-{self.addr[0]}",
                                            daemon=True)
            self._thread.start()
        elif self.mode == "reactor":
            self.server._reactor.add(self)
        else:
            self._timer = self.loop.call_at(self.sent_at + self.timeout, self._tick)

    def _drive(self) -> None:
        recv = self.sock.recv
        on_packet = self.on_packet
        try:
            while not self.done:
                try:
                    pkt = recv(65536)
                except (BlockingIOError, TimeoutError, InterruptedError):
                    self.check_timeout()
                    continue
                except OSError:
                    self.client_gone()
                    continue
                if not pkt:
                    if self.stopping:  # shut down by stop()
                        self.finish("aborted", reason="server stopping")
                        break
                    continue  # an empty datagram: no TFTP packet, ignored
                on_packet(pkt)
        except Exception:
            log.exception("transfer of %s to %s failed", self.path, self.addr[0])
            self.finish("failed", reason="internal error")

    def on_packet(self, pkt: bytes) -> None:
        self.packet(pkt)

    def step(self) -> None:
        """The expected ACK came and `_framed` has been sent: move on one block."""

    def check_timeout(self) -> None:
        """Retransmit if nothing moved for a whole timeout; give up after the retries."""
        if self.done or time.monotonic() - self.sent_at < self.timeout:
            return
        self.retries += 1
        if self.retries > self.server.settings.retries:
            self.expired()
            return
        self.retransmit()
        self.sent_at = time.monotonic()

    def wake(self) -> None:
        """Make a blocked recv in the transfer thread return (used by stop())."""
        self.stopping = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def _tick(self) -> None:
        """Loop mode's timer: re-armed for the latest send, not one timer per packet."""
        self.check_timeout()
        if not self.done:
            self._timer = self.loop.call_at(self.sent_at + self.timeout, self._tick)

    def _readable(self) -> None:
        try:
            pkt = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            # ICMP port unreachable: the client has gone away.
            self.client_gone()
            return
        self.on_packet(pkt)

    def safe_send(self, data: bytes) -> None:
        try:
            self.send(data)
        except (BlockingIOError, InterruptedError):
            pass  # the retransmission timer covers a full socket buffer
        except OSError:
            self.client_gone()

    def error_packet(self, pkt: bytes) -> None:
        try:
            err = w.decode(pkt)
        except WireError as exc:
            log.debug("bad packet from %s: %s", self.addr[0], exc)
            return
        if isinstance(err, w.Error):
            self.client_error(err)

    def client_error(self, err: w.Error) -> None:
        # EDK2 asks for tsize this way (ERROR 8 after the OACK), then asks again: routine.
        probe = err.code == w.ERR_OPTION and not self.progressed
        self.finish("aborted", error=err.code, message=err.message, probe=probe)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.own_sock:
            if self.mode == "loop":
                with contextlib.suppress(ValueError, OSError):
                    self.loop.remove_reader(self.sock.fileno())
            elif self.mode == "reactor":
                self.server._reactor.remove(self)
            self.sock.close()

    def finish(self, outcome: str, **extra: Any) -> None:
        if self.done:
            return
        self.done = True
        self.close()
        self.release()
        self.server._done(self, outcome, extra)

    # Overridden by the concrete transfers.
    def packet(self, pkt: bytes) -> None: ...
    def retransmit(self) -> None: ...
    def expired(self) -> None: ...
    def client_gone(self) -> None: ...
    def release(self) -> None: ...


class _Read(_Transfer):
    """Sends a file. Block 0 is the OACK (when there is one); blocks 1..last carry the data."""

    def __init__(self, *args: Any, fd: int, size: int, netascii: bool, oack: bytes | None,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fd = fd
        self.size = size
        self.netascii = netascii
        self.oack = oack
        self.last = size // self.blksize + 1
        self.base = 0 if oack is not None else 1  # first unacknowledged block
        self.sent_upto = self.base - 1  # highest block sent in this window
        self.dup_resent = False
        # UDP segmentation offload: a whole window leaves in one sendmsg (falls back to one
        # send per block if the kernel refuses it).
        self.gso = self.windowsize > 1 and not netascii
        self.gso_opt = [(socket.SOL_UDP, _UDP_SEGMENT, struct.pack("=H", self.blksize + 4))]
        self._pre: tuple[int, int, bytes] | None = None
        # Read-ahead chunk: a whole number of blocks, starting on a block boundary.
        # One buffer per transfer, read into again and again (no allocation per chunk);
        # `_c` is a view of its valid part.
        self._c_size = max(self.blksize, (_CHUNK // self.blksize) * self.blksize)
        self._cbuf = bytearray(0 if netascii else self._c_size)
        self._c = memoryview(self._cbuf)[:0]
        self._c_off = 0
        self._want: bytes | None = None
        self._framed = b""
        if netascii:
            self._na = Netascii(fd, self.blksize)
            self.last = 1 << 62  # unknown until the converter reaches the end
        self.send_window()
        self._prepare()
        self.arm()

    def block(self, i: int) -> bytes:
        if i == 0:
            return self.oack  # type: ignore[return-value]
        if self.netascii:
            data = self._na.block(i)
            if len(data) < self.blksize:
                self.last = i
        else:
            data = self.data(i)
        return _DATA_HDR.pack(3, i & 0xFFFF) + data

    def data(self, i: int) -> bytes:
        """Block i of the file, from a read-ahead chunk: one read per ~128 KiB, not per block.

        A view into the chunk buffer: use it (send, join, concatenate) before the next read.
        """
        off = (i - 1) * self.blksize
        rel = off - self._c_off
        chunk = self._c
        if 0 <= rel < len(chunk):
            return chunk[rel:rel + self.blksize]
        chunk = self._read_chunk(off)
        return chunk[:self.blksize]

    def _read_chunk(self, off: int) -> memoryview:
        n = os.preadv(self.fd, [self._cbuf], off)
        self._c = chunk = memoryview(self._cbuf)[:n]
        self._c_off = off
        return chunk

    def send_window(self) -> None:
        # The OACK (block 0) goes alone: data waits for the client's ACK 0.
        end = min(self.base + self.windowsize - 1, self.last) if self.base else 0
        i = self.sent_upto + 1
        if self.gso and i >= 1 and end > i and self._send_gso(i, end):
            self.sent_at = time.monotonic()
            return
        send = self.send
        while i <= end:
            try:
                send(self.block(i))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.client_gone()
                return
            self.sent_upto = i
            i += 1
            end = min(end, self.last)
        self.sent_at = time.monotonic()

    def _send_gso(self, i: int, end: int) -> bool:
        """Blocks i..end in as few sendmsg calls as the 64 KiB datagram limit allows."""
        seg = self.blksize + 4
        per_call = max(1, min(64, _GSO_MAX // seg))
        while i <= end:
            j = min(end, i + per_call - 1)
            pre = self._pre
            buf = pre[2] if pre is not None and pre[0] == i and pre[1] == j else self._frame(i, j)
            self._pre = None
            try:
                if self.own_sock:
                    self.sock.sendmsg([buf], self.gso_opt)
                else:
                    self.sock.sendmsg([buf], self.gso_opt, 0, self.addr)
            except (BlockingIOError, InterruptedError):
                return True  # the timer resends what did not leave
            except ConnectionRefusedError:
                self.client_gone()
                return True
            except OSError as exc:
                log.debug("UDP segmentation offload refused (%s): one send per block", exc)
                self.gso = False
                return False
            self.sent_upto = j
            i = j + 1
        # While the client takes this window in, frame the next one (read ahead, off the
        # critical path): when its ACK comes, the next window leaves at once.
        if self.windowsize <= per_call and end < self.last:
            nxt_i, nxt_j = end + 1, min(end + self.windowsize, self.last)
            self._pre = (nxt_i, nxt_j, self._frame(nxt_i, nxt_j))
        return True

    def _frame(self, i: int, j: int) -> bytes:
        pack, data = _DATA_HDR.pack, self.data
        parts = []
        for k in range(i, j + 1):
            # Framed (copied) at once: the next block may refill the chunk buffer.
            parts.append(pack(3, k & 0xFFFF) + data(k))
        return b"".join(parts)

    def _prepare(self) -> None:
        """Lockstep: frame block base+1 now, while the client is busy with block base.

        Then the expected ACK costs one comparison and one send (see on_packet). Outside the
        lockstep data phase (OACK, windows, netascii, the final block) there is nothing to
        prepare and every packet takes the general path.
        """
        base = self.base
        if (self.windowsize != 1 or self.netascii or base < 1 or base >= self.last
                or self.sent_upto != base or self.done):
            self._want = None
            return
        self._want = _DATA_HDR.pack(_ACK_OP, base & 0xFFFF)
        self._framed = _DATA_HDR.pack(3, (base + 1) & 0xFFFF) + self.data(base + 1)

    def _drive(self) -> None:
        """Thread mode, lockstep: the expected ACK releases the DATA framed ahead (see step).

        Packets come through the server's receiver, which busy-polls first while the client
        answers fast enough for that to pay (tftp_busypoll.py).
        """
        if self.windowsize != 1 or self.netascii:
            super()._drive()
            return
        # write on the connected socket's descriptor: send's semantics (ECONNREFUSED when the
        # client has gone), a little less work per call.
        sfd = self.sock.fileno()
        write, monotonic = os.write, time.monotonic
        self.poll = self.server.busy_poll(self.sock)
        receive = (self.poll.receive if self.poll is not None
                   else functools.partial(os.read, sfd, 65536))
        try:
            while not self.done:
                try:
                    pkt = receive()
                except (BlockingIOError, TimeoutError, InterruptedError):
                    self.check_timeout()
                    continue
                except OSError:
                    self.client_gone()
                    continue
                if pkt != self._want:
                    if not pkt:
                        if self.stopping:  # shut down by stop()
                            self.finish("aborted", reason="server stopping")
                            return
                        continue  # an empty datagram: no TFTP packet, ignored
                    self.on_packet(pkt)
                    continue
                try:
                    write(sfd, self._framed)
                except (BlockingIOError, InterruptedError):
                    pass  # the timer resends it
                except OSError:
                    self.client_gone()
                    continue
                self.sent_at = monotonic()
                self.step()
        except Exception:
            log.exception("transfer of %s to %s failed", self.path, self.addr[0])
            self.finish("failed", reason="internal error")

    def step(self) -> None:
        nxt = self.base + 1
        self.base = self.sent_upto = nxt
        self.retries = 0
        self.progressed = True
        if nxt >= self.last:
            self._want = None
            return
        bs = self.blksize
        self._want = _DATA_HDR.pack(_ACK_OP, nxt & 0xFFFF)
        off = nxt * bs
        rel = off - self._c_off
        chunk = self._c
        if not 0 <= rel < len(chunk):
            chunk = self._read_chunk(off)
            rel = 0
        self._framed = _DATA_HDR.pack(3, (nxt + 1) & 0xFFFF) + chunk[rel:rel + bs]

    def on_packet(self, pkt: bytes) -> None:
        if pkt == self._want:
            try:
                self.send(self._framed)
            except (BlockingIOError, InterruptedError):
                pass  # the timer resends it
            except OSError:
                self.client_gone()
                return
            self.sent_at = time.monotonic()
            self.step()
            return
        self.packet(pkt)
        self._prepare()

    def packet(self, pkt: bytes) -> None:
        if len(pkt) >= 4 and pkt[1] == _ACK_OP and pkt[0] == 0:
            self.ack((pkt[2] << 8) | pkt[3])
        elif len(pkt) >= 2 and pkt[1] == _ERR_OP and pkt[0] == 0:
            self.error_packet(pkt)
        else:
            log.debug("unexpected packet from %s during read of %s", self.addr[0], self.path)

    def ack(self, n: int) -> None:
        ref = self.base - 1
        delta = (n - ref) & 0xFFFF
        if delta == 0:
            # A repeated ACK. In lockstep it is never answered (no Sorcerer's Apprentice: the
            # timer retransmits). With a window it means a gap: resend once per window.
            if self.windowsize > 1 and self.sent_upto >= self.base and not self.dup_resent:
                self.dup_resent = True
                self.sent_upto = self.base - 1
                self.send_window()
            elif self.mode != "loop":
                self.check_timeout()
            return
        if delta > self.sent_upto - ref:
            return  # an ACK for a block not sent yet (or a stale one from long ago)
        acked = ref + delta
        if acked > 0:
            self.progressed = True
        if acked >= self.last:
            self.base = acked + 1
            self.finish("sent")
            return
        self.base = acked + 1
        self.retries = 0
        self.dup_resent = False
        if acked < self.sent_upto:
            self.sent_upto = acked  # a window with a gap: go back to the first missing block
        self.send_window()

    def retransmit(self) -> None:
        self.sent_upto = self.base - 1
        self.send_window()
        self._prepare()

    def _final_sent(self) -> bool:
        return self.sent_upto >= self.last and self.base >= self.last

    def expired(self) -> None:
        if self._final_sent():
            # Only the final ACK is missing: the client has the file (RFC 1350's "dallying").
            self.base = self.last + 1
            self.finish("sent", final_ack=False)
        else:
            self.finish("failed", reason="timeout")

    def client_gone(self) -> None:
        if self._final_sent():
            self.expired()
        else:
            self.finish("failed", reason="client unreachable")

    def release(self) -> None:
        acked = min(self.base - 1, self.last)
        if acked > 0:
            self.bytes = (self._na.bytes_upto(acked) if self.netascii
                          else min(acked * self.blksize, self.size))
        os.close(self.fd)


class _Write(_Transfer):
    """Receives a file into the upload directory (lockstep; windowsize is not offered)."""

    def __init__(self, *args: Any, fd: int, oack: bytes | None, tmp: str, final: str,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fd = fd
        self.tmp = tmp
        self.final = final
        self.expected = 1
        self.last_sent = oack if oack is not None else w.encode_ack(0)
        self.ok = False
        self.safe_send(self.last_sent)
        self.sent_at = time.monotonic()
        self.arm()

    def packet(self, pkt: bytes) -> None:
        if len(pkt) >= 4 and pkt[1] == 3 and pkt[0] == 0:
            n = (pkt[2] << 8) | pkt[3]
            if n == self.expected & 0xFFFF:
                data = pkt[4:]
                if len(data) > self.blksize:
                    self.safe_send(w.encode_error(w.ERR_ILLEGAL_OP, "block too large"))
                    self.finish("failed", reason="block too large")
                    return
                os.write(self.fd, data)
                self.bytes += len(data)
                self.progressed = True
                self.retries = 0
                self.last_sent = w.encode_ack(n)
                self.safe_send(self.last_sent)
                self.sent_at = time.monotonic()
                self.expected += 1
                if len(data) < self.blksize:
                    self.ok = True
                    self.finish("received")
            elif n == (self.expected - 1) & 0xFFFF:
                self.safe_send(self.last_sent)  # our ACK was lost
        elif len(pkt) >= 2 and pkt[1] == _ERR_OP and pkt[0] == 0:
            self.error_packet(pkt)

    def retransmit(self) -> None:
        self.safe_send(self.last_sent)

    def expired(self) -> None:
        self.finish("failed", reason="timeout")

    def client_gone(self) -> None:
        self.finish("failed", reason="client unreachable")

    def release(self) -> None:
        os.close(self.fd)
        if self.ok:
            os.replace(self.tmp, self.final)
        else:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)


class TftpServer:
    """The TFTP service. `await start()`, then `port` is the bound port; `await stop()`."""

    def __init__(self, settings: TftpSettings, events: EventLog | None = None) -> None:
        self.settings = settings
        self.events = events or EventLog()
        self.root = Root(settings.root, settings.max_name)
        self.upload = Root(settings.upload_dir, settings.max_name) if settings.upload_dir else None
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._loop_thread: threading.Thread | None = None
        self._reactor: Reactor = None  # type: ignore[assignment]
        cpus = os.cpu_count() or 1
        self.cpus = cpus
        self.max_threads = settings.transfer_threads
        self.max_workers = (cpus if cpus > 1 else 0) if settings.workers is None \
            else settings.workers
        self._workers: list[Worker] = []
        self._spawning = False
        self._next_wid = 0
        self._sock: socket.socket | None = None
        self.transfers: dict[tuple[str, int], _Transfer] = {}  # latest transfer per client
        self.active: set[_Transfer] = set()
        mtu = settings.mtu or (_interface_mtu(settings.interface) if settings.interface else None)
        self.max_blksize = settings.max_blksize
        if mtu:
            self.max_blksize = min(self.max_blksize, mtu - 32)
        self.stats = {"sent": 0, "not_found": 0, "denied": 0, "aborted": 0, "failed": 0,
                      "received": 0, "busy": 0, "malformed": 0}
        self._malformed_logged = -1e9
        self._denied = 0  # refusals of access so far (logged at most once per 10 s)
        self._denied_logged = -1e9

    def busy_poll(self, sock: socket.socket) -> BusyPoll | None:
        """How a threaded lockstep transfer waits for its ACKs (None: a plain blocking read)."""
        if self.settings.busy_poll_us <= 0 or self.cpus < 2:
            return None
        # Polling takes a CPU and the client needs one too: only while half of them are spare.
        return BusyPoll(sock, self.settings.busy_poll_us * 1e-6,
                        lambda: len(self.active) * 2 <= self.cpus)

    @property
    def port(self) -> int:
        assert self._sock is not None, "server not started"
        return self._sock.getsockname()[1]

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.current_thread()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):  # room for a burst of requests
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((self.settings.listen, self.settings.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._reactor = Reactor()
        self._loop.add_reader(sock.fileno(), self._readable)
        log.info("TFTP root is %s", self.root.shown)

    async def stop(self) -> None:
        threads = []
        for t in list(self.active):
            if t.mode in ("reactor", "remote"):
                continue  # the reactor and the workers end their own
            if t.threaded and t._thread is not None:
                t.wake()
                threads.append(t._thread)
            else:
                t.finish("aborted", reason="server stopping")
        for th in threads:
            await asyncio.to_thread(th.join, 5.0)
        if self._reactor is not None:
            await self._reactor.stop()
            self._reactor = None  # type: ignore[assignment]
        workers, self._workers = self._workers, []
        for wk in workers:
            await wk.stop()
        await asyncio.sleep(0)  # let the threads' last reports run
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> TftpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ requests

    def _readable(self) -> None:
        # A burst of requests (a room of PXE clients powered on together) is drained in one
        # go rather than one datagram per loop iteration.
        for _ in range(64):
            sock = self._sock
            if sock is None:
                return
            try:
                pkt, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("listening socket: %s", exc)
                return
            self._datagram(pkt, addr)

    def _datagram(self, pkt: bytes, addr: tuple[str, int]) -> None:
        t = self.transfers.get(addr)
        if t is not None and not t.own_sock and not (len(pkt) >= 2 and pkt[1] in (1, 2)):
            try:
                t.on_packet(pkt)
            except Exception:
                log.exception("transfer of %s to %s failed", self._shown(t.path), addr[0])
                t.finish("failed", reason="internal error")
            return
        try:
            self._request(pkt, addr)
        except Exception:  # a packet must never take the server down
            log.exception("error handling a packet from %s", addr[0])

    def _reply_error(self, addr: tuple[str, int], code: int, message: str) -> None:
        try:
            assert self._sock is not None
            self._sock.sendto(w.encode_error(code, message), addr)
        except OSError:
            pass

    def _request(self, pkt: bytes, addr: tuple[str, int]) -> None:
        try:
            req = w.decode(pkt)
        except WireError as exc:
            self.stats["malformed"] += 1
            # a flood of junk is one line per 10 s, with the running count
            now = time.monotonic()
            if now - self._malformed_logged >= 10.0:
                self._malformed_logged = now
                log.warning("bad TFTP packet from %s: %s (%d so far)", addr[0],
                            printable(str(exc)), self.stats["malformed"])
            self._reply_error(addr, w.ERR_ILLEGAL_OP, "malformed request")
            return
        if not isinstance(req, w.Request):
            if isinstance(req, w.Error):
                return  # never answer an error with an error
            self._reply_error(addr, w.ERR_UNKNOWN_TID, "unknown transfer")
            return
        old = self.transfers.get(addr)
        if old is not None:
            if not old.progressed and old.file == req.filename:
                return  # the client repeated its request before our first reply reached it
            if self.settings.single_port:
                # One port cannot tell two transfers to the same client apart: the new one wins.
                old.finish("aborted", reason="superseded by a new request")
        ip = addr[0]
        self.events.emit("tftp", "request", client=ip, port=addr[1], file=req.filename,
                         mode=req.mode, options=req.options, write=req.is_write)
        if len(self.active) >= self.settings.max_transfers:
            self.stats["busy"] += 1
            log.warning("too many transfers, dropped request for %s from %s",
                        printable(req.filename), ip)
            self._outcome(ip, req.filename, "", "busy", 0, 512, 1, 0.0, {})
            return
        if req.mode not in ("octet", "netascii"):
            self._reply_error(addr, w.ERR_ILLEGAL_OP, f"unsupported mode {req.mode}")
            self._outcome(ip, req.filename, "", "failed", 0, 512, 1, 0.0,
                          {"reason": "unsupported mode"})
            return
        if req.is_write:
            self._start_write(req, addr)
        else:
            self._start_read(req, addr)

    def _transfer_socket(self, addr: tuple[str, int]) -> tuple[socket.socket, bool, int | None]:
        if self.settings.single_port:
            assert self._sock is not None
            return self._sock, False, None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            bind_addr = self.settings.listen
            sock.bind((bind_addr, 0))
            sock.connect(addr)
            sock.setblocking(False)
            try:
                mtu: int | None = sock.getsockopt(socket.IPPROTO_IP, _IP_MTU)
            except OSError:
                mtu = None
        except OSError:
            sock.close()
            raise
        return sock, True, mtu

    def _limits(self, path_mtu: int | None, tsize: int | None, write: bool,
                netascii: bool = False) -> w.Limits:
        max_blk = self.max_blksize
        if path_mtu:
            max_blk = min(max_blk, path_mtu - 32)
        max_win = self.settings.max_windowsize
        if netascii:
            max_win = min(max_win, NETASCII_KEEP)  # resends come from the kept blocks
        return w.Limits(
            max_blksize=max_blk,
            max_windowsize=max_win,
            tsize=tsize,
            blksize_enabled=not self.settings.no_blocksize,
            windowsize_enabled=not write,
        )

    def _refused(self, addr: tuple[str, int], req: w.Request, exc: Refused) -> None:
        ip = addr[0]
        path = exc.path or req.filename
        if exc.code == w.ERR_NOT_FOUND:
            # one line per request: PXELINUX's config search makes them, and the lab reads them
            log.info("file %s not found for %s", self._shown(path), ip)
            outcome = "not_found"
            message = "file not found"
        else:
            # a flood of traversal attempts is one line per 10 s (the events keep every one)
            self._denied += 1
            now = time.monotonic()
            if now - self._denied_logged >= 10.0:
                self._denied_logged = now
                log.warning("refused access to %s for %s: %s (%d so far)", self._shown(path), ip,
                            exc.reason, self._denied)
            outcome = "denied"
            message = "access violation" if exc.code == w.ERR_ACCESS else exc.reason
        self._reply_error(addr, exc.code, message)
        self._outcome(ip, req.filename, path, outcome, 0, 512, 1, 0.0, {"reason": exc.reason})

    def _shown(self, path: str) -> str:
        """A path or name from a request as a log line shows it (containment.printable)."""
        for root in (self.root, self.upload):
            if root is not None and path.startswith(root.shown):
                return printable_path(path, root.shown)
        return printable(path)

    def _start_read(self, req: w.Request, addr: tuple[str, int]) -> None:
        try:
            opened = self.root.open_read(req.filename)
        except Refused as exc:
            self._refused(addr, req, exc)
            return
        netascii = req.mode == "netascii"
        try:
            sock, own, mtu = self._transfer_socket(addr)
        except OSError as exc:
            os.close(opened.fd)
            log.warning("cannot open a transfer socket for %s: %s", addr[0], exc)
            return
        size = opened.size
        if netascii and "tsize" in req.options:
            size = netascii_size(opened.fd)
        neg = w.negotiate(req.options, self._limits(mtu, size, False, netascii))
        oack = w.encode_oack(neg.oack) if neg.oack else None
        if not own:
            mode = "loop"
        elif sum(1 for t in self.active if t.mode == "thread") < self.max_threads:
            mode = "thread"
        else:
            mode = "reactor"
            if self._to_worker(addr, req, opened, sock, neg, netascii):
                return
        t = _Read(self, addr, sock, own, req.filename, opened.path, neg, mode,
                  fd=opened.fd, size=opened.size, netascii=netascii, oack=oack)
        self._register(t)

    def _start_write(self, req: w.Request, addr: tuple[str, int]) -> None:
        if self.upload is None:
            self._refused(addr, req, Refused(w.ERR_ACCESS, "write requests are not accepted",
                                             req.filename))
            return
        try:
            shown, _ = self.upload._resolve(req.filename)
            tmp_name = req.filename.replace("\\", "/").rstrip("/") + f".part-{os.getpid()}"
            opened = self.upload.open_write(tmp_name)
            if os.path.exists(shown):
                os.close(opened.fd)
                os.unlink(opened.path)
                raise Refused(w.ERR_EXISTS, "file exists", shown)
        except Refused as exc:
            self._refused(addr, req, exc)
            return
        try:
            sock, own, mtu = self._transfer_socket(addr)
        except OSError:
            os.close(opened.fd)
            os.unlink(opened.path)
            return
        neg = w.negotiate(req.options, self._limits(mtu, None, True), write=True)
        oack = w.encode_oack(neg.oack) if neg.oack else None
        t = _Write(self, addr, sock, own, req.filename, shown, neg,
                   fd=opened.fd, oack=oack, tmp=opened.path, final=shown)
        self._register(t)

    def _pick_worker(self) -> Worker | None:
        live = [wk for wk in self._workers if wk.alive]
        if len(live) < self.max_workers and not self._spawning:
            # Start them all in the background: a burst of requests (16 clients at once) is
            # spread over every CPU, not piled on the first worker while the next one starts.
            # Until one is up, transfers stay in this process.
            self._spawning = True
            self._loop.create_task(self.start_workers())
        return min(live, key=lambda wk: len(wk.jobs), default=None)

    async def start_workers(self) -> None:
        """Start every worker process now rather than when many transfers first need them."""
        while len([wk for wk in self._workers if wk.alive]) < self.max_workers:
            self._spawning = True
            before = len(self._workers)
            await self._spawn_worker()
            if len(self._workers) == before:
                return

    async def _spawn_worker(self) -> None:
        try:
            wk = await asyncio.to_thread(Worker, self)
        except OSError as exc:
            # after dropping privileges: the interpreter may live where the user cannot go
            hint = (f" ({sys.executable} is not executable by uid {os.getuid()}: transfers "
                    "stay in this process)" if isinstance(exc, PermissionError) else "")
            log.warning("cannot start a TFTP worker process: %s%s", exc, hint)
            self.max_workers = len(self._workers)
            return
        finally:
            self._spawning = False
        if self._sock is None:  # stopped meanwhile
            await wk.stop()
            return
        wk.attach()
        self._workers.append(wk)

    def _to_worker(self, addr: tuple[str, int], req: w.Request, opened: Any,
                   sock: socket.socket, neg: w.Negotiated, netascii: bool) -> bool:
        if self.max_workers <= 0:
            return False
        wk = self._pick_worker()
        if wk is None:
            return False
        self._next_wid += 1
        remote = Remote(self._next_wid, wk, addr, req.filename, opened.path, neg)
        oack = w.encode_oack(neg.oack) if neg.oack else b""
        job = {"id": remote.wid, "addr": list(addr), "file": req.filename, "path": opened.path,
               "oack": neg.oack, "oack_raw": oack.hex(), "blksize": neg.blksize,
               "neg_timeout": neg.timeout, "windowsize": neg.windowsize, "tsize": neg.tsize,
               "size": opened.size, "netascii": netascii, "timeout": self.settings.timeout,
               "retries": self.settings.retries}
        try:
            wk.submit(remote, job, [sock.fileno(), opened.fd])
        except OSError as exc:
            log.debug("TFTP worker unavailable (%s): transfer stays here", exc)
            wk.dead(f"channel: {exc}")
            return False
        sock.close()
        os.close(opened.fd)
        self._register(remote)  # type: ignore[arg-type]
        return True

    def _register(self, t: _Transfer) -> None:
        if t.done:
            return
        self.active.add(t)
        self.transfers[t.addr] = t
        log.debug("transfer of %s to %s: blksize %d windowsize %d", self._shown(t.path),
                  t.addr[0], t.blksize, t.windowsize)

    def _done(self, t: _Transfer, outcome: str, extra: dict[str, Any]) -> None:
        """A transfer ended (on any thread): report it on the loop's thread."""
        if threading.current_thread() is self._loop_thread:
            self._finished(t, outcome, extra)
        else:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._finished, t, outcome, extra)

    def _finished(self, t: Any, outcome: str, extra: dict[str, Any]) -> None:
        if self.transfers.get(t.addr) is t:
            del self.transfers[t.addr]
        self.active.discard(t)
        ip = t.addr[0]
        if outcome == "aborted" and "error" in extra:
            if extra.get("probe"):
                log.debug("%s aborted after OACK for %s (probe)", ip, self._shown(t.path))
            else:
                log.info("error %s %s received from %s", extra["error"],
                         printable(extra.get("message", "")), ip)
        if outcome == "sent":
            log.info("sent %s to %s", self._shown(t.path), ip)
        elif outcome == "received":
            log.info("received %s from %s", self._shown(t.path), ip)
        elif outcome == "failed":
            log.warning("failed sending %s to %s: %s", self._shown(t.path), ip,
                        extra.get("reason", ""))
        duration = time.monotonic() - t.started
        poll = getattr(t, "poll", None)
        if poll is not None:
            extra = {**extra, "polled": poll.caught}  # ACKs caught busy-polling
        self._outcome(ip, t.file, t.path, outcome, t.bytes, t.blksize, t.windowsize, duration,
                      extra)

    def _outcome(self, ip: str, file: str, path: str, outcome: str, nbytes: int, blksize: int,
                 windowsize: int, duration: float, extra: dict[str, Any]) -> None:
        self.stats[outcome] = self.stats.get(outcome, 0) + 1
        self.events.emit("tftp", "transfer", client=ip, file=file, path=path, outcome=outcome,
                         bytes=nbytes, blksize=blksize, windowsize=windowsize,
                         duration=round(duration, 6), **extra)
